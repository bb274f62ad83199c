"""Export over the registries: every binarizer x every block x representative models.

Each case builds a narrow model, randomizes it (`conftest.randomize`), exports it and compares
the packed model's eval output with the float model's. What cannot be exported is listed
below with its reason and asserted to raise `UnsupportedExport` with that reason, so that a
binarizer, weight binarizer or block added without an export rule fails here until it gets
one (`export_code` on the binarizer, a `@packs` rule in `bnnbench.export.blocks` for a block that
needs more than its convs packed alone) or an entry in the lists.
"""

from __future__ import annotations

import json

import pytest
import torch

from bnnbench import binarizers, blocks, models
from bnnbench.binarizers import WEIGHT_BINARIZERS
from bnnbench.blocks.bdnet import DualConv
from bnnbench.blocks.conv import BinaryConv2d
from bnnbench.export import PackedConv, UnsupportedExport, export, export_report
from bnnbench.export.blocks.bdnet import PackedDualConv

from .conftest import randomize

# Binary activation binarizers without an export rule: name -> why (what a rule would take).
NO_EXPORT_RULE: dict[str, str] = {
    "insta": "per-sample threshold k_c cbrt(E_hw[x^3]) + b_c: needs run-time statistics like DAB's, not written",
    "siman": "per-sample centring and standardisation over (C, H, W): needs run-time statistics, not written",
    "rbnn": "the released form's per-sample standardisation over (C, H, W) (standardize=false exports)",
}
# Binary weight binarizers without an export rule: name -> why.
NO_WEIGHT_EXPORT_RULE: dict[str, str] = {}
# (binarizer, block) pairs that build but cannot be exported: -> a pattern of the error's message.
UNSUPPORTED: dict[tuple[str, str], str] = {}

NARROW = {"width_mult": 0.25, "num_classes": 10, "input_size": (32, 32)}
SWEEP_MODEL = "resnet20"  # regular 3x3 convs, stride 2, channel changes: every block builds in it
CLS_MODELS = ["resnet20", "resnet18", "mobilenet_v1", "reactnet_a", "bdnet_a", "bdnet_b"]
# with their own blocks in the fast suite: the others' blocks are those of the block sweep
# (resnet20, resnet18: bireal) or of the BD-Net test (bdnet_b)
OWN_BLOCK_MODELS = ["mobilenet_v1", "reactnet_a", "bdnet_a"]
# of a replaced module's output scale: bits are exact, float sums reassociate (~1e-7 of the
# conv's own scale), but a folded BN that subtracts a large running mean leaves outputs up to
# ~100x smaller than the conv's in these random narrow nets (measured: the float32 model itself
# off its float64 value by 3e-4 of its output scale); a wrong rule is off by O(1e-2) or more.
# test_export.py checks well-conditioned single layers at 1e-5.
LAYER_TOL = 1e-3


def _expected_error(binarizer: str, block: str) -> str | None:
    """The pattern of the UnsupportedExport a pair must raise, or None when it must export."""
    if binarizer in NO_EXPORT_RULE:
        return "activation binarizer has no export rule"
    weight = binarizers.BinarizerSpec.of(binarizer).weight_name
    if weight in NO_WEIGHT_EXPORT_RULE:
        return "weight binarizer has no export rule"
    return UNSUPPORTED.get((binarizer, block))


