"""Export rules: which trained module becomes which packed one, walking a model.

- Module rules are registered FOR a training class (`@packs(PlainBlock)`, bitorch's rule:
  training code never imports its deployment form), one file per block in
  `bnnbench.export.blocks`: a rule returns the module's packed replacement, or None to keep it
  and look inside. `plain` and `cfb` fold their BN into the epilogue, BD-Net's dual conv folds
  its two output scales. A subclass uses its nearest registered base's rule.
- Conv rule (generic): any other binary `BinaryConv2d` becomes a `PackedConv` computing
  exactly what it did (conv bias included, nothing folded), whatever holds it. Its codes come
  from the binarizers themselves (`export_code` of the activation and weight binarizer).
- Everything else (real convs, BN outside those blocks, bypasses, heads) is kept as it is;
  a BinaryConv2d with `binary` False (the fp baseline, real weights) stays real.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from bnnbench.blocks.conv import BinaryConv2d
from bnnbench.core.codes import ActivationCode, UnsupportedExport, WeightCode
from bnnbench.export.layers import PackedConv
from bnnbench.kernels import PackedBinaryConv2d, pack_weights


def _describe(conv: BinaryConv2d, path: str) -> str:
    return (
        f"{path or '<model>'} ({type(conv).__name__} with activation binarizer {conv.spec.name!r} "
        f"[{type(conv.binarizer).__name__}], weight binarizer {conv.spec.weight_name!r} "
        f"[{type(conv.weight_binarizer).__name__}])"
    )


def _bn_affine(bn: nn.BatchNorm2d | None, channels: int) -> tuple[Tensor, Tensor]:
    """(gain, shift) with BN(y) = gain * y + shift in eval mode; identity without BN."""
    if bn is None:
        return torch.ones(channels), torch.zeros(channels)
    inv = torch.rsqrt(bn.running_var.detach().float().cpu() + bn.eps)
    gamma = bn.weight.detach().float().cpu() if bn.weight is not None else torch.ones(channels)
    beta = bn.bias.detach().float().cpu() if bn.bias is not None else torch.zeros(channels)
    gain = gamma * inv
    return gain, beta - bn.running_mean.detach().float().cpu() * gain


def foldable_bn(bn: nn.Module) -> bool:
    """True for a BatchNorm2d whose eval output is a fixed per-channel affine map."""
    return type(bn) is nn.BatchNorm2d and bn.track_running_stats and bn.running_mean is not None


@torch.no_grad()
def pack_conv(
    conv: BinaryConv2d,
    bn: nn.BatchNorm2d | None = None,
    path: str = "",
    *,
    out_scale: Tensor | None = None,
    backend: str = "auto",
    impl: str = "auto",
    channel_scale: str = "float",
    planes: int = 16,
) -> PackedConv:
    """A `PackedConv` computing bn(out_scale * conv(x)) of a binary BinaryConv2d (bn, out_scale: optional)."""
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise UnsupportedExport(f"cannot export {_describe(conv, path)}: padding {conv.padding!r} / "
                                f"padding_mode {conv.padding_mode!r} (zero padding by number only)")
    if getattr(conv, "pad_value", 0.0) and any(conv.padding):
        raise UnsupportedExport(f"cannot export {_describe(conv, path)}: it pads its binary input with "
                                f"{conv.pad_value} (the packed kernels pad with zeros)")
    if tuple(conv.dilation) != (1, 1):
        raise UnsupportedExport(f"cannot export {_describe(conv, path)}: dilation {conv.dilation} "
                                "(the packed kernels have none)")
    act = _activation_code(conv, path)
    wcode = _weight_code(conv, path)
    cout, cin, groups = conv.out_channels, conv.in_channels, conv.groups
    cin_g, cout_g = cin // groups, cout // groups
    per_channel = act.channel_scale is not None or (act.stats is not None and act.stats.runtime_scale)
    if per_channel and (wcode.offset is not None or act.offset != 0.0):
        raise UnsupportedExport(f"cannot export {_describe(conv, path)}: per-channel activation scales "
                                "combined with activation or weight offsets")

    gain, shift = _bn_affine(bn, cout)
    if out_scale is not None:  # bn(out_scale * conv(x)): the scale multiplies everything BN's gain does
        gain = gain * out_scale.detach().float().cpu().reshape(-1)
    conv_bias = conv.bias.detach().float().cpu() if conv.bias is not None else torch.zeros(cout)
    # flipped input channels (sign = -bit) negate that channel's weights, i.e. the sign source
    flip_sign = torch.where(act.flip, -1.0, 1.0)
    per_weight = flip_sign.reshape(groups, cin_g)[torch.arange(cout) // cout_g].reshape(cout, cin_g, 1, 1)
    source = wcode.source.cpu()
    # ties: source == 0 packs +1; flipping must turn it into -1, so flip the bit, not the value
    bits = (source >= 0) ^ (per_weight < 0)
    w_packed = pack_weights(torch.where(bits, 1.0, -1.0))

    scale = gain * wcode.scale.cpu() * act.level
    static_scale = act.channel_scale
    if static_scale is not None and cin_g == 1:  # one input channel per output: a plain output scale
        scale = scale * static_scale[torch.arange(cout) // cout_g]
        static_scale = None
    packed = PackedBinaryConv2d(
        w_packed, cin, conv.stride, conv.padding, groups,
        scale=scale, bias=gain * conv_bias + shift, threshold=act.threshold.float(),
        out_dtype=torch.float32, impl=impl, backend=backend,
    )
    extras: dict[str, Tensor] = {}
    if act.offset != 0.0 or wcode.offset is not None:
        kh, kw = conv.kernel_size
        w_offset = wcode.offset.cpu() if wcode.offset is not None else torch.zeros(cout)
        extras = {
            "channel_sign": flip_sign,
            "ones_packed": pack_weights(flip_sign.reshape(groups, cin_g, 1, 1).expand(groups, cin_g, kh, kw)),
            "ones_scale": gain * w_offset * act.level,
            "border_sign": gain * wcode.scale.cpu() * act.offset,
            "border_ones": gain * w_offset * act.offset,
        }
    layer = PackedConv(
        packed, stats=act.stats, shift=act.shift, channel_scale=static_scale, channel_scale_mode=channel_scale,
        planes=planes, **extras,
    )
    return layer.to(conv.weight.device)


def _activation_code(conv: BinaryConv2d, path: str) -> ActivationCode:
    rule = getattr(conv.binarizer, "export_code", None)
    code = rule() if rule is not None else None
    if code is None:
        raise UnsupportedExport(f"cannot export {_describe(conv, path)}: its activation binarizer has no export "
                                "rule (give its class an `export_code` method, see bnnbench.core.codes)")
    return code


def _weight_code(conv: BinaryConv2d, path: str) -> WeightCode:
    rule = getattr(conv.weight_binarizer, "export_code", None)
    code = rule(conv.weight) if rule is not None else None
    if code is None:
        raise UnsupportedExport(f"cannot export {_describe(conv, path)}: its weight binarizer has no export "
                                "rule (give its class an `export_code` method, see bnnbench.core.codes)")
    return code


def child_path(path: str, name: str) -> str:
    """The path of a child module `name` of the module at `path` ("" is the model)."""
    return f"{path}.{name}" if path else name


def fold_bn(conv: nn.Module, bn: nn.Module | None, path: str, **options: Any) -> PackedConv | None:
    """bn(conv(x)) as one PackedConv with BN folded into its epilogue; None when `conv` is not a
    binary BinaryConv2d (the fp baseline, a conv of another conv factory) or `bn` does not fold."""
    if not (isinstance(conv, BinaryConv2d) and conv.binary and foldable_bn(bn)):
        return None
    return pack_conv(conv, bn, path, **options)


# training class -> its packing rule (module, path, **options) -> replacement or None
PACKING_RULES: dict[type, Callable[..., nn.Module | None]] = {}


def packs(cls: type) -> Callable[[Callable[..., nn.Module | None]], Callable[..., nn.Module | None]]:
    """Decorator registering a packing rule for the training class `cls` (and its subclasses)."""

    def deco(rule: Callable[..., nn.Module | None]) -> Callable[..., nn.Module | None]:
        if cls in PACKING_RULES:
            raise ValueError(f"{cls.__name__} already has a packing rule ({PACKING_RULES[cls].__qualname__})")
        PACKING_RULES[cls] = rule
        return rule

    return deco


def packing_rule(module: nn.Module) -> Callable[..., nn.Module | None] | None:
    """The rule registered for the nearest class of `module`'s MRO, or None."""
    return next((PACKING_RULES[k] for k in type(module).__mro__ if k in PACKING_RULES), None)


