"""One binary conv per method, run by bnnbench and by the authors' module on the same float64 case.

Each method gives `ours(case)` and `theirs(module, case)`; both return the same quantities:
the output `y`, the input gradient `dx`, the latent weight gradient `dw`, each learnable
parameter's gradient, and any state the layer rewrites (SiMaN's clipped weights and its code
B). The case holds the input x, the weight W, the upstream gradient g and the method's
parameters and schedule point, so golden tensors written from `theirs` are checked against
`ours` without the authors' code (tests/conformance).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from bnnbench.blocks.conv import BinaryConv2d

Case = dict[str, Any]
Result = dict[str, Tensor]
C_IN, C_OUT, K = 3, 4, 3


def make_case(seed: int = 0) -> Case:
    """x (2, 3, 6, 6), W (4, 3, 3, 3) with a few |W| > 1 (the clipped STEs), g, per-method parameters."""
    gen = torch.Generator().manual_seed(seed)
    d = torch.float64
    w = torch.randn(C_OUT, C_IN, K, K, generator=gen, dtype=d) * 0.6
    return {
        "x": torch.randn(2, C_IN, 6, 6, generator=gen, dtype=d),
        "w": w,
        "g": torch.randn(2, C_OUT, 6, 6, generator=gen, dtype=d),
        "beta": torch.randn(1, C_IN, 1, 1, generator=gen, dtype=d) * 0.3,  # ReActNet's threshold
        "gamma": torch.rand(C_OUT, generator=gen, dtype=d) + 0.5,  # a learned per-channel scale
        "epoch": 3, "epochs": 10,  # the schedule point (IR-Net's t, k; SiMaN's percent)
        # RBNN's starting rotations (a x b = 27 = 3 x 9): orthogonal, from a QR
        "r1": torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=d))[0],
        "r2": torch.linalg.qr(torch.randn(9, 9, generator=gen, dtype=d))[0],
    }


def _run(forward: Callable[[Tensor], Tensor], case: Case) -> Result:
    """y = forward(x) and the input gradient of sum(g * y): the part every side shares."""
    x = case["x"].clone().requires_grad_(True)
    y = forward(x)
    (y * case["g"]).sum().backward()
    return {"y": y.detach(), "dx": x.grad}


def _f64(value: Any) -> Tensor:
    """A schedule value as a float64 scalar tensor (a compared quantity)."""
    return torch.tensor(float(value), dtype=torch.float64)


def _ours(binarizer: Any, case: Case, setup: Callable[[BinaryConv2d], None] | None = None,
          alpha: bool = False) -> tuple[BinaryConv2d, Result]:
    """bnnbench's conv on the case at its schedule point; `alpha`: its learned scale set to the case's gamma."""
    conv = BinaryConv2d(C_IN, C_OUT, K, 1, 1, binarizer=binarizer, bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(case["w"])
    conv.weight_binarizer.bind(conv.weight)
    for module in conv.modules():
        if module is not conv and hasattr(module, "set_epoch"):
            module.set_epoch(case["epoch"], case["epochs"])
    with torch.no_grad():
        if alpha:
            conv.weight_binarizer.alpha.copy_(case["gamma"].view(C_OUT, 1, 1, 1))
        if setup is not None:
            setup(conv)
    conv.train()
    return conv, {**_run(conv, case), "dw": conv.weight.grad}


def _their_conv(mod: ModuleType, case: Case, alpha: bool = False) -> Any:
    """The authors' `BinarizeConv2d` (ReCU, ReSTE, SiMaN, RBNN) with the case's weight (and alpha)."""
    conv = mod.BinarizeConv2d(C_IN, C_OUT, K, 1, 1, bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(case["w"])
        if alpha:
            conv.alpha.copy_(case["gamma"].view(C_OUT, 1, 1))
    return conv


# --- IR-Net ---------------------------------------------------------------------------------

def irnet_ours(case: Case) -> Result:
    conv, out = _ours("irnet", case)
    return {**out, "t": _f64(conv.binarizer.t), "k": _f64(conv.binarizer.k)}


def irnet_theirs(mod: ModuleType, case: Case) -> Result:
    conv = mod.IRConv2d(C_IN, C_OUT, K, 1, 1, bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(case["w"])
    t, k = _log_up(case["epoch"], case["epochs"])  # set per epoch by CIFAR-10/ResNet20/1w1a/trainer.py
    conv.k, conv.t = torch.tensor([k], dtype=torch.float64), torch.tensor([t], dtype=torch.float64)
    return {**_run(conv, case), "dw": conv.weight.grad, "t": _f64(t), "k": _f64(k)}


def _log_up(epoch: int, epochs: int, t_min: float = 1e-3, t_max: float = 10.0) -> tuple[float, float]:
    """The trainer's `Log_UP` schedule with its `T_min, T_max = 1e-3, 1e1` (a script, not importable)."""
    import math

    lo, hi = math.log(t_min) / math.log(10), math.log(t_max) / math.log(10)
    t = math.pow(10, lo + (hi - lo) / epochs * epoch)
    return t, (1 / t if t < 1 else 1.0)


