"""Training-step time and memory of each binarizer relative to `fp`, measured in one run.

Full-width ConvNeXt-T + UPerNet (BiDense's dense model, 150 classes) at 128x128, block `cfb`.
Each binarizer runs in its own process so that peak memory is not shared between them.
Memory is reported two ways on CPU: the bytes autograd saves for backward (the activation
memory a BNN adds to) and the process's peak RSS growth during the steps; on CUDA, the
allocator's peak. Figures are ratios against `fp` measured in the same run.

The row `dab-composed` is DAB + CFB written as a plain composition of torch ops (autograd
through sign, clamp and mean, `composed.py`), so the fused layers' lead over it stays measured.
`--compile` adds a `+compile` row per binarizer: the same step with the model under
torch.compile, its ratio against eager `fp`.

    python experiments/bench/train_step.py [--batch 2] [--steps 3] [--size 128] [--compile]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

BINARIZERS = ["fp", "bnn", "reactnet", "adabin", "bisrnet", "dab", "xnor", "xnorpp", "bireal", "irnet", "recu",
              "dorefa", "rbnn", "siman", "reste", "insta"]
COMPOSED = "dab-composed"  # DAB + CFB as plain torch ops (composed.py)
COMPILE = "+compile"
GOAL = 1.3  # every binarizer within 1.3x fp's step time and saved-activation memory


def worker(name: str, batch: int, steps: int, size: int, device: str) -> dict:
    """Time `steps` training steps of the full model with binarizer `name` (after one warm-up);
    `name` may be COMPOSED, and may end in COMPILE."""
    import torch

    from bnnbench import models

    torch.manual_seed(0)
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    base = name.removesuffix(COMPILE)
    binarizer = "dab" if base == COMPOSED else base
    model = models.build("convnext_upernet", block="cfb", binarizer=binarizer, out_channels=150).to(device)
    if base == COMPOSED:
        from composed import compose  # this script's folder is on sys.path

        compose(model)
    run = torch.compile(model) if name.endswith(COMPILE) else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 150, (batch, size, size), device=device)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(run(x), y).backward()
        opt.step()

    step()  # warm-up: allocator, optimizer state, compilation
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        try:
            key = t.untyped_storage().data_ptr()
            saved[key] = max(saved.get(key, 0), t.untyped_storage().nbytes())
        except (RuntimeError, NotImplementedError):
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss_fn(run(x), y).backward()
    opt.zero_grad(set_to_none=True)

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    peak = (
        torch.cuda.max_memory_allocated()
        if device == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    return {
        "binarizer": name,
        "step_s": statistics.median(times),
        "saved_bytes": sum(saved.values()),
        "peak_bytes": peak,
        "rss_growth_bytes": max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0, 0) * 1024,
    }


def main() -> None:
    """Run every binarizer in a subprocess and print the ratios against fp."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--binarizers", nargs="+", default=BINARIZERS)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the fastest round counts")
    ap.add_argument("--compile", action="store_true", help="add a torch.compile row per binarizer")
    ap.add_argument("--no-composed", action="store_true", help=f"skip the {COMPOSED} baseline row")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.batch, args.steps, args.size, args.device)))
        return
    names = ["fp"] + [b for b in args.binarizers if b != "fp"]
    if not args.no_composed:
        names.append(COMPOSED)
    if args.compile:
        names += [n + COMPILE for n in names]
    best: dict[str, dict] = {}
    # rounds interleave the binarizers so that a load change on the machine hits all of them
    for r in range(args.rounds):
        for name in names:
            cmd = [sys.executable, __file__, "--worker", name, "--batch", str(args.batch), "--steps",
                   str(args.steps), "--size", str(args.size), "--device", args.device]
            print(f"round {r + 1}/{args.rounds}: measuring {name} ...", file=sys.stderr, flush=True)
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"{name} failed:\n{proc.stderr}")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            if name not in best or row["step_s"] < best[name]["step_s"]:
                best[name] = row
    rows = [best[n] for n in names]
    base = rows[0]
    print(f"\nconvnext_upernet (full width, 150 classes) + cfb, {args.size}x{args.size}, batch {args.batch}, "
          f"{args.device}, median of {args.steps} steps, best of {args.rounds} interleaved rounds; "
          "ratios against fp in this run")
    print(f"{'binarizer':<16} {'step (s)':>9} {'time x':>7} {'saved act (MB)':>15} {'saved x':>8} "
          f"{'peak (MB)':>10} {'peak x':>7}  goal")
    for r in rows:
        time_x, saved_x = r["step_s"] / base["step_s"], r["saved_bytes"] / base["saved_bytes"]
        met = "-" if r["binarizer"] == "fp" else ("met" if time_x <= GOAL and saved_x <= GOAL else "missed")
        print(f"{r['binarizer']:<16} {r['step_s']:9.3f} {time_x:7.2f} "
              f"{r['saved_bytes'] / 2**20:15.1f} {saved_x:8.2f} "
              f"{r['peak_bytes'] / 2**20:10.1f} {r['peak_bytes'] / base['peak_bytes']:7.2f}  {met}")
    composed = best.get(COMPOSED)
    if composed is not None and "dab" in best:
        print(f"dab against {COMPOSED}: {best['dab']['step_s'] / composed['step_s']:.2f}x the time, "
              f"{best['dab']['saved_bytes'] / composed['saved_bytes']:.2f}x the saved memory")
    print(f"goal: every binarizer within {GOAL}x fp's step time and {GOAL}x its saved-activation memory "
          "(ratios against eager fp)")


if __name__ == "__main__":
    main()