def _rule(module: nn.Module, path: str, options: dict) -> nn.Module | None:
    """The replacement of `module`, or None to keep it and look inside."""
    own = packing_rule(module)
    if own is not None:
        packed = own(module, path, **options)
        if packed is not None:
            return packed
    if isinstance(module, BinaryConv2d) and module.binary:
        return pack_conv(module, None, path, **options)
    return None


def export_modules(model: nn.Module, **options) -> nn.Module:
    """Replace, in place, every module with an export rule and every binary conv of `model`; return it.

    A module shared by several parents (the FPN's smoothing conv) is replaced by one packed
    module shared the same way.
    """
    top = _rule(model, "", options)
    if top is not None:
        return top
    done: dict[int, nn.Module] = {}

    def walk(module: nn.Module, prefix: str) -> None:
        for attr, child in list(module._modules.items()):
            if child is None:
                continue
            path = f"{prefix}.{attr}" if prefix else attr
            if id(child) in done:
                setattr(module, attr, done[id(child)])
                continue
            new = _rule(child, path, options)
            done[id(child)] = child if new is None else new
            if new is None:
                walk(child, path)
            else:
                setattr(module, attr, new)

    walk(model, "")
    return model


__all__ = ["PACKING_RULES", "child_path", "export_modules", "fold_bn", "foldable_bn", "pack_conv", "packing_rule", "packs"]
