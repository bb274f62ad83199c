"""Full-precision bypasses across channel changes: BiDense's CFB and broadcast residuals."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

GROUPINGS = ("interleaved", "contiguous")


def fusion_down(x: Tensor, m: int, grouping: str = "interleaved") -> Tensor:
    """Average the C channels of x into m channels (BiDense fusion-down).

    interleaved (authors' code): with reg = (C // m) * (m - 1), channel j < m - 1 is the mean of
    channels {j, j + (m-1), j + 2(m-1), ...} below reg, and the last one the mean of channels
    reg..C-1. contiguous (paper text): windows of K = C // m channels, the last window
    taking the remainder. m == 1 is the mean of all channels in both.
    """
    n, c, h, w = x.shape
    if not 1 <= m <= c:
        raise ValueError(f"fusion_down needs 1 <= m <= C, got m={m}, C={c}")
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping must be one of {GROUPINGS}, got {grouping!r}")
    if m == 1:
        return x.mean(1, keepdim=True)
    per = c // m
    reg = per * (m - 1)
    if grouping == "interleaved":
        head = x[:, :reg].reshape(n, per, m - 1, h, w).mean(1)
    else:
        head = x[:, :reg].reshape(n, m - 1, per, h, w).mean(2)
    return torch.cat([head, x[:, reg:].mean(1, keepdim=True)], 1)


def cfb(x: Tensor, out_channels: int, grouping: str = "interleaved") -> Tensor:
    """BiDense's channel-adaptive full-precision bypass CFB(x, C_out).

    r = C_out // C_in tiles of x (channel c is x[c mod C_in]), then, when m = C_out % C_in > 0,
    m channels from fusion_down; identity when C_out == C_in.
    """
    c = x.shape[1]
    if out_channels < 1:
        raise ValueError(f"out_channels must be >= 1, got {out_channels}")
    if out_channels == c:
        return x
    r, m = divmod(out_channels, c)
    parts = [x.repeat(1, r, 1, 1)] if r else []
    if m:
        parts.append(fusion_down(x, m, grouping))
    return torch.cat(parts, 1) if len(parts) > 1 else parts[0]


def broadcast(x: Tensor, out_channels: int) -> Tensor:
    """BD-Net's broadcast residual: repeat the input's channels cyclically to `out_channels`."""
    c = x.shape[1]
    if out_channels == c:
        return x
    reps = -(-out_channels // c)
    return x.repeat(1, reps, 1, 1)[:, :out_channels]


def match_spatial(x: Tensor, stride: int, size: tuple[int, int]) -> Tensor:
    """Bring a bypass to the conv output's spatial size: AvgPool2d(stride) (BiDense Transition),
    with the edge handled as the conv's padding does (ceil, then crop)."""
    if stride > 1:
        x = F.avg_pool2d(x, stride, stride, ceil_mode=True, count_include_pad=False)
    if tuple(x.shape[-2:]) != tuple(size):
        if x.shape[-2] < size[0] or x.shape[-1] < size[1]:
            raise ValueError(f"bypass of size {tuple(x.shape[-2:])} cannot match output {tuple(size)}")
        top = (x.shape[-2] - size[0]) // 2
        left = (x.shape[-1] - size[1]) // 2
        x = x[..., top : top + size[0], left : left + size[1]]
    return x
