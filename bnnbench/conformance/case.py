"""The float64 case every conformance check runs on, and the steps both sides of a check share.

A case holds the input x, the weight W, the upstream gradient g and the method's parameters and
schedule point. Each method runs bnnbench's side (`ours`) and the authors' side (`theirs`) on it
and returns the same quantities: the output `y`, the input gradient `dx`, the latent weight
gradient `dw`, each learnable parameter's gradient and any state the layer rewrites.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from bnnbench.blocks.conv import BinaryConv2d

Case = dict[str, Any]
Result = dict[str, Tensor]
C_IN, C_OUT, K = 3, 4, 3


def make_case(seed: int = 0, c_in: int = C_IN, c_out: int = C_OUT) -> Case:
    """x (2, c_in, 6, 6), W (c_out, c_in, 3, 3) with a few |W| > 1 (the clipped STEs), g and the
    per-method parameters (a threshold per input channel, a scale per output channel, RBNN's
    starting rotations of the 3 x 9 weight factorisation)."""
    gen = torch.Generator().manual_seed(seed)
    d = torch.float64
    w = torch.randn(c_out, c_in, K, K, generator=gen, dtype=d) * 0.6
    return {
        "x": torch.randn(2, c_in, 6, 6, generator=gen, dtype=d),
        "w": w,
        "g": torch.randn(2, c_out, 6, 6, generator=gen, dtype=d),
        "beta": torch.randn(1, c_in, 1, 1, generator=gen, dtype=d) * 0.3,  # ReActNet's threshold
        "gamma": torch.rand(c_out, generator=gen, dtype=d) + 0.5,  # a learned per-channel scale
        "epoch": 3, "epochs": 10,  # the schedule point (IR-Net's t, k; SiMaN's percent)
        # RBNN's starting rotations (a x b = 27 = 3 x 9 for the default shape): orthogonal, from a QR
        "r1": torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=d))[0],
        "r2": torch.linalg.qr(torch.randn(9, 9, generator=gen, dtype=d))[0],
    }


def random_params(case: Case, seed: int, **shapes: tuple[int, ...]) -> Case:
    """`case` with named float64 parameters drawn normal(0, 0.3) (a learned parameter away from its
    init, so that a swapped sign or a missing term shows)."""
    gen = torch.Generator().manual_seed(seed)
    return {**case, **{name: torch.randn(shape, generator=gen, dtype=torch.float64) * 0.3
                       for name, shape in shapes.items()}}


def run(forward: Callable[[Tensor], Tensor], case: Case) -> Result:
    """y = forward(x) and the input gradient of sum(g * y): the part every side shares."""
    x = case["x"].clone().requires_grad_(True)
    y = forward(x)
    (y * case["g"]).sum().backward()
    return {"y": y.detach(), "dx": x.grad}


def f64(value: Any) -> Tensor:
    """A schedule value as a float64 scalar tensor (a compared quantity)."""
    return torch.tensor(float(value), dtype=torch.float64)


def at_schedule_point(module: nn.Module, case: Case) -> None:
    """Every sub-module of bnnbench's `module` with a schedule set to the case's epoch."""
    for sub in module.modules():
        if sub is not module and hasattr(sub, "set_epoch"):
            sub.set_epoch(case["epoch"], case["epochs"])


def ours(binarizer: Any, case: Case, setup: Callable[[BinaryConv2d], None] | None = None,
         alpha: bool = False) -> tuple[BinaryConv2d, Result]:
    """bnnbench's conv on the case at its schedule point; `alpha`: its learned scale set to the case's gamma."""
    c_out, c_in, k = case["w"].shape[:3]
    conv = BinaryConv2d(c_in, c_out, k, 1, k // 2, binarizer=binarizer, bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(case["w"])
    conv.weight_binarizer.bind(conv.weight)
    at_schedule_point(conv, case)
    with torch.no_grad():
        if alpha:
            conv.weight_binarizer.alpha.copy_(case["gamma"].view(c_out, 1, 1, 1))
        if setup is not None:
            setup(conv)
    conv.train()
    return conv, {**run(conv, case), "dw": conv.weight.grad}


def log_up(epoch: int, epochs: int, t_min: float = 1e-3, t_max: float = 10.0) -> tuple[float, float]:
    """The `Log_UP` schedule of IR-Net's and AdaBin's training scripts (scripts, not importable):
    t = 10^(log t_min + (log t_max - log t_min) e / E), k = max(1 / t, 1)."""
    import math

    lo, hi = math.log(t_min) / math.log(10), math.log(t_max) / math.log(10)
    t = math.pow(10, lo + (hi - lo) / epochs * epoch)
    return t, (1 / t if t < 1 else 1.0)


__all__ = ["C_IN", "C_OUT", "Case", "K", "Result", "at_schedule_point", "f64", "log_up", "make_case", "ours",
           "random_params", "run"]
