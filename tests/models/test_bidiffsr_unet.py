"""bidiffsr_unet: cost of BI-DiffSR's x2 setting, timestep groups, its binary unit, ES per replica, export."""

from __future__ import annotations

import pytest
import torch

from bnnbench import binarizers, blocks, models
from bnnbench.blocks.conv import BinaryConv2d
from bnnbench.core.complexity import count
from bnnbench.core.timestep import diffusion_timestep, group_of
from bnnbench.export import PackedConv, UnsupportedExport, export
from bnnbench.models.bidiffsr_unet import halves, shuffled_halves

TINY = {"channels": 8, "channel_mults": [1, 2], "res_blocks": 1, "norm_groups": 4, "dropout": 0.0}


def test_paper_setting_costs_what_bi_diffsr_reports():
    # BI-DiffSR x2 (zhengchen1999/BI-DiffSR@b95eb3a, 64 channels, mults 1/2/4/8, 2 units per level,
    # two real decoder levels) per denoising step at 256x256: 98.65 G BOPs, 33.6 G real conv FLOPs,
    # 51.28 M weights of which 48.21 M binary, Params = real + binary / 32 = 4.58 M
    cost = count(models.build("bidiffsr_unet"), (3, 256, 256))
    assert cost.bops == pytest.approx(98.65e9, rel=0.03)
    assert cost.flops == pytest.approx(33.6e9, rel=0.03)
    assert cost.params == pytest.approx(4.58e6, rel=0.03)
    assert cost.binary_params == pytest.approx(48.21e6, rel=0.01)
    assert cost.params_32bit == pytest.approx(51.28e6, rel=0.01)


def test_timestep_groups_split_the_schedule_in_k_equal_spans():
    # BI-DiffSR's timestep groups (its UNet's forward): g = clamp(int(t K / T), 0, K - 1), K = 5, T = 2000
    t = torch.tensor([0, 399, 400, 1199, 1200, 1999, 2500])
    assert group_of(t, 2000, 5).tolist() == [0, 0, 1, 2, 3, 4, 4]


def test_bidiffsr_sign_shifts_each_sample_by_its_groups_threshold():
    # BI-DiffSR's TaR: sign(x - b_g) with b_g per channel and timestep group (its BIConv.TaR)
    b = binarizers.build("bidiffsr", 2)
    with torch.no_grad():
        b.shift.copy_(torch.arange(10.0))  # group g, channel c: 2 g + c
    x = torch.full((2, 2, 1, 1), 2.5)
    assert b(x).flatten().tolist() == [1, 1, 1, 1]  # no timestep: group 0, thresholds 0 and 1
    with diffusion_timestep(torch.tensor([0, 1999]), 2000):
        out = b(x).flatten().tolist()
    assert out == [1, 1, -1, -1]  # group 4: thresholds 8 and 9


def test_bidiffsr_block_is_group_rprelu_of_the_conv_plus_x():
    # BI-DiffSR's BIConv: TaA_g(conv(B(x))) + x, TaA_g an RPReLU per group (ReActNet Eq. 3 per group)
    torch.manual_seed(0)
    blk = blocks.build("bidiffsr", 4, 4, 3, 1, 1, binarizer="bnn")
    with torch.no_grad():
        blk.act.gamma.copy_(torch.linspace(-1, 1, 20))
        blk.act.beta.copy_(torch.linspace(0.1, 0.9, 20))
        blk.act.zeta.copy_(torch.linspace(1, -1, 20))
    x = torch.randn(2, 4, 5, 5)
    with diffusion_timestep(torch.tensor([100, 900]), 2000):  # groups 0 and 2
        out = blk(x)
    y = blk.conv(x)
    for n, g in enumerate((0, 2)):
        gamma, beta, zeta = (p.view(5, 4)[g].view(1, 4, 1, 1) for p in (blk.act.gamma, blk.act.beta, blk.act.zeta))
        v = y[n : n + 1] - gamma
        expected = torch.where(v > 0, v, beta * v) + zeta + x[n : n + 1]
        assert torch.allclose(out[n : n + 1], expected, atol=1e-6)


def test_the_unet_publishes_its_timestep_to_its_binarizers():
    model = models.build("bidiffsr_unet", **TINY)
    seen = []
    sign = next(m for m in model.modules() if isinstance(m, binarizers.BINARIZERS.get("bidiffsr")))
    sign.register_forward_hook(lambda m, i, o: seen.append(m.shifts().shape[0]))
    model(torch.rand(3, 3, 16, 16), torch.rand(3, 3, 16, 16), torch.tensor([5, 800, 1900]))
    assert seen == [3]  # one threshold row per sample: groups 0, 2, 4
    with pytest.raises(ValueError, match="divisible by 2"):
        model(torch.rand(1, 3, 15, 16), torch.rand(1, 3, 15, 16), 0)


