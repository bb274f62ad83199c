"""The report's table and figures as a W&B run of the sweep's group (offline unless logged in)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bnnbench.run.loggers import wandb_logged_in


def upload(logger_cfg: dict[str, Any], group: str, title: str, head: list[str], body: list[list[str]],
           images: list[Path], save_dir: Path) -> str:
    """Log `body` as a wandb.Table and `images` as wandb.Image under run "report" of `group`; its folder."""
    import wandb

    mode = logger_cfg.get("mode", "auto")
    offline = (not wandb_logged_in()) if mode == "auto" else mode == "offline"
    run = wandb.init(project=logger_cfg.get("project", "bnnbench"), entity=logger_cfg.get("entity"), group=group,
                     name=f"{group}-report", job_type="report", dir=str(save_dir),
                     mode="offline" if offline else "online", reinit="finish_previous",
                     # a report run has no training to sample system metrics or code state for
                     settings=wandb.Settings(x_disable_stats=True, x_disable_meta=True, disable_git=True))
    try:
        run.log({"report": wandb.Table(columns=head, data=body),
                 **{f"figure/{p.stem}": wandb.Image(str(p)) for p in images}})
        run.summary["title"] = title
        return str(Path(run.dir).parent)
    finally:
        run.finish()
