"""`hessian`: the top-k eigenvalues of the training loss's Hessian (BD-Net Fig. 5).

The Hessian is never formed: Hessian-vector products Hv = d(g . v)/dw come from autograd's
double backward (Pearlmutter's trick, as PyHessian, github.com/amirgholami/PyHessian, computes
them), averaged over a fixed set of batches, and SciPy's Lanczos solver (`eigsh`, ARPACK's
implicitly restarted Lanczos) finds the largest eigenvalues of that operator.

In a BNN the loss is piecewise constant in the latent weights of its binary layers, so its true
Hessian there is zero almost everywhere. What is computed is the Hessian the optimiser sees:
the derivative of the gradient that backpropagation produces, in which every sign is replaced
by its binarizer's surrogate gradient (STE, ApproxSign, ...). Surrogates with detached
statistics (DAB) make that operator slightly non-symmetric (u.Hv and v.Hu differed by ~1e-3
relative on a small DAB network); Lanczos assumes symmetry, so read its eigenvalues to about
that precision. The model runs in eval mode (BN uses its running statistics, as PyHessian does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import Tensor

from bnnbench.analyze.context import Options, RunContext, check_loss
from bnnbench.analyze.output import figure, save, write_csv

DEFAULT_SPLIT = "train"


def hvp(loss: Callable[[], Tensor], params: Sequence[Tensor], v: Sequence[Tensor]) -> list[Tensor]:
    """H v for the Hessian of `loss()` in `params`, by double backward."""
    grads = torch.autograd.grad(loss(), params, create_graph=True)
    dot = sum((g * u).sum() for g, u in zip(grads, v))
    hv = torch.autograd.grad(dot, params, allow_unused=True)
    return [torch.zeros_like(p) if h is None else h.detach() for h, p in zip(hv, params)]


def top_eigenvalues(
    losses: Sequence[Callable[[], Tensor]],
    params: Sequence[Tensor],
    k: int = 10,
    tol: float = 1e-3,
    seed: int = 0,
    on_product: Callable[[], None] | None = None,
) -> np.ndarray:
    """The `k` largest eigenvalues (descending) of the Hessian of the mean of `losses`, by Lanczos.

    Each loss is a closure computing one batch's loss from `params`; `on_product` is called
    after every Hessian-vector product (progress).
    """
    shapes = [p.shape for p in params]
    sizes = [p.numel() for p in params]
    n = sum(sizes)
    if not 0 < k < n:
        raise ValueError(f"top_k must lie in [1, {n - 1}] for {n} parameters, got {k}")
    ref = params[0]

    def matvec(x: np.ndarray) -> np.ndarray:
        flat = torch.as_tensor(np.asarray(x, dtype=np.float64).reshape(-1), dtype=ref.dtype, device=ref.device)
        v = [c.view(s) for c, s in zip(flat.split(sizes), shapes)]
        total = None
        for loss in losses:
            hv = torch.cat([h.reshape(-1) for h in hvp(loss, params, v)])
            total = hv if total is None else total + hv
        if on_product is not None:
            on_product()
        return (total / len(losses)).double().cpu().numpy()

    v0 = np.random.default_rng(seed).standard_normal(n)
    op = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    values = eigsh(op, k=k, which="LA", v0=v0, tol=tol, return_eigenvectors=False)
    return np.sort(values)[::-1]


def check(ctx: RunContext) -> None:
    """Raise AnalysisUnavailable when the run's task has no loss in eval mode."""
    check_loss(ctx.task, "hessian")


def run(ctx: RunContext, opts: Options, progress: Progress) -> list[Path]:
    """Write hessian.csv (rank, eigenvalue) and hessian.png (top-k eigenvalues, as BD-Net Fig. 5)."""
    split = opts.split or DEFAULT_SPLIT
    batches = ctx.batches(split, opts.batches)
    params = [p for p in ctx.model.parameters() if p.requires_grad]
    task = progress.add_task(f"hessian (top {opts.top_k}, Lanczos: Hessian-vector products)", total=None)
    products = [0]

    def step() -> None:
        products[0] += 1
        progress.advance(task)

    values = top_eigenvalues([lambda b=b: ctx.loss(b) for b in batches], params, opts.top_k, opts.tol, opts.seed, step)
    progress.update(task, total=products[0])
    rows = [{"rank": i + 1, "eigenvalue": float(v), "split": split, "batches": len(batches), "products": products[0]} for i, v in enumerate(values)]
    fig, ax = figure()
    ax.plot(range(1, len(values) + 1), values, "o-")
    ax.set(xlabel="rank", ylabel="eigenvalue", title=f"Top-{len(values)} Hessian eigenvalues ({split} loss)")
    return [write_csv(opts.out / "hessian.csv", rows), save(fig, opts.out / "hessian.png")]


__all__ = ["check", "hvp", "run", "top_eigenvalues"]
