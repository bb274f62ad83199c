"""`es`: ES-BNN's expanding-and-shrinking (Shi et al. 2025) around any other block."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from torch import Tensor, nn

from bnnbench.blocks.base import Block, conv_factory
from bnnbench.blocks.conv import BinarizerLike, BinaryConv2d
from bnnbench.blocks.registry import BLOCKS

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
        if groups != 1:
            raise ValueError(
                f"es wraps regular convs only, got a grouped (depth-wise) conv with groups={groups}"
            )
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


@BLOCKS.register("es")
class ExpandShrinkBlock(Block):
    """The block `base` built at the expanded widths C*tau*g, each of its convs an
    ExpandShrinkConv: BN, biases, activations and residuals run on tau*g times wider features
    while the conv MACs stay those of `base`.

    `groups` is ES-BNN's g (binary group conv); the layer it replaces must be a regular conv.
    Input and output carry C_in*tau*g and C_out*tau*g channels (`expansion` = tau*g).
    Options other than tau, groups and base go to the base block (`base` may also be a mapping
    {name: ..., **options}). The released code has no group conv: g follows the paper (Table 5).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        groups: int = DEFAULT_GROUPS,
        binarizer: BinarizerLike = "fp",
        base: str | Mapping[str, Any] | None = "plain",
        tau: int = DEFAULT_TAU,
        **base_options: Any,
    ) -> None:
        if not isinstance(tau, int) or tau < 1:
            raise ValueError(f"es tau must be an integer >= 1, got {tau!r}")
        if not isinstance(groups, int) or groups < 1:
            raise ValueError(f"es groups must be an integer >= 1, got {groups!r}")
        if out_channels % (tau * groups):
            hint = " (a depth-wise layer cannot be expanded and shrunk)" if groups == in_channels > 1 else ""
            raise ValueError(
                f"es needs out_channels divisible by tau*groups: out_channels={out_channels}, "
                f"tau={tau}, groups={groups}{hint}"
            )
        base_name, options = _split(base, base_options)
        if base_name == "es":
            raise ValueError("es cannot wrap itself: choose another base block (e.g. plain, reactnet, bireal)")
        BLOCKS.check(base_name)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, groups, binarizer, conv=False)
        self.tau, self.g = tau, groups
        self.expansion = tau * groups  # type: ignore[misc]  # per instance: set by the options
        e = self.expansion
        with conv_factory(partial(ExpandShrinkConv, tau=tau, g=groups)):
            self.base = BLOCKS.build(
                base_name, in_channels * e, out_channels * e, kernel_size, stride, padding, 1, binarizer, **options
            )

    @classmethod
    def expansion_for(cls, tau: int = DEFAULT_TAU, groups: int = DEFAULT_GROUPS, **options: Any) -> int:
        """tau * g: how much wider than the base width the features between layers are."""
        return int(tau) * int(groups)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, g={self.g}"

    def forward(self, x: Tensor) -> Tensor:
        return self.base(x)


def _split(base: str | Mapping[str, Any] | None, options: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(name, options) of the wrapped block; None means plain."""
    if base is None:
        return "plain", dict(options)
    if isinstance(base, Mapping):
        cfg = dict(base)
        if "name" not in cfg:
            raise ValueError(f"es base config needs a `name`, got {cfg}")
        return str(cfg.pop("name")), {**cfg, **options}
    return str(base), dict(options)