def test_every_binary_conv_is_a_block_slot_and_the_two_high_levels_are_real():
    def binary(**options) -> int:
        model = models.build("bidiffsr_unet", **{**TINY, **options})
        return sum(isinstance(m, BinaryConv2d) and m.binary for m in model.modules())

    # encoder: 2 levels x 1 unit x 2 convs + 1 CP-Down x 2; middle 2 units x 2; CP-Up 2: binary
    # always; each binary decoder level adds 2 x (fusion 2 + unit 2)
    assert binary(real_levels=2) == 4 + 2 + 4 + 2
    assert binary(real_levels=1) == 12 + 8
    assert binary(real_levels=0) == 12 + 16


def test_channel_operations_stay_within_each_replica():
    # ES-BNN: the expanded trunk is replica-major; CP-Down's halves and CS-Fusion's shuffle act per replica
    a, b = torch.randn(1, 8, 2, 2), torch.randn(1, 8, 2, 2)
    h1, h2 = halves(torch.cat([a, b], 1), 2)
    assert torch.equal(h1, torch.cat([a[:, :4], b[:, :4]], 1)) and torch.equal(h2, torch.cat([a[:, 4:], b[:, 4:]], 1))
    f1, f2 = shuffled_halves(torch.cat([a, b], 1), 2)
    ra, rb = shuffled_halves(a, 1), shuffled_halves(b, 1)
    assert torch.equal(f1, torch.cat([ra[0], rb[0]], 1)) and torch.equal(f2, torch.cat([ra[1], rb[1]], 1))
    assert torch.equal(ra[0], torch.cat([a[:, 1:4:2], a[:, 4::2]], 1))


def test_es_widens_the_trunk_not_the_binary_macs():
    plain = models.build("bidiffsr_unet", **TINY)
    es = models.build("bidiffsr_unet", block={"name": "es", "tau": 2, "groups": 2}, **TINY)
    assert es.expansion == 4
    assert count(es, (3, 16, 16)).bops == count(plain, (3, 16, 16)).bops
    out = es(torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16), torch.tensor([3, 1500]))
    out.square().mean().backward()
    assert out.shape == (2, 3, 16, 16)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in es.parameters())


@pytest.mark.parametrize("block", [None, {"name": "es", "tau": 2}])
def test_exported_unet_gives_the_float_models_output_in_every_timestep_group(block):
    torch.manual_seed(0)
    model = models.build("bidiffsr_unet", block=block, **TINY).eval()
    with torch.no_grad():  # distinct thresholds and activations in each group
        for m in model.modules():
            if hasattr(m, "shift"):
                m.shift.normal_(0, 0.3)
            if hasattr(m, "zeta"):
                m.zeta.normal_(0, 0.3)
    packed = export(model, backend="reference")
    n_binary = sum(isinstance(m, BinaryConv2d) and m.binary for m in model.modules())
    assert sum(isinstance(m, PackedConv) for m in packed.modules()) == n_binary
    x, c = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    for t in (torch.tensor([0, 1999]), torch.tensor([900, 900])):
        with torch.no_grad():
            ref, got = model(x, c, t), packed(x, c, t)
        close = (got - ref).abs() <= 1e-4 * ref.abs().max()
        assert close.float().mean() >= 0.99, float(close.float().mean())


@pytest.mark.slow
@pytest.mark.parametrize("binarizer", binarizers.names())
def test_the_unet_exports_with_every_binarizer(binarizer):
    from ..export.test_sweep import NO_EXPORT_RULE  # binarizers without a rule, with the reason

    torch.manual_seed(0)
    model = models.build("bidiffsr_unet", binarizer=binarizer, **{**TINY, "real_levels": 1}).eval()
    if binarizer in NO_EXPORT_RULE:
        with pytest.raises(UnsupportedExport, match="activation binarizer has no export rule"):
            export(model, backend="reference")
        return
    packed = export(model, backend="reference")
    x, c, t = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16), torch.tensor([0, 1999])
    with torch.no_grad():
        ref, got = model(x, c, t), packed(x, c, t)
    assert ((got - ref).abs() <= 1e-4 * ref.abs().max()).float().mean() >= 0.99


@pytest.mark.parametrize("how", ["double", "default_dtype"])
def test_the_narrow_preset_runs_forward_and_backward_in_float64(how):
    # conformance checks compare in float64: the timestep embedding follows the model's dtype
    # (it was hard-coded float32); model=bidiffsr_unet_narrow's options, binarizer bidiffsr
    narrow = {"channels": 16, "channel_mults": [1, 2, 4], "res_blocks": 1, "norm_groups": 8, "dropout": 0.0,
              "real_levels": 2, "attention": True, "num_train_timesteps": 2000}
    previous = torch.get_default_dtype()
    try:
        if how == "default_dtype":
            torch.set_default_dtype(torch.float64)
        net = models.build("bidiffsr_unet", binarizer="bidiffsr", **narrow)
        if how == "double":
            net = net.double()
        x = torch.randn(1, 3, 16, 16, dtype=torch.float64)
        y = net(x, x, torch.tensor([1234]))
        y.square().mean().backward()
    finally:
        torch.set_default_dtype(previous)
    assert y.dtype == torch.float64 and torch.isfinite(y).all()
    assert all(p.grad.dtype == torch.float64 for p in net.parameters() if p.grad is not None)