# --- Bi-Real and ReActNet (the same HardBinaryConv; ReActNet adds a learnable bias) ------------

def _hard_binary_conv(mod: ModuleType, case: Case) -> Any:
    conv = mod.HardBinaryConv(C_IN, C_OUT, K, 1, 1).double()
    with torch.no_grad():
        conv.weights.copy_(case["w"].reshape(-1, 1))
    return conv


def bireal_ours(case: Case) -> Result:
    return _ours("bireal", case)[1]


def bireal_theirs(mod: ModuleType, case: Case) -> Result:
    act, conv = mod.BinaryActivation(), _hard_binary_conv(mod, case)
    return {**_run(lambda x: conv(act(x)), case), "dw": conv.weights.grad.view(C_OUT, C_IN, K, K)}


def reactnet_ours(case: Case) -> Result:
    conv, out = _ours("reactnet", case, lambda c: c.binarizer.beta.copy_(case["beta"]))
    return {**out, "dbeta": conv.binarizer.beta.grad}


def reactnet_theirs(mod: ModuleType, case: Case) -> Result:
    move, act, conv = mod.LearnableBias(C_IN).double(), mod.BinaryActivation(), _hard_binary_conv(mod, case)
    with torch.no_grad():
        move.bias.copy_(-case["beta"])  # x + bias = x - beta (RSign's threshold)
    out = _run(lambda x: conv(act(move(x))), case)
    return {**out, "dw": conv.weights.grad.view(C_OUT, C_IN, K, K), "dbeta": -move.bias.grad}


# --- XNOR-Net++ -----------------------------------------------------------------------------

def xnorpp_ours(case: Case) -> Result:
    conv, out = _ours("xnorpp", case, alpha=True)
    return {**out, "dgamma": conv.weight_binarizer.alpha.grad.flatten()}


def xnorpp_theirs(mod: ModuleType, case: Case) -> Result:
    # recipe xnor-net-plus step 1: BasicInputBinarizer, XNORWeightBinarizer(True, True), BasicScaleBinarizer
    shape_of = torch.nn.Conv2d(C_IN, C_OUT, K, 1, 1, bias=False).double()
    act, wbin = mod.BasicInputBinarizer(), mod.XNORWeightBinarizer(compute_alpha=True, center_weights=True)
    scale = mod.BasicScaleBinarizer(shape_of).double()
    with torch.no_grad():
        scale.alpha.copy_(case["gamma"].view(1, C_OUT, 1, 1))
    w = case["w"].clone().requires_grad_(True)
    out = _run(lambda x: scale(F.conv2d(act(x), wbin(w), padding=1), x), case)
    return {**out, "dw": w.grad, "dgamma": scale.alpha.grad.flatten()}


# --- SiMaN ----------------------------------------------------------------------------------

def _siman_percent(case: Case) -> float:
    return 15.0 * (1 - case["epoch"] / case["epochs"])  # cifar/main.py at 68664c0


def siman_ours(case: Case) -> Result:
    conv, out = _ours("siman", case, alpha=True)
    wb = conv.weight_binarizer
    return {**out, "dalpha": wb.alpha.grad.flatten(), "w_after": conv.weight.detach().clone(),
            "code": wb.code.to(torch.float64), "percent": _f64(wb.percent)}


