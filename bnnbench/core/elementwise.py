"""Elementwise FLOPs of one forward: the `elementwise` cost convention (BiDense Tables 1 and 4).

BiDense reports OPs that differ between rows with the same convs (Table 4: w/o DAB 5.11G,
w/o CFB 5.28G, Full 5.37G), so it counts the binarizers' and bypasses' own arithmetic too.
Under this convention every module that does such work declares it through
`elementwise_ops(in_shape, out_shape) -> int` (shapes of a batch of one; the module's own work
only, its child modules declare theirs), and torch layers are read from `TORCH_LAYERS`.

What one FLOP is, the same for every method:
- one add, subtract, multiply, divide, compare-and-select or exp on one element;
- a reduction (mean, sum, average pooling) costs one FLOP per element it reads (n - 1 adds
  and one divide per n elements);
- sign, abs and negation are free (bit operations on the sign bit; the sign is the
  binarization itself, which the BOPs already pay for), as are copies (repeat, concat, crop);
- weight-side work is free: weights are binarized once, before inference;
- a division by a positive number right before a sign is free (it cannot change the bit).
Batch norm stays in `bn_ops` (ES-BNN's OPs+), and functional ops written in a model's own
forward (the UPerNet's top-down adds and bilinear resizes) are not counted: they are the same
in every row of a table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from torch import nn

Shape = Sequence[int]


def per_sample(shape: Shape) -> int:
    """Number of elements of one sample of a batched shape (N, ...)."""
    return math.prod(shape[1:])


def pooled(in_shape: Shape, stride: int) -> int:
    """FLOPs of an average pooling with window = stride: one per input element read (0 for stride 1)."""
    return per_sample(in_shape) if stride > 1 else 0


def channel_fusion(in_channels: int, out_channels: int, out_shape: Shape) -> int:
    """FLOPs of BiDense's CFB(x, C_out) without its add: repeats are free; when C_out mod C_in > 0,
    fusion-down averages all C_in channels at every output pixel (one FLOP per element read)."""
    if out_channels == in_channels or out_channels % in_channels == 0:
        return 0
    return in_channels * math.prod(out_shape[2:])


# torch layers used by the models: FLOPs per output element (activations) or per input
# element read (pooling); PReLU is a compare-and-select plus a multiply
_PER_OUTPUT: dict[type[nn.Module], int] = {nn.ReLU: 1, nn.ReLU6: 2, nn.PReLU: 2, nn.Hardtanh: 2}
_PER_INPUT: tuple[type[nn.Module], ...] = (nn.AvgPool2d, nn.AdaptiveAvgPool2d)


def _torch_layer(module: nn.Module) -> Callable[[Shape, Shape], int] | None:
    for kind, per in _PER_OUTPUT.items():
        if type(module) is kind:
            return lambda _i, o, per=per: per * per_sample(o)
    if isinstance(module, _PER_INPUT):
        return lambda i, _o: per_sample(i)
    return None


def declared(module: nn.Module) -> Callable[[Shape, Shape], int] | None:
    """The elementwise-FLOP rule of `module`: its own `elementwise_ops`, a torch layer's, or None."""
    own = getattr(module, "elementwise_ops", None)
    return own if callable(own) else _torch_layer(module)


__all__ = ["channel_fusion", "declared", "per_sample", "pooled"]
