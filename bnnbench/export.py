"""Export a trained model to packed 1-bit inference layers (Triton kernels on GPU, torch reference on CPU).

    import bnnbench
    packed = bnnbench.export(model)             # = bnnbench.export.export(model)
    report = bnnbench.export.export_report(model, packed)

    python -m bnnbench.export ckpt=outputs/<run>/checkpoints/best.ckpt out=packed.pt

`export` returns a deep copy in eval mode (the input model is untouched) in which every binary
`BinaryConv2d` is a `PackedConv` holding its weights as 1-bit int32 words plus per-channel
floats: `plain` / `cfb` blocks fold their BN into the kernel epilogue's scale and bias (cfb
adds its bypass there too), any other binary conv is packed alone; real layers stay as they
are. Supported binarizers: bnn, reactnet, bisrnet, adabin (both centres), dab (all ablation
modes), with sign / meanabs / adabin weights. Others raise `UnsupportedExport` naming the
module. Dilated convs raise (the kernels have no dilation).

Equivalence with the trained model in eval mode: each packed bit equals training's sign bit
for bit (`bnnbench.exporting.thresholds`), so a layer differs from its float original only by
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
`bnnbench.exporting.layers`): exact to that rounding only, and a deep net amplifies it through
later signs (on a random narrow model 16 planes kept every prediction, 12 did not).
DAB with scale="none" has no per-channel scale: fully on bits.

Module trick: this module is both importable as `bnnbench.export` and runnable with
`python -m bnnbench.export`; `bnnbench.export(model)` works because the module object's class
is swapped for a ModuleType subclass whose `__call__` forwards to `export` (and
`bnnbench.__getattr__` imports this module lazily). Importing it does not import Hydra or
OmegaConf; the CLI imports them when it runs.
"""

from __future__ import annotations

import copy
import json
import sys
import types
from pathlib import Path
from typing import Any

from torch import nn

from bnnbench.exporting import (
    CHANNEL_SCALE_MODES,
    PackedConv,
    UnsupportedExport,
    export_modules,
    export_report,
)
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
    left = [name for name, m in packed.named_modules() if getattr(m, "binary", False) and not isinstance(m, PackedConv)]
    if left:
        raise UnsupportedExport(f"binary modules without an export rule: {left}")
    return packed.eval()


# -- command line ------------------------------------------------------------------------------

_USAGE = (
    "usage: python -m bnnbench.export ckpt=<run>/checkpoints/<name>.ckpt out=<file.pt or folder> "
    "[config=<run>/.hydra/config.yaml] [backend=auto|triton|reference] [impl=auto|xor|dot] "
    "[channel_scale=float|bitplanes] [planes=16] [check=true|false]"
)


def _parse(argv: list[str]) -> dict[str, str]:
    args = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in ("ckpt", "out", "config", "backend", "impl", "channel_scale", "planes", "check"):
            raise SystemExit(f"bad argument {arg!r}\n{_USAGE}")
        args[key] = value
    for key in ("ckpt", "out"):
        if not args.get(key):
            raise SystemExit(f"missing {key}=...\n{_USAGE}")
    return args


def _outputs(out: Path) -> tuple[Path, Path]:
    """(packed model file, report file): `out` itself + .json, or files inside a folder `out`."""
    if out.suffix:
        return out, out.with_suffix(".json")
    return out / "packed_model.pt", out / "export_report.json"


def _check(model: nn.Module, packed: nn.Module, in_channels: int, size: tuple[int, int]) -> dict[str, float]:
    """Outputs of both models on one random input: max difference and argmax agreement."""
    import torch

    x = torch.rand(2, in_channels, *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref, got = model.eval()(x), packed(x)
    scale = ref.abs().max().clamp_min(1e-12)
    agree = (ref.argmax(1) == got.argmax(1)).float().mean() if ref.dim() > 1 and ref.shape[1] > 1 else torch.tensor(1.0)
    return {"max_abs_diff": float((ref - got).abs().max()), "output_scale": float(scale), "argmax_agreement": float(agree)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Rebuild a run's model from its Hydra config, load a checkpoint, export, save, report."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    import torch
    from omegaconf import OmegaConf

    from bnnbench.cli import build_datamodule, build_model

    ckpt = Path(args["ckpt"]).expanduser()
    if not ckpt.is_file():
        raise FileNotFoundError(f"ckpt={ckpt} does not exist")
    config = Path(args["config"]) if args.get("config") else ckpt.resolve().parent.parent / ".hydra" / "config.yaml"
    if not config.is_file():
        raise FileNotFoundError(
            f"no Hydra config at {config}: the checkpoint's run folder should hold .hydra/config.yaml "
            "(checkpoints sit in <run>/checkpoints/); pass config=<path> otherwise"
        )
    cfg = OmegaConf.load(config)
    dm = build_datamodule(cfg)
    model = build_model(cfg, dm)
    # a checkpoint of our own run: it also holds optimizer state and hyper-parameters
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    weights = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
    if not weights:
        raise ValueError(f"{ckpt} has no 'model.*' weights in its state_dict")
    model.load_state_dict(weights)
    model.eval()

    packed = export(
        model,
        backend=args.get("backend", "auto"),
        impl=args.get("impl", "auto"),
        channel_scale=args.get("channel_scale", "float"),
        planes=int(args.get("planes", 16)),
    )
    report: dict[str, Any] = {"checkpoint": str(ckpt), "config": str(config), **export_report(model, packed)}
    if args.get("check", "true").lower() in ("1", "true", "yes"):
        report["check"] = _check(model, packed, dm.in_channels, tuple(dm.image_size))
    model_file, report_file = _outputs(Path(args["out"]).expanduser())
    model_file.parent.mkdir(parents=True, exist_ok=True)
    torch.save(packed, model_file)  # the whole module: load with torch.load(..., weights_only=False)
    report["packed_model"] = str(model_file)
    report_file.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return report


class _CallableModule(types.ModuleType):
    """`bnnbench.export(model)` calls `export(model)`; the module stays a module."""

    def __call__(self, model: nn.Module, *args: Any, **kwargs: Any) -> nn.Module:
        return export(model, *args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["export", "export_report", "main"]

if __name__ == "__main__":
    main()