def siman_theirs(mod: ModuleType, case: Case) -> Result:
    conv = _their_conv(mod, case, alpha=True)
    conv.percent = torch.tensor(_siman_percent(case))
    conv.train()
    return {**_run(conv, case), "dw": conv.weight.grad, "dalpha": conv.alpha.grad.flatten(),
            "w_after": conv.weight.detach().clone(), "code": conv.B.detach().view(C_OUT, C_IN, K, K).to(torch.float64),
            "percent": _f64(_siman_percent(case))}


# --- ReCU -----------------------------------------------------------------------------------

def recu_ours(case: Case) -> Result:
    conv, out = _ours("recu", case, alpha=True)
    wb = conv.weight_binarizer
    return {**out, "dalpha": wb.alpha.grad.flatten(), "tau": _f64(wb.tau)}


def recu_theirs(mod: ModuleType, case: Case) -> Result:
    from bnnbench.binarizers.recu import recu_tau

    conv = _their_conv(mod, case, alpha=True)
    tau = recu_tau(case["epoch"], case["epochs"])  # set per epoch by its main.py (`cpt_tau`)
    with torch.no_grad():
        conv.tau.fill_(tau)
    conv.train()
    return {**_run(conv, case), "dw": conv.weight.grad, "dalpha": conv.alpha.grad.flatten(), "tau": _f64(tau)}


# --- ReSTE ----------------------------------------------------------------------------------

def reste_ours(case: Case) -> Result:
    conv, out = _ours("reste", case)
    return {**out, "o": _f64(conv.binarizer.o)}


def reste_theirs(mod: ModuleType, case: Case) -> Result:
    from bnnbench.binarizers.reste import reste_o

    conv = _their_conv(mod, case)
    o = reste_o(case["epoch"], case["epochs"], 3.0)  # its trainer's cosine o: 1 -> o_end = 3
    conv.o = conv.o_a = torch.tensor(o, dtype=torch.float64)
    conv.t = conv.t_a = torch.tensor(1.5, dtype=torch.float64)
    return {**_run(conv, case), "dw": conv.weight.grad, "o": _f64(o)}


# --- RBNN -----------------------------------------------------------------------------------

def rbnn_ours(case: Case) -> Result:
    def rotations(conv: BinaryConv2d) -> None:
        conv.weight_binarizer.r1.copy_(case["r1"])
        conv.weight_binarizer.r2.copy_(case["r2"])

    conv, out = _ours("rbnn", case, rotations, alpha=True)
    wb = conv.weight_binarizer
    return {**out, "dalpha": wb.alpha.grad.flatten(), "dtheta": wb.theta.grad.flatten(),
            "r1": wb.r1.detach().clone(), "r2": wb.r2.detach().clone()}


def rbnn_theirs(mod: ModuleType, case: Case) -> Result:
    from bnnbench.binarizers.ste import ede_schedule

    conv = _their_conv(mod, case, alpha=True)
    t, k = ede_schedule(case["epoch"], case["epochs"], 1e-2, 10.0)  # its main.py `cpt_tk`, Tmin 1e-2, Tmax 10
    conv.t, conv.k = torch.tensor([t], dtype=torch.float64), torch.tensor([k], dtype=torch.float64)
    conv.epoch = case["epoch"]  # the first batch of the epoch: the rotation is re-fitted
    conv.R1, conv.R2 = case["r1"].clone(), case["r2"].clone()
    return {**_run(conv, case), "dw": conv.weight.grad, "dalpha": conv.alpha.grad.flatten(),
            "dtheta": conv.rotate.grad.flatten(), "r1": conv.R1.detach().clone(), "r2": conv.R2.detach().clone()}


@dataclass(frozen=True)
class Method:
    """bnnbench's side and the authors' side of one method's check."""

    ours: Callable[[Case], Result]
    theirs: Callable[[ModuleType, Case], Result]


METHODS: dict[str, Method] = {
    "irnet": Method(irnet_ours, irnet_theirs),
    "bireal": Method(bireal_ours, bireal_theirs),
    "reactnet": Method(reactnet_ours, reactnet_theirs),
    "xnorpp": Method(xnorpp_ours, xnorpp_theirs),
    "siman": Method(siman_ours, siman_theirs),
    "recu": Method(recu_ours, recu_theirs),
    "reste": Method(reste_ours, reste_theirs),
    "rbnn": Method(rbnn_ours, rbnn_theirs),
}

__all__ = ["METHODS", "Case", "Method", "Result", "make_case"]
