"""`bidiffsr_unet`: BI-DiffSR's binarized diffusion UNet for image super-resolution (Chen et al. 2024).

Layout of zhengchen1999/BI-DiffSR@b95eb3a (diffglv/archs/unet_BI_DiffSR_arch.py, `BIDiffSRUNet`
with options/train/train_BI_DiffSR_x2.yml), written for bnnbench's blocks: every binary conv
(BIConv) is a slot of the block choice, so `binarizer=` and `block=` (es included) reach all of
them. Input: cat(condition, x_t) (the low-resolution image upscaled bicubic, the noisy image);
output: the model's prediction (noise, clean image or v, as the task trains it).

- time: sinusoidal(C0) of the integer timestep -> Linear(C0, 4 C0) -> Swish -> Linear(4 C0, C0),
  added in every residual unit after its first conv through Swish -> Linear(C0, C).
- encoder: real 3x3 conv 2*in -> C0, then per level `res_blocks` residual units (GN -> Swish ->
  BIConv, + time, GN -> Swish -> Dropout -> BIConv, + x) and, but for the last level, CP-Down
  (BIConv on each channel half, sum, PixelUnshuffle 2: 2C at half size).
- middle: residual unit, real single-head self-attention, residual unit.
- decoder per level, low to high resolution: `res_blocks` + 1 times CS-Fusion (cat(h, skip),
  halves i1, i2, f1 = cat(i1[1::2], i2[0::2]), f2 = cat(i1[0::2], i2[1::2]), a 1x1 BIConv on
  each, sum) then a residual unit; between levels CP-Up (two BIConvs C -> C, cat,
  PixelShuffle 2). The `real_levels` highest-resolution decoder levels are real (fusion and
  residual units; CP-Up stays binary), then GN -> Swish -> real 3x3 conv C0 -> out.

ES-BNN (`block=es`): the binary trunk carries tau*g replicas (replica-major); CP-Down's halves,
CP-Up's and CS-Fusion's concatenations and the 1::2 / 0::2 selection act within each replica,
group norms keep their groups inside a replica; features are tiled into replicas at every
real -> binary boundary (stem, attention, real levels into CP-Up) and averaged back at every
binary -> real one.

The model publishes its timestep (`bnnbench.core.timestep`) around its forward pass, so that
timestep-aware binarizers and blocks (`bidiffsr`) find their group without knowing the model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bnnbench.blocks.conv import BinarizerLike
from bnnbench.core.timestep import diffusion_timestep
from bnnbench.models import MODELS
from bnnbench.models.layers import BlockChoice, Expand, Readout, replica_cat

Slot = Callable[..., nn.Module]  # (in_ch, out_ch, kernel, stride, padding) -> conv unit


def real_slot(in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, padding: int = 0) -> nn.Module:
    """A real conv in a slot of the real decoder levels (with bias, as the authors' nn.Conv2d)."""
    return nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding)


def sinusoidal(t: Tensor, dim: int, dtype: torch.dtype | None = None) -> Tensor:
    """(N, dim) embedding [sin(t w_k), cos(t w_k)], w_k = 10000^(-k / (dim/2)), k < dim/2 (WaveGrad's
    PositionalEncoding, which BI-DiffSR uses on the raw integer timestep), in `dtype` (default:
    torch's default dtype; the model passes its own, so a float64 model embeds in float64)."""
    dtype = dtype or torch.get_default_dtype()
    half = dim // 2
    freq = torch.exp(-math.log(1e4) * torch.arange(half, dtype=dtype, device=t.device) / half)
    angle = t.to(dtype)[:, None] * freq[None]
    return torch.cat([angle.sin(), angle.cos()], 1)


def halves(x: Tensor, expansion: int) -> tuple[Tensor, Tensor]:
    """The first and second half of the channels of each replica, each replica-major."""
    r = x.unflatten(1, (expansion, -1))
    c = r.shape[2] // 2
    return r[:, :, :c].flatten(1, 2), r[:, :, c:].flatten(1, 2)


def shuffled_halves(x: Tensor, expansion: int) -> tuple[Tensor, Tensor]:
    """CS-Fusion's channel shuffle within each replica: halves i1, i2 of its channels,
    f1 = cat(i1[1::2], i2[0::2]), f2 = cat(i1[0::2], i2[1::2])."""
    r = x.unflatten(1, (expansion, -1))
    c = r.shape[2] // 2
    i1, i2 = r[:, :, :c], r[:, :, c:]
    f1 = torch.cat([i1[:, :, 1::2], i2[:, :, 0::2]], 2)
    f2 = torch.cat([i1[:, :, 0::2], i2[:, :, 1::2]], 2)
    return f1.flatten(1, 2), f2.flatten(1, 2)


