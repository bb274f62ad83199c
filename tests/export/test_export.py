"""The export path: packed models compute what the trained ones do, 32x smaller binary weights.

Tolerances: a single exported layer matches its float original to LAYER_TOL = 1e-5 of the
output scale (its bits equal training's signs exactly; only float reassociation differs). A
whole model matches with the same argmax on >= 99.9 % of the pixels and within TOL = 1e-4 of
the output scale on >= 99 % of the outputs: a reassociation difference (~1e-7) can flip an
activation lying that close to a later threshold, and the flip moves a patch of the upsampled
output. Measured on 400 random narrow models (all binarizers, both blocks): 399 matched
everywhere; one had such a flip (0.44 % of outputs beyond TOL, argmax agreement 99.95 %).
"""

from __future__ import annotations

import json
import runpy
import subprocess
import sys

import pytest
import torch
from torch import nn

import bnnbench
from bnnbench import blocks
from bnnbench.blocks.conv import BinaryConv2d
from bnnbench.core import complexity
from bnnbench.core.thresholds import exact_thresholds
from bnnbench.export import (
    PackedCFBBlock,
    PackedConv,
    UnsupportedExport,
    export,
    export_report,
    pack_conv,
)
from bnnbench.kernels import binarize_pack, num_words, unpack_activations

from .conftest import randomize, randomize_binarizer, randomize_bn, tiny_model

TOL = 1e-4
LAYER_TOL = 1e-5
BINARIZERS = ["bnn", "reactnet", "bisrnet", "adabin", "dab"]


def assert_model_close(ref: torch.Tensor, got: torch.Tensor) -> None:
    assert torch.isfinite(ref).all()
    scale = ref.abs().max()
    close = ((ref - got).abs() <= TOL * scale).float().mean()
    agree = (ref.argmax(1) == got.argmax(1)).float().mean()
    assert close >= 0.99 and agree >= 0.999, (float(close), float(agree), float((ref - got).abs().max()))


def assert_layer_close(ref: torch.Tensor, got: torch.Tensor, tol: float = LAYER_TOL) -> None:
    assert torch.isfinite(ref).all()
    err = float((ref - got).abs().max())
    assert err <= tol * float(ref.abs().max()), err


# -- whole models -----------------------------------------------------------------------------

MODEL_CASES = [(b, blk) for b in BINARIZERS for blk in ("plain", "cfb")] + [
    ({"name": "adabin", "center": "paper"}, "cfb"),
    ({"name": "dab", "threshold": "mean_only", "scale": "mad"}, "cfb"),
    ({"name": "dab", "threshold": "learnable", "scale": "learnable"}, "plain"),
    ({"name": "dab", "threshold": "none", "scale": "none"}, "cfb"),
]


