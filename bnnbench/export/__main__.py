"""`python -m bnnbench.export ckpt=<run>/checkpoints/best.ckpt out=<file>`: export a run's checkpoint.

Writes the packed model (the whole module: load it with torch.load(..., weights_only=False))
and a JSON report (weight bytes before/after and a check of both models on one random input).
`bench=true` also measures the packed model against the float model of the same network
(`bnnbench.export.bench`), per layer and whole, at batch 1 and `bench_batch=N` if given, on
`threads=N` threads (default: torch's): printed, in the report under "bench", and as
`latency/...` keys in `<run>/latency.json`, which a sweep's results and report read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bnnbench.core.keyvalue import UsageError, parse_key_values, run_main
from bnnbench.export import export, export_report
from bnnbench.export.bench import bench_export, format_bench, summary_keys

USAGE = (
    "usage: python -m bnnbench.export ckpt=<run>/checkpoints/<name>.ckpt out=<file.pt or folder> "
    "[config=<run>/.hydra/config.yaml] [backend=auto|triton|cpu|reference|float] [impl=auto|xor|dot] "
    "[channel_scale=float|bitplanes] [planes=16] [check=true|false] [bench=true|false] "
    "[bench_batch=16] [bench_repeat=10] [threads=N]"
)
KEYS = ("ckpt", "out", "config", "backend", "impl", "channel_scale", "planes", "check", "bench", "bench_batch",
        "bench_repeat", "threads")


def parse(argv: list[str]) -> dict[str, str]:
    """key=value arguments; UsageError on an unknown key or a missing ckpt/out."""
    return parse_key_values(argv, KEYS, ("ckpt", "out"))


def _outputs(out: Path) -> tuple[Path, Path]:
    """(packed model file, report file): `out` itself + .json, or files inside a folder `out`."""
    if out.suffix:
        return out, out.with_suffix(".json")
    return out / "packed_model.pt", out / "export_report.json"


def check(model: nn.Module, packed: nn.Module, in_channels: int, size: tuple[int, int]) -> dict[str, float]:
    """Outputs of both models on one random input: max difference and argmax agreement. A model
    with a `cost_forward` (a detector's fixed RoIs, a diffusion model's one denoising step of a
    condition) is checked through it, as cost counting runs it."""
    x = torch.rand(2, in_channels, *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.eval()
        ref, got = getattr(model, "cost_forward", model)(x), getattr(packed, "cost_forward", packed)(x)
    scale = ref.abs().max().clamp_min(1e-12)
    agree = (ref.argmax(1) == got.argmax(1)).float().mean() if ref.dim() > 1 and ref.shape[1] > 1 else torch.tensor(1.0)
    return {"max_abs_diff": float((ref - got).abs().max()), "output_scale": float(scale), "argmax_agreement": float(agree)}


def _flag(args: dict[str, str], key: str, default: str) -> bool:
    value = args.get(key, default).lower()
    if value not in ("1", "true", "yes", "0", "false", "no"):
        raise UsageError(f"{key}={args[key]!r} is not a boolean (true or false)")
    return value in ("1", "true", "yes")


def _positive(args: dict[str, str], key: str) -> int | None:
    if key not in args:
        return None
    if not args[key].isdigit() or int(args[key]) < 1:
        raise UsageError(f"{key}={args[key]!r} is not a positive integer")
    return int(args[key])


def export_checkpoint(args: dict[str, str]) -> dict[str, Any]:
    """Rebuild the run's model, load the checkpoint, export, save the packed model and the report."""
    from bnnbench.run.run_model import (
        load_run_model,  # the run layer (models, tasks, Lightning) only here
    )

    bench = _flag(args, "bench", "false")
    batch, repeat, threads = (_positive(args, k) for k in ("bench_batch", "bench_repeat", "threads"))
    if threads is not None:
        torch.set_num_threads(threads)
    model, dm, config = load_run_model(args["ckpt"], args.get("config"))
    packed = export(
        model,
        backend=args.get("backend", "auto"),
        impl=args.get("impl", "auto"),
        channel_scale=args.get("channel_scale", "float"),
        planes=int(args.get("planes", 16)),
    )
    report: dict[str, Any] = {"checkpoint": str(Path(args["ckpt"]).expanduser()), "config": str(config),
                              **export_report(model, packed)}
    if _flag(args, "check", "true"):
        report["check"] = check(model, packed, dm.info.in_channels, tuple(dm.info.image_size))
    if bench:
        report["bench"] = _bench(model, packed, args, dm.info.in_channels, tuple(dm.info.image_size), batch, repeat)
    model_file, report_file = _outputs(Path(args["out"]).expanduser())
    model_file.parent.mkdir(parents=True, exist_ok=True)
    torch.save(packed, model_file)
    report["packed_model"] = str(model_file)
    report_file.write_text(json.dumps(report, indent=2, allow_nan=False))
    print(json.dumps(report, indent=2, allow_nan=False))
    return report


def _bench(model: nn.Module, packed: nn.Module, args: dict[str, str], in_channels: int, size: tuple[int, int],
           batch: int | None, repeat: int | None) -> dict[str, Any]:
    """Float vs packed latency (printed, returned, and its keys written to <run>/latency.json)."""
    float_model = export(model, backend="float", impl=args.get("impl", "auto"),
                         channel_scale=args.get("channel_scale", "float"), planes=int(args.get("planes", 16)))
    sample = torch.rand(1, in_channels, *size, generator=torch.Generator().manual_seed(0))
    batches = (1,) if batch in (None, 1) else (1, batch)
    result = bench_export(model, float_model, packed, sample, batches, repeat or 10)
    print(format_bench(result), file=sys.stderr)
    run_dir = Path(args["ckpt"]).expanduser().resolve().parent.parent
    (run_dir / "latency.json").write_text(json.dumps(summary_keys(result), indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the command line; 0 on success, 2 on a usage error or a missing file (one line on stderr)."""
    return run_main(argv, USAGE, lambda a: export_checkpoint(parse(a)))


if __name__ == "__main__":
    code = main()
    if code:  # success returns normally, so that runpy callers (tests) see no SystemExit
        sys.exit(code)