class ResBlock(nn.Module):
    """GN -> Swish -> conv, + Linear(Swish(temb)), GN -> Swish -> Dropout -> conv, + x.

    With binary slots each conv is a BIConv (which adds its own input again); `expansion`
    replicas: group norms per replica, the time term tiled.
    """

    def __init__(self, channels: int, time_dim: int, slot: Slot, expansion: int, norm_groups: int, dropout: float) -> None:
        super().__init__()
        if channels % norm_groups:
            raise ValueError(f"bidiffsr_unet: norm_groups={norm_groups} must divide every width, got {channels}")
        e = self.expansion = expansion
        self.norm1 = nn.GroupNorm(norm_groups * e, channels * e)
        self.conv1 = slot(channels, channels, 3, 1, 1)
        self.time = nn.Sequential(nn.SiLU(), nn.Linear(time_dim, channels))
        self.norm2 = nn.GroupNorm(norm_groups * e, channels * e)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = slot(channels, channels, 3, 1, 1)

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(temb).repeat(1, self.expansion)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + x


class CPDown(nn.Module):
    """CP-Down: a conv on each channel half (C/2 -> C/2), sum, PixelUnshuffle(2): 2C at half size."""

    def __init__(self, channels: int, slot: Slot, expansion: int) -> None:
        super().__init__()
        if channels % 2:
            raise ValueError(f"bidiffsr_unet: CP-Down needs an even width, got {channels}")
        self.expansion = expansion
        self.conv1 = slot(channels // 2, channels // 2, 3, 1, 1)
        self.conv2 = slot(channels // 2, channels // 2, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        a, b = halves(x, self.expansion)
        return F.pixel_unshuffle(self.conv1(a) + self.conv2(b), 2)


class CPUp(nn.Module):
    """CP-Up: two convs C -> C, concatenated (within each replica), PixelShuffle(2): C/2 at twice the size."""

    def __init__(self, channels: int, slot: Slot, expansion: int) -> None:
        super().__init__()
        self.expansion = expansion
        self.conv1 = slot(channels, channels, 3, 1, 1)
        self.conv2 = slot(channels, channels, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(replica_cat([self.conv1(x), self.conv2(x)], self.expansion), 2)


class CSFusion(nn.Module):
    """CS-Fusion of h and a skip (C each): channel-shuffled halves of cat(h, skip), a 1x1 conv
    C -> C on each, sum."""

    def __init__(self, channels: int, slot: Slot, expansion: int) -> None:
        super().__init__()
        self.expansion = expansion
        self.conv1 = slot(channels, channels, 1, 1, 0)
        self.conv2 = slot(channels, channels, 1, 1, 0)

    def forward(self, h: Tensor, skip: Tensor) -> Tensor:
        f1, f2 = shuffled_halves(replica_cat([h, skip], self.expansion), self.expansion)
        return self.conv1(f1) + self.conv2(f2)


class SelfAttention(nn.Module):
    """Real single-head self-attention over all positions: GN -> 1x1 qkv -> softmax(q k / sqrt(C)) v
    -> 1x1, + x (SR3's, as BI-DiffSR's middle block)."""

    def __init__(self, channels: int, norm_groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(norm_groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1, bias=False)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, dim=2)  # (N, HW, C) each
        y = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
        return self.out(y.transpose(1, 2).reshape(n, c, h, w)) + x


class Level(nn.Module):
    """One decoder step: CS-Fusion with a skip, then a residual unit; real levels read the
    replicas of their binary inputs back (mean) and work at the base width."""

    def __init__(self, channels: int, time_dim: int, slot: Slot, expansion: int, real: bool, norm_groups: int,
                 dropout: float, first: bool = False) -> None:
        super().__init__()
        e = 1 if real else expansion
        # h is binary (expanded) only at the first step of a real level; skips always are
        self.read_h = Readout(channels, expansion, "mean") if real and first else nn.Identity()
        self.read_skip = Readout(channels, expansion, "mean") if real else nn.Identity()
        self.fusion = CSFusion(channels, slot, e)
        self.block = ResBlock(channels, time_dim, slot, e, norm_groups, dropout)

    def forward(self, h: Tensor, skip: Tensor, temb: Tensor) -> Tensor:
        return self.block(self.fusion(self.read_h(h), self.read_skip(skip)), temb)


class BIDiffSRUNet(nn.Module):
    """BI-DiffSR's UNet (see the module docstring); `forward(x_t, cond, t)`."""

    def __init__(
        self,
        block: BlockChoice,
        in_channels: int = 3,
        out_channels: int = 3,
        channels: int = 64,
        channel_mults: Sequence[int] = (1, 2, 4, 8),
        res_blocks: int = 2,
        norm_groups: int = 16,
        dropout: float = 0.2,
        real_levels: int = 2,
        attention: bool = True,
        num_train_timesteps: int = 2000,
    ) -> None:
        super().__init__()
        levels = len(channel_mults)
        if levels < 1 or res_blocks < 1:
            raise ValueError(f"bidiffsr_unet needs channel_mults and res_blocks >= 1, got {list(channel_mults)}, {res_blocks}")
        if not 0 <= real_levels <= levels:
            raise ValueError(f"bidiffsr_unet: real_levels must lie in 0..{levels} (the decoder levels), got {real_levels}")
        widths = [channels * m for m in channel_mults]
        for i in range(levels - 1):
            if widths[i + 1] != 2 * widths[i]:
                raise ValueError(
                    f"bidiffsr_unet: CP-Down doubles the width, so each channel mult must double the previous "
                    f"one, got {list(channel_mults)}"
                )
        e = self.expansion = block.expansion
        self.in_channels, self.num_train_timesteps = in_channels, num_train_timesteps
        self.size_multiple = 2 ** (levels - 1)  # inputs are padded to a multiple of this
        self.time_dim = channels
        self.time_mlp = nn.Sequential(nn.Linear(channels, 4 * channels), nn.SiLU(), nn.Linear(4 * channels, channels))
        self.stem = nn.Conv2d(2 * in_channels, channels, 3, 1, 1)
        self.expand = Expand(e)
        binary: Slot = block
        self.down = nn.ModuleList()
        for i, w in enumerate(widths):
            for _ in range(res_blocks):
                self.down.append(ResBlock(w, channels, binary, e, norm_groups, dropout))
            if i < levels - 1:
                self.down.append(CPDown(w, binary, e))
        top = widths[-1]
        self.mid1 = ResBlock(top, channels, binary, e, norm_groups, dropout)
        self.attention = (
            nn.Sequential(Readout(top, e, "mean"), SelfAttention(top, norm_groups), Expand(e)) if attention else None
        )
        self.mid2 = ResBlock(top, channels, binary, e, norm_groups, dropout)
        self.up = nn.ModuleList()
        for i in reversed(range(levels)):
            real = i < real_levels
            for j in range(res_blocks + 1):
                self.up.append(Level(widths[i], channels, real_slot if real else binary, e, real, norm_groups, dropout,
                                     first=j == 0))
            if i > 0:  # CP-Up stays binary: tile a real level's output into replicas first
                self.up.append(nn.Sequential(Expand(e) if real else nn.Identity(), CPUp(widths[i], binary, e)))
        self.read_out = Readout(channels, e, "mean") if real_levels == 0 else nn.Identity()
        self.out = nn.Sequential(nn.GroupNorm(norm_groups, channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, 1, 1))

    def forward(self, x_t: Tensor, cond: Tensor, t: Tensor | int) -> Tensor:
        """The prediction at timestep(s) `t` (a scalar or one per sample) for noisy image `x_t`
        and condition `cond` (N, in_channels, H, W), H and W multiples of `size_multiple`."""
        n, _, h, w = x_t.shape
        if h % self.size_multiple or w % self.size_multiple:
            raise ValueError(f"bidiffsr_unet needs H and W divisible by {self.size_multiple}, got {h}x{w} (pad the input)")
        t = torch.as_tensor(t, device=x_t.device).reshape(-1).expand(n)
        with diffusion_timestep(t, self.num_train_timesteps):
            temb = self.time_mlp(sinusoidal(t, self.time_dim, x_t.dtype))
            x = self.expand(self.stem(torch.cat([cond, x_t], 1)))
            skips = [x]
            for layer in self.down:
                x = layer(x, temb) if isinstance(layer, ResBlock) else layer(x)
                skips.append(x)
            x = self.mid1(x, temb)
            if self.attention is not None:
                x = self.attention(x)
            x = self.mid2(x, temb)
            for layer in self.up:
                x = layer(x, skips.pop(), temb) if isinstance(layer, Level) else layer(x)
            return self.out(self.read_out(x))

    def cost_forward(self, cond: Tensor) -> Tensor:
        """One denoising step on condition `cond` (what cost counting measures per step)."""
        return self(torch.zeros_like(cond), cond, 0)


@MODELS.register("bidiffsr_unet", output="sr", natural_block="bidiffsr")
def bidiffsr_unet(
    block: str | Mapping[str, Any] | None = "bidiffsr",
    binarizer: BinarizerLike = "bidiffsr",
    in_channels: int = 3,
    channels: int = 64,
    channel_mults: Sequence[int] = (1, 2, 4, 8),
    res_blocks: int = 2,
    norm_groups: int = 16,
    dropout: float = 0.2,
    real_levels: int = 2,
    attention: bool = True,
    num_train_timesteps: int = 2000,
) -> BIDiffSRUNet:
    """BI-DiffSR's binarized diffusion UNet for super-resolution, every BIConv a block slot.

    Defaults: its x2 setting, 64 channels, mults 1/2/4/8, 2 residual units per level, the two
    highest-resolution decoder levels real, T = 2000 (K = 5 timestep groups in the `bidiffsr`
    binarizer and block)."""
    choice = BlockChoice(block if block is not None else "bidiffsr", binarizer, "bidiffsr")
    return BIDiffSRUNet(choice, in_channels, in_channels, channels, channel_mults, res_blocks, norm_groups, dropout,
                        real_levels, attention, num_train_timesteps)


__all__ = ["BIDiffSRUNet", "bidiffsr_unet"]
