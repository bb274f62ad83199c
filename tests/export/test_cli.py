"""`python -m bnnbench.export`: usage, and one clear line for a missing checkpoint."""

from __future__ import annotations

import subprocess
import sys

import torch

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


def test_bench_measures_float_and_packed_models_per_layer(tmp_path, capsys):
    # a tiny trained run exported with bench=true (backend=cpu: this folder sets TRITON_INTERPRET,
    # which "auto" would pick): whole-model and per-layer latencies of the
    # float and the packed model, in the report and as latency/... keys beside the run
    import json

    from omegaconf import OmegaConf

    from bnnbench.export.layers import PackedConv
    from bnnbench.report.aggregate import ReportRow
    from bnnbench.report.render import cells, header
    from bnnbench.run.execute import run
    from bnnbench.run.sweep import collect

    from ..cli.conftest import make_cfg

    cfg = make_cfg("trainer.max_epochs=1", "logger=csv", "threads=1")
    result = run(cfg, output_dir=tmp_path / "run")
    out, config = tmp_path / "packed.pt", tmp_path / "config.yaml"
    OmegaConf.save(cfg, config)
    assert main([f"ckpt={result['best_checkpoint']}", f"config={config}", f"out={out}", "backend=cpu", "bench=true", "bench_batch=2",
                 "bench_repeat=1", "threads=1", "check=false"]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    bench = report["bench"]
    assert bench["threads"] == 1 and set(bench["batches"]) == {"1", "2"}
    packed = torch.load(out, weights_only=False)
    n_packed = sum(isinstance(m, PackedConv) for m in packed.modules())
    for b in bench["batches"].values():
        assert b["float_ms"] > 0 and b["packed_ms"] > 0 and b["speedup"] == b["float_ms"] / b["packed_ms"]
        assert len(b["layers"]) == n_packed > 0
        assert all(row["float_ms"] > 0 and row["packed_ms"] > 0 for row in b["layers"])
    assert bench["model_bytes_packed"] < bench["model_bytes_float"]
    assert "per packed layer (batch 1)" in capsys.readouterr().err
    latency = json.loads((tmp_path / "run" / "latency.json").read_text())
    assert latency["latency/speedup_b2"] == bench["batches"]["2"]["speedup"]
    # a sweep's results and its report pick the keys up
    [job] = collect(tmp_path)
    assert job["latency/packed_ms_b1"] == bench["batches"]["1"]["packed_ms"]
    row = ReportRow("x", "ok", cost={"Latency": 1.25, "Speedup": 3.5})
    from bnnbench.report.paper_tables import load_table

    table = load_table("bidense_table1")
    assert header(table, "ADE20K", latency=True)[-3:] == ["packed ms (b1)", "x float", "status"]
    assert cells(table, row, latency=True)[-3:] == ["1.250", "3.50x", "ok"]


def test_bench_options_are_checked(tmp_path, capsys):
    assert main([f"ckpt={tmp_path / 'x.ckpt'}", f"out={tmp_path / 'o.pt'}", "bench=maybe"]) == 2
    assert "bench='maybe' is not a boolean" in capsys.readouterr().err
    assert main([f"ckpt={tmp_path / 'x.ckpt'}", f"out={tmp_path / 'o.pt'}", "bench_batch=0"]) == 2
    assert "bench_batch='0' is not a positive integer" in capsys.readouterr().err
