"""One live process per job folder: a lock file naming its holder's pid, stale locks taken over.

Two processes training into one folder interleave their `metrics.csv` rows and overwrite each
other's checkpoints. The lock is a file created atomically (`O_CREAT | O_EXCL`) that holds the
holder's pid, host and start time; a second process is refused in one line naming them. A lock
left by a process that is gone (killed, machine rebooted) is taken over, and that is said. On
another host the holder's liveness cannot be checked, so the lock is honoured and the message
says which file to delete if that process is gone.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from bnnbench.core.console import console

LOCK_NAME = ".bnnbench.lock"


class FolderBusyError(RuntimeError):
    """The folder is held by another live process."""


def holder(folder: Path) -> dict | None:
    """The lock's holder {pid, host, since} if `folder` is locked, else None (unreadable: {})."""
    path = Path(folder) / LOCK_NAME
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def alive(info: dict | None) -> bool:
    """Whether the lock holder described by `info` is a running process (other hosts: assumed so)."""
    if not info or "pid" not in info:
        return False
    if info.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(info["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class FolderLock:
    """Hold `folder` for this process while inside the `with` block (re-entrant in one process)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.owned = False

    def acquire(self) -> None:
        """Create the lock file, or take over a stale one; raise FolderBusyError if it is held."""
        self.folder.mkdir(parents=True, exist_ok=True)
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "since": time.strftime("%Y-%m-%d %H:%M:%S")})
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                info = holder(self.folder)
                if info and info.get("pid") == os.getpid() and info.get("host") == socket.gethostname():
                    return  # this process holds it already (an outer caller releases it)
                if alive(info):
                    where = "" if info.get("host") == socket.gethostname() else f" on {info.get('host')}"
                    raise FolderBusyError(
                        f"{self.folder} is in use by process {info.get('pid')}{where} (since {info.get('since')}): "
                        f"wait for it to end or run into another folder (if that process is gone, delete {self.path})"
                    ) from None
                # a lock left by a process that no longer runs: take it over
                try:
                    self.path.unlink()
                except FileNotFoundError:
                    pass
                who = f"process {info.get('pid')}" if info else "an unreadable lock"
                console.print(f"took over the lock of {self.folder} from {who}, which is no longer running",
                              soft_wrap=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(record)
            self.owned = True
            return
        raise FolderBusyError(f"could not lock {self.folder}: another process keeps taking it")

    def release(self) -> None:
        """Remove the lock file if this object created it."""
        if self.owned:
            self.owned = False
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


__all__ = ["LOCK_NAME", "FolderBusyError", "FolderLock", "alive", "holder"]
