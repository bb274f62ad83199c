"""Diffusion super-resolution: a denoising model conditioned on the bicubic-upscaled LR image.

The noise schedule and the sampler are diffusers' `DDPMScheduler` / `DDIMScheduler` (any
nn.Module works with them). Training (BI-DiffSR, zhengchen1999/BI-DiffSR@b95eb3a,
diffglv/models/BI_DiffSR_model.py): t uniform over the schedule's steps, x_t =
add_noise(hr, eps, t), loss L1(model(x_t, cond, t), target), target eps (`epsilon`, the paper),
hr (`sample`) or the velocity (`v_prediction`). Test: the condition padded (reflect) to a
multiple of the model's `size_multiple`, `sample_steps` sampler steps from Gaussian noise drawn
from a generator seeded by `sample_seed` (the same samples in every run), crop, clamp.
Scores: the BasicSR protocol's PSNR / SSIM on Y (`bnnbench.metrics.sr`), bicubic upscaling's
and a flat grey image's beside them, and LPIPS when its weights are on disk.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bnnbench.core.console import console
from bnnbench.data.info import DataInfo
from bnnbench.data.sr_pairs import bicubic_up
from bnnbench.metrics.sr import MeanPerImage, lpips_metric
from bnnbench.tasks import TASKS
from bnnbench.tasks.base import SMOKE_RUN, BaseTask, check_images, require

NOISE_SCHEDULERS = ("ddim", "ddpm")
PREDICTIONS = ("epsilon", "sample", "v_prediction")
LOSSES = {"l1": F.l1_loss, "l2": F.mse_loss}


def upscale_factor(lr: Tensor, hr: Tensor) -> int:
    """The integer factor between an LR and an HR batch (raises when there is none)."""
    s = hr.shape[-1] // lr.shape[-1]
    if s < 1 or hr.shape[-1] != lr.shape[-1] * s or hr.shape[-2] != lr.shape[-2] * s:
        raise ValueError(f"sr: HR {tuple(hr.shape[-2:])} is not an integer multiple of LR {tuple(lr.shape[-2:])}")
    return s


@TASKS.register("sr")
class SuperResolutionTask(BaseTask):
    """Diffusion super-resolution of (lr, hr) batches with diffusers' DDIM / DDPM schedulers.

    Model: `model(x_t, cond, t)` -> prediction, with `num_train_timesteps` and `size_multiple`
    (`bidiffsr_unet`).

    Loss: L1 (or L2) between the prediction and its target (see the module docstring). Scores:
    val/psnr_y; test/psnr_y, test/ssim_y, test/bicubic_psnr_y, test/bicubic_ssim_y,
    test/grey_psnr_y (a flat 0.5 image) and test/lpips when available. `forward_passes` = the
    sampler's steps: the model runs that many times per super-resolved image (its cost per
    image is that many times its cost per step).
    """

    data_kinds = ("sr",)
    monitor, monitor_mode = "val/psnr_y", "max"
    model_output = "sr"
    # a tiny UNet on gen_sr on the CPU (the tables' rows are set for DF2K on a GPU), one sampler step
    smoke_overrides = ("data=gen_sr", "trainer=cpu", *SMOKE_RUN, "model.channels=8", "model.channel_mults=[1,2]",
                       "model.res_blocks=1", "model.norm_groups=4", "data.image_size=[16,16]", "data.train_size=4",
                       "data.val_size=1", "data.test_size=1", "data.batch_size=2", "data.test_tile=16",
                       "task.sample_steps=1")
    repeats_forward = True  # the model runs `forward_passes` times per output (cost per image)

    @classmethod
    def model_kwargs(cls, info: DataInfo) -> dict[str, Any]:
        """Nothing beyond the image channels the job passes."""
        return {}

    @classmethod
    def check_batch(cls, batch: Any, info: DataInfo) -> None:
        """(LR (B, C, H/s, W/s), HR (B, C, H, W)) in [0, 1], (H, W) the data's image size, s an integer scale."""
        lr, hr = batch
        n = check_images(hr, info)
        require(lr.dim() == 4 and lr.shape[:2] == (n, info.in_channels), f"LR images are {tuple(lr.shape)}")
        scale = hr.shape[-1] // lr.shape[-1]
        require(scale >= 1 and tuple(lr.shape[2:]) == (hr.shape[2] // scale, hr.shape[3] // scale)
                and hr.shape[2] % scale == 0, f"LR {tuple(lr.shape[2:])} is not HR {tuple(hr.shape[2:])} / an integer")
        require(bool(lr.min() >= 0 and hr.max() <= 1), "SR images must lie in [0, 1]")

    @classmethod
    def from_data(cls, model: nn.Module, info: DataInfo, **options: Any) -> SuperResolutionTask:
        """The task around `model`."""
        return cls(model, **options)

    def __init__(
        self,
        model: nn.Module,
        noise_scheduler: str = "ddim",
        prediction_type: str = "sample",
        beta_start: float = 1e-6,
        beta_end: float = 1e-2,
        beta_schedule: str = "linear",
        sample_steps: int = 20,
        eta: float = 0.0,
        loss: str = "l1",
        batch_timestep: bool = False,
        sample_seed: int = 0,
        lpips: bool = True,
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        no_decay_1d: bool = True,
    ) -> None:
        super().__init__(model, optimizer, scheduler, no_decay_1d)
        if noise_scheduler not in NOISE_SCHEDULERS:
            raise ValueError(f"sr: noise_scheduler must be one of {', '.join(NOISE_SCHEDULERS)}, got {noise_scheduler!r}")
        if prediction_type not in PREDICTIONS:
            raise ValueError(f"sr: prediction_type must be one of {', '.join(PREDICTIONS)}, got {prediction_type!r}")
        if loss not in LOSSES:
            raise ValueError(f"sr: loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        if sample_steps < 1:
            raise ValueError(f"sr: sample_steps must be >= 1, got {sample_steps}")
        for attr in ("num_train_timesteps", "size_multiple"):
            if not hasattr(model, attr):
                raise ValueError(f"sr needs a diffusion model with `{attr}` (bidiffsr_unet), got {type(model).__name__}")
        self.save_hyperparameters(ignore=["model"])
        from diffusers import DDIMScheduler, DDPMScheduler  # imported here: diffusers loads slowly

        kind = DDIMScheduler if noise_scheduler == "ddim" else DDPMScheduler
        self.noise = kind(num_train_timesteps=int(model.num_train_timesteps), beta_start=beta_start, beta_end=beta_end,
                          beta_schedule=beta_schedule, prediction_type=prediction_type)
        self.num_train_timesteps = int(model.num_train_timesteps)
        self.prediction_type, self.sample_steps, self.eta = prediction_type, sample_steps, eta
        self.criterion = LOSSES[loss]
        self.batch_timestep, self.sample_seed = batch_timestep, sample_seed
        self.forward_passes = sample_steps
        self._generator: torch.Generator | None = None
        self.val_psnr = MeanPerImage("psnr_y")
        self.test_scores = nn.ModuleDict({f"{who}{score}": MeanPerImage(score) for who in ("", "bicubic_", "grey_")
                                          for score in ("psnr_y", "ssim_y")})
        metric, self.lpips_note = lpips_metric() if lpips else (None, "LPIPS off (task.lpips=false)")
        # kept out of the module tree: its AlexNet must not enter checkpoints, so that a run
        # trained where the weights are absent still loads where they are present
        self._lpips: list[Any] = [metric] if metric is not None else []

    # -- training ------------------------------------------------------------------------------
    def diffusion_loss(self, lr: Tensor, hr: Tensor) -> Tensor:
        """The loss of one batch at random timesteps (one per sample, or one per batch with
        `batch_timestep`, as BI-DiffSR's code draws it)."""
        n = hr.shape[0]
        cond = bicubic_up(lr, upscale_factor(lr, hr))
        eps = torch.randn_like(hr)
        t = torch.randint(0, self.num_train_timesteps, (1 if self.batch_timestep else n,), device=hr.device).expand(n)
        x_t = self.noise.add_noise(hr, eps, t)
        target = {"epsilon": eps, "sample": hr}.get(self.prediction_type)
        if target is None:
            target = self.noise.get_velocity(hr, eps, t)
        return self.criterion(self.model(x_t, cond, t), target)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        """Loss of one batch; logs `train/loss` and `lr`."""
        lr, hr = batch
        loss = self.diffusion_loss(lr, hr)
        self.log("train/loss", loss, prog_bar=True, batch_size=hr.shape[0])
        if self._trainer is not None and self.trainer.optimizers:
            self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=hr.shape[0])
        return loss

    # -- sampling ------------------------------------------------------------------------------
    @contextmanager
    def _progress(self, total: int) -> Iterator[Any]:
        """A line for the sampler's steps in Lightning's rich progress bar (a no-op without one)."""
        bar = getattr(self._trainer, "progress_bar_callback", None) if self._trainer is not None else None
        progress = getattr(bar, "progress", None)
        if progress is None or not hasattr(progress, "add_task"):
            yield lambda: None
            return
        task = progress.add_task(f"denoising ({self.sample_steps} steps)", total=total)
        try:
            yield lambda: progress.update(task, advance=1)
        finally:
            progress.remove_task(task)

    @torch.no_grad()
    def sample(self, lr: Tensor, scale: int, generator: torch.Generator | None = None) -> Tensor:
        """Super-resolve `lr` by `scale`: `sample_steps` sampler steps from noise drawn with
        `generator` (CPU), the condition padded (reflect) to the model's size multiple."""
        cond = bicubic_up(lr, scale)
        h, w = cond.shape[-2:]
        m = int(self.model.size_multiple)
        pad_h, pad_w = (-h) % m, (-w) % m
        if pad_h or pad_w:
            cond = F.pad(cond, (0, pad_w, 0, pad_h), mode="reflect")
        x = torch.randn(cond.shape, generator=generator, dtype=cond.dtype).to(cond.device)
        self.noise.set_timesteps(self.sample_steps, device=cond.device)
        extra = {"eta": self.eta} if self.hparams.noise_scheduler == "ddim" else {}
        with self._progress(len(self.noise.timesteps)) as advance:
            for t in self.noise.timesteps:
                pred = self.model(self.noise.scale_model_input(x, t), cond, t)
                x = self.noise.step(pred, t, x, generator=generator, **extra).prev_sample
                advance()
        return x[..., :h, :w].clamp(0, 1)

    def forward(self, lr: Tensor, scale: int = 2) -> Tensor:
        """The super-resolved image of `lr` (seeded sampling)."""
        return self.sample(lr, scale, torch.Generator().manual_seed(self.sample_seed))

    def predict(self, image: Tensor, target: Tensor) -> Tensor:
        """The super-resolved image of LR `image` at the size of HR `target`; batch `i` of an
        epoch draws its noise from seed `sample_seed` + i, so evaluation is reproducible."""
        return self.sample(image, upscale_factor(image, target), self._generator)

    def _seed(self, batch_idx: int) -> None:
        self._generator = torch.Generator().manual_seed(self.sample_seed + batch_idx)

    # -- evaluation ----------------------------------------------------------------------------
    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        """Accumulate val/psnr_y."""
        lr, hr = batch
        self._seed(batch_idx)
        self.val_psnr.update(self.predict(lr, hr), hr, upscale_factor(lr, hr))
        self.log("val/psnr_y", self.val_psnr, on_step=False, on_epoch=True, prog_bar=True, batch_size=hr.shape[0])

    def on_test_epoch_start(self) -> None:
        """Say once why LPIPS is missing, if it is."""
        if not self._lpips:
            console.print(self.lpips_note, highlight=False, soft_wrap=True)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        """Accumulate the model's, bicubic's and flat grey's PSNR / SSIM on Y, and LPIPS."""
        lr, hr = batch
        scale = upscale_factor(lr, hr)
        self._seed(batch_idx)
        images = {"": self.predict(lr, hr), "bicubic_": bicubic_up(lr, scale), "grey_": torch.full_like(hr, 0.5)}
        for who, image in images.items():
            for score in ("psnr_y", "ssim_y"):
                metric = self.test_scores[f"{who}{score}"]
                metric.update(image, hr, scale)
                self.log(f"test/{who}{score}", metric, on_step=False, on_epoch=True, batch_size=hr.shape[0])
        if self._lpips:
            c = scale
            sr = images[""][..., c:-c, c:-c].float().mul(255).round().div(255).contiguous()
            self._lpips[0].to(hr.device).update(sr, hr[..., c:-c, c:-c].contiguous())

    def on_test_epoch_end(self) -> None:
        """Log LPIPS over the whole test split (when available)."""
        if self._lpips:
            self.log("test/lpips", self._lpips[0].compute().float())
            self._lpips[0].reset()


__all__ = ["LOSSES", "NOISE_SCHEDULERS", "PREDICTIONS", "SuperResolutionTask", "upscale_factor"]
