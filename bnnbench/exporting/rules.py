"""Export rules: which trained module becomes which packed one, walking a model.

- Block rules: `plain` (BN(conv(x))) becomes one `PackedConv` with the BN folded into its
  epilogue scale and bias; `cfb` (BN(conv(x)) + CFB(x)) a `PackedCFBBlock` whose conv folds the
  BN and adds the bypass in the epilogue. They apply to exactly these classes (a subclass may
  change the wiring) holding a binary `BinaryConv2d` and an eval-able BatchNorm2d.
- Conv rule: any other binary `BinaryConv2d` becomes a `PackedConv` computing exactly what it
  did (conv bias included, nothing folded), whatever block holds it.
- Everything else (real convs, BN outside the two blocks, bypasses, heads) is kept as it is;
  a BinaryConv2d with `binary` False (the fp baseline, real weights) stays real.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bnnbench.blocks.cfb import CFBBlock
from bnnbench.blocks.conv import BinaryConv2d
from bnnbench.blocks.plain import PlainBlock
from bnnbench.exporting.codes import UnsupportedExport, activation_code, weight_code
from bnnbench.exporting.layers import PackedCFBBlock, PackedConv
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
    backend: str = "auto",
    impl: str = "auto",
    channel_scale: str = "float",
    planes: int = 16,
) -> PackedConv:
    """A `PackedConv` computing conv(x) (or bn(conv(x)) when `bn` is given) of a binary BinaryConv2d."""
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise UnsupportedExport(f"cannot export {_describe(conv, path)}: padding {conv.padding!r} / "
                                f"padding_mode {conv.padding_mode!r} (zero padding by number only)")
    if tuple(conv.dilation) != (1, 1):
        raise UnsupportedExport(f"cannot export {_describe(conv, path)}: dilation {conv.dilation} "
                                "(the packed kernels have none)")
    act = activation_code(conv.binarizer, conv.in_channels)
    if act is None:
        raise UnsupportedExport(f"cannot export {_describe(conv, path)}: no export rule for this activation "
                                "binarizer (supported: bnn, reactnet, bisrnet, adabin, dab)")
    wcode = weight_code(conv.weight_binarizer, conv.weight)
    if wcode is None:
        raise UnsupportedExport(f"cannot export {_describe(conv, path)}: no export rule for this weight "
                                "binarizer (supported: sign, meanabs, adabin)")
    cout, cin, groups = conv.out_channels, conv.in_channels, conv.groups
    cin_g, cout_g = cin // groups, cout // groups
    per_channel = act.channel_scale is not None or (act.stats is not None and act.stats.runtime_scale)
    if per_channel and (wcode.offset is not None or act.offset != 0.0):
        raise UnsupportedExport(f"cannot export {_describe(conv, path)}: per-channel activation scales "
                                "combined with activation or weight offsets")

    gain, shift = _bn_affine(bn, cout)
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
        packed, stats=act.stats, channel_scale=static_scale, channel_scale_mode=channel_scale,
        planes=planes, **extras,
    )
    return layer.to(conv.weight.device)


def _block_rule(module: nn.Module, path: str, options: dict) -> nn.Module | None:
    """The packed form of a plain / cfb block (BN folded), or None when no block rule applies."""
    if type(module) not in (PlainBlock, CFBBlock):
        return None
    conv, bn = getattr(module, "conv", None), getattr(module, "bn", None)
    if not (isinstance(conv, BinaryConv2d) and conv.binary and foldable_bn(bn)):
        return None  # e.g. the fp baseline, or a conv made by another conv factory
    packed = pack_conv(conv, bn, f"{path}.conv" if path else "conv", **options)
    if type(module) is PlainBlock:
        return packed
    return PackedCFBBlock(packed, module.stride, module.out_channels, module.grouping)


def _rule(module: nn.Module, path: str, options: dict) -> nn.Module | None:
    """The replacement of `module`, or None to keep it and look inside."""
    block = _block_rule(module, path, options)
    if block is not None:
        return block
    if isinstance(module, BinaryConv2d) and module.binary:
        return pack_conv(module, None, path, **options)
    return None


def export_modules(model: nn.Module, **options) -> nn.Module:
    """Replace, in place, every binary conv / plain / cfb block of `model`; return the model.

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


__all__ = ["export_modules", "foldable_bn", "pack_conv"]
