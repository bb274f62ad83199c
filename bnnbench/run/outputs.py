"""A job's folder: earlier results moved aside and back, the checkpoint a run continues from,
the folders of its parts (a recipe's steps and teacher)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from bnnbench.core.console import console
from bnnbench.run import naming


class EarlierRun:
    """The results of an earlier run in the same folder: moved aside when a fresh run starts
    training, and moved back when that run fails."""

    FILES = ("checkpoints", "metrics.csv", "summary.json")

    def __init__(self, out: Path) -> None:
        self.out = out
        self.aside: Path | None = None

    def move_aside(self) -> None:
        """Move the earlier results to `previous-<time>/` (resume=true continues them instead)."""
        earlier = [self.out / f for f in self.FILES if (self.out / f).exists()]
        if not earlier:
            return
        self.aside = self.out / f"previous-{time.strftime('%Y%m%d-%H%M%S')}"
        self.aside.mkdir()
        for p in earlier:
            shutil.move(str(p), self.aside / p.name)
        console.print(f"fresh run: moved the earlier run's files to {self.aside} (resume=true continues instead)")

    def restore(self) -> None:
        """After a failed run: its partial files go to `failed-<time>/`, the earlier ones come back."""
        if self.aside is None:
            return
        failed = self.out / f"failed-{time.strftime('%Y%m%d-%H%M%S')}"
        for name in self.FILES:
            if (self.out / name).exists():
                failed.mkdir(exist_ok=True)
                shutil.move(str(self.out / name), failed / name)
        for p in self.aside.iterdir():
            shutil.move(str(p), self.out / p.name)
        self.aside.rmdir()
        console.print(f"the run failed: the earlier results are back in {self.out}")


PART = "recipe_part.json"  # marks a recipe's step or teacher folder: part of a job, not a job of the sweep


def mark_part(folder: Path, part: str, of: Path) -> None:
    """Mark `folder` as `part` ("teacher", "step 1 of 2") of the job in `of`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PART).write_text(json.dumps({"part": part, "of": str(of)}, indent=2))


def is_part(folder: Path) -> bool:
    """Whether `folder` holds a step or a teacher of a job rather than a job."""
    return (folder / PART).is_file()


def job_folder(out: Path, mode: str) -> Path:
    """The training job's folder: `out`, or its parent for a test run in `<job>/test-<time>/`."""
    return out.parent if mode == "test" and out.name.startswith(naming.TEST_PREFIX) else out


def resolve_checkpoint(cfg: DictConfig, out: Path) -> str | None:
    """The checkpoint to continue from: `ckpt_path`, or the job's last one when `resume=true`."""
    if cfg.get("ckpt_path"):
        path = Path(cfg.ckpt_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"ckpt_path={path} does not exist")
        return str(path)
    last = job_folder(out, cfg.get("mode", "train")) / "checkpoints" / "last.ckpt"
    if cfg.get("resume"):
        if last.is_file():
            console.print(f"[bold]resuming[/bold] from {last}")
            return str(last)
        console.print(f"resume=true but no {last}: starting from scratch")
    return None


def job_label(out: Path) -> str:
    """The job's name: from its command-line overrides in a Hydra run, else its folder's name."""
    hydra_out = HydraConfig.get().runtime.output_dir if HydraConfig.initialized() else None
    if hydra_out is not None and Path(hydra_out).resolve() == Path(out).resolve():  # not a recipe's step or teacher
        return naming.job_name(HydraConfig.get().overrides.task) or out.name
    return out.name
