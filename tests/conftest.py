"""Shared test fixtures. Tests make their own data; nothing touches the network."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture(scope="session")
def torchvision_keys() -> dict[str, dict[str, list[int]]]:
    """torchvision's exact state_dict keys and shapes (tests/fixtures)."""
    path = FIXTURES / "torchvision_squeezenet_state_dict.json"
    if not path.is_file():  # a missing reference is a failure, never a silent skip
        pytest.fail(f"reference fixture missing: {path}")
    return json.loads(path.read_text())["models"]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
