"""The per-unit checks: a method's whole binary unit (binarizer, conv, BN or activation, bypass),
bnnbench's block against the authors' module, where the method is defined as a unit.

BiDense's `BiDenseConv2d` (DAB, the binary conv, BN, CFB) is bnnbench's `cfb` block with the
`dab` binarizer; BiSRNet's `BinaryConv2d` (redistribution, SBA, the conv, RPReLU, residual) is
the `bisrnet` block with the `bisrnet` binarizer; BI-DiffSR's `BIConv` (TaR, the conv, TaA,
residual) is the `bidiffsr` block with the `bidiffsr` binarizer, run at one timestep group.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch
from torch import Tensor, nn

from bnnbench.blocks.activations import RPReLU
from bnnbench.blocks.base import ConvSlot
from bnnbench.blocks.bidiffsr import GroupRPReLU
from bnnbench.blocks.conv import BinaryConv2d
from bnnbench.blocks.es import ExpandShrinkConv
from bnnbench.blocks.registry import BLOCKS
from bnnbench.conformance.case import (
    Case,
    K,
    Result,
    at_schedule_point,
    make_case,
    random_params,
    run,
)
from bnnbench.core.timestep import diffusion_timestep


def _only(module: nn.Module, kind: type) -> Any:
    """The one sub-module of `kind` in `module` (a unit has one conv, one RPReLU)."""
    found = [m for m in module.modules() if isinstance(m, kind)]
    assert len(found) == 1, f"expected one {kind.__name__} in {type(module).__name__}, found {len(found)}"
    return found[0]


def _block(name: str, binarizer: str, case: Case, setup: Callable[[nn.Module, BinaryConv2d], None]) -> nn.Module:
    """bnnbench's block `name` with `binarizer` on the case's weight, its parameters set by `setup`."""
    c_out, c_in = case["w"].shape[:2]
    block = BLOCKS.build(name, ConvSlot(c_in, c_out, K, 1, K // 2, 1, binarizer)).double()
    conv = _only(block, BinaryConv2d)
    with torch.no_grad():
        conv.weight.copy_(case["w"])
        setup(block, conv)
    conv.weight_binarizer.bind(conv.weight)
    at_schedule_point(block, case)
    return block.train()


def _set(param: Tensor, value: Tensor) -> None:
    """Copy a per-channel value into a parameter of any per-channel shape."""
    param.copy_(value.reshape(param.shape))


def _their_rprelu(module: nn.Module, gamma: Tensor, beta: Tensor, zeta: Tensor) -> None:
    """The authors' RPReLU (bias -> PReLU -> bias) set to bnnbench's gamma, beta, zeta."""
    _set(module.pr_bias0.bias, -gamma)
    _set(module.pr_prelu.weight, beta)
    _set(module.pr_bias1.bias, zeta)


def _our_rprelu(act: nn.Module, case: Case) -> None:
    """bnnbench's RPReLU (one or per group) set to the case's gamma_a, slope and zeta."""
    _set(act.gamma, case["gamma_a"])
    _set(act.beta, case["slope"])
    _set(act.zeta, case["zeta"])


def _rprelu_grads(module: nn.Module) -> Result:
    """The authors' RPReLU gradients in bnnbench's terms (d gamma = -d bias0)."""
    return {"dgamma": -module.pr_bias0.bias.grad.flatten(), "dslope": module.pr_prelu.weight.grad.flatten(),
            "dzeta": module.pr_bias1.bias.grad.flatten()}


def _our_rprelu_grads(act: RPReLU) -> Result:
    return {"dgamma": act.gamma.grad.flatten(), "dslope": act.beta.grad.flatten(), "dzeta": act.zeta.grad.flatten()}


# --- BiDense: DAB + binary conv + BN + CFB ------------------------------------------------------

def bidense_case() -> Case:
    """3 -> 8 channels (CFB tiles twice and fuses 2 channels; the code cannot fuse into 1) and
    DAB's k, b, a away from their init."""
    return random_params(make_case(c_in=3, c_out=8), 21, k=(3,), b=(3,), a=(3,))


