"""Export tests run single-threaded: on a shared CI machine, multi-threaded PyTorch can wait
milliseconds at every barrier for a descheduled thread, and these tests check results, not speed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)
