"""Binary linear layers on tokens: a linear layer over (N, L, C) tokens is a 1x1 conv over the
token map (N, C, L, 1), so every binarizer applies unchanged and those with statistics over
the spatial axes (DAB, INSTA, ...) take them over the L tokens (BiDense Sec. 3.2: DAB applies
to token inputs with statistics over L)."""

from __future__ import annotations

from torch import Tensor, nn

from bnnbench.blocks.conv import BinarizerLike, BinaryConv2d


def tokens_to_map(x: Tensor) -> Tensor:
    """(N, L, C) tokens, or (N, C) vectors, as an (N, C, L, 1) map."""
    if x.dim() == 2:
        return x[:, :, None, None]
    if x.dim() != 3:
        raise ValueError(f"tokens must be (N, L, C) or (N, C), got shape {tuple(x.shape)}")
    return x.transpose(1, 2).unsqueeze(-1)


def map_to_tokens(y: Tensor, like: Tensor) -> Tensor:
    """An (N, C, L, 1) map back to the layout of `like` ((N, L, C) or (N, C))."""
    y = y.squeeze(-1)
    return y.squeeze(-1) if like.dim() == 2 else y.transpose(1, 2)


class BinaryLinear(BinaryConv2d):
    """y = B_W(W) B_A(x) + b over the last axis of (N, L, C) tokens or (N, C) vectors, any
    binarizer (an (N, C, L, 1) token map is taken as it is); computed as a 1x1 BinaryConv2d on
    the token map, so cost counting
    (BOPs = L * C_in * C_out), export and saved-activation packing are those of a conv."""

    def __init__(
        self, in_features: int, out_features: int, bias: bool | None = None, binarizer: BinarizerLike = "fp"
    ) -> None:
        super().__init__(in_features, out_features, 1, 1, 0, 1, binarizer, bias)
        self.in_features, self.out_features = in_features, out_features

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 4:  # already a token map (N, C, L, 1)
            return super().forward(x)
        return map_to_tokens(super().forward(tokens_to_map(x)), x)


class TokenSlot(nn.Module):
    """Any block built for a 1x1 conv slot (C_in -> C_out), applied to tokens through the
    (N, C, L, 1) token map: how a network of linear layers takes every block."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: Tensor) -> Tensor:
        return map_to_tokens(self.block(tokens_to_map(x)), x)
