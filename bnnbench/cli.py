"""Hydra entry point: `python -m bnnbench` (or the `bnnbench` script) runs one job or a sweep.

`python -m bnnbench task=seg binarizer=dab` runs one job (`bnnbench.run.execute.run`);
`--multirun binarizer=bnn,dab` runs a sweep, one output folder per job; a failing job is
reported and the others go on, and the sweep exits non-zero. `mode=test` evaluates a
checkpoint on the test split, `mode=cost` prints the model's cost without data or training.
`python -m bnnbench list` names every registered method.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from bnnbench import __version__
from bnnbench.core.console import console
from bnnbench.core.errors import DEBUG_FLAG, DEBUG_HINT, debugging, layout_of, one_line
from bnnbench.run import sweep
from bnnbench.run.execute import run
from bnnbench.run.settings import CONFIG_PATH


def job_main(cfg: DictConfig) -> dict[str, Any] | None:
    """The Hydra task function: one job, errors reported as one line (a sweep records them)."""
    try:
        return run(cfg)
    except Exception as err:
        if HydraConfig.get().mode == RunMode.MULTIRUN:  # one failed sweep job must not stop the others
            out = Path(HydraConfig.get().runtime.output_dir)
            out.mkdir(parents=True, exist_ok=True)
            (out / "error.txt").write_text(traceback.format_exc())
            console.print(f"[bold red]job {out.name} failed:[/bold red] {type(err).__name__}: {one_line(err)}",
                          soft_wrap=True)
            return None
        if debugging():
            raise
        # user errors read as one line; the traceback stays one switch away
        console.print(f"[bold red]error:[/bold red] {one_line(err)}", highlight=False, soft_wrap=True)
        layout = layout_of(err)
        if layout is not None:  # printed in full: the user needs every folder name of it
            console.print(layout, highlight=False, markup=False, soft_wrap=True)
        console.print(DEBUG_HINT, style="dim", soft_wrap=True)
        sys.exit(2)


# decorated separately so that `job_main` stays importable by name: launchers that run jobs in
# other processes (joblib, submitit) pickle the task function by reference
_main = hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")(job_main)


def main() -> None:
    """Console-script entry point (`bnnbench ...` = `python -m bnnbench ...`)."""
    if sys.argv[1:2] == ["list"]:
        from bnnbench.run.catalog import print_catalog  # imports every component: only for `list`

        print_catalog()
        return
    if sys.argv[1:2] == ["--version"]:  # bnnbench's, not Hydra's
        print(f"bnnbench {__version__}")
        return
    if DEBUG_FLAG in sys.argv[1:]:  # not a Hydra override: tracebacks for every error
        sys.argv.remove(DEBUG_FLAG)
        os.environ["BNNBENCH_DEBUG"] = os.environ["HYDRA_FULL_ERROR"] = "1"
    _main()
    if sweep.FAILED_JOBS:
        sys.exit(1)
