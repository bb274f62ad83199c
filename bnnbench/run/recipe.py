"""How a job trains: in steps, each from the last one's weights, distilled from a trained teacher.

ReActNet (Liu et al., ECCV 2020, Sec. 4.1) trains in two steps, binary activations with real
weights and then both binary from step 1's last weights, each step distilled from a real-valued
teacher (github.com/liuzechun/ReActNet @ 2ab138f, mobilenet/2_step2/train.py and run.sh). A
recipe (`conf/recipe/`) says that as data:

- `steps`: one mapping of overrides per step, merged into the job's config. Step k runs in
  `<job>/step<k>/`, the last step in the job's own folder (its summary is the job's), and each
  step starts from the previous step's last checkpoint.
- `teacher`: overrides that turn the job's config into its real-valued teacher's. The teacher is
  trained before the first step into `teachers/<key>/` beside the job folders (a sweep's own
  folder, or `outputs/<experiment>/`), where `<key>` hashes every setting that shapes it (data,
  seed, threads, model, recipe of the teacher), so the jobs of a sweep that share a teacher find
  the one trained first, and two jobs running at once wait for each other rather than train it twice.
- `teacher_ckpt`: a teacher's weights: set by the job for its steps, or given to skip training.

A top-level null keeps the job's own setting. A group node of the overrides that names a component (`model: {name: reactnet_a, ...}`) starts
from that component's config file, as `model=reactnet_a` on the command line would; a node
without a name is merged into the job's. Every derived config is checked before any work.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn

from bnnbench.core.checkpoint import load_weights
from bnnbench.core.console import console
from bnnbench.core.registry import TASKS, check_keys, entry_options
from bnnbench.run import job
from bnnbench.run.folder_lock import FolderBusyError, FolderLock, holder
from bnnbench.run.outputs import mark_part

KEYS = ("name", "steps", "teacher", "teacher_ckpt")
ONE_STEP = {"name": "one_step", "steps": None, "teacher": None, "teacher_ckpt": None}
TEACHERS = "teachers"  # beside the job folders: one folder per distinct teacher
# settings that do not shape a trained teacher (how the run is logged, named, resumed or shown)
NOT_TRAINING = ("logger", "experiment_name", "mode", "resume", "ckpt_path", "scan_data", "cost_size",
                "cost_classes", "cost_elementwise", "recipe", "trainer.enable_progress_bar")
WAIT_S = 5.0  # how often a job waiting for another process's teacher looks again

RunOne = Callable[[DictConfig, Path], dict[str, Any]]


@dataclass(frozen=True)
class Recipe:
    """The `recipe` node of a run's config."""

    name: str
    steps: tuple[dict[str, Any], ...]  # overrides per step; () = one step as configured
    teacher: dict[str, Any] | None  # overrides giving the teacher's config; None = no teacher
    teacher_ckpt: str | None

    @classmethod
    def of(cls, cfg: Mapping[str, Any]) -> Recipe:
        """The recipe of `cfg` (one step without a teacher when it has none), interpolations
        such as `${model.width_mult}` resolved against the job's config."""
        node = cfg.get("recipe")
        raw = job.plain(node) if node is not None else dict(ONE_STEP)
        check_keys("recipe", raw, KEYS)
        steps = raw.get("steps") or []
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            raise ValueError(f"recipe.steps must be a list of mappings (one per step), got {steps!r}")
        teacher = raw.get("teacher")
        if teacher is not None and not isinstance(teacher, dict):
            raise ValueError(f"recipe.teacher must be a mapping of overrides (e.g. {{binarizer: {{name: fp}}}}), got {teacher!r}")
        ckpt = raw.get("teacher_ckpt")
        return cls(str(raw.get("name", "custom")), tuple(steps), teacher, None if ckpt is None else str(ckpt))

    @property
    def staged(self) -> bool:
        """Whether the job is more than one plain training: steps of its own, or a teacher to train first."""
        return bool(self.steps) or (self.teacher is not None and self.teacher_ckpt is None)


