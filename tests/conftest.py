"""Fixtures for the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def one_thread() -> Iterator[None]:
    """Run the suite on one torch thread.

    The test models are tiny: they gain nothing from more threads, and on a shared 2-core
    machine OpenMP threads spin-waiting for each other make them 10-50x slower.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
