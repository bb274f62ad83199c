"""BiDense's channel-adaptive full-precision bypass (Sec. 3.3, docs/methods.md "cfb")."""

import pytest
import torch

import bnnbench.blocks as K
from bnnbench.blocks.bypass import cfb, fusion_down


def channels(c: int) -> torch.Tensor:
    """A (1, C, 1, 1) tensor whose channel i holds the value i."""
    return torch.arange(float(c)).view(1, c, 1, 1)


def test_identity_when_widths_match():
    x = torch.randn(2, 5, 3, 3)
    assert cfb(x, 5) is x


def test_96_to_384_tiles_four_times():
    y = cfb(channels(96), 384).flatten()
    assert torch.equal(y, torch.arange(384.0) % 96)


def test_384_to_96_interleaved_groups():
    # channel j < 95 is the mean of {j, j+95, j+190, j+285}; the last the mean of 380..383
    y = cfb(channels(384), 96).flatten()
    j = torch.arange(95.0)
    assert torch.allclose(y[:95], (4 * j + 95 + 190 + 285) / 4)
    assert y[95].item() == pytest.approx(sum(range(380, 384)) / 4)


def test_8_to_4_example():
    # BiDense code, interleaved grouping: [mean(0,3), mean(1,4), mean(2,5), mean(6,7)]
    assert cfb(channels(8), 4).flatten().tolist() == [1.5, 2.5, 3.5, 6.5]


def test_8_to_4_contiguous_windows():
    # paper text: kernel = stride = C // m
    assert cfb(channels(8), 4, "contiguous").flatten().tolist() == [0.5, 2.5, 4.5, 6.5]


def test_m_equals_one_is_mean_of_all():
    # C_out = 2*C_in + 1: two tiles, then the mean of all channels (the official code crashes)
    y = cfb(channels(6), 13).flatten()
    assert y[:12].tolist() == [0, 1, 2, 3, 4, 5] * 2
    assert y[12].item() == pytest.approx(2.5)


def reference_cfb(x: torch.Tensor, out: int) -> torch.Tensor:
    """A loop over output channels written straight from the definition in docs/methods.md."""
    c = x.shape[1]
    r, m = divmod(out, c)
    cols = [x[:, i % c] for i in range(r * c)]
    if m == 1:
        cols.append(x.mean(1))
    elif m > 1:
        reg = (c // m) * (m - 1)
        for j in range(m - 1):
            cols.append(torch.stack([x[:, i] for i in range(j, reg, m - 1)], 1).mean(1))
        cols.append(x[:, reg:].mean(1))
    return torch.stack(cols, 1)


@pytest.mark.parametrize("seed", range(40))
def test_random_channel_pairs_against_loop_reference(seed):
    g = torch.Generator().manual_seed(seed)
    c_in, c_out = (int(v) for v in torch.randint(1, 70, (2,), generator=g))
    x = torch.randn(2, c_in, 2, 3, generator=g)
    y = cfb(x, c_out)
    assert y.shape == (2, c_out, 2, 3)
    assert torch.allclose(y, reference_cfb(x, c_out), atol=1e-6)


def test_mean_is_preserved_when_reducing():
    # averaging groups of equal size keeps a constant input constant
    x = torch.full((1, 12, 2, 2), 3.0)
    assert torch.allclose(fusion_down(x, 5), torch.full((1, 5, 2, 2), 3.0))


def test_block_bypass_with_stride_pools_the_input():
    blk = K.build("cfb", 4, 4, 3, stride=2, padding=1, binarizer="fp")
    with torch.no_grad():
        blk.conv.weight.zero_()
    blk.eval()  # BN(0) = bias - mean*... = 0 with fresh running stats
    x = torch.randn(1, 4, 6, 6)
    expected = torch.nn.functional.avg_pool2d(x, 2)
    assert torch.allclose(blk(x), expected, atol=1e-6)


def test_bad_grouping_is_rejected():
    with pytest.raises(ValueError, match="interleaved"):
        K.build("cfb", 4, 8, 3, grouping="windows")
