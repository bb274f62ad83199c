"""A small binary ViT / DeiT: timm's VisionTransformer built without weights, its linear layers
(qkv, proj, fc1, fc2) turned into block slots on tokens, patch embedding and head kept real;
ES-BNN on the FFN with the replicas averaged before attention (Shi et al. 2025, Table 2 and
Appendix C, on BinaryViT)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import timm
from timm.models.vision_transformer import Attention, VisionTransformer
from torch import Tensor, nn

from bnnbench.blocks.conv import BinarizerLike
from bnnbench.blocks.linear import TokenSlot
from bnnbench.models import MODELS
from bnnbench.models.cls_common import is_cifar_size
from bnnbench.models.layers import READOUTS, BlockChoice

BlockLike = str | Mapping[str, Any]


class MatMul(nn.Module):
    """a @ b as a module, so that cost counting sees the attention matmuls: MACs per output
    element = the contracted size (`macs_per_output`), real valued (FLOPs)."""

    binary = False

    def __init__(self) -> None:
        super().__init__()
        self.inner = 0

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        self.inner = a.shape[-1]
        return a @ b

    def macs_per_output(self) -> int:
        """The contracted dimension of the last product."""
        return self.inner


class CountedAttention(nn.Module):
    """timm's multi-head self-attention (its qkv / proj replaced by `qkv`, `proj`) with the two
    matmuls softmax(q k^T / sqrt(d)) and (.) v as MatMul modules instead of the fused kernel."""

    def __init__(self, attn: Attention, qkv: nn.Module, proj: nn.Module) -> None:
        super().__init__()
        self.num_heads, self.head_dim, self.scale = attn.num_heads, attn.head_dim, attn.scale
        self.qkv, self.proj = qkv, proj
        self.q_norm, self.k_norm, self.norm = attn.q_norm, attn.k_norm, attn.norm
        self.attn_drop, self.proj_drop = attn.attn_drop, attn.proj_drop
        self.scores, self.mix = MatMul(), MatMul()

    def forward(self, x: Tensor, attn_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        if attn_mask is not None or is_causal:
            raise ValueError("CountedAttention is the ViT's unmasked self-attention: no attn_mask / is_causal")
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        attn = self.scores(self.q_norm(q) * self.scale, self.k_norm(k).transpose(-2, -1)).softmax(-1)
        out = self.mix(self.attn_drop(attn), v).transpose(1, 2).reshape(b, n, self.num_heads * self.head_dim)
        return self.proj_drop(self.proj(self.norm(out)))


class ReplicaAttention(nn.Module):
    """ES-BNN Appendix C: the replicas of expanded tokens averaged back to the base width, the
    pre-attention LayerNorm and attention there (their cost unchanged), the output tiled back."""

    def __init__(self, norm: nn.Module, attn: nn.Module, channels: int, expansion: int) -> None:
        super().__init__()
        self.norm, self.attn, self.channels, self.expansion = norm, attn, channels, expansion

    def forward(self, x: Tensor, attn_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        base = x.unflatten(-1, (self.expansion, self.channels)).mean(-2)
        return self.attn(self.norm(base), attn_mask=attn_mask, is_causal=is_causal).repeat(1, 1, self.expansion)


class TokenExpand(nn.Module):
    """Tokens tiled into `expansion` replicas along channels (ES-BNN: the embedding feeds them)."""

    def __init__(self, expansion: int) -> None:
        super().__init__()
        self.expansion = expansion

    def forward(self, x: Tensor) -> Tensor:
        return x.repeat(1, 1, self.expansion)


class TokenReadout(nn.Module):
    """Expanded tokens back to the base width: the first replica or the mean of all."""

    def __init__(self, channels: int, expansion: int, read: str = "first") -> None:
        super().__init__()
        if read not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {read!r}")
        self.channels, self.expansion, self.read = channels, expansion, read

    def forward(self, x: Tensor) -> Tensor:
        if self.read == "first":
            return x[..., : self.channels]
        return x.unflatten(-1, (self.expansion, self.channels)).mean(-2)


def binarize_vit(net: VisionTransformer, block: BlockChoice, readout: str = "first") -> VisionTransformer:
    """Turn every linear layer of `net`'s transformer blocks into a slot of `block` on tokens.
    With an expanding block (es), the FFN runs on tau*g replicas: the embedding is tiled after
    the position embedding, norm2 runs at the expanded width, attention (qkv, proj: the wrapped
    base block) at the base width on the mean of the replicas, and the final norm reads the
    base width back (`readout`)."""
    e = block.expansion
    attn_block = block.unwrapped()
    c = net.embed_dim
    for blk in net.blocks:
        hidden = blk.mlp.fc1.out_features
        attn = CountedAttention(blk.attn, TokenSlot(attn_block(c, 3 * c, 1)), TokenSlot(attn_block(c, c, 1)))
        blk.mlp.fc1 = TokenSlot(block(c, hidden, 1))
        blk.mlp.fc2 = TokenSlot(block(hidden, c, 1))
        if e == 1:
            blk.attn = attn
            continue
        blk.attn = ReplicaAttention(blk.norm1, attn, c, e)
        blk.norm1 = nn.Identity()
        blk.norm2 = nn.LayerNorm(c * e, eps=blk.norm2.eps)
    if e > 1:
        net.norm_pre = TokenExpand(e)
        net.norm = nn.Sequential(TokenReadout(c, e, readout), net.norm)
    return net


@MODELS.register("vit", output="vector", natural_block="plain")
def vit(
    block: BlockLike | None = "plain",
    binarizer: BinarizerLike = "reactnet",
    num_classes: int = 1000,
    in_channels: int = 3,
    input_size: Sequence[int] = (224, 224),
    embed_dim: int = 192,
    depth: int = 12,
    num_heads: int = 3,
    mlp_ratio: float = 4.0,
    patch_size: int | None = None,
    readout: str = "first",
) -> VisionTransformer:
    """DeiT-Tiny by default (timm's vit_tiny layout: 192 wide, 12 blocks, 3 heads), patch 16, or 4
    for CIFAR-sized inputs; binary qkv / proj / fc1 / fc2 (block slots on tokens), real patch
    embedding, position embedding, LayerNorms, attention matmuls and head."""
    if embed_dim % num_heads:
        raise ValueError(f"embed_dim must be divisible by num_heads, got {embed_dim} and {num_heads}")
    if patch_size is None:
        patch_size = 4 if is_cifar_size(input_size) else 16
    net = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, img_size=tuple(input_size), patch_size=patch_size,
        in_chans=in_channels, num_classes=num_classes, embed_dim=embed_dim, depth=depth, num_heads=num_heads,
        mlp_ratio=mlp_ratio,
    )
    return binarize_vit(net, BlockChoice(block if block is not None else "plain", binarizer, "plain"), readout)
