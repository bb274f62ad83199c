"""Adding a component touches no existing file: a throwaway binarizer, block, data set and task,
written outside the package by the README's "Adding a component" table (`plugin/toy_bnn`, their
configs in `plugin/toy_conf` on Hydra's search path through a search-path plugin), run through
the registry-wide tests unchanged, plus their own short training whose loss must fall."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

PLUGIN = Path(__file__).parent / "plugin"
ROOT = Path(__file__).parents[2]
# the registry-wide tests every new component meets, and the cases each must run for the toys
MATRICES = {
    "tests/core/test_registry_wide.py": ["test_every_binarizer_forward_backward", "test_every_block_with_every_binarizer"],
    "tests/core/test_model_block_matrix.py": ["test_every_block_in_every_model"],
    "tests/core/test_data_registry.py": ["test_every_data_set", "test_every_task_refuses_a_batch_with_a_target_missing"],
    "tests/export/test_sweep.py": ["test_every_binarizer_has_an_export_rule_or_a_reason",
                                   "test_every_binarizer_with_every_block_exports"],
    "tests/cli/test_every_config.py": ["test_every_option_composes_and_checks", "test_a_component_file_holds_the_code_defaults",
                                       "test_every_data_set_composes", "test_every_task_runs_its_smoke_step"],
}


def test_toy_components_pass_the_registry_wide_tests_and_train(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-p", "toy_plugin",
           "-k", "toy or has_an_export_rule", "--basetemp", str(tmp_path / "t"),
           *MATRICES, str(PLUGIN / "check_toy_trains.py")]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    passed = re.findall(r"^(\S+)::(\w+)(\[[^\]]*\])? PASSED", out, flags=re.M)
    for path, tests in MATRICES.items():
        for name in tests:
            cases = [p for p in passed if p[0] == path and p[1] == name]
            assert cases, f"{path}::{name} ran no case with the toy components\n{out[-3000:]}"
            if name != "test_every_binarizer_has_an_export_rule_or_a_reason":  # one case over all binarizers
                assert any("toy" in c[2] for c in cases), (path, name)
    assert any(p[1] == "test_toy_run_learns" for p in passed)
