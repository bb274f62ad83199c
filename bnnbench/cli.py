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
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichProgressBar
from omegaconf import DictConfig, OmegaConf

from bnnbench import complexity, data, models, tasks
from bnnbench.binarizers import BinarizerSpec
from bnnbench.blocks import BLOCKS
from bnnbench.callbacks import BinarizerSchedule, BinarizerStats, RNGState
from bnnbench.introspect import accepted_kwargs
from bnnbench.loggers import build_logger, finish_logger
from bnnbench.summary import console, print_cost, print_summary

CONFIG_PATH = str(Path(__file__).parent / "conf")
AUTO_BLOCK = "auto"  # block=auto: the model's own block (e.g. bdnet for bdnet_a)


def _plain(cfg: DictConfig | None) -> dict[str, Any]:
    return {} if cfg is None else OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def _split(cfg: DictConfig, *drop: str) -> tuple[str, dict[str, Any]]:
    """(name, other keys) of a registry-backed config group."""
    d = _plain(cfg)
    name = d.pop("name")
    for k in drop:
        d.pop(k, None)
    return name, d


def build_datamodule(cfg: DictConfig) -> data.BaseDataModule:
    """The data module of `cfg.data`, seeded by `cfg.seed`."""
    name, kwargs = _split(cfg.data)
    return data.build(name, **accepted_kwargs(data.DATASETS.get(name), seed=cfg.seed), **kwargs)


def build_model(cfg: DictConfig, dm: data.BaseDataModule) -> Any:
    """The model of `cfg.model`, its convs built from `cfg.block` with `cfg.binarizer`."""
    name, kwargs = _split(cfg.model)
    builder = models.MODELS.get(name)
    shared = accepted_kwargs(
        builder,
        task=dm.task,
        num_classes=dm.num_classes,
        in_channels=dm.in_channels,
        max_depth=dm.max_depth,
        input_size=dm.image_size,
    )
    if cfg.block.name != AUTO_BLOCK:
        shared["block"] = _plain(cfg.block)
    return builder(binarizer=BinarizerSpec.of(_plain(cfg.binarizer)), **shared, **kwargs)


def build_task(cfg: DictConfig, model: Any, dm: data.BaseDataModule) -> L.LightningModule:
    """The LightningModule of `cfg.task` around `model`, told what it needs of the data."""
    name, kwargs = _split(cfg.task, "monitor", "mode")
    factory = tasks.TASKS.get(name)
    shared = accepted_kwargs(
        factory,
        num_classes=dm.num_classes,
        ignore_index=dm.ignore_index,
        min_depth=dm.min_depth,
        max_depth=dm.max_depth,
        eval_crop=dm.eval_crop,
    )
    return factory(model=model, **shared, **kwargs)


def load_weights(model: torch.nn.Module, path: str) -> None:
    """Initialise `model` from a checkpoint of a run (Lightning, keys under `model.`) or a state dict."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"init_from={file} does not exist")
    state = torch.load(file, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    prefix = "model."
    if any(k.startswith(prefix) for k in state):
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"init_from={file} does not fit the model: {str(err)[:500]}") from err
    console.print(f"initialised the model from {file}")


def validate(cfg: DictConfig) -> None:
    """Fail on unknown registry names and bad options before any data is read."""
    BinarizerSpec.of(_plain(cfg.binarizer))
    if cfg.block.name != AUTO_BLOCK:
        BLOCKS.check(cfg.block.name)
    models.MODELS.check(cfg.model.name)
    tasks.TASKS.check(cfg.task.name)
    data.DATASETS.check(cfg.data.name)


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
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")  # a missing data folder fails here, before the model is built
    model = build_model(cfg, dm)
    if cfg.get("init_from"):
        load_weights(model, cfg.init_from)
    input_size = (dm.in_channels, *dm.image_size)
    cost = complexity.count(model, input_size)
    label = f"{cfg.task.name} | {cfg.model.name} | {cfg.binarizer.name} | {cfg.block.name}"
    print_cost(f"cost of {label} at {input_size[1]}x{input_size[2]}", cost)
    cost_row = {f"cost/{k}": v for k, v in cost.summary().items()}
    task = build_task(cfg, model, dm)

    ckpt_dir = out / "checkpoints"
    ckpt = resolve_checkpoint(cfg, out)
    checkpoint = ModelCheckpoint(
        dirpath=ckpt_dir, filename="best", monitor=cfg.task.monitor, mode=cfg.task.mode, save_last=True
    )
    tags = [f"task:{cfg.task.name}", f"model:{cfg.model.name}", f"binarizer:{cfg.binarizer.name}", f"block:{cfg.block.name}"]
    logger = build_logger(
        _plain(cfg.logger), out, run_name=out.name, group=cfg.experiment_name, tags=tags, config=_plain(cfg)
    )
    trainer_cfg = _plain(cfg.trainer)
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
