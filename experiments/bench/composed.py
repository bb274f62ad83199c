"""DAB + CFB as a plain composition of torch ops: the baseline the fused layers must beat.

The same math as bnnbench's `dab` binarizer, `meanabs` weights and `cfb` block, written the
way the authors' code writes it (ReActNet / BiDense: autograd through sign, the ApproxSign
polynomial, clamp and mean, `out.detach() - surrogate.detach() + surrogate`), with none of
bnnbench's fused autograd Functions or its compact saved input. Benchmark only: not library code.
"""

from __future__ import annotations

import types

import torch
from torch import Tensor, nn

from bnnbench.binarizers.dab import DAB
from bnnbench.blocks.conv import BinaryConv2d


def approx_sign(v: Tensor) -> Tensor:
    """sign(v) forward, ApproxSign backward, composed as the ReActNet code does."""
    out = torch.where(v >= 0, 1.0, -1.0).to(v.dtype)
    lower = (v < -1).to(v.dtype)
    neg = (v < 0).to(v.dtype)
    upper = (v < 1).to(v.dtype)
    poly = -1 * lower + (v * v + 2 * v) * (1 - lower)
    poly = poly * neg + (-v * v + 2 * v) * (1 - neg)
    poly = poly * upper + 1 * (1 - upper)
    return out.detach() - poly.detach() + poly


def dab(binarizer: DAB, x: Tensor) -> Tensor:
    """BiDense Eqs. 5 and 10 with detached statistics, autograd through every op."""
    mu = x.detach().mean((2, 3), keepdim=True)
    xs = x - (binarizer.k * mu + binarizer.b)
    mad = xs.detach().abs().mean((2, 3), keepdim=True)
    return torch.exp(binarizer.a * (mad - 1)) * approx_sign(xs)


def meanabs_weight(w: Tensor) -> Tensor:
    """(alpha sign W).detach() - clamp(W).detach() + clamp(W), alpha = mean|W| per output channel."""
    alpha = w.abs().mean((1, 2, 3), keepdim=True).detach()
    clipped = torch.clamp(w, -1.0, 1.0)
    return (alpha * torch.sign(w)).detach() - clipped.detach() + clipped


def _composed_forward(conv: BinaryConv2d, x: Tensor) -> Tensor:
    return conv._conv_forward(dab(conv.binarizer, x), meanabs_weight(conv.weight), conv.bias)


def compose(model: nn.Module) -> nn.Module:
    """Make every DAB BinaryConv2d of `model` run the composed ops (the `cfb` bypass is already
    plain torch ops); raises when the model holds another binarizer."""
    convs = [m for m in model.modules() if isinstance(m, BinaryConv2d)]
    for conv in convs:
        if not (isinstance(conv.binarizer, DAB) and conv.binarizer.fused):
            raise ValueError(f"compose() rewrites adaptive DAB convs only, got {conv.binarizer}")
        conv.forward = types.MethodType(_composed_forward, conv)
    return model


__all__ = ["compose"]
