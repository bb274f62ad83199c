"""Every block in every model: forward and backward on a tiny input; the impossible pairs,
listed here and in `bnnbench.models.compat` with their reasons, raise before anything is built."""

import pytest
import torch

from bnnbench import blocks, models
from bnnbench.blocks.registry import family
from bnnbench.models import compat

DENSE = {"out_channels": 3}
CLS = {"num_classes": 4, "input_size": (32, 32), "width_mult": 0.125}
SMALL = {
    "convnext_upernet": {**DENSE, "dims": [8, 16, 16, 16], "depths": [1, 1, 1, 1], "decoder_channels": 8,
                         "head_channels": 8},
    "smp": {**DENSE, "arch": "Unet", "encoder_name": "resnet18", "options": {"decoder_channels": [16, 16, 8, 8, 8]}},
    "reactnet_a": CLS,
    "bdnet_a": CLS,
    "bdnet_b": CLS,
    "mobilenet_v1": CLS,
    "resnet18": CLS,
    "resnet20": {"num_classes": 4, "input_size": (32, 32), "width_mult": 0.5},
    "shufflenet_v1": {**CLS, "depths": [1, 1, 1]},
    "shufflenet_v1_bdnet_b": {**CLS, "depths": [1, 1, 1]},
    "mobilenet_v3": {**CLS, "variant": "small"},
    "mobilenet_v3_bdnet_b": {**CLS, "variant": "small"},
    "vit": {"num_classes": 4, "input_size": (32, 32), "embed_dim": 16, "depth": 1, "num_heads": 2},
    "bidet_r18": {"num_classes": 3, "input_size": (32, 32), "widths": [8, 8, 16, 16], "anchor_sizes": [8, 16],
                  "roi_batch": 8, "rpn_post_nms_test": 10},
    "bidiffsr_unet": {"channels": 8, "channel_mults": [1, 2], "res_blocks": 1, "norm_groups": 4, "dropout": 0.0,
                      "real_levels": 1},
}
# a detector trains on (images, boxes): its output is the sum of its losses
TARGETS = [{"boxes": torch.tensor([[2.0, 3, 20, 30]]), "labels": torch.tensor([1])},
           {"boxes": torch.tensor([[10.0, 0, 31, 12]]), "labels": torch.tensor([2])}]
BLOCKS = [*blocks.names(), "auto"]


def impossible(model: str, block: str) -> str | None:
    """Why `block` cannot work in `model` (a fragment of the message compat gives), or None.

    Read from what the registries declare, so that a new block or model meets the same rules:
    an expanding block in a model that swaps convs in place; a block that changes widths by
    integer factors only in a model that changes them by other ratios; a block (or the block it
    wraps) without an option the model sets on some layers."""
    if block == "auto":
        return None
    meta = models.MODELS.meta(model)
    name, options = compat.effective_block(block, model)
    if blocks.BLOCKS.get(name).expansion_for(**options) != 1 and not meta.get("expandable", True):
        return "existing network whose convs are swapped in place"
    names = family(name, options)
    if meta.get("any_width_ratio") and any(getattr(blocks.BLOCKS.get(n), "integer_width_ratios", False) for n in names):
        return "changes widths only by integer factors"
    option = meta.get("block_option")
    if option is not None and not any(option in blocks.option_names(n) for n in names):
        return f"has no {option} option"
    return None


# the rules above name these pairs today (a check that the rules are not vacuous)
KNOWN_IMPOSSIBLE = {("smp", "es"), ("bdnet_b", "plain"), ("shufflenet_v1", "bisrnet"), ("mobilenet_v3_bdnet_b", "cfb")}


def test_the_rules_refuse_the_known_pairs():
    assert all(impossible(m, b) for m, b in KNOWN_IMPOSSIBLE)
    assert impossible("bdnet_b", "bdnet") is None and impossible("bdnet_b", "es") is None  # es wraps bdnet there


def test_every_model_is_in_the_matrix():
    # a real-only model (a 32-bit baseline such as upernet_convnext) has no block to swap: it
    # refuses any binarizer or block (tests/models/test_upernet_convnext.py)
    assert sorted(SMALL) == models.names(binary=True)


