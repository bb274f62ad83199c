"""Read every file of a real data set once before training, so a bad file is named up front.

A truncated JPEG or a mask of the wrong size otherwise fails inside a DataLoader worker, hours
into training, without naming the file. The scan runs each dataset's own reader on every item
(no augmentation), shows a progress bar, and remembers a clean result in a cache keyed by the
files' paths, sizes and modification times, so it runs once per data set.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from bnnbench.core.progress import progress

CACHE = Path(os.environ.get("BNNBENCH_CACHE", Path.home() / ".cache" / "bnnbench")) / "scans"


class BadDataFile(ValueError):
    """A file of a data set that cannot be read as it must be (the message names it)."""


def _items(dataset: Any) -> list[tuple[Path, ...]] | None:
    """The files of each item of a file-backed dataset, or None for other datasets."""
    if hasattr(dataset, "pairs") and hasattr(dataset, "load"):
        return [tuple(Path(p) for p in pair) for pair in dataset.pairs]
    if hasattr(dataset, "samples"):
        return [(Path(path),) for path, _ in dataset.samples]
    return None


def _read(dataset: Any, files: tuple[Path, ...]) -> None:
    if hasattr(dataset, "load"):
        dataset.load(*files)
        return
    with Image.open(files[0]) as img:
        img.convert("RGB").load()


def _key(name: str, items: list[tuple[Path, ...]]) -> str:
    digest = hashlib.sha1(name.encode())
    for files in items:
        for f in files:
            st = f.stat()
            digest.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _datasets(dm: Any) -> Iterator[tuple[str, Any]]:
    seen: set[int] = set()
    for split in ("train", "val", "test"):
        ds = getattr(dm, f"{split}_set", None)
        if ds is not None and id(ds) not in seen:
            seen.add(id(ds))
            yield split, ds


def scan(dm: Any, name: str = "data") -> int:
    """Read every file of `dm`'s file-backed splits once; raise BadDataFile naming the first bad
    one. Returns how many items were read (0 when every split was in the cache)."""
    from rich.console import Console


    read = 0
    for split, ds in _datasets(dm):
        items = _items(ds)
        if not items:
            continue
        stamp = CACHE / f"{_key(f'{name}/{split}', items)}.ok"
        if stamp.is_file():
            continue
        with progress(console=Console(), transient=True) as shown:
            bar = shown.add_task(f"checking {name} {split} ({len(items)} items)", total=len(items))
            for files in items:
                try:
                    _read(ds, files)
                except Exception as err:  # noqa: BLE001  (any reader failure is a bad file)
                    names = " / ".join(str(f) for f in files)
                    raise BadDataFile(f"{name}: cannot read {names}: {err}") from err
                shown.advance(bar)
        read += len(items)
        try:
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.touch()
        except OSError:
            pass  # a read-only home: the scan simply runs again next time
    return read


__all__ = ["BadDataFile", "scan"]