@pytest.mark.parametrize("binarizer,block", MODEL_CASES, ids=lambda v: v if isinstance(v, str) else "-".join(map(str, v.values())))
def test_exported_model_matches_trained_model(binarizer, block):
    model = randomize(tiny_model(block, binarizer, seed=1), seed=1, batches=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    packed = bnnbench.export(model, backend="reference")  # the callable module = export()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref, got = model(x), packed(x)
    assert_model_close(ref, got)
    # every binary conv became a packed layer; the input model is untouched
    n_binary = sum(isinstance(m, BinaryConv2d) and m.binary for m in model.modules())
    assert n_binary == sum(isinstance(m, PackedConv) for m in packed.modules()) > 0
    assert not any(isinstance(m, BinaryConv2d) and m.binary for m in packed.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert isinstance(packed.decoder.fpn.smooth, PackedCFBBlock if block == "cfb" else PackedConv)


def test_shared_modules_stay_shared():
    blk = _layer("reactnet", 8, 8, 3, 1, 1, 1, seed=17, block="cfb")
    conv = _layer("bisrnet", 8, 8, 3, 1, 1, 1, seed=18).conv
    model = nn.Sequential(blk, nn.Sequential(blk, conv), conv).eval()
    packed = export(model, backend="reference")
    assert packed[0] is packed[1][0] and packed[1][1] is packed[2]
    x = torch.randn(1, 8, 6, 6, generator=torch.Generator().manual_seed(19))
    with torch.no_grad():
        assert_layer_close(model(x), packed(x), tol=1e-4)


# -- single layers, exact numbers ---------------------------------------------------------------

def _hand_block(name: str) -> nn.Module:
    blk = blocks.build(name, 2, 1, 1, binarizer="reactnet")
    with torch.no_grad():
        blk.conv.weight.copy_(torch.tensor([0.5, -0.25]).view(1, 2, 1, 1))  # alpha_w = 0.375
        blk.conv.binarizer.beta.copy_(torch.tensor([0.1, -0.2]).view(1, 2, 1, 1))
        blk.bn.running_mean.fill_(0.25)
        blk.bn.running_var.fill_(4.0)
        blk.bn.eps = 0.0
        blk.bn.weight.fill_(2.0)
        blk.bn.bias.fill_(1.0)
    return blk.eval()


@pytest.mark.parametrize("name,expected", [("plain", 1.5), ("cfb", 1.4)])
def test_single_block_exact_numbers(name, expected):
    # x = (0.3, -0.5): signs (+1, -1) against beta (0.1, -0.2); conv = 0.375 * (1 + 1) = 0.75;
    # BN: (0.75 - 0.25) / 2 * 2 + 1 = 1.5; cfb adds the mean of the two inputs, -0.1
    blk = _hand_block(name)
    x = torch.tensor([0.3, -0.5]).view(1, 2, 1, 1)
    packed = export(blk, backend="reference")
    with torch.no_grad():
        assert blk(x).item() == pytest.approx(expected, abs=1e-6)
        assert packed(x).item() == pytest.approx(expected, abs=1e-6)


def _layer(binarizer, cin, cout, k, stride, padding, groups, seed, block="plain"):
    g = torch.Generator().manual_seed(seed)
    blk = blocks.build(block, cin, cout, k, stride, padding, groups, binarizer=binarizer)
    with torch.no_grad():
        blk.conv.weight.normal_(0, 1, generator=g)
        if blk.conv.bias is not None:
            blk.conv.bias.normal_(0, 0.3, generator=g)
    randomize_binarizer(blk.conv.binarizer, g)
    randomize_bn(blk.bn, g)
    return blk.eval()


LAYER_CASES = [
    # (binarizer, cin, cout, k, stride, padding, groups)
    ("bnn", 40, 24, 3, 2, 1, 1),
    ("reactnet", 33, 16, 3, 1, 1, 1),
    ("bisrnet", 40, 40, 3, 1, 1, 40),
    ("bisrnet", 36, 12, 3, 2, 1, 3),
    ("adabin", 40, 24, 3, 2, 1, 1),
    ({"name": "adabin", "center": "paper"}, 12, 12, 7, 1, 3, 12),
    ("adabin", 12, 8, 2, 2, 0, 4),
    ("dab", 16, 16, 7, 1, 3, 16),
    ("dab", 40, 24, 3, 1, 1, 1),
    ({"name": "dab", "threshold": "mean_only", "scale": "mad"}, 16, 32, 1, 1, 0, 1),
    ({"name": "dab", "threshold": "learnable", "scale": "learnable"}, 16, 16, 3, 1, 1, 16),
    ({"name": "dab", "threshold": "learnable", "scale": "learnable"}, 16, 8, 3, 1, 1, 2),
    ({"name": "dab", "threshold": "none", "scale": "adaptive"}, 8, 16, 3, 1, 1, 1),
]


@pytest.mark.parametrize("case", LAYER_CASES, ids=str)
@pytest.mark.parametrize("block", ["plain", "cfb"])
def test_exported_layer_matches(case, block):
    binarizer, *shape = case
    blk = _layer(binarizer, *shape, seed=3, block=block)
    x = torch.randn(3, shape[0], 9, 10, generator=torch.Generator().manual_seed(4))
    packed = export(blk, backend="reference")
    with torch.no_grad():
        assert_layer_close(blk(x), packed(x))
    # the bare conv (no BN to fold): the generic conv rule
    conv = pack_conv(blk.conv, backend="reference")
    with torch.no_grad():
        assert_layer_close(blk.conv(x), conv(x))


def test_negative_adabin_spread_flips_channels():
    blk = _layer("adabin", 16, 8, 3, 1, 1, 1, seed=5)
    with torch.no_grad():
        blk.conv.binarizer.alpha.fill_(-0.7)
    x = torch.randn(2, 16, 6, 6, generator=torch.Generator().manual_seed(6))
    packed = export(blk, backend="reference")
    assert packed.channel_sign.eq(-1).all()
    with torch.no_grad():
        assert_layer_close(blk(x), packed(x))


def test_thresholds_reproduce_training_signs_bit_for_bit():
    # x * k + b >= 0 for x within 64 ulps of -b / k, k of both signs and zero
    g = torch.Generator().manual_seed(7)
    c = 64
    k = torch.randn(c, generator=g) * 3
    k[:3] = torch.tensor([0.0, 1e-30, -1e-30])
    b = torch.randn(c, generator=g)
    b[0] = -0.5
    sign_of = lambda t: t * k + b >= 0  # noqa: E731
    t, flip = exact_thresholds(sign_of, c)
    start = (-b / k).nan_to_num(0.0, 1e30, -1e30)
    xs = [start]
    for direction in (float("inf"), float("-inf")):
        x = start
        for _ in range(64):
            x = torch.nextafter(x, torch.full_like(x, direction))
            xs.append(x)
    x = torch.stack(xs)  # (129, C)
    bit = x >= t
    assert torch.equal(sign_of(x), bit ^ flip)
    assert t[0] == float("inf") and not flip[0]  # k = 0, b < 0: always -1
    assert torch.equal(flip[3:], k[3:] < 0)


def test_packed_bits_equal_training_signs_for_bisrnet():
    blk = _layer("bisrnet", 8, 8, 3, 1, 1, 1, seed=8)
    binz = blk.conv.binarizer
    # inputs exactly at and next to each channel's analytic threshold -b/k
    t0 = (-binz.b / binz.k).detach().view(1, 8, 1, 1).nan_to_num(0.0, 1.0, -1.0)
    x = torch.cat([t0, torch.nextafter(t0, t0 + 1), torch.nextafter(t0, t0 - 1)], 3).expand(2, 8, 4, 3).contiguous()
    layer = pack_conv(blk.conv, backend="reference")
    bits = unpack_activations(binarize_pack(x, layer.conv.threshold, backend="reference"), 8)
    flip = torch.where(binz.export_code().flip, -1.0, 1.0)
    with torch.no_grad():
        assert torch.equal(bits * flip.view(1, 8, 1, 1), binz(x))


# -- DAB's per-input-channel scale in regular convs ---------------------------------------------

@pytest.mark.parametrize("planes", [24, 4])
def test_dab_bitplanes_stay_within_their_bound(planes):
    blk = _layer("dab", 40, 16, 3, 1, 1, 1, seed=9)
    with torch.no_grad():
        blk.conv.binarizer.a.mul_(20)  # spread the per-channel scales
    x = torch.randn(2, 40, 7, 7, generator=torch.Generator().manual_seed(10))
    exact = export(blk, backend="reference")
    planes_model = export(blk, backend="reference", channel_scale="bitplanes", planes=planes)
    with torch.no_grad():
        ref = blk(x)
        assert_layer_close(ref, exact(x))
        got = planes_model(x)
        alpha = exact.stats(x)[1]
    # |alpha - alpha_q| <= max_c alpha / (2 (2^P - 1)) per input, 40 * 9 inputs per output, each
    # times the output's folded scale; plus the float rounding every path has
    bound = alpha.amax(1).view(-1, 1, 1, 1) / (2 * (2**planes - 1)) * 40 * 9 * exact.conv.scale.abs().view(1, -1, 1, 1)
    err = (ref - got).abs()
    assert (err <= bound + LAYER_TOL * ref.abs().max()).all()
    if planes == 24:
        assert_layer_close(ref, got)
    else:
        assert float(err.max()) > LAYER_TOL * float(ref.abs().max())  # a real approximation, bounded


def test_depthwise_dab_scale_folds_into_the_kernel():
    blk = _layer("dab", 16, 16, 7, 1, 3, 16, seed=11)
    packed = export(blk, backend="reference", channel_scale="bitplanes", planes=1)
    x = torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(12))
    with torch.no_grad():
        assert_layer_close(blk(x), packed(x))  # planes are unused: exact on bits


# -- sizes, cost, errors ---------------------------------------------------------------------------

def test_size_report_hand_case():
    blk = blocks.build("plain", 64, 64, 3, 1, 1, binarizer="reactnet")
    packed = export(blk, backend="reference")
    assert packed.weight_bytes() == 64 * 9 * 2 * 4  # 64 input channels = 2 words per tap
    report = export_report(blk, packed)
    assert report["binary_weight_bytes_float"] == 64 * 64 * 9 * 4
    assert report["binary_weight_bytes_packed"] == 64 * 9 * 2 * 4
    assert report["binary_weight_ratio"] == 32.0
    assert report["model_bytes_packed"] < report["model_bytes_float"]


def test_size_report_of_a_model():
    model = randomize(tiny_model("cfb", "dab"), batches=8)
    packed = export(model, backend="reference")
    report = export_report(model, packed)
    convs = [m for m in model.modules() if isinstance(m, BinaryConv2d) and m.binary]
    expected = sum(c.out_channels * c.kernel_size[0] * c.kernel_size[1] * num_words(c.in_channels // c.groups) * 4
                   for c in convs)
    assert report["binary_layers"] == report["packed_layers"] == len(convs)
    assert report["binary_weight_bytes_packed"] == expected
    assert report["binary_weight_bytes_float"] == sum(c.weight.numel() * 4 for c in convs)
    assert report["model_bytes_packed"] < report["model_bytes_float"]


def test_complexity_counts_packed_layers_as_binary():
    model = randomize(tiny_model("cfb", "dab"), batches=8)
    packed = export(model, backend="reference")
    before, after = complexity.count(model, (3, 32, 32)), complexity.count(packed, (3, 32, 32))
    assert after.bops == before.bops > 0
    assert after.flops == before.flops


def test_unsupported_modules_are_named():
    model = tiny_model("plain", "reactnet")
    conv = model.decoder.fpn.fusion[0].conv
    conv.dilation = (2, 2)
    with pytest.raises(UnsupportedExport, match=r"decoder\.fpn\.fusion\.0\.conv .*reactnet.*dilation"):
        export(model)

    class Custom(nn.Module):
        def forward(self, x):
            return torch.sign(x)

    model = tiny_model("plain", "reactnet")
    model.head.conv.conv.binarizer = Custom()
    with pytest.raises(UnsupportedExport, match=r"head\.conv\.conv .*'reactnet' \[Custom\]"):
        export(model)
    # real layers are kept
    fp = tiny_model("cfb", "fp")
    assert not any(isinstance(m, PackedConv) for m in export(fp).modules())


def test_bnnbench_export_is_callable_and_imports_no_hydra():
    code = (
        "import sys, bnnbench, torch\n"
        "import bnnbench.export\n"
        "assert callable(bnnbench.export) and bnnbench.export.export is not None\n"
        "bad = [m for m in ('hydra', 'omegaconf', 'lightning') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "from bnnbench import blocks\n"
        "blk = blocks.build('plain', 4, 4, 3, 1, 1, binarizer='bnn').eval()\n"
        "print(type(bnnbench.export(blk, backend='reference')).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "PackedConv"


# -- Triton kernels (interpreter on CPU) ---------------------------------------------------------

def test_triton_backend_tiny_layers():
    from bnnbench.kernels import resolve_backend

    try:
        resolve_backend("triton", torch.device("cpu"))
    except RuntimeError as e:
        pytest.skip(f"Triton kernels cannot run: {e}")
    x = torch.randn(2, 6, 5, 5, generator=torch.Generator().manual_seed(13))
    for binarizer, groups in (("adabin", 1), ("dab", 6), ("bisrnet", 2)):
        blk = _layer(binarizer, 6, 6, 3, 1, 1, groups, seed=14, block="cfb")
        tri, ref = export(blk, backend="triton"), export(blk, backend="reference")
        with torch.no_grad():
            expected, got = blk(x), tri(x)
            assert_layer_close(expected, got)
            assert_layer_close(ref(x), got)


# -- command line ------------------------------------------------------------------------------

# runpy warns because this process imported bnnbench.export already; `python -m` does not
@pytest.mark.filterwarnings("ignore:'bnnbench.export' found in sys.modules")
def test_cli_exports_a_trained_checkpoint(tmp_path, monkeypatch, capsys):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from bnnbench.run.execute import run
    from bnnbench.run.settings import CONFIG_PATH

    overrides = [
        "model.dims=[8,16,16,16]", "model.depths=[1,1,1,1]", "model.decoder_channels=16",
        "model.head_channels=16", "data.train_size=16", "data.val_size=8", "data.batch_size=8",
        "data.image_size=[32,32]", "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
        "logger=none", "binarizer=dab", "block=cfb",
    ]
    with initialize_config_dir(config_dir=CONFIG_PATH, version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    run_dir = tmp_path / "run"
    run(cfg, output_dir=run_dir)
    (run_dir / ".hydra").mkdir()
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")  # what a Hydra-launched run writes
    out = tmp_path / "export" / "packed.pt"
    argv = ["bnnbench.export", f"ckpt={run_dir / 'checkpoints' / 'last.ckpt'}", f"out={out}", "backend=reference"]
    monkeypatch.setattr(sys, "argv", argv)
    capsys.readouterr()
    runpy.run_module("bnnbench.export", run_name="__main__")  # = python -m bnnbench.export ...
    printed = json.loads(capsys.readouterr().out)
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["binary_layers"] == report["packed_layers"] > 0
    assert 4 < report["binary_weight_ratio"] <= 32
    assert report["check"]["argmax_agreement"] >= 0.999
    assert printed == report
    packed = torch.load(out, weights_only=False)
    assert any(isinstance(m, PackedConv) for m in packed.modules())
    with torch.no_grad():
        y = packed(torch.rand(1, 3, 32, 32))
    assert y.shape == (1, cfg.data.num_classes, 32, 32) and torch.isfinite(y).all()


def test_casting_a_packed_model_keeps_its_folded_floats_fp32():
    blk = _layer("adabin", 8, 8, 3, 1, 1, 1, seed=15, block="cfb")
    packed = export(blk, backend="reference")
    x = torch.randn(2, 8, 6, 6, generator=torch.Generator().manual_seed(16))
    with torch.no_grad():
        y = packed(x)
        cast = packed.double()
        assert cast.conv.conv.scale.dtype == torch.float32
        assert torch.equal(cast(x.double()).float(), y)
