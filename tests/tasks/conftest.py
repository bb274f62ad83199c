"""Shared fixtures of the task tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    """Run tiny models on one thread: on a shared, loaded CPU, torch's thread pool makes
    these few-kilobyte convolutions 10-20x slower than a single thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
