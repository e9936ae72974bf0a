"""Field checks of model metadata (`meta.py`), each one line naming the field: bottom layer."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

MAX_INPUT_SIZE = 4096
MAX_CLASSES = 100_000
MAX_TEXT = 10_000  # characters of one provenance entry or name


class MetaError(ValueError):
    """Model metadata with a missing, malformed or out-of-range field."""


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_size(name: str, value: Any, low: int) -> None:
    if not is_int(value) or not low <= value <= MAX_INPUT_SIZE:
        raise MetaError(f"{name} must be an integer in {low}..{MAX_INPUT_SIZE}, got {value!r}")


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise MetaError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def check_text(name: str, value: Any, *, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise MetaError(
            f"{name} must be a string of at most {MAX_TEXT:,} characters, "
            f"got {type(value).__name__}"
        )


def model_channels(model: Any) -> int | None:
    channels = getattr(getattr(model, "config", None), "in_channels", None)
    return channels if is_int(channels) else None


def channels_of(data: Mapping[str, Any], in_channels: int | None) -> int:
    """The model's channels if known, else the stored ones, else the mean's length, else 3."""
    if in_channels is not None:
        return in_channels
    if "in_channels" in data:
        return data["in_channels"]
    mean = data.get("mean")
    if isinstance(mean, Sequence) and not isinstance(mean, str) and len(mean) in (1, 3):
        return len(mean)
    return 3


def per_channel(values: Any, channels: int) -> Any:
    """A legacy single value stands for every channel."""
    if isinstance(values, Sequence) and not isinstance(values, str) and len(values) == 1:
        return tuple(values) * channels
    return values


def check_floats(
    name: str, values: Any, channels: int, low: float, high: float | None
) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise MetaError(f"{name} must be a list of {channels} numbers, got {values!r}")
    if len(values) != channels:
        raise MetaError(f"{name} needs {channels} values (one per channel), got {list(values)}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise MetaError(f"{name} values must be numbers, got {list(values)}")
    out = tuple(float(v) for v in values)
    if not all(math.isfinite(v) and v >= low and (high is None or v <= high) for v in out):
        bound = f"in {low:g}..{high:g}" if high is not None else f">= {low:g}"
        raise MetaError(f"{name} values must be finite and {bound}, got {list(out)}")
    return out


def check_names(name: str, values: Any) -> tuple[str, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise MetaError(f"{name} must be a list of strings, got {type(values).__name__}")
    if not 1 <= len(values) <= MAX_CLASSES:
        raise MetaError(f"{name} must hold 1..{MAX_CLASSES:,} entries, got {len(values)}")
    for value in values:
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise MetaError(f"{name} entries must be strings, got {value!r:.60}")
    return tuple(values)