def _build_or_refuse(model: str, block: str, sizes: dict) -> torch.nn.Module | None:
    """`model` with `block` and ReActNet's binarizer; None after checking that an impossible
    pair is refused with its reason."""
    kwargs = dict(sizes, binarizer="reactnet", block=None if block == "auto" else block)
    why = impossible(model, block)
    if why is not None:
        with pytest.raises(compat.IncompatibleError, match=why):
            models.build(model, **kwargs)
        return None
    return models.build(model, **kwargs)


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("model", models.names(binary=True))
def test_every_block_in_every_model(model, block):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    net = _build_or_refuse(model, block, SMALL[model])
    if net is None:
        return
    x = torch.randn(2, 3, 32, 32)
    if models.MODELS.meta(model)["output"] == "detections":
        out = sum(net(list(x), TARGETS).values())
    elif models.MODELS.meta(model)["output"] == "sr":  # a denoiser: (x_t, condition, timestep)
        out = net(x, x, torch.tensor([3, 1500]))
        assert out.shape == x.shape
    else:
        out = net(x)
        assert out.shape == ((2, 3, 32, 32) if "out_channels" in SMALL[model] else (2, 4))
    out.square().mean().backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("binarizer", ["fp", "bnn", "dab"])
@pytest.mark.parametrize("block", ["es", "bisrnet", "reactnet"])
def test_dense_model_with_other_binarizers(block, binarizer):
    net = models.build("convnext_upernet", binarizer=binarizer, block=block, **SMALL["convnext_upernet"])
    out = net(torch.randn(2, 3, 32, 32))
    out.mean().backward()
    assert out.shape == (2, 3, 32, 32)


def test_es_features_stay_per_replica_in_the_dense_model():
    # replica-wise concatenation: a model whose replicas start equal keeps them equal up to the
    # per-replica BN affines; with the stem BN at identity and eval mode, every replica is equal
    torch.manual_seed(0)
    net = models.build("convnext_upernet", binarizer="reactnet", block={"name": "es", "tau": 2},
                       **SMALL["convnext_upernet"]).eval()
    feats = net.decoder(net.encoder(torch.randn(1, 3, 32, 32)))
    assert feats.shape[1] == 8 * 2


def test_convert_refuses_an_expanding_block_with_the_reason():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.Conv2d(8, 8, 3))
    with pytest.raises(compat.IncompatibleError, match="widens the features between layers 4x"):
        models.convert(net, block={"name": "es", "tau": 2, "groups": 2}, binarizer="bnn")


# full-size presets: each model at its paper width (its defaults), sized only by its outputs and input
FULL = {
    "convnext_upernet": DENSE,
    "smp": DENSE,
    **{m: {"num_classes": 10, "input_size": (64, 64)} for m in ("reactnet_a", "bdnet_a", "bdnet_b", "mobilenet_v1", "resnet18", "resnet20",
                                        "shufflenet_v1", "shufflenet_v1_bdnet_b", "mobilenet_v3",
                                        "mobilenet_v3_bdnet_b", "vit")},
    "bidet_r18": {"num_classes": 3, "input_size": (64, 64)},
    "bidiffsr_unet": {},
}


def _full_forward(model: str, block: str) -> None:
    """Build `model` at full size with `block` and run one forward at a small input (or check the
    refusal of an impossible pair)."""
    torch.manual_seed(0)
    net = _build_or_refuse(model, block, FULL[model])
    if net is None:
        return
    net.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        if models.MODELS.meta(model)["output"] == "detections":
            out = net(list(x))
            assert len(out) == 1
        elif models.MODELS.meta(model)["output"] == "sr":
            out = net(x, x, torch.tensor([3]))
            assert out.shape == x.shape
        else:
            out = net(x)
            assert torch.isfinite(out).all()


def test_full_size_presets_are_in_the_matrix():
    assert sorted(FULL) == models.names(binary=True)


@pytest.mark.parametrize("block", BLOCKS)
def test_every_block_in_the_full_convnext_upernet(block):
    """BiDense's network at its paper width (96 -> 128 in the decoder: bisrnet's truncated duplicate)."""
    _full_forward("convnext_upernet", block)


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("model", models.names(binary=True))
def test_every_block_in_every_full_size_model(model, block):
    _full_forward(model, block)