def _module_outputs(model: torch.nn.Module, names: list[str], x: torch.Tensor) -> dict[str, tuple]:
    """(input, output) of each named module of `model` in one eval forward of x."""
    seen: dict[str, tuple] = {}
    modules = dict(model.named_modules())

    def keep(name: str):
        def hook(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:  # None: output unchanged
            if name not in seen:  # copies: a later in-place ReLU (MobileNetV1) would rewrite them
                seen[name] = (inputs[0].clone(), output.clone())
        return hook

    hooks = [modules[n].register_forward_hook(keep(n)) for n in names]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def _check_export(model: torch.nn.Module, binarizer: str, block: str) -> torch.nn.Module | None:
    """Export `model` and compare it with the float model, or assert the listed UnsupportedExport.

    Every replaced module is fed the float model's input to it and must give the float
    module's output to LAYER_TOL of its scale: its bits equal training's signs exactly, so only
    float reassociation differs. End to end, such a ~1e-7 difference can flip an activation
    lying that close to a later threshold, and in a narrow random classifier one flip moves the
    logits, so the whole model is checked for shape and finiteness (test_export.py compares
    whole dense models, where a flip moves a patch of pixels only).
    """
    expected = _expected_error(binarizer, block)
    if expected is not None:
        with pytest.raises(UnsupportedExport, match=expected):
            export(model, backend="reference")
        return None
    try:
        packed = export(model, backend="reference")
    except UnsupportedExport as err:
        pytest.fail(f"binarizer {binarizer!r} with block {block!r} does not export: {err}. Give it an export "
                    "rule, or list the pair in UNSUPPORTED (tests/export/test_sweep.py) with the reason")
    n_binary = sum(isinstance(m, BinaryConv2d) and m.binary for m in model.modules())
    assert not any(isinstance(m, BinaryConv2d) and m.binary for m in packed.modules())
    assert sum(isinstance(m, PackedConv) for m in packed.modules()) == n_binary
    float_modules = dict(model.named_modules())
    replaced: list[str] = []  # outermost modules an export rule replaced (their insides are new)
    for n, m in packed.named_modules():
        if n in float_modules and type(m) is not type(float_modules[n]):
            if not any(n.startswith(f"{r}.") for r in replaced):
                replaced.append(n)
    assert replaced or n_binary == 0
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    for name, (inp, out) in _module_outputs(model, replaced, x).items():
        assert torch.isfinite(out).all(), f"the float model is not finite at {name}: a bad random model"
        with torch.no_grad():
            got = dict(packed.named_modules())[name](inp)
        err = float((got - out).abs().max())
        assert err <= LAYER_TOL * float(out.abs().max()), (binarizer, block, name, err, float(out.abs().max()))
    with torch.no_grad():
        ref, got = model(x), packed(x)
    assert got.shape == ref.shape and torch.isfinite(got).all()
    return packed


def _build(name: str, block: str | None, binarizer: str, seed: int = 0) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        kwargs = {} if block is None else {"block": block}
        model = models.build(name, binarizer=binarizer, **kwargs, **NARROW)
    model = randomize(model, seed=seed)
    with torch.no_grad():
        for path, p in model.named_parameters():
            if path.endswith("binarizer.a"):
                # DAB's scale exp(a (MAD - 1)) feeds back through a deep random net without BN in
                # its residual stream (BD-Net's pre-BN residual adds x after every BN): with a > 0
                # a large MAD makes a larger output and then a larger MAD (1.2e7 by layer 46 of
                # MobileNet V1, then inf). a <= 0 keeps the scale at most 1 for MAD > 1.
                p.copy_(-0.1 * p.abs())
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                # a channel a ReLU keeps at 0 calibrates to variance 0, and BN's gain 1/sqrt(eps)
                # then blows float rounding up 300x, in the float model as much as in the packed one
                m.running_var.clamp_(min=0.1)
    return model


def test_every_binarizer_has_an_export_rule_or_a_reason():
    for name in binarizers.names():
        b = binarizers.build(name, channels=4)
        if not b.binary:
            continue
        has_rule = b.export_code() is not None
        assert has_rule or name in NO_EXPORT_RULE, (
            f"binarizer {name!r} has no export rule: give its class an `export_code` method "
            "(see bnnbench.core.codes) or list it in NO_EXPORT_RULE (tests/export/test_sweep.py) with the reason"
        )
        assert not (has_rule and name in NO_EXPORT_RULE), f"{name!r} has an export rule now: remove it from NO_EXPORT_RULE"
    w = torch.randn(4, 2, 3, 3)
    for name in WEIGHT_BINARIZERS.names():
        wb = WEIGHT_BINARIZERS.build(name)
        if not wb.binary:
            continue
        has_rule = wb.export_code(w) is not None
        assert has_rule or name in NO_WEIGHT_EXPORT_RULE, (
            f"weight binarizer {name!r} has no export rule: give its class an `export_code` method "
            "or list it in NO_WEIGHT_EXPORT_RULE (tests/export/test_sweep.py) with the reason"
        )
        assert not (has_rule and name in NO_WEIGHT_EXPORT_RULE), f"{name!r} has an export rule now: unlist it"


@pytest.mark.parametrize("block", blocks.names())
@pytest.mark.parametrize("binarizer", binarizers.names())
def test_every_binarizer_with_every_block_exports(binarizer, block):
    model = _build(SWEEP_MODEL, block, binarizer, seed=1)
    packed = _check_export(model, binarizer, block)
    if packed is not None and binarizer == "fp":  # nothing binary: the model is kept as it is
        assert not any(isinstance(m, PackedConv) for m in packed.modules())


@pytest.mark.parametrize("binarizer", binarizers.names())
@pytest.mark.parametrize("name", OWN_BLOCK_MODELS)
def test_models_with_their_own_block_export(name, binarizer):
    _check_export(_build(name, None, binarizer, seed=2), binarizer, "auto")


@pytest.mark.slow
@pytest.mark.parametrize("block", blocks.names())
@pytest.mark.parametrize("binarizer", binarizers.names())
@pytest.mark.parametrize("name", CLS_MODELS)
def test_every_model_block_and_binarizer_exports(name, binarizer, block):
    try:
        model = _build(name, block, binarizer, seed=3)
    except ValueError as err:  # an impossible (model, block) pair: the model registry tests own those
        pytest.skip(f"{name} with block {block} does not build: {err}")
    _check_export(model, binarizer, block)


@pytest.mark.parametrize("name", ["bdnet_a", "bdnet_b"])
@pytest.mark.parametrize("binarizer", ["reactnet", "dab", "adabin"])
def test_bdnet_dual_conv_exports_as_two_packed_convs(name, binarizer):
    model = _build(name, None, binarizer, seed=4)
    duals = [m for m in model.modules() if isinstance(m, DualConv)]
    assert duals
    g = torch.Generator().manual_seed(6)
    with torch.no_grad():  # output scales of both signs, so that folding them is tested
        for m in duals:
            m.beta1.copy_(0.5 + 0.3 * torch.randn(m.beta1.shape, generator=g))
            m.beta2.copy_(-0.2 + 0.3 * torch.randn(m.beta2.shape, generator=g))
    packed = _check_export(model, binarizer, "bdnet")
    assert sum(isinstance(m, PackedDualConv) for m in packed.modules()) == len(duals)


def test_real_valued_model_exports_without_nan():
    model = _build("resnet20", None, "fp")
    packed = _check_export(model, "fp", "auto")
    report = export_report(model, packed)
    assert report["binary_layers"] == report["packed_layers"] == 0
    assert report["binary_weight_ratio"] is None
    json.dumps(report, allow_nan=False)  # raises on NaN or inf