def _component_file(group: str, name: str) -> dict[str, Any]:
    """The config file of component `name` in `group`, as `group=name` would choose it."""
    path = job.CONFIG_DIR / group / f"{name}.yaml"
    if not path.is_file():
        choices = ", ".join(sorted(p.stem for p in (job.CONFIG_DIR / group).glob("*.yaml")))
        raise ValueError(f"recipe: {group} {name!r} has no config file: valid choices are {choices}")
    node = OmegaConf.to_container(OmegaConf.load(path))
    if "defaults" in node:  # composed by Hydra from other files: not choosable inside a recipe
        raise ValueError(f"recipe: {group} {name!r} is composed from other config files; set its keys without a name")
    return node


def derive(cfg: Mapping[str, Any], overrides: Mapping[str, Any]) -> DictConfig:
    """`cfg` with `overrides` applied (a group node with a `name` from its component's file) and a
    one-step recipe without a teacher."""
    base = job.plain(cfg)
    over = {k: v for k, v in overrides.items() if v is not None}  # null: the job's own setting
    for key, value in over.items():
        if isinstance(value, dict) and "name" in value and (job.CONFIG_DIR / key).is_dir():
            base[key] = _component_file(key, str(value["name"]))
    base["recipe"] = dict(ONE_STEP)
    return OmegaConf.merge(OmegaConf.create(base), OmegaConf.create(over))


def teacher_config(cfg: Mapping[str, Any]) -> DictConfig:
    """The config the job's teacher trains by: the job's with the teacher's overrides, tested clean."""
    recipe = Recipe.of(cfg)
    if recipe.teacher is None:
        raise ValueError("recipe.teacher is not set: the overrides that make this job's config its teacher's "
                         "(e.g. recipe.teacher='{binarizer: {name: fp}}')")
    teacher = derive(cfg, recipe.teacher)
    teacher.data.corruption = None  # a teacher is scored on the clean test only
    teacher.data.severity = None
    if "init_from" not in recipe.teacher:  # the job's init_from holds the student's weights
        teacher.init_from = None
    return teacher


def step_configs(cfg: Mapping[str, Any]) -> list[DictConfig]:
    """One config per step, each keeping the job's teacher (its weights filled in by `run_staged`)."""
    recipe = Recipe.of(cfg)
    out = []
    for overrides in recipe.steps or ({},):
        step = derive(cfg, overrides)
        step.recipe = {**ONE_STEP, "name": recipe.name, "teacher": recipe.teacher, "teacher_ckpt": recipe.teacher_ckpt}
        out.append(step)
    return out


def teacher_key(teacher: Mapping[str, Any]) -> str:
    """The folder name of a teacher: its model and seed, and a hash of every setting that shapes it."""
    settings = job.plain(teacher)
    for key in NOT_TRAINING:
        parent, _, leaf = key.rpartition(".")
        node = (settings.get(parent) or {}) if parent else settings
        node.pop(leaf, None)
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{settings['model']['name']}-seed{settings.get('seed', 0)}-{digest}"


def check(cfg: Mapping[str, Any], check_job: Callable[[Mapping[str, Any]], None]) -> None:
    """The recipe's keys, its task's teacher, and every config it derives (`check_job` on each)."""
    recipe = Recipe.of(cfg)
    if recipe.staged and cfg.get("ckpt_path"):
        raise ValueError(f"ckpt_path continues one training, but recipe {recipe.name!r} trains in steps or with a "
                         "teacher: continue its job with resume=true")
    if recipe.teacher is None and recipe.teacher_ckpt is None:
        configs = step_configs(cfg) if recipe.steps else []
    else:
        task = job.plain(cfg["task"]).get("name")
        takes, _ = entry_options(TASKS.get(task)) if task in TASKS else ((), False)
        if "teacher" not in takes:
            with_teacher = [n for n in TASKS.names() if "teacher" in entry_options(TASKS.get(n))[0]]
            raise ValueError(f"recipe {recipe.name!r} distils from a teacher, but task {task!r} takes none: "
                             f"tasks that do are {', '.join(with_teacher)}")
        configs = [teacher_config(cfg), *step_configs(cfg)]
    for derived in configs:
        check_job(derived)


