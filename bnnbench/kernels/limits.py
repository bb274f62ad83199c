"""Limits of the Triton conv path: tap rows / columns are int32 bit masks, offsets are int32."""

from __future__ import annotations

MAX_KERNEL = 32
MAX_INT32_OFFSET = 2**31 - 1

__all__ = ["MAX_INT32_OFFSET", "MAX_KERNEL"]
