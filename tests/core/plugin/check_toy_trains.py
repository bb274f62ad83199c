"""The toy components' own test: a short training run of task=toy with toy_sign and toy_block
through the command line's run; the training loss must fall."""

import csv

from bnnbench.run.execute import run


def test_toy_run_learns(tmp_path):
    from tests.cli.conftest import make_cfg

    cfg = make_cfg("task=toy", "trainer.max_epochs=4", "trainer.enable_progress_bar=false", "threads=1",
                   "data.train_size=128", "data.val_size=32", "optimizer.lr=0.01", tiny=False)
    assert (cfg.binarizer.name, cfg.block.name, cfg.data.name) == ("toy_sign", "toy_block", "gen_toy")
    result = run(cfg, output_dir=tmp_path)
    per_epoch: dict[int, list[float]] = {}
    with (tmp_path / "metrics.csv").open() as f:
        for row in csv.DictReader(f):
            if row.get("train/loss"):
                per_epoch.setdefault(int(row["epoch"]), []).append(float(row["train/loss"]))
    means = [sum(v) / len(v) for _, v in sorted(per_epoch.items())]
    assert result["test/acc"] >= 0.0
    assert len(means) == 4 and means[-1] < 0.8 * means[0], means