def bidense_ours(case: Case) -> Result:
    def dab(block: nn.Module, conv: BinaryConv2d) -> None:
        for name in ("k", "b", "a"):
            _set(getattr(conv.binarizer, name), case[name])

    block = _block("cfb", "dab", case, dab)
    dab_ = _only(block, BinaryConv2d).binarizer
    out = run(block, case)
    return {**out, "dw": block.conv.weight.grad, **{f"d{n}": getattr(dab_, n).grad.flatten() for n in ("k", "b", "a")},
            "dbn_weight": block.bn.weight.grad, "dbn_bias": block.bn.bias.grad}


def bidense_theirs(mod: ModuleType, case: Case) -> Result:
    c_out, c_in = case["w"].shape[:2]
    unit = mod.BiDenseConv2d(c_in, c_out, K, padding=K // 2).double().train()
    vab = unit.binarizer  # ValueAdaptiveBinarizer: x - (k mu + b), exp(alpha (mean|x_s| - 1))
    with torch.no_grad():
        unit.conv.weight.copy_(case["w"])
        _set(vab.k, case["k"])
        _set(vab.b, case["b"])
        _set(vab.alpha, case["a"])
    out = run(unit, case)
    return {**out, "dw": unit.conv.weight.grad, "dk": vab.k.grad.flatten(), "db": vab.b.grad.flatten(),
            "da": vab.alpha.grad.flatten(), "dbn_weight": unit.norm.weight.grad, "dbn_bias": unit.norm.bias.grad}


# --- BiSRNet: redistribution + SBA + binary conv + RPReLU + x ----------------------------------

def bisrnet_case() -> Case:
    """4 -> 4 channels (a BiSRNet unit keeps its width) with the redistribution, SBA's beta and
    RPReLU away from their init."""
    case = random_params(make_case(c_in=4, c_out=4), 31, k=(4,), b=(4,), sba=(), gamma_a=(4,), slope=(4,), zeta=(4,))
    return {**case, "k": 1 + case["k"], "sba": 1 + case["sba"], "slope": 0.25 + case["slope"]}


def bisrnet_ours(case: Case) -> Result:
    def params(block: nn.Module, conv: BinaryConv2d) -> None:
        _set(conv.binarizer.k, case["k"])
        _set(conv.binarizer.b, case["b"])
        _set(conv.binarizer.beta, case["sba"])
        _our_rprelu(_only(block, RPReLU), case)

    block = _block("bisrnet", "bisrnet", case, params)
    conv, act = _only(block, BinaryConv2d), _only(block, RPReLU)
    out = run(block, case)
    return {**out, "dw": conv.weight.grad, "dk": conv.binarizer.k.grad.flatten(), "db": conv.binarizer.b.grad.flatten(),
            "dsba": conv.binarizer.beta.grad.reshape(()), **_our_rprelu_grads(act)}


def bisrnet_theirs(mod: ModuleType, case: Case) -> Result:
    c = case["w"].shape[0]
    unit = mod.BinaryConv2d(c, c, K, 1, K // 2).double().train()
    with torch.no_grad():
        unit.binary_conv.weight.copy_(case["w"])
        _set(unit.move0.k, case["k"])
        _set(unit.move0.b, case["b"])
        _set(unit.binary_activation.beta, case["sba"])
        _their_rprelu(unit.relu, case["gamma_a"], case["slope"], case["zeta"])
    out = run(unit, case)
    return {**out, "dw": unit.binary_conv.weight.grad, "dk": unit.move0.k.grad.flatten(),
            "db": unit.move0.b.grad.flatten(), "dsba": unit.binary_activation.beta.grad.reshape(()),
            **_rprelu_grads(unit.relu)}


# --- BI-DiffSR: TaR + binary conv + TaA + x at one timestep group ------------------------------

GROUPS, GROUP = 5, 2  # BI-DiffSR's K = 5 timestep groups; the check runs group 2
T_TRAIN = 100  # timestep 45 of 100 is group floor(45 * 5 / 100) = 2


def bidiffsr_case() -> Case:
    """4 -> 4 channels; every group's TaR shift and TaA parameters away from their init."""
    case = random_params(make_case(c_in=4, c_out=4), 41, shift=(GROUPS, 4), gamma_a=(GROUPS, 4),
                         slope=(GROUPS, 4), zeta=(GROUPS, 4))
    return {**case, "slope": 0.25 + case["slope"], "t": torch.full((2,), 45)}


def bidiffsr_ours(case: Case) -> Result:
    def params(block: nn.Module, conv: BinaryConv2d) -> None:
        _set(conv.binarizer.shift, case["shift"])
        _our_rprelu(_only(block, GroupRPReLU), case)

    block = _block("bidiffsr", "bidiffsr", case, params)
    conv, act = _only(block, BinaryConv2d), _only(block, GroupRPReLU)
    with diffusion_timestep(case["t"], T_TRAIN):
        out = run(block, case)
    c = case["w"].shape[0]

    def group(p: Tensor) -> Tensor:
        return p.grad.view(GROUPS, c)[GROUP]

    return {**out, "dw": conv.weight.grad, "dshift": group(conv.binarizer.shift), "dgamma": group(act.gamma),
            "dslope": group(act.beta), "dzeta": group(act.zeta)}


def bidiffsr_theirs(mod: ModuleType, case: Case) -> Result:
    c = case["w"].shape[0]
    unit = mod.BIConv(c, c, K, dynamic_group=GROUPS).double().train()
    with torch.no_grad():
        unit.binary_conv.weight.copy_(case["w"])
        for g in range(GROUPS):
            _set(unit.TaR[f"dynamic_move_{g}"].bias, -case["shift"][g])  # x + bias = x - b_g
            _their_rprelu(unit.TaA[f"dynamic_relu_{g}"], case["gamma_a"][g], case["slope"][g], case["zeta"][g])
    out = run(lambda x: unit(x, GROUP), case)
    return {**out, "dw": unit.binary_conv.weight.grad, "dshift": -unit.TaR[f"dynamic_move_{GROUP}"].bias.grad.flatten(),
            **_rprelu_grads(unit.TaA[f"dynamic_relu_{GROUP}"])}


# --- ES-BNN: the expanding-and-shrinking conv ----------------------------------------------------

ES_TAU = 2
ES_WEIGHTS = {"name": "fp", "weight": "sign"}  # the check's conv: sign(W) on an input fed as it is


def es_case() -> Case:
    """C_in 2 -> C_out 4 at tau 2: the expanded conv reads 4 channels and writes 8, its binary conv
    4 -> 2 tiled 4 times; |W| < 1 (no clipping on either side)."""
    case = make_case(c_in=2 * ES_TAU, c_out=4 // ES_TAU)
    return {**case, "w": case["w"] * 0.5, "g": torch.randn(2, 4 * ES_TAU, 6, 6, dtype=torch.float64,
                                                           generator=torch.Generator().manual_seed(51))}


def es_ours(case: Case) -> Result:
    c_out, c_in = case["w"].shape[:2]
    conv = ExpandShrinkConv(c_in, c_out * ES_TAU * ES_TAU, K, 1, K // 2, 1, ES_WEIGHTS, False, tau=ES_TAU, g=1).double()
    with torch.no_grad():
        conv.conv.weight.copy_(case["w"])
    return {**run(conv.train(), case), "dw": conv.conv.weight.grad}


def es_theirs(mod: ModuleType, case: Case) -> Result:
    # bnext_rep.py's Attention / FFN blocks: HardBinaryConv(inplanes * rep_beta, planes / rep_beta),
    # then x.repeat(1, rep_beta * rep_beta, 1, 1); its temperature annealed below 1e-7 gives sign(W)
    c_out, c_in = case["w"].shape[:2]
    conv = mod.HardBinaryConv(c_in, c_out, kernel_size=K).double().train()
    with torch.no_grad():
        conv.weight.copy_(case["w"])
        conv.temperature.fill_(1e-8)
    return {**run(lambda x: conv(x).repeat(1, ES_TAU * ES_TAU, 1, 1), case), "dw": conv.weight.grad}


__all__ = ["es_case", "es_ours", "es_theirs", "bidense_case", "bidense_ours", "bidense_theirs", "bidiffsr_case", "bidiffsr_ours", "bidiffsr_theirs",
           "bisrnet_case", "bisrnet_ours", "bisrnet_theirs"]
