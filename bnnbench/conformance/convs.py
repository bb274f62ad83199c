"""The per-conv checks: one binary conv per method, bnnbench's and the authors' on one case.

Each method gives `<name>_ours(case)` and `<name>_theirs(module, case)` (the authors' module
imported by `bnnbench.conformance.source`); both return the same quantities (`case.py`).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F

from bnnbench.binarizers.recu import recu_tau
from bnnbench.binarizers.reste import reste_o
from bnnbench.binarizers.ste import ede_schedule
from bnnbench.blocks.conv import BinaryConv2d
from bnnbench.conformance.case import (
    C_IN,
    C_OUT,
    Case,
    K,
    Result,
    f64,
    log_up,
    make_case,
    ours,
    random_params,
    run,
)


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
    conv, out = ours("irnet", case)
    return {**out, "t": f64(conv.binarizer.t), "k": f64(conv.binarizer.k)}


def irnet_theirs(mod: ModuleType, case: Case) -> Result:
    conv = mod.IRConv2d(C_IN, C_OUT, K, 1, 1, bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(case["w"])
    t, k = log_up(case["epoch"], case["epochs"])  # set per epoch by CIFAR-10/ResNet20/1w1a/trainer.py
    conv.k, conv.t = torch.tensor([k], dtype=torch.float64), torch.tensor([t], dtype=torch.float64)
    return {**run(conv, case), "dw": conv.weight.grad, "t": f64(t), "k": f64(k)}


# --- Bi-Real and ReActNet (the same HardBinaryConv; ReActNet adds a learnable bias) ------------

def _hard_binary_conv(mod: ModuleType, case: Case) -> Any:
    conv = mod.HardBinaryConv(C_IN, C_OUT, K, 1, 1).double()
    with torch.no_grad():
        conv.weights.copy_(case["w"].reshape(-1, 1))
    return conv


def bireal_ours(case: Case) -> Result:
    return ours("bireal", case)[1]


def bireal_theirs(mod: ModuleType, case: Case) -> Result:
    act, conv = mod.BinaryActivation(), _hard_binary_conv(mod, case)
    return {**run(lambda x: conv(act(x)), case), "dw": conv.weights.grad.view(C_OUT, C_IN, K, K)}


def reactnet_ours(case: Case) -> Result:
    conv, out = ours("reactnet", case, lambda c: c.binarizer.beta.copy_(case["beta"]))
    return {**out, "dbeta": conv.binarizer.beta.grad}


def reactnet_theirs(mod: ModuleType, case: Case) -> Result:
    move, act, conv = mod.LearnableBias(C_IN).double(), mod.BinaryActivation(), _hard_binary_conv(mod, case)
    with torch.no_grad():
        move.bias.copy_(-case["beta"])  # x + bias = x - beta (RSign's threshold)
    out = run(lambda x: conv(act(move(x))), case)
    return {**out, "dw": conv.weights.grad.view(C_OUT, C_IN, K, K), "dbeta": -move.bias.grad}


# --- XNOR-Net++ -----------------------------------------------------------------------------

def xnorpp_ours(case: Case) -> Result:
    conv, out = ours("xnorpp", case, alpha=True)
    return {**out, "dgamma": conv.weight_binarizer.alpha.grad.flatten()}


def xnorpp_theirs(mod: ModuleType, case: Case) -> Result:
    # recipe xnor-net-plus step 1: BasicInputBinarizer, XNORWeightBinarizer(True, True), BasicScaleBinarizer
    shape_of = torch.nn.Conv2d(C_IN, C_OUT, K, 1, 1, bias=False).double()
    act, wbin = mod.BasicInputBinarizer(), mod.XNORWeightBinarizer(compute_alpha=True, center_weights=True)
    scale = mod.BasicScaleBinarizer(shape_of).double()
    with torch.no_grad():
        scale.alpha.copy_(case["gamma"].view(1, C_OUT, 1, 1))
    w = case["w"].clone().requires_grad_(True)
    out = run(lambda x: scale(F.conv2d(act(x), wbin(w), padding=1), x), case)
    return {**out, "dw": w.grad, "dgamma": scale.alpha.grad.flatten()}


# --- SiMaN ----------------------------------------------------------------------------------

def _siman_percent(case: Case) -> float:
    return 15.0 * (1 - case["epoch"] / case["epochs"])  # cifar/main.py at 68664c0


def siman_ours(case: Case) -> Result:
    conv, out = ours("siman", case, alpha=True)
    wb = conv.weight_binarizer
    return {**out, "dalpha": wb.alpha.grad.flatten(), "w_after": conv.weight.detach().clone(),
            "code": wb.code.to(torch.float64), "percent": f64(wb.percent)}


def siman_theirs(mod: ModuleType, case: Case) -> Result:
    conv = _their_conv(mod, case, alpha=True)
    conv.percent = torch.tensor(_siman_percent(case))
    conv.train()
    return {**run(conv, case), "dw": conv.weight.grad, "dalpha": conv.alpha.grad.flatten(),
            "w_after": conv.weight.detach().clone(), "code": conv.B.detach().view(C_OUT, C_IN, K, K).to(torch.float64),
            "percent": f64(_siman_percent(case))}


# --- ReCU -----------------------------------------------------------------------------------

def recu_ours(case: Case) -> Result:
    conv, out = ours("recu", case, alpha=True)
    wb = conv.weight_binarizer
    return {**out, "dalpha": wb.alpha.grad.flatten(), "tau": f64(wb.tau)}


def recu_theirs(mod: ModuleType, case: Case) -> Result:
    conv = _their_conv(mod, case, alpha=True)
    tau = recu_tau(case["epoch"], case["epochs"])  # set per epoch by its main.py (`cpt_tau`)
    with torch.no_grad():
        conv.tau.fill_(tau)
    conv.train()
    return {**run(conv, case), "dw": conv.weight.grad, "dalpha": conv.alpha.grad.flatten(), "tau": f64(tau)}


# --- ReSTE ----------------------------------------------------------------------------------

def reste_ours(case: Case) -> Result:
    conv, out = ours("reste", case)
    return {**out, "o": f64(conv.binarizer.o)}


def reste_theirs(mod: ModuleType, case: Case) -> Result:
    conv = _their_conv(mod, case)
    o = reste_o(case["epoch"], case["epochs"], 3.0)  # its trainer's cosine o: 1 -> o_end = 3
    conv.o = conv.o_a = torch.tensor(o, dtype=torch.float64)
    conv.t = conv.t_a = torch.tensor(1.5, dtype=torch.float64)
    return {**run(conv, case), "dw": conv.weight.grad, "o": f64(o)}


# --- RBNN -----------------------------------------------------------------------------------

def rbnn_ours(case: Case) -> Result:
    def rotations(conv: BinaryConv2d) -> None:
        conv.weight_binarizer.r1.copy_(case["r1"])
        conv.weight_binarizer.r2.copy_(case["r2"])

    conv, out = ours("rbnn", case, rotations, alpha=True)
    wb = conv.weight_binarizer
    return {**out, "dalpha": wb.alpha.grad.flatten(), "dtheta": wb.theta.grad.flatten(),
            "r1": wb.r1.detach().clone(), "r2": wb.r2.detach().clone()}


def rbnn_theirs(mod: ModuleType, case: Case) -> Result:
    conv = _their_conv(mod, case, alpha=True)
    t, k = ede_schedule(case["epoch"], case["epochs"], 1e-2, 10.0)  # its main.py `cpt_tk`, Tmin 1e-2, Tmax 10
    conv.t, conv.k = torch.tensor([t], dtype=torch.float64), torch.tensor([k], dtype=torch.float64)
    conv.epoch = case["epoch"]  # the first batch of the epoch: the rotation is re-fitted
    conv.R1, conv.R2 = case["r1"].clone(), case["r2"].clone()
    return {**run(conv, case), "dw": conv.weight.grad, "dalpha": conv.alpha.grad.flatten(),
            "dtheta": conv.rotate.grad.flatten(), "r1": conv.R1.detach().clone(), "r2": conv.R2.detach().clone()}


# --- AdaBin ---------------------------------------------------------------------------------

def adabin_case() -> Case:
    """The default case with AdaBin's activation centre and spread away from their init (1, 0)."""
    case = random_params(make_case(), 11, beta_a=())
    return {**case, "alpha_a": 1.0 + case["beta_a"].abs()}


