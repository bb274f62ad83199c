"""`entropy`: information entropy of each binary layer's binarized activations on a data split.

BiDense (Yin et al. 2024) Eq. 3: a binary variable that is +1 with probability p carries
H(p) = -p log2 p - (1 - p) log2 (1 - p) bits (1 at p = 1/2). Figs. 3 and 6d report it per
channel, averaged over channels, over all inputs of the validation set. Here p is counted per
channel over every sample and position of the split read; the CSV gives that channel mean
(`entropy_channel_mean`) and the entropy of the whole layer's bits (`entropy_layer`).

The bits are read from the binarizers' outputs (forward hooks on every binary
`ActivationBinarizer`): the sign for binarizers whose two levels are +-s, the upper level of
each (sample, channel) plane for those with other levels (AdaBin, DoReFa).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from rich.progress import Progress
from torch import Tensor, nn

from bnnbench.analyze import AnalysisUnavailable
from bnnbench.analyze.context import Options, RunContext, forward_hooked, module_names
from bnnbench.analyze.output import figure, save, write_csv
from bnnbench.binarizers.base import ActivationBinarizer

DEFAULT_SPLIT = "val"


def binary_entropy(p: Tensor) -> Tensor:
    """H(p) in bits, elementwise (BiDense Eq. 3); 0 at p = 0 and p = 1."""
    p = p.double()
    q = 1 - p
    h = -(torch.special.xlogy(p, p) + torch.special.xlogy(q, q)) / torch.log(torch.tensor(2.0, dtype=p.dtype))
    return h.abs()  # -0.0 at p in {0, 1}


def bits(out: Tensor, symmetric: bool = True) -> Tensor:
    """The bit of each element of a binarizer's (N, C, H, W) output: out > 0 for levels +-s,
    else whether it is its (sample, channel) plane's upper level."""
    if symmetric:
        return out > 0
    return out >= out.flatten(2).amax(2)[..., None, None]


class BitCounter:
    """Counts ones per channel over every (N, C, H, W) tensor it is given."""

    def __init__(self) -> None:
        self.ones: Tensor | None = None
        self.total = 0

    def add(self, b: Tensor) -> None:
        """Count the ones of a boolean (N, C, ...) tensor per channel."""
        ones = b.transpose(0, 1).flatten(1).sum(1, dtype=torch.float64).cpu()
        self.ones = ones if self.ones is None else self.ones + ones
        self.total += b.numel() // b.shape[1]

    def p(self) -> Tensor:
        """Fraction of ones per channel."""
        assert self.ones is not None, "no activations were counted"
        return self.ones / self.total

    def summary(self) -> dict[str, float]:
        """p over the layer, channel-mean, min and max entropy and the whole layer's entropy (bits)."""
        p = self.p()
        h = binary_entropy(p)
        p_layer = p.mean()
        return {"p_one": float(p_layer), "entropy_channel_mean": float(h.mean()), "entropy_channel_min": float(h.min()),
                "entropy_channel_max": float(h.max()), "entropy_layer": float(binary_entropy(p_layer))}


def binarizers(model: nn.Module) -> list[tuple[str, ActivationBinarizer]]:
    """The model's binary activation binarizers (whose output is two levels per plane or a sign)."""
    return [(n, m) for n, m in module_names(model, ActivationBinarizer)
            if m.binary and (m.symmetric_levels or m.levels_per_channel == 2)]


def check(ctx: RunContext) -> None:
    """Raise AnalysisUnavailable when the model has no binary activation binarizer."""
    if not binarizers(ctx.model):
        raise AnalysisUnavailable("what=entropy needs binary activations: this run's model has none (binarizer=fp?)")


@torch.no_grad()
def layer_entropy(
    model: nn.Module, batches: Iterable, forward: Callable[[Any], Any], progress: Progress | None = None,
    total: int | None = None,
) -> list[dict]:
    """Per binarizer: its name, channels and `BitCounter.summary()` over `forward(batch)` of all `batches`."""
    found = binarizers(model)
    counters = {name: BitCounter() for name, _ in found}
    handles = []
    for name, m in found:
        def hook(mod: nn.Module, args: tuple, out: Tensor, counter: BitCounter = counters[name]) -> None:
            counter.add(bits(out.detach(), mod.symmetric_levels))
        handles.append(m.register_forward_hook(hook))
    forward_hooked(batches, forward, handles, "entropy", progress, total)
    return [{"index": i, "layer": name, "binarizer": type(m).__name__, "channels": m.channels,
             **counters[name].summary()} for i, (name, m) in enumerate(found) if counters[name].ones is not None]


def run(ctx: RunContext, opts: Options, progress: Progress) -> list[Path]:
    """Write entropy.csv and entropy.png (entropy per binary layer, front to back)."""
    split = opts.split or DEFAULT_SPLIT
    total, batches = ctx.stream(split, opts.batches)
    rows = layer_entropy(ctx.model, batches, ctx.forward, progress, total)
    for row in rows:
        row["split"] = split
    fig, ax = figure(size=(max(6.0, 0.25 * len(rows)), 4.0))
    x = [r["index"] for r in rows]
    ax.plot(x, [r["entropy_channel_mean"] for r in rows], "o-", label="mean over channels")
    ax.plot(x, [r["entropy_layer"] for r in rows], "s--", label="whole layer")
    ax.set(xlabel="binary layer (input to output)", ylabel="entropy (bits)", ylim=(0, 1.05),
           title=f"Entropy of binarized activations ({split} split)")
    ax.legend()
    return [write_csv(opts.out / "entropy.csv", rows), save(fig, opts.out / "entropy.png")]


__all__ = ["BitCounter", "binarizers", "binary_entropy", "bits", "check", "layer_entropy", "run"]
