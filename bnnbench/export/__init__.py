"""Export a trained model to packed 1-bit inference layers (Triton kernels on GPU, popcount kernels on CPU).

    import bnnbench
    packed = bnnbench.export(model)             # = bnnbench.export.export(model)
    report = bnnbench.export.export_report(model, packed)

    python -m bnnbench.export ckpt=outputs/<run>/checkpoints/best.ckpt out=packed.pt

`export` returns a deep copy in eval mode (the input model is untouched) in which every binary
`BinaryConv2d` is a `PackedConv` holding its weights as 1-bit int32 words plus per-channel
floats. Each activation and weight binarizer writes its own code (`export_code`, in the vocabulary
of `bnnbench.core.codes`), and a block's packing rule is registered for its class here
(`bnnbench.export.blocks`, `@packs(PlainBlock)`; training code never imports this package):
`plain` / `cfb` blocks fold their BN into the kernel epilogue's scale and
bias (cfb adds its bypass there too), BD-Net's 1.58-bit dual conv becomes two packed convs with
its output scales folded; any other binary conv is packed alone; real layers stay as they are.
A binarizer without an export rule raises `UnsupportedExport` naming the module; so do dilated
convs (the kernels have no dilation).

Equivalence with the trained model in eval mode: each packed bit equals training's sign bit
for bit (`bnnbench.core.thresholds`), so a layer differs from its float original only by
float reassociation (integer count times folded scale vs float sums, BN folded): about 1e-6
relative. Through a deep network such a difference can flip the sign of an activation lying
within that margin of its threshold, which then moves the following layers; the tests ask for
outputs within 1e-4 of the output scale almost everywhere and the same argmax on >= 99.9 % of
pixels (`tests/export`).

What runs on bits: every exported conv's inner product, thresholds applied while packing
(DAB's per-sample thresholds included), with per-output-channel scale, bias, per-sample scale
and the residual in the fused epilogue. AdaBin adds a packed conv with one filter per group
and a per-size cached border term (float, once per input size). NOT on bits: DAB's
per-sample-and-INPUT-channel scale alpha_{n,c} in convs whose outputs read several input
channels (the point-wise and regular convs; depth-wise convs fold it exactly into the
kernel's per-sample scale). It does not factor out of the sum over input channels; the exact
ways on the packed kernel cost one packed conv per input channel (groups = C_in, then a float
sum) or per bit of alpha, so `channel_scale="float"` (default) runs those
convs exactly as float F.conv2d on alpha * sign(x - t) and the unpacked ±1 weights: in
ConvNeXt-UPerNet with DAB's adaptive (or "mad" / "learnable") scale that is ~99 % of the binary
MACs, only the depth-wise convs run on bits. `channel_scale="bitplanes"` keeps them on bits as
`planes` + 1 packed convs (alpha rounded to `planes` bits of its per-sample maximum; see
`bnnbench.export.layers`): exact to that rounding only, and a deep net amplifies it through
later signs (on a random narrow model 16 planes kept every prediction, 12 did not).
DAB with scale="none" has no per-channel scale: fully on bits.

Module trick: `bnnbench.export(model)` works because this package's module object has its
class swapped for a ModuleType subclass whose `__call__` forwards to `export` (and
`bnnbench.__getattr__` imports it lazily). `python -m bnnbench.export` runs `__main__`, which
rebuilds a run's model through `bnnbench.run.job` (`run_model`); importing the package imports
neither Hydra nor OmegaConf.
"""

from __future__ import annotations

import copy
import sys
import types
from typing import Any

from torch import nn

from bnnbench.binarizers.base import ActivationBinarizer
from bnnbench.core.codes import UnsupportedExport
from bnnbench.export.blocks.bdnet import PackedDualConv
from bnnbench.export.blocks.cfb import PackedCFBBlock
from bnnbench.export.layers import CHANNEL_SCALE_MODES, PackedConv
from bnnbench.export.report import export_report, model_bytes
from bnnbench.export.rules import export_modules, pack_conv
from bnnbench.kernels.api import IMPLS
from bnnbench.kernels.backend import BACKENDS


def export(
    model: nn.Module,
    backend: str = "auto",
    impl: str = "auto",
    *,
    channel_scale: str = "float",
    planes: int = 16,
) -> nn.Module:
    """A deep copy of `model` in eval mode with every binary conv packed to 1-bit words."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not valid; choose one of {BACKENDS}")
    if impl not in IMPLS:
        raise ValueError(f"impl={impl!r} is not valid; choose one of {IMPLS}")
    if channel_scale not in CHANNEL_SCALE_MODES:
        raise ValueError(f"channel_scale={channel_scale!r} is not valid; choose one of {CHANNEL_SCALE_MODES}")
    packed = copy.deepcopy(model).eval()
    packed = export_modules(packed, backend=backend, impl=impl, channel_scale=channel_scale, planes=planes)
    # binarizers inside packed layers (DAB's run-time statistics) are not left-over layers
    left = [name for name, m in packed.named_modules()
            if getattr(m, "binary", False) and not isinstance(m, (PackedConv, ActivationBinarizer))]
    if left:
        raise UnsupportedExport(f"binary modules without an export rule: {left}")
    return packed.eval()


class _CallableModule(types.ModuleType):
    """`bnnbench.export(model)` calls `export(model)`; the module stays a module."""

    def __call__(self, model: nn.Module, *args: Any, **kwargs: Any) -> nn.Module:
        return export(model, *args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "CHANNEL_SCALE_MODES",
    "PackedCFBBlock",
    "PackedConv",
    "PackedDualConv",
    "UnsupportedExport",
    "export",
    "export_modules",
    "export_report",
    "model_bytes",
    "pack_conv",
]
