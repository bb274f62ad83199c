"""Super-resolution scores as the BasicSR protocol computes them: PSNR and SSIM on the Y channel.

BasicSR (XPixelGroup/BasicSR, basicsr/metrics/psnr_ssim.py `calculate_psnr` / `calculate_ssim`
with `test_y_channel=True`, `crop_border=scale`), which BI-DiffSR and ES-BNN report: images
rounded to 8 bits, Y = 16 + 65.481 R + 128.553 G + 24.966 B (RGB in [0, 1]) in float64, `crop`
pixels cut from every side, then per image PSNR (data range 255) and SSIM (11x11 Gaussian,
sigma 1.5, averaged over the valid region only: the 5-pixel border where the window leaves the
image is not scored), averaged over the images. torchmetrics' PSNR equals BasicSR's; its SSIM
averages over the whole image (a reflect-padded border) and reads ~0.001 high, so the valid
region is cut from its full SSIM map here. LPIPS (AlexNet, torchmetrics) needs torchvision's
AlexNet weights on disk; without them it is reported unavailable, never downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

Y_WEIGHTS = (65.481, 128.553, 24.966)
SSIM_BORDER = 5  # (11 - 1) / 2: pixels where the 11x11 window leaves the image
ALEXNET_WEIGHTS = "alexnet-owt-7be5be79.pth"  # torchvision's AlexNet_Weights.IMAGENET1K_V1 file


def to_uint8_levels(x: Tensor) -> Tensor:
    """Images in [0, 1] rounded to 8 bits, as float64 in [0, 1] (what saving a PNG keeps)."""
    return x.detach().double().clamp(0, 1).mul(255).round().div(255)


def rgb_to_y(x: Tensor) -> Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (N, 1, H, W) Y in [16, 235] (ITU-R BT.601, MATLAB's rgb2ycbcr)."""
    w = x.new_tensor(Y_WEIGHTS).view(1, 3, 1, 1)
    return 16.0 + (x * w).sum(1, keepdim=True)


def y_channel(x: Tensor, crop: int) -> Tensor:
    """The protocol's input: 8-bit-rounded Y channel with `crop` pixels cut from every side."""
    y = rgb_to_y(to_uint8_levels(x))
    return y[..., crop : y.shape[-2] - crop, crop : y.shape[-1] - crop] if crop > 0 else y


def psnr_y(sr: Tensor, hr: Tensor, crop: int) -> Tensor:
    """PSNR on Y per image, (N,)."""
    return peak_signal_noise_ratio(y_channel(sr, crop), y_channel(hr, crop), data_range=255.0, reduction="none",
                                   dim=(1, 2, 3))


def ssim_y(sr: Tensor, hr: Tensor, crop: int) -> Tensor:
    """SSIM on Y per image over the valid region, (N,)."""
    _, full = structural_similarity_index_measure(y_channel(sr, crop), y_channel(hr, crop), data_range=255.0,
                                                  return_full_image=True)
    b = SSIM_BORDER
    return full[..., b:-b, b:-b].mean(dim=(1, 2, 3))


class MeanPerImage(Metric):
    """The mean over images of a per-image score (`psnr_y` or `ssim_y`); each batch names its crop
    (the protocol's `scale` pixels)."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, score: str) -> None:
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"unknown SR score {score!r}: valid choices are {', '.join(SCORES)}")
        self.score = score
        self.add_state("total", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, sr: Tensor, hr: Tensor, crop: int = 0) -> None:
        """Add the images of a batch, `crop` pixels cut from every side."""
        values = SCORES[self.score](sr, hr, crop)
        self.total += values.sum()
        self.count += values.numel()

    def compute(self) -> Tensor:
        """The mean score (float32, for loggers)."""
        return (self.total / self.count.clamp_min(1)).float()


SCORES = {"psnr_y": psnr_y, "ssim_y": ssim_y}


def alexnet_weights_path() -> Path:
    """Where torchvision looks for its AlexNet weights ($TORCH_HOME/hub/checkpoints)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_WEIGHTS


def lpips_metric() -> tuple[Metric | None, str]:
    """(torchmetrics' LPIPS with AlexNet, inputs in [0, 1], "") when its weights are on disk, else
    (None, the one line saying why it is unavailable)."""
    path = alexnet_weights_path()
    if not path.is_file():
        return None, (f"LPIPS unavailable: torchvision's AlexNet weights are not at {path} (nothing is downloaded; "
                      f"put {ALEXNET_WEIGHTS} there to report LPIPS)")
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    return LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True), ""


__all__ = ["MeanPerImage", "alexnet_weights_path", "lpips_metric", "psnr_y", "rgb_to_y", "ssim_y", "to_uint8_levels",
           "y_channel"]
