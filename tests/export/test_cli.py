"""`python -m bnnbench.export`: usage, and one clear line for a missing checkpoint."""

from __future__ import annotations

import subprocess
import sys

from bnnbench.export.__main__ import main


def test_help_prints_usage_and_exits_0():
    out = subprocess.run([sys.executable, "-m", "bnnbench.export", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: python -m bnnbench.export ckpt=")


def test_missing_checkpoint_is_one_line_and_exit_2(tmp_path, capsys):
    assert main([f"ckpt={tmp_path / 'nope.ckpt'}", f"out={tmp_path / 'out.pt'}"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: ckpt={tmp_path / 'nope.ckpt'} does not exist"
    assert not (tmp_path / "out.pt").exists()


def test_bad_argument_names_it_with_the_usage(tmp_path, capsys):
    assert main(["ckpt", f"out={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: bad argument 'ckpt'\nusage: python -m bnnbench.export")
