"""SR scores by the BasicSR protocol: Y channel, 8-bit rounding, border crop, SSIM on its valid region."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torchmetrics.functional.image import structural_similarity_index_measure

from bnnbench.metrics.sr import MeanPerImage, lpips_metric, psnr_y, rgb_to_y, ssim_y


def basicsr_ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """BasicSR's `_ssim` written out (Wang et al. 2004, Eq. 13; XPixelGroup/BasicSR psnr_ssim.py):
    11x11 Gaussian window (sigma 1.5), 'valid' filtering, C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2,
    float64, mean of the map."""
    g = torch.exp(-((torch.arange(11, dtype=torch.float64) - 5) ** 2) / (2 * 1.5**2))
    w = (g[:, None] * g[None, :] / g.sum() ** 2).view(1, 1, 11, 11)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, w)

    mu1, mu2 = blur(a), blur(b)
    s1, s2, s12 = blur(a * a) - mu1**2, blur(b * b) - mu2**2, blur(a * b) - mu1 * mu2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2))
    return float(m.mean())


def hand_made_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth gradient with a bright square, and the same with a shifted square and a ripple."""
    y, x = torch.meshgrid(torch.arange(40.0), torch.arange(36.0), indexing="ij")
    hr = torch.stack([x / 35, y / 39, (x + y) / 74]).unsqueeze(0)
    hr[..., 10:20, 12:24] = 0.9
    sr = torch.stack([x / 35, y / 39, (x + y) / 74]).unsqueeze(0) + 0.05 * torch.sin(x / 3)
    sr[..., 12:22, 13:25] = 0.8
    return sr.clamp(0, 1), hr


def test_y_is_bt601_of_8_bit_rgb():
    # MATLAB rgb2ycbcr: black 16, white 16 + 65.481 + 128.553 + 24.966 = 235
    assert rgb_to_y(torch.zeros(1, 3, 1, 1)).item() == 16.0
    assert rgb_to_y(torch.ones(1, 3, 1, 1)).item() == pytest.approx(235.0)


def test_psnr_on_y_after_the_border_crop():
    hr = torch.full((1, 3, 10, 10), 100 / 255)
    sr = hr.clone()
    sr[..., 2:-2, 2:-2] += 2 / 255  # every kept pixel off by 2 levels in R, G and B
    sr[..., :2, :] = 0  # the cropped border does not count
    dy = 2 * (65.481 + 128.553 + 24.966) / 255  # Y difference of a (2, 2, 2)-level RGB offset
    expected = 10 * math.log10(255**2 / dy**2)
    assert psnr_y(sr, hr, crop=2).item() == pytest.approx(expected, abs=1e-5)


def test_ssim_is_basicsr_valid_region_and_torchmetrics_default_reads_high():
    sr, hr = hand_made_pair()
    crop = 2
    ya = rgb_to_y(sr.double().mul(255).round().div(255))[..., crop:-crop, crop:-crop]
    yb = rgb_to_y(hr.double().mul(255).round().div(255))[..., crop:-crop, crop:-crop]
    exact = basicsr_ssim(ya, yb)
    ours = ssim_y(sr, hr, crop).item()
    default = structural_similarity_index_measure(ya, yb, data_range=255.0).item()
    assert ours == pytest.approx(exact, abs=1e-9)
    assert default - exact > 1e-4  # the whole-image default is not the protocol


def test_mean_over_images_not_over_pixels():
    hr = torch.rand(2, 3, 12, 12)
    sr = hr.clone()
    sr[0] += 0.01
    sr[1] += 0.05
    metric = MeanPerImage("psnr_y")
    metric.update(sr.clamp(0, 1), hr, 2)
    per_image = psnr_y(sr.clamp(0, 1), hr, 2)
    assert metric.compute().item() == pytest.approx(per_image.mean().item(), rel=1e-6)


def test_lpips_without_its_weights_is_unavailable_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    metric, note = lpips_metric()
    assert metric is None
    assert str(tmp_path) in note and "alexnet-owt-7be5be79.pth" in note and "\n" not in note
