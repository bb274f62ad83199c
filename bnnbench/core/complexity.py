"""Params, BOPs, FLOPs and OPs of any model, counted from the modules themselves.

Conventions of the BNN literature (BD-Net Sec. 4 and Table 1; ES-BNN Table 6 for OPs+): BOPs are the
multiply-accumulates of binary convs/linears, FLOPs those of real-valued ones (a MAC counts
as one operation), OPs = FLOPs + BOPs / 64, Params = real params + binary params / 32.
OPs+ (ES-BNN Table 6) adds one operation per batch-norm output element; as that table does,
FLOPs are also split into real conv MACs (`conv_flops`) and real linear MACs (`fc_flops`). Grouped and
depth-wise convs count C_in/g * k * k MACs per output element. Only conv and linear MACs are
counted, as most papers do: pooling, activations, bypasses and additions are free.
`count(..., elementwise=True)` is BiDense's convention instead (Tables 1 and 4): the
elementwise work each binarizer, block and small layer declares is added to FLOPs
(`bnnbench.core.elementwise` says what one FLOP is).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from bnnbench.core.elementwise import declared


@dataclass
class Cost:
    """The cost of one forward pass of a single sample."""

    real_params: int = 0
    binary_params: int = 0
    bops: int = 0
    flops: int = 0
    bn_ops: int = 0
    elementwise: int = 0  # part of `flops` declared by modules (count(..., elementwise=True))
    conv_flops: int = 0  # part of `flops`: real conv MACs (ES-BNN Table 6's Conv FLOPs)
    fc_flops: int = 0  # part of `flops`: real nn.Linear MACs (a CNN's classifier: Table 6's FC FLOPs)
    layers: list[tuple[str, str, int]] = field(default_factory=list)  # (name, "binary"|"real", MACs)

    @property
    def params(self) -> float:
        """Real params + binary params / 32 (what BNN tables call Params)."""
        return self.real_params + self.binary_params / 32

    @property
    def params_32bit(self) -> int:
        """All parameters as if stored in 32 bit."""
        return self.real_params + self.binary_params

    @property
    def ops(self) -> float:
        """FLOPs + BOPs / 64."""
        return self.flops + self.bops / 64

    @property
    def ops_plus(self) -> float:
        """OPs plus batch-norm cost (ES-BNN Table 6)."""
        return self.ops + self.bn_ops

    def summary(self) -> dict[str, float]:
        """The headline numbers, as a flat dict for tables and loggers."""
        d = {k: v for k, v in asdict(self).items() if k != "layers"}
        d.update(params=self.params, ops=self.ops, ops_plus=self.ops_plus)
        return d

    def __str__(self) -> str:
        extra = f" (elementwise {self.elementwise / 1e9:.3f}G)" if self.elementwise else ""
        return (
            f"Params {self.params / 1e6:.3f}M (real {self.real_params / 1e6:.3f}M + binary "
            f"{self.binary_params / 1e6:.3f}M/32) | BOPs {self.bops / 1e9:.3f}G | "
            f"FLOPs {self.flops / 1e9:.3f}G{extra} | OPs {self.ops / 1e9:.3f}G"
        )


# how many times the layers running now count: a detector's RoI head measured on one RoI
# stands for the fixed number of RoIs it runs on (`repeated`)
_REPEAT: ContextVar[int] = ContextVar("cost_repeat", default=1)


@contextmanager
def repeated(times: int) -> Iterator[None]:
    """Within the context, every counted layer counts `times` times (a head run once per RoI)."""
    if times < 1:
        raise ValueError(f"repeated() needs times >= 1, got {times}")
    token = _REPEAT.set(_REPEAT.get() * times)
    try:
        yield
    finally:
        _REPEAT.reset(token)


def is_binary(module: nn.Module) -> bool:
    """True for layers that run on bits (BinaryConv2d with 1-bit sides, packed layers)."""
    return bool(getattr(module, "binary", False))


def _binary_weights(model: nn.Module) -> set[int]:
    ids = set()
    for m in model.modules():
        if is_binary(m) and isinstance(getattr(m, "weight", None), torch.Tensor):
            ids.add(id(m.weight))
    return ids


def _macs(module: nn.Module, out: torch.Tensor) -> int:
    per_sample = out[0].numel() if out.dim() > 1 else out.numel()
    if hasattr(module, "macs_per_output"):  # packed layers and other custom binary layers
        return int(per_sample * module.macs_per_output())
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return per_sample * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return per_sample * module.in_features
    return 0


def _elementwise_hooks(model: nn.Module, cost: Cost) -> list:
    """Forward hooks adding every declaring module's elementwise FLOPs to `cost.flops`."""
    last: list = [None, None]  # the previous declaring call: (module, its input)

    def hook(module: nn.Module, inp: tuple, out: object) -> None:
        x = inp[0] if inp and isinstance(inp[0], torch.Tensor) else None
        if x is None or not isinstance(out, torch.Tensor):
            return
        # a binarizer shared by consecutive convs on one tensor (ReActNet's doubling block)
        # binarizes it once
        if last[0] is module and last[1] is x:
            return
        last[:] = [module, x]
        ops = int(declared(module)(x.shape, out.shape)) * _REPEAT.get()  # per RoI in a detector head
        cost.elementwise += ops
        cost.flops += ops

    return [m.register_forward_hook(hook) for m in model.modules() if declared(m) is not None]


def count(model: nn.Module, input_size: Sequence[int], elementwise: bool = False) -> Cost:
    """Count the cost of `model` on one input of `input_size` ((C, H, W) or (1, C, H, W)),
    through `model.cost_forward` when the model has one."""
    shape = tuple(input_size)
    if len(shape) == 3:
        shape = (1, *shape)
    if shape[0] != 1:
        raise ValueError(f"count() measures one sample: give (C, H, W), got {tuple(input_size)}")
    cost = Cost()
    binary_ids = _binary_weights(model)
    for p in model.parameters():
        if id(p) in binary_ids:
            cost.binary_params += p.numel()
        else:
            cost.real_params += p.numel()

    names = {m: n for n, m in model.named_modules()}
    hooks = []
    if elementwise:
        hooks += _elementwise_hooks(model, cost)

    def hook(module: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        times = _REPEAT.get()
        macs = _macs(module, out) * times
        if macs:
            kind = "binary" if is_binary(module) else "real"
            cost.layers.append((names.get(module, "?"), kind, macs))
            if kind == "binary":
                cost.bops += macs
            else:
                cost.flops += macs
                if isinstance(module, nn.Linear):
                    cost.fc_flops += macs
                else:
                    cost.conv_flops += macs
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            cost.bn_ops += out[0].numel() * times

    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.modules.batchnorm._BatchNorm)) or hasattr(m, "macs_per_output"):
            hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        model.eval()
        with torch.no_grad():
            # a model whose cost is not one plain forward (a detector: its head runs once per
            # RoI) says how to measure it with a `cost_forward` of the same input
            getattr(model, "cost_forward", model)(torch.zeros(shape, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return cost
