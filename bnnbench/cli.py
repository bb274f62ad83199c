"""Hydra entry point: build data, model and task from the config groups, fit, test, summarize.

`python -m bnnbench task=seg binarizer=dab` (or the `bnnbench` script) runs one job;
`--multirun binarizer=bnn,dab` runs a sweep, one output folder per job; a failing job is
reported and the others go on.
"""

from __future__ import annotations

import json
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichProgressBar
from omegaconf import DictConfig

from bnnbench import complexity, job
from bnnbench.callbacks import BinarizerSchedule, BinarizerStats, RNGState
from bnnbench.checkpoint import load_weights
from bnnbench.loggers import build_logger, finish_logger
from bnnbench.summary import console, print_cost, print_summary

CONFIG_PATH = str(Path(__file__).parent / "conf")


def validate(cfg: DictConfig) -> None:
    """Fail on unknown names, unknown option keys and incompatible components before any work."""
    job.check(cfg)


def resolve_checkpoint(cfg: DictConfig, out: Path) -> str | None:
    """The checkpoint to continue from: `ckpt_path`, or the job's last one when `resume=true`.

    A fresh run in a folder that holds an earlier run moves its checkpoints and metrics aside
    rather than mixing with them.
    """
    if cfg.get("ckpt_path"):
        path = Path(cfg.ckpt_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"ckpt_path={path} does not exist")
        return str(path)
    last = out / "checkpoints" / "last.ckpt"
    if cfg.get("resume"):
        if last.is_file():
            console.print(f"[bold]resuming[/bold] from {last}")
            return str(last)
        console.print(f"resume=true but no {last}: starting from scratch")
        return None
    earlier = [p for p in (out / "checkpoints", out / "metrics.csv", out / "summary.json") if p.exists()]
    if earlier:
        aside = out / f"previous-{time.strftime('%Y%m%d-%H%M%S')}"
        aside.mkdir()
        for p in earlier:
            shutil.move(str(p), aside / p.name)
        console.print(f"fresh run: moved the earlier run's files to {aside} (resume=true continues instead)")
    return None


def run(cfg: DictConfig, output_dir: str | Path | None = None, callbacks: list[Callback] | None = None) -> dict[str, Any]:
    """Run one job: fit, test the best checkpoint, print and return the summary."""
    start = time.perf_counter()
    validate(cfg)
    out = Path(output_dir or HydraConfig.get().runtime.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    dm = job.build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")  # a missing or unreadable data file fails here, before training
    model = job.build_model(cfg, dm.info)
    task = job.build_task(cfg, model, dm.info)
    if cfg.get("init_from"):
        load_weights(model, cfg.init_from, "init_from")
        console.print(f"initialised the model from {cfg.init_from}")
    input_size = (dm.in_channels, *dm.image_size)
    cost = complexity.count(model, input_size)
    label = f"{cfg.task.name} | {cfg.model.name} | {cfg.binarizer.name} | {cfg.block.name}"
    print_cost(f"cost of {label} at {input_size[1]}x{input_size[2]}", cost)
    cost_row = {f"cost/{k}": v for k, v in cost.summary().items()}

    ckpt_dir = out / "checkpoints"
    ckpt = resolve_checkpoint(cfg, out)
    checkpoint = ModelCheckpoint(
        dirpath=ckpt_dir, filename="best", monitor=cfg.task.monitor, mode=cfg.task.mode, save_last=True
    )
    tags = [f"task:{cfg.task.name}", f"model:{cfg.model.name}", f"binarizer:{cfg.binarizer.name}", f"block:{cfg.block.name}"]
    logger = build_logger(
        job.plain(cfg.logger), out, run_name=out.name, group=cfg.experiment_name, tags=tags, config=job.plain(cfg)
    )
    trainer_cfg = job.plain(cfg.trainer)
    progress = [RichProgressBar()] if trainer_cfg.get("enable_progress_bar", True) else []
    trainer = L.Trainer(
        **trainer_cfg,
        logger=logger if logger is not None else False,
        callbacks=[checkpoint, BinarizerSchedule(), BinarizerStats(), RNGState(), *progress, *(callbacks or [])],
        default_root_dir=str(out),
    )
    if logger is not None:
        logger.log_hyperparams(cost_row)
    try:
        trainer.fit(task, datamodule=dm, ckpt_path=ckpt)
        tested = trainer.test(task, datamodule=dm, ckpt_path="best" if checkpoint.best_model_path else None, verbose=False)
    finally:
        finish_logger(logger)
    metrics = {k: float(v) for k, v in (tested[0] if tested else {}).items()}
    wall = time.perf_counter() - start
    result = {
        "job": out.name,
        "task": cfg.task.name,
        "model": cfg.model.name,
        "binarizer": cfg.binarizer.name,
        "block": cfg.block.name,
        **metrics,
        **cost_row,
        "wall_time_s": wall,
        "best_checkpoint": checkpoint.best_model_path,
        "last_checkpoint": checkpoint.last_model_path,
    }
    (out / "summary.json").write_text(json.dumps(result, indent=2))
    print_summary(
        f"summary: {label}",
        metrics,
        cost,
        {"wall time": f"{wall:.1f} s", "best checkpoint": checkpoint.best_model_path or "-", "output": str(out)},
    )
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
def _main(cfg: DictConfig) -> dict[str, Any] | None:
    if HydraConfig.get().mode != RunMode.MULTIRUN:
        return run(cfg)
    try:
        return run(cfg)
    except Exception as err:  # one failed sweep job must not stop the others
        out = Path(HydraConfig.get().runtime.output_dir)
        (out / "error.txt").write_text(traceback.format_exc())
        console.print(f"[bold red]job {out.name} failed:[/bold red] {type(err).__name__}: {err}")
        return None


def main() -> None:
    """Console-script entry point (`bnnbench ...` = `python -m bnnbench ...`)."""
    _main()