def load_teacher(cfg: Mapping[str, Any], info: Any) -> nn.Module | None:
    """The job's trained teacher (`recipe.teacher_ckpt`) built by its config for data `info`, or None."""
    recipe = Recipe.of(cfg)
    if recipe.teacher_ckpt is None:
        return None
    teacher = job.build_model(teacher_config(cfg), info)
    load_weights(teacher, recipe.teacher_ckpt, "recipe.teacher_ckpt")
    return teacher


def _resume(cfg: DictConfig, folder: Path, resume: bool) -> DictConfig:
    cfg.resume = bool(resume and (folder / "checkpoints" / "last.ckpt").is_file())
    return cfg


def trained_teacher(cfg: Mapping[str, Any], root: Path, run_one: RunOne, out: Path, primary: bool = True) -> str:
    """The best checkpoint of the job's teacher in `root/<key>/`: trained now unless a finished
    one is there; while another process trains it, wait for that one. Only the `primary`
    process of a multi-process (DDP) job locks: its other ranks train the teacher beside it."""
    teacher = teacher_config(cfg)
    folder = root / teacher_key(teacher)
    lock = FolderLock(folder)
    waiting = False
    while primary:
        try:
            lock.acquire()
            break
        except FolderBusyError:
            if not waiting:
                info = holder(folder) or {}
                console.print(f"waiting for process {info.get('pid')}, which trains the teacher in {folder}", soft_wrap=True)
                waiting = True
            time.sleep(WAIT_S)
    try:
        done = folder / "summary.json"
        if done.is_file():
            ckpt = json.loads(done.read_text())["best_checkpoint"]
            console.print(f"teacher: {ckpt} (trained earlier)", soft_wrap=True)
            return ckpt
        mark_part(folder, "teacher", out)
        console.print(f"[bold]training the teacher[/bold] ({teacher.model.name}, binarizer {teacher.binarizer.name}) "
                      f"in {folder}", soft_wrap=True)
        return str(run_one(_resume(teacher, folder, True), folder)["best_checkpoint"])
    finally:
        if primary:
            lock.release()


def run_staged(cfg: DictConfig, out: Path, run_one: RunOne, primary: bool = True) -> dict[str, Any]:
    """Train the job's teacher (or find it), then its steps; the job's summary is its last step's,
    with the recipe, its step folders and the teacher's checkpoint added (by the `primary`
    process of a multi-process job)."""
    recipe = Recipe.of(cfg)
    start = time.perf_counter()
    ckpt = recipe.teacher_ckpt
    if recipe.teacher is not None and ckpt is None:
        ckpt = trained_teacher(cfg, out.parent / TEACHERS, run_one, out, primary)
    steps = step_configs(cfg)
    previous = cfg.get("init_from")
    done: list[str] = []
    for k, step in enumerate(steps, 1):
        last = k == len(steps)
        folder = out if last else out / f"step{k}"
        step.recipe.teacher_ckpt = ckpt
        step.init_from = previous
        finished = folder / "summary.json"
        if not last and cfg.get("resume") and finished.is_file():
            previous = json.loads(finished.read_text())["last_checkpoint"]
            console.print(f"step {k} of {len(steps)}: finished earlier in {folder}", soft_wrap=True)
            done.append(str(folder))
            continue
        if not last:
            mark_part(folder, f"step {k} of {len(steps)}", out)
        if len(steps) > 1:
            console.print(f"[bold]step {k} of {len(steps)}[/bold] of recipe {recipe.name} in {folder}", soft_wrap=True)
        result = run_one(_resume(step, folder, bool(cfg.get("resume"))), folder)
        previous = result["last_checkpoint"]
        done.append(str(folder))
    result.update(recipe=recipe.name, steps=done, teacher_checkpoint=ckpt, recipe_wall_time_s=time.perf_counter() - start)
    if primary:
        (out / "summary.json").write_text(json.dumps(result, indent=2))
    return result


__all__ = ["TEACHERS", "Recipe", "check", "derive", "load_teacher", "run_staged", "step_configs",
           "teacher_config", "teacher_key", "trained_teacher"]
