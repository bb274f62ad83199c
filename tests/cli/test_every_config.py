"""Every config file composes and builds its job; every experiment runs one fast step; config
files hold no value that silently differs from the code's default."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bnnbench.core.registry import MODELS, TASKS, entry_options
from bnnbench.run import job
from bnnbench.run.execute import run
from bnnbench.run.settings import CONFIG_PATH
from bnnbench.tasks.optim import OPTIMIZER_DEFAULTS

from .conftest import config_file, config_options, make_cfg, sweep_params

CONF = Path(CONFIG_PATH)
# groups whose every option is composed on top of the default job (data sets that read a
# folder are composed but not built: they need their files)
GROUPS = ["binarizer", "block", "model", "optimizer", "scheduler", "trainer", "logger"]
NEEDS_ROOT = {o for o in config_options("data") if "root:" in config_file("data", o).read_text()}


def options(group: str) -> list[str]:
    return config_options(group)


@pytest.mark.parametrize("group, option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes_and_checks(group, option):
    extra = ["task=seg"]
    if group == "model":  # the task that fits the model's registered output (and a real baseline's binarizer)
        name = make_cfg(f"model={option}", tiny=False).model.name
        meta = MODELS.meta(name)
        extra = [f"task={next(t for t in TASKS.names() if TASKS.get(t).model_output == meta['output'])}"] + (["binarizer=fp", "block=auto"] if meta.get("real_only") else [])
    cfg = make_cfg(*extra, f"{group}={option}", tiny=False)
    assert cfg[group] is not None
    if group in ("trainer", "logger"):
        return
    job.check(cfg)


@pytest.mark.parametrize("option", options("data"))
def test_every_data_set_composes(option):
    # the data set's kind is what its registered class says (no table here to keep in step)
    from bnnbench.data import DATASETS

    kind = DATASETS.get(make_cfg(f"data={option}", tiny=False).data.name).task
    cfg = make_cfg(f"task={kind}", f"data={option}", tiny=False)
    if option not in NEEDS_ROOT:
        job.check(cfg)
        assert job.build_datamodule(cfg).info.kind == kind


@pytest.mark.parametrize("task, data, model", [("seg", "gen_seg", "convnext_upernet_narrow"),
                                               ("depth", "gen_depth", "convnext_upernet_narrow"),
                                               ("cls", "digits", "resnet20"),
                                               ("det", "gen_det", "bidet_r18_narrow"),
                                               ("sr", "gen_sr", "bidiffsr_unet_narrow")])
def test_each_task_picks_its_default_data_and_model(task, data, model):
    cfg = make_cfg(f"task={task}", tiny=False)
    assert cfg.data.name == data
    assert cfg.model.name == model.removesuffix("_narrow")  # the narrow preset names its registry entry


@pytest.mark.parametrize("overrides, match", [
    (["task=cls", "data=gen_seg"], "task 'cls' trains on cls data, but data 'gen_seg' is seg data"),
    (["task=seg", "data=digits"], "task .seg. trains on seg data.*data sets for task .seg.: ade20k, gen_seg, voc"),
    (["task=depth", "model=resnet20"], "needs a model that outputs dense"),
    (["task=det", "model=resnet18"], "needs a model that outputs detections, but model 'resnet18' outputs vector; models that fit: bidet_r18"),
    (["task=det", "data=gen_seg"], "task 'det' trains on det data, but data 'gen_seg' is seg data"),
    (["task=sr", "model=resnet18"], "needs a model that outputs sr, but model 'resnet18' outputs vector; models that fit: bidiffsr_unet"),
    (["task=sr", "data=digits"], "task 'sr' trains on sr data.*data sets for task 'sr': df2k, gen_sr, sr_benchmark"),
    (["model=smp", "block=es"], "swapped in place"),
    (["+model.widht=2"], "has no option 'widht': valid options are"),
])
def test_mismatches_fail_before_any_work_naming_the_choices(overrides, match):
    with pytest.raises(ValueError, match=match):
        job.check(make_cfg(*overrides, tiny=False))


@pytest.mark.parametrize("name", options("optimizer"))
def test_optimizer_files_equal_the_code_defaults(name):
    values = yaml.safe_load(config_file("optimizer", name).read_text())
    assert values.pop("name") == name
    assert values == OPTIMIZER_DEFAULTS[name]


def _code_defaults(obj) -> dict:
    import inspect

    return {k: v for k, v in entry_options(obj)[0].items() if v is not inspect.Parameter.empty}


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


# a file named like its registry entry is that component's defaults (a preset such as
# convnext_upernet_narrow is named otherwise and may differ); `???` marks a value to give
DEFAULT_FILES = [(g, o) for g in ("data", "binarizer", "block", "task", "model") for o in options(g)]


@pytest.mark.parametrize("group, option", DEFAULT_FILES)
def test_a_component_file_holds_the_code_defaults(group, option):
    import bnnbench.binarizers  # noqa: F401  (importing the packages fills the registries)
    import bnnbench.blocks  # noqa: F401
    import bnnbench.data  # noqa: F401
    import bnnbench.models  # noqa: F401
    import bnnbench.tasks  # noqa: F401
    from bnnbench.core.registry import BINARIZERS, BLOCKS, DATASETS

    registry = {"data": DATASETS, "binarizer": BINARIZERS, "block": BLOCKS, "task": TASKS, "model": MODELS}[group]
    raw = yaml.safe_load(config_file(group, option).read_text()) or {}
    if raw.get("name") != option or raw["name"] not in registry.names():
        pytest.skip(f"{option} is a preset of {raw.get('name')} (or a choice, such as block=auto, with no code of its own)")
    code = _code_defaults(registry.get(raw["name"]))
    # a value that deliberately differs says so on its own line (`# differs: <why>`)
    said = {line.split(":")[0].strip() for line in config_file(group, option).read_text().splitlines()
            if "# differs:" in line}
    differ = {k: (v, code[k]) for k, v in raw.items() if k != "name" and k in code and k not in said
              and v != "???" and v != _plain(code[k]) and not (v == {} and code[k] is None)}
    assert not differ, f"conf/{group}/{option}.yaml differs from the code's defaults (file, code): {differ}"


SWEEPS = tuple(e for e in options("experiment") if sweep_params(e))  # experiments that are sweeps: rows below


@pytest.mark.parametrize("experiment", [e for e in options("experiment") if e not in SWEEPS])
def test_every_experiment_runs_one_fast_step(experiment, tmp_path):
    cfg = make_cfg(f"experiment={experiment}", *_fast(), tiny=False)
    result = run(cfg, output_dir=tmp_path / experiment)
    assert result["test/top1"] >= 0.0


@pytest.mark.parametrize("experiment", SWEEPS)
def test_every_row_of_every_sweep_builds_and_one_row_runs_a_fast_step(experiment, tmp_path):
    # every row's binarizer x block is trained by the registry-wide tests; here each row must
    # compose, pass the checks and build its model (with a forward pass), and the sweep's last row
    # (the paper's method) trains one step
    groups = [k.removeprefix("+") for k in sweep_params(experiment) if k.startswith("+experiment/")]
    task = make_cfg(f"experiment={experiment}", tiny=False).task.name
    fast = _smoke(task)
    rows = [(g, row) for g in groups for row in options(g)] or [(None, None)]
    for group, row in rows:
        cfg = make_cfg(f"experiment={experiment}", *([f"+{group}={row}"] if group else []), *fast, tiny=False)
        job.check(cfg)
        info = job.describe_data(cfg)
        model = job.build_model(cfg, info)
        assert sum(p.numel() for p in model.parameters()) > 0, (experiment, row)
    result = run(cfg, output_dir=tmp_path / f"{row}")
    assert all(v == v for k, v in result.items() if k.startswith("test/")), (experiment, row)  # no NaN


def _fast() -> list[str]:
    return ["data.batch_size=16", "trainer.max_epochs=1", "+trainer.limit_train_batches=1",
            "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1", "trainer.enable_progress_bar=false",
            "model.width_mult=0.25", "logger=none"]


def _smoke(task: str) -> list[str]:
    """The task's own one-step smoke overrides (`BaseTask.smoke_overrides`)."""
    return list(TASKS.get(task).smoke_overrides)