def adabin_ours(case: Case) -> Result:
    def levels(conv: BinaryConv2d) -> None:
        conv.binarizer.alpha.fill_(float(case["alpha_a"]))
        conv.binarizer.beta.fill_(float(case["beta_a"]))

    conv, out = ours("adabin", case, levels)
    wb = conv.weight_binarizer
    return {**out, "dalpha": conv.binarizer.alpha.grad.reshape(()), "dbeta": conv.binarizer.beta.grad.reshape(()),
            "t": f64(wb.t), "k": f64(wb.k)}


def adabin_theirs(mod: ModuleType, case: Case) -> Result:
    conv = mod.AdaBin_Conv2d(C_IN, C_OUT, K, 1, 1, bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(case["w"])
        conv.binary_a.alpha_a.fill_(float(case["alpha_a"]))
        conv.binary_a.beta_a.fill_(float(case["beta_a"]))
    t, k = log_up(case["epoch"], case["epochs"])  # imagenet/main.py: Log_UP(1e-3, 1e1) per epoch
    conv.t, conv.k = torch.tensor([t], dtype=torch.float64), torch.tensor([k], dtype=torch.float64)
    out = run(conv, case)
    return {**out, "dw": conv.weight.grad, "dalpha": conv.binary_a.alpha_a.grad.reshape(()),
            "dbeta": conv.binary_a.beta_a.grad.reshape(()), "t": f64(t), "k": f64(k)}


# --- BiDet ----------------------------------------------------------------------------------

BIDET = {"name": "bireal", "weight": "bidet", "pad_value": -1}  # experiment es_table3/bidet


def bidet_ours(case: Case) -> Result:
    return ours(BIDET, case)[1]


def bidet_theirs(mod: ModuleType, case: Case) -> Result:
    # weight_magnitude_aware and activation_value_aware default on; inputs padded with -1
    conv = mod.BinarizeConv2d(C_IN, C_OUT, K, 1, 1, bias=False).double()
    with torch.no_grad():
        conv.weight.copy_(case["w"])
    return {**run(conv, case), "dw": conv.weight.grad}
