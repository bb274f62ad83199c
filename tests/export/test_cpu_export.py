"""Exported models on the compiled CPU kernels: every packed layer computes exactly what it computes
on the torch reference (bit-exact convs, the same fp32 epilogue), for every binarizer and block
the export tests cover, and the whole model matches the trained one as on the reference.

Whole-model outputs are compared within the export tolerance, not bit for bit: the float layers
between the packed ones (oneDNN convs of DAB's channel-scaled path, LayerNorm) may round
differently for equal inputs held in differently allocated tensors."""

from __future__ import annotations

import pytest
import torch

from bnnbench.export import PackedConv, export
from bnnbench.kernels import cpu

from .conftest import randomize, tiny_model
from .test_export import MODEL_CASES, assert_model_close

pytestmark = pytest.mark.skipif(not cpu.compiler_found(), reason="no C++ compiler: the torch reference runs")


@pytest.mark.parametrize("binarizer,block", MODEL_CASES, ids=lambda v: v if isinstance(v, str) else "-".join(map(str, v.values())))
def test_cpu_kernels_equal_the_reference_in_exported_models(binarizer, block):
    model = randomize(tiny_model(block, binarizer, seed=1), seed=1, batches=8)
    on_cpu, on_ref = export(model, backend="cpu"), export(model, backend="reference")
    reference_layers = dict(on_ref.named_modules())
    calls, mismatches = [], []

    def same_as_reference(name):
        def hook(module, args, kwargs, out):
            calls.append(name)
            if not torch.equal(reference_layers[name](*args, **kwargs), out):
                mismatches.append(name)
        return hook

    for name, m in on_cpu.named_modules():
        if isinstance(m, PackedConv):
            assert m.conv.backend == "cpu"
            m.register_forward_hook(same_as_reference(name), with_kwargs=True)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got = on_cpu(x)
        assert_model_close(model(x), got)
    assert calls and not mismatches
