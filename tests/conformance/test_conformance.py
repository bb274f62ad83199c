"""Conformance with the authors' code without the authors' code: golden tensors written by
`python -m bnnbench.conformance --golden tests/conformance/golden` from each method's pinned
repository (float64, CPU) are compared with bnnbench's side of the same case; and the tool's own
machinery (pins, local folders, the CPU shim, the table, exit status) on a stand-in repository."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bnnbench.conformance import compare as cmp
from bnnbench.conformance.__main__ import main
from bnnbench.conformance.methods import METHODS, make_case
from bnnbench.conformance.source import Pin, SourceUnavailable, load, pins

GOLDEN = Path(__file__).parent / "golden"


def test_every_method_with_public_code_has_golden_tensors():
    runnable = sorted(name for name, pin in pins().items() if pin.repo is not None and pin.runnable)
    assert runnable == sorted(METHODS) == sorted(p.stem for p in GOLDEN.glob("*.pt"))


def test_methods_without_runnable_code_say_why(capsys):
    # no repository or none at all and never a download: one row each, with the reason
    only = [arg for name in ("insta", "dorefa", "xnor", "bdnet") for arg in ("--only", name)]
    assert main(["--offline", *only]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.count("no public code") >= 1 and out.count("not runnable here") == 3
    assert "kacel33/BD-Net:" in out and "@None" not in out  # a repository without a pinned commit


@pytest.mark.parametrize("method", sorted(METHODS))
def test_bnnbench_matches_the_authors_golden_tensors(method):
    # each row: output, input gradient, weight gradient, parameter gradients, rewritten state
    # (IR-Net htqin/IR-Net@831282f, Bi-Real liuzechun/Bi-Real-net@27cf653, ReActNet
    # liuzechun/ReActNet@f89e570, XNOR-Net++ 1adrianb/binary-networks-pytorch@176424f,
    # SiMaN lmbxmu/SiMaN@68664c0), float64, within 1e-10 of each quantity's scale
    # (RBNN lmbxmu/RBNN@6c96079, ReCU z-hXu/ReCU@0f1f931, ReSTE DravenALG/ReSTE@42904d1, AdaBin
    # huawei-noah/Efficient-Computing@225ddd2, BiDet ZiweiWangTHU/BiDet@fc54511); whole units for
    # BiDense (frickyinn/BiDense@e593da1: DAB Eqs. 4-10 + conv + BN + CFB), BiSRNet
    # (caiyuanhao1998/BiSCI@c633d95) and BI-DiffSR (zhengchen1999/BI-DiffSR@b95eb3a: BIConv at a
    # timestep group), and ES-BNN's expanding-and-shrinking conv (imfinethanks/ESBNN@972eecd:
    # Eq. 2, the conv C_in tau -> C_out / tau tiled tau^2 times); a documented deviation is bounded by the difference its note explains
    rows = cmp.check_golden(GOLDEN / f"{method}.pt")
    assert {"y", "dx", "dw"} <= {r.quantity for r in rows}
    ok = {"MATCH", "documented deviation"}
    assert all(r.status in ok for r in rows), [(r.quantity, r.max_diff, r.status) for r in rows]


def test_a_difference_is_reported_as_diff(tmp_path):
    case = make_case()
    theirs = METHODS["bireal"].ours(case)
    theirs["dw"] = theirs["dw"] + 1e-6  # what a change that breaks conformance looks like
    cmp.write_golden(tmp_path, "bireal", case, theirs, "x@y")
    status = {r.quantity: r.status for r in cmp.check_golden(tmp_path / "bireal.pt")}
    assert status == {"y": "MATCH", "dx": "MATCH", "dw": "DIFF"}


STAND_IN = '''
# a stand-in for an authors' module (bnnbench's own functions): it moves a constant to the GPU
# as the authors' code does, which the tool's CPU shim turns into a no-op
import torch
import torch.nn.functional as F
from torch import nn
from helpers.version import VERSION  # a module the stand-in package does not have (stubbed)
import thirdparty_lib  # a library outside the repository (as scipy for RBNN and ReSTE)


class BinaryActivation(nn.Module):
    def forward(self, x):
        from bnnbench.binarizers.ste import approx_sign
        return approx_sign(x)


class HardBinaryConv(nn.Module):
    def __init__(self, cin, cout, k=3, stride=1, padding=1):
        super().__init__()
        self.shape, self.padding = (cout, cin, k, k), padding
        self.weights = nn.Parameter(torch.rand(cout * cin * k * k, 1))

    def forward(self, x):
        w = self.weights.view(self.shape)
        one = torch.tensor(1.0).cuda()
        scale = w.abs().mean((1, 2, 3), keepdim=True).detach() * one
        wb = (scale * torch.where(w >= 0, 1.0, -1.0)).detach() - w.clamp(-1, 1).detach() + w.clamp(-1, 1)
        return F.conv2d(x, wb, padding=self.padding)
'''


def test_the_tool_imports_a_local_folder_on_the_cpu_and_prints_the_table(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "bireal-checkout" / "pytorch_implementation" / "BiReal18_34"
    repo.mkdir(parents=True)
    (repo / "birealnet.py").write_text(STAND_IN)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "thirdparty_lib.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    stand_in = Pin("bireal", "liuzechun/Bi-Real-net", "27cf653", "pytorch_implementation/BiReal18_34", "birealnet",
                   stubs={"helpers": {}, "helpers.version": {"VERSION": "0"}})
    monkeypatch.setattr("bnnbench.conformance.__main__.pins", lambda: {"bireal": stand_in})
    cuda = torch.Tensor.cuda
    assert main(["--offline", "--repo", f"bireal={tmp_path / 'bireal-checkout'}"]) == 0
    out = capsys.readouterr().out
    assert out.count("MATCH") == 3 and "DIFF" not in out
    assert torch.Tensor.cuda is cuda  # the CPU shim is undone
    module = load(stand_in, tmp_path / "bireal-checkout")
    assert hasattr(module, "HardBinaryConv")
    modules = __import__("sys").modules
    assert "birealnet" not in modules and "helpers.version" not in modules  # no traces left
    # a library it imported stays loaded (C extensions such as scipy's load once per process)
    assert "thirdparty_lib" in modules


def test_an_unavailable_repository_is_one_row_and_offline_never_downloads(tmp_path, capsys):
    assert main(["--offline", "--cache", str(tmp_path), "--only", "irnet"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "unavailable" in out and "downloads are off" in out
    with pytest.raises(SourceUnavailable, match="is not in the repository"):
        load(Pin("irnet", "htqin/IR-Net", "x", "CIFAR-10/nowhere", "modules.ir_1w1a"), tmp_path)


def test_help_explains_the_cache_offline(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "cloned at its commit into the cache folder" in text and "--repo NAME=FOLDER" in text