PAPER_SETTINGS = sorted(p.stem for p in (CONF / "experiment" / "paper_setting").glob("*.yaml"))


@pytest.mark.parametrize("experiment", PAPER_SETTINGS)
def test_every_paper_recipe_composes_over_its_cpu_proxy(experiment):
    # conf/experiment/paper_setting/<experiment>.yaml turns the experiment's CPU proxy into the paper's setting
    proxy = make_cfg(f"experiment={experiment}", tiny=False)
    paper = make_cfg(f"experiment={experiment}", f"+experiment/paper_setting={experiment}", tiny=False)
    assert proxy.trainer.accelerator == "cpu" and paper.trainer.accelerator != "cpu"
    assert proxy.model.name == paper.model.name and proxy.model != paper.model  # a narrow preset vs the paper's
    assert proxy.data.name != paper.data.name and "root" in paper.data


@pytest.mark.parametrize("task", TASKS.names())
def test_every_task_runs_its_smoke_step(task, tmp_path):
    # a task on its own default data and model, sized by its own smoke overrides
    result = run(make_cfg(f"task={task}", *_smoke(task), tiny=False), output_dir=tmp_path / task)
    scores = {k: v for k, v in result.items() if k.startswith("test/")}
    assert scores and all(v == v for v in scores.values()), scores  # tested, no NaN
    # the task's own monitor picked best.ckpt, and its test twin is among the scores
    cls = TASKS.get(task)
    assert cls.monitor_mode in ("max", "min") and "test/" + cls.monitor.split("/", 1)[1] in scores
    assert result["best_checkpoint"].endswith("best.ckpt")
