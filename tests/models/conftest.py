"""Shared fixtures of the model tests."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Run a test module on one torch thread, restoring the caller's setting after.

    These small convs gain nothing from more threads, and on a shared CPU OpenMP threads
    that spin-wait for each other make them 10-50x slower. Opt in per module with
    `pytestmark = pytest.mark.usefixtures("one_thread")`.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
