"""`es`: ES-BNN's expanding-and-shrinking (Shi et al. 2025) around any other block."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from torch import Tensor, nn

from bnnbench.blocks.base import Block, ConvSlot
from bnnbench.blocks.conv import BinarizerLike, BinaryConv2d
from bnnbench.blocks.registry import BLOCKS, block_options
from bnnbench.core.registry import parse_component

DEFAULT_TAU = 2
DEFAULT_GROUPS = 1


class ExpandShrinkConv(nn.Module):
    """One conv of an expanded layer (ES-BNN Sec. 3.2-3.3, Eq. 2).

    Built with the expanded widths C_in*tau*g -> C_out*tau*g, it holds a binary group conv
    C_in*tau*g -> C_out/tau with g groups and tiles its output tau^2*g times, so its MACs stay
    C_in*C_out*k^2 per pixel. Channel c of the output is channel c mod (C_out/tau) of the conv.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        groups: int = 1,
        binarizer: BinarizerLike = "fp",
        bias: bool | None = None,
        *,
        tau: int,
        g: int,
    ) -> None:
        super().__init__()
        if groups != 1:  # grouped convs are built by `replica_conv` instead
            raise ValueError(f"an expanded-and-shrunk conv is a regular conv, got groups={groups}")
        self.copies = tau * tau * g
        if out_channels % self.copies:
            raise ValueError(
                f"es: the expanded width {out_channels} is not divisible by tau^2*g={self.copies}"
            )
        self.conv = BinaryConv2d(
            in_channels, out_channels // self.copies, kernel_size, stride, padding, g, binarizer, bias
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x).repeat(1, self.copies, 1, 1)


def es_conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    groups: int = 1,
    binarizer: BinarizerLike = "fp",
    bias: bool | None = None,
    *,
    tau: int,
    g: int,
) -> nn.Module:
    """A conv of a block built at the expanded widths: regular convs are expanded and shrunk
    (ExpandShrinkConv); grouped and depth-wise ones are given groups that already keep each
    replica apart, and stay ordinary convs."""
    if groups == 1:
        return ExpandShrinkConv(in_channels, out_channels, kernel_size, stride, padding, 1, binarizer, bias, tau=tau, g=g)
    return BinaryConv2d(in_channels, out_channels, kernel_size, stride, padding, groups, binarizer, bias)


@BLOCKS.register("es")
class ExpandShrinkBlock(Block):
    """The block `base` built at the expanded widths C*tau*g (ES-BNN, Shi et al. 2025, Sec. 3).

    Regular convs (groups 1) become ExpandShrinkConvs: BN, biases, activations and residuals
    run on tau*g times wider features while the conv MACs stay those of `base` (Eq. 2).
    Grouped and depth-wise convs, which ES-BNN does not shrink, run per replica (groups times
    tau*g), so every channel-axis operation stays within a replica; their MACs grow tau*g times.
    Input and output carry C_in*tau*g and C_out*tau*g channels (`expansion` = tau*g).
    The config key `groups` is ES-BNN's g (binary group conv, Table 5); options other than tau,
    groups and base go to the base block (`base` may also be a mapping {name: ..., **options}).
    The released code has no group conv: g follows the paper. `base` None: the model's own
    block inside a model (the model fills it in), `plain` for a block built on its own.
    """

    groups_option = "g"
    wraps_option = "base"

    def __init__(
        self,
        slot: ConvSlot,
        base: str | Mapping[str, Any] | None = None,
        tau: int = DEFAULT_TAU,
        g: int = DEFAULT_GROUPS,
        **base_options: Any,
    ) -> None:
        in_channels, out_channels, kernel_size, stride, padding, groups, binarizer = slot
        if not isinstance(tau, int) or tau < 1:
            raise ValueError(f"es tau must be an integer >= 1, got {tau!r}")
        if not isinstance(g, int) or g < 1:
            raise ValueError(f"es groups must be an integer >= 1, got {g!r}")
        if groups == 1 and out_channels % (tau * g):
            raise ValueError(
                f"es needs out_channels divisible by tau*groups: out_channels={out_channels}, "
                f"tau={tau}, groups={g}"
            )
        base_name, options = parse_component("plain" if base is None else base, "es base block")
        if base_name == "es":
            raise ValueError("es cannot wrap itself: choose another base block (e.g. plain, reactnet, bireal)")
        options = block_options(base_name, {**options, **base_options})
        super().__init__(slot, conv=False)
        self.tau, self.g = tau, g
        self.expansion = tau * g  # type: ignore[misc]  # per instance: set by the options
        e = self.expansion
        # expanded features are replica-major (replica r holds channels [r*C, (r+1)*C)): a conv
        # with `groups` per replica is one conv with groups * e over all of them
        wide = slot.replace(in_channels=in_channels * e, out_channels=out_channels * e,
                            groups=1 if groups == 1 else groups * e, conv_factory=partial(es_conv, tau=tau, g=g))
        self.base = BLOCKS.build(base_name, wide, **options)

    @classmethod
    def expansion_for(cls, tau: int | Sequence[int] = DEFAULT_TAU, groups: int | Sequence[int] = DEFAULT_GROUPS,
                      **options: Any) -> int:
        """tau * g: how much wider than the base width the features between layers are (with
        per-layer lists, ES-BNN Sec. 3.4, the widest: models resolve each layer's own)."""
        taus = list(tau) if isinstance(tau, Sequence) else [tau]
        gs = list(groups) if isinstance(groups, Sequence) else [groups]
        return int(max(taus)) * int(max(gs))

    def extra_repr(self) -> str:
        return f"tau={self.tau}, g={self.g}"

    def forward(self, x: Tensor) -> Tensor:
        return self.base(x)
