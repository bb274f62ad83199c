"""Export tests: small randomized models on CPU (reference backend; one Triton-interpreter case).

TRITON_INTERPRET is set here, before any module of this directory imports the kernels, as in
tests/kernels/conftest.py (see there why kernel modules imported earlier are rebuilt). Tests
pass backend="reference" explicitly except the interpreter case, which is slow.
"""

from __future__ import annotations

import importlib
import os
import sys

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
    for _name in ("bnnbench.kernels.triton_conv", "bnnbench.kernels.triton_pack"):
        if _name in sys.modules:
            importlib.reload(sys.modules[_name])

import pytest  # noqa: E402
from torch import nn  # noqa: E402

from bnnbench import models  # noqa: E402
from bnnbench.blocks.conv import BinaryConv2d  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    """Small convs on a shared 2-core machine run faster (and steadier) on one thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny_model(block: str, binarizer, seed: int = 0) -> nn.Module:
    """The narrow ConvNeXt-UPerNet of the foundation issue, its init seeded (the global RNG is not)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return models.build(
            "convnext_upernet", block=block, binarizer=binarizer, dims=[8, 16, 16, 16], depths=[1, 1, 1, 1],
            decoder_channels=16, head_channels=16, out_channels=5,
        )


@torch.no_grad()
def randomize_binarizer(binarizer: nn.Module, g: torch.Generator) -> None:
    """Random learnable binarizer parameters (negative and zero BiSRNet k included).

    Parameters are told apart by their own name, so a wrapped binarizer (BD-Net's per-branch
    threshold `alpha` around any method) gets the same values as a bare one.
    """
    for path, p in binarizer.named_parameters():
        name = path.rsplit(".", 1)[-1]
        if name == "alpha" and p.dim() == 0:  # AdaBin spread, away from 0
            p.copy_(0.5 + torch.rand((), generator=g))
        elif name == "alpha" and path == "alpha" and hasattr(binarizer, "binarizer"):  # BD-Net branch threshold
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
        elif name == "alpha":  # DAB learnable scale, some negative
            p.copy_(1 + 0.5 * torch.randn(p.shape, generator=g))
        elif name == "k":
            p.copy_(0.7 * torch.randn(p.shape, generator=g))
            p.view(-1)[0] = 0.0
        elif name == "a":
            p.copy_(0.1 * torch.randn(p.shape, generator=g))
        else:
            p.copy_(0.3 * torch.randn(p.shape, generator=g))


@torch.no_grad()
def randomize_bn(bn: nn.BatchNorm2d, g: torch.Generator) -> None:
    """Perturb BN's affine parameters and running statistics (so that folding is tested)."""
    bn.running_var.mul_(torch.empty(bn.running_var.shape).uniform_(0.7, 1.4, generator=g))
    bn.running_mean.add_(0.2 * bn.running_var.sqrt() * torch.randn(bn.running_mean.shape, generator=g))
    bn.weight.copy_(1 + 0.3 * torch.randn(bn.weight.shape, generator=g))
    bn.bias.copy_(0.3 * torch.randn(bn.bias.shape, generator=g))


@torch.no_grad()
def randomize(model: nn.Module, seed: int = 0, size: int = 32, batches: int = 2) -> nn.Module:
    """Random weights and binarizer parameters, BN statistics from `batches` batches then perturbed; eval.

    A 1x1 last stage sees one value per sample: its BN statistics from two batches of four can
    be degenerate enough to overflow DAB's exp(a (MAD - 1)) downstream; the ConvNeXt-UPerNet
    tests calibrate on eight batches.
    """
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, BinaryConv2d) and m.binary:
            m.weight.normal_(0, 1, generator=g)
            if m.bias is not None:
                m.bias.normal_(0, 0.3, generator=g)
            randomize_binarizer(m.binarizer, g)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batches
    model.train()
    for _ in range(batches):
        model(torch.randn(4, 3, size, size, generator=g))
    for bn in bns:
        bn.momentum = 0.1
        randomize_bn(bn, g)
    return model.eval()
