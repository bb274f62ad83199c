"""task=sr: the diffusion losses against the equations, seeded sampling, every binarizer and ES in the UNet."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from bnnbench import binarizers
from bnnbench.run import job
from bnnbench.tasks.super_resolution import SuperResolutionTask

from ..cli.conftest import make_cfg

T = 2000
TINY_SR = ["task=sr", "model.channels=8", "model.channel_mults=[1,2]", "model.res_blocks=1", "model.norm_groups=4",
           "data.image_size=[16,16]", "data.train_size=4", "data.val_size=1", "data.test_size=1", "data.batch_size=2",
           "data.test_tile=16", "task.sample_steps=1", "logger=none"]


class Recorder(nn.Module):
    """A stand-in denoiser that predicts 0 and keeps what it was given."""

    num_train_timesteps = T
    size_multiple = 4

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.seen: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def forward(self, x_t: torch.Tensor, cond: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.seen.append((x_t, cond, torch.as_tensor(t)))
        return torch.zeros_like(x_t) * self.w


def alpha_bar() -> torch.Tensor:
    """BI-DiffSR's schedule by hand: linear betas 1e-6 .. 1e-2 over T steps, cumulative product of 1 - beta."""
    return torch.cumprod(1 - torch.linspace(1e-6, 1e-2, T, dtype=torch.float64), 0).float()


@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction"])
def test_training_noises_hr_and_regresses_the_chosen_target(prediction):
    # x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps (Ho et al. 2020, Eq. 4); targets eps, x0, or
    # v = sqrt(ab_t) eps - sqrt(1 - ab_t) x0 (Salimans & Ho 2022, Sec. 4); loss L1 (BI-DiffSR)
    model = Recorder()
    task = SuperResolutionTask(model, prediction_type=prediction)
    lr, hr = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 8, 8)
    torch.manual_seed(0)
    loss = task.diffusion_loss(lr, hr)
    torch.manual_seed(0)
    eps = torch.randn_like(hr)
    t = torch.randint(0, T, (2,))
    ab = alpha_bar()[t].view(2, 1, 1, 1)
    x_t, cond, seen_t = model.seen[0]
    assert torch.equal(seen_t, t)
    assert torch.allclose(x_t, ab.sqrt() * hr + (1 - ab).sqrt() * eps, atol=1e-5)
    assert cond.shape == hr.shape  # the LR image upscaled bicubic
    target = {"epsilon": eps, "sample": hr, "v_prediction": ab.sqrt() * eps - (1 - ab).sqrt() * hr}[prediction]
    assert float(loss) == pytest.approx(float(target.abs().mean()), rel=1e-5)


def test_one_timestep_per_batch_as_bi_diffsr_draws_it():
    model = Recorder()
    SuperResolutionTask(model, batch_timestep=True).diffusion_loss(torch.rand(4, 3, 4, 4), torch.rand(4, 3, 8, 8))
    assert model.seen[0][2].unique().numel() == 1


def test_bad_task_options_are_named():
    with pytest.raises(ValueError, match="prediction_type must be one of epsilon, sample, v_prediction"):
        SuperResolutionTask(Recorder(), prediction_type="x0")
    with pytest.raises(ValueError, match="needs a diffusion model"):
        SuperResolutionTask(nn.Linear(2, 2))


def _job(*overrides: str) -> SimpleNamespace:
    """The data module (set up), model and task of the tiny SR job, as the run builds them."""
    cfg = make_cfg(*TINY_SR, *overrides, tiny=False)
    job.check(cfg)
    dm = job.build_datamodule(cfg)
    dm.setup("fit")
    model = job.build_model(cfg, dm.info)
    return SimpleNamespace(datamodule=dm, model=model, task=job.build_task(cfg, model, dm.info))


@pytest.mark.parametrize("noise", ["ddim", "ddpm"])
def test_sampling_with_a_fixed_seed_is_deterministic(noise):
    built = _job(f"task.noise_scheduler={noise}", "task.sample_steps=3")
    task = built.task.eval()
    lr, hr = next(iter(built.datamodule.test_dataloader()))
    a, b = task(lr), task(lr)
    assert a.shape == hr.shape and torch.equal(a, b)
    task.sample_seed = 1
    assert not torch.equal(task(lr), a)


@pytest.mark.parametrize("binarizer", [*binarizers.names(), "es"])
def test_every_binarizer_and_es_train_and_sample_in_the_unet(binarizer):
    torch.manual_seed(0)
    built = _job("block=es" if binarizer == "es" else f"binarizer={binarizer}")
    task = built.task
    lr, hr = next(iter(built.datamodule.train_dataloader()))
    loss = task.diffusion_loss(lr, hr)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in task.model.parameters() if p.grad is not None)
    lr, hr = next(iter(built.datamodule.test_dataloader()))
    out = task.eval()(lr)
    assert out.shape == hr.shape and torch.isfinite(out).all() and 0 <= out.min() and out.max() <= 1


def test_lpips_is_logged_over_the_test_split_and_stays_out_of_checkpoints(tmp_path, monkeypatch):
    from torchmetrics.regression import MeanAbsoluteError

    from bnnbench.run.execute import run

    # a stand-in for LPIPS (its AlexNet weights are not on this machine): any metric of (sr, hr)
    monkeypatch.setattr("bnnbench.tasks.super_resolution.lpips_metric", lambda: (MeanAbsoluteError(), ""))
    cfg = make_cfg(*TINY_SR, "trainer.max_epochs=1", "trainer.enable_progress_bar=false", "threads=1",
                   tiny=False)
    result = run(cfg, output_dir=tmp_path)
    assert 0 < result["test/lpips"] < 1
    state = torch.load(result["best_checkpoint"], weights_only=False)["state_dict"]
    assert not any("lpips" in k for k in state)
