"""BD-Net Tables 2 (MobileNet V1: ReActNet and AdaBin, BD-Net-A/B) and 6 (pre-BN residual x 1.58-bit
depth-wise conv) as sweeps: each row builds the network of the paper's protocol (their sweeps and
reports run in tests/cli/test_experiment_sweeps_slow.py)."""

from __future__ import annotations

import pytest

from bnnbench.blocks.activations import Maxout, RPReLU
from bnnbench.blocks.bdnet import BDNetBlock, DualConv
from bnnbench.run import job

from .conftest import make_cfg

pytestmark = pytest.mark.usefixtures("one_thread")


def _model(experiment: str, row: str):
    cfg = make_cfg(f"experiment={experiment}", f"+experiment/{experiment}={row}", tiny=False)
    job.check(cfg)
    return cfg, job.build_model(cfg, job.describe_data(cfg))


def test_table2_rows_build_the_papers_networks():
    # (model, binarizer, activation of the binary layers): AdaBin's MobileNet V1 is ReActNet-A with Maxout
    expected = {"fp": ("mobilenet_v1", "fp", None), "reactnet": ("reactnet_a", "reactnet", RPReLU),
                "bdnet_a": ("bdnet_a", "reactnet", RPReLU), "bdnet_b": ("bdnet_b", "reactnet", RPReLU),
                "adabin": ("reactnet_a", "adabin", Maxout), "bdnet_a_adabin": ("bdnet_a", "adabin", Maxout),
                "bdnet_b_adabin": ("bdnet_b", "adabin", Maxout)}
    for row, (model_name, binarizer, act) in expected.items():
        cfg, model = _model("bdnet_table2", row)
        assert (cfg.model.name, cfg.binarizer.name, cfg.model.width_mult) == (model_name, binarizer, 0.25), row
        acts = {type(m) for m in model.modules() if isinstance(m, (RPReLU, Maxout))}
        assert acts == (set() if act is None else {act}), row
        blocks = [m for m in model.modules() if isinstance(m, BDNetBlock)]
        assert bool(blocks) == model_name.startswith("bdnet"), row
        # BD-Net: 1.58-bit depth-wise convs only (dual: dw); BD-Net-B keeps its stride-2 ones real
        assert all(b.dual == "dw" and b.prebn for b in blocks), row
        assert any(b.real_dw for b in blocks) == (model_name == "bdnet_b"), row


def test_table6_rows_switch_pre_bn_and_the_158_bit_conv():
    expected = {"baseline": (False, False), "prebn": (True, False), "dual": (False, True), "ours": (True, True)}
    for row, (prebn, dual) in expected.items():
        cfg, model = _model("bdnet_table6", row)
        assert (cfg.model.name, cfg.binarizer.name, cfg.block.act) == ("bdnet_a", "adabin", "maxout"), row
        blocks = [m for m in model.modules() if isinstance(m, BDNetBlock)]
        assert blocks and all(b.prebn == prebn for b in blocks), row
        assert all(isinstance(b.conv, DualConv) == dual for b in blocks), row
        assert not any(isinstance(b.pw, DualConv) for b in blocks), row  # point-wise convs single binary

