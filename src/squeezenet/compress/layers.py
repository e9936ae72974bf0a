"""The compressible layers of a SqueezeNet and per-layer rules that select them.

Layers are the model's Conv2d modules, named by module path (`features.3.squeeze`,
`classifier.1`). Each also has the paper's name (`fire2.squeeze`, `conv10`), and a rule's
pattern may use either: `("fire*.expand3x3", 0.67)`, `("conv10", 5)`, `("features.0", 8)`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

import torch

from ..models import SqueezeNet, conv_layers

T = TypeVar("T")
Rules = tuple[tuple[str, T], ...]


__all__ = [
    "CompressError",
    "conv_layers",
    "laid_out_like",
    "normalize_rules",
    "paper_names",
    "parse_rules",
    "resolve_rules",
]


class CompressError(ValueError):
    """A compression setting or input that cannot work (names the bad value)."""


def laid_out_like(value: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """`value` with `reference`'s memory layout (a differentiable copy only when they differ).

    A parametrization's elementwise output picks its own strides, and for a single-channel
    kernel (conv1 of a grayscale model, 64x1x3x3) channels_last and contiguous strides are
    equally valid, so `weight * mask` comes back contiguous: conv1 then runs in NCHW and so
    does every layer after it, which made masked retraining 1.33x slower per step.
    """
    if value.stride() == reference.stride():
        return value
    return torch.empty_like(reference).copy_(value)


def paper_names(model: SqueezeNet) -> dict[str, str]:
    """Module path -> the paper's name for every conv (`features.3.squeeze` -> `fire2.squeeze`)."""
    by_path = {path: name for name, path in model.layer_names().items()}
    out = {}
    for path in conv_layers(model):
        if path in by_path:
            out[path] = by_path[path]
            continue
        parent, _, leaf = path.rpartition(".")
        if parent in by_path:  # features.3.squeeze -> fire2.squeeze
            out[path] = f"{by_path[parent]}.{leaf}"
        elif parent.endswith(".bypass") and parent[: -len(".bypass")] in by_path:
            out[path] = f"{by_path[parent[: -len('.bypass')]]}.bypass"  # complex bypass conv
        else:
            out[path] = path
    return out


def normalize_rules(rules: Mapping[str, T] | Iterable[tuple[str, T]], what: str) -> Rules:
    """Rules as a tuple of (pattern, value) pairs; a mapping keeps its insertion order."""
    items = list(rules.items()) if isinstance(rules, Mapping) else list(rules)
    out = []
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise CompressError(f"{what} rules must be (pattern, value) pairs, got {item!r}")
        out.append(item)
    return tuple(out)


def resolve_rules(model: SqueezeNet, rules: Sequence[tuple[str, T]], what: str) -> dict[str, T]:
    """The value of the first matching rule for every conv layer.

    Raises:
        CompressError: if a layer matches no rule, or a literal (glob-free) rule pattern
            matches no layer (a typo).
    """
    names = paper_names(model)
    out: dict[str, T] = {}
    used = [False] * len(rules)
    for path, paper in names.items():
        for i, (pattern, value) in enumerate(rules):
            if fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(paper, pattern):
                out[path] = value
                used[i] = True
                break
        else:
            raise CompressError(f"no {what} rule matches layer {path} ({paper}); add a '*' rule")
    # A glob may match nothing in some model (presets say "*.bypass"); a literal name that
    # matches nothing is a typo.
    unused = [p for (p, _), u in zip(rules, used) if not u and not any(c in p for c in "*?[")]
    if unused:
        valid = ", ".join(names.values())
        raise CompressError(f"{what} rule pattern(s) {unused} match no layer; layers: {valid}")
    return out


def parse_rules(text: str, what: str, cast: type) -> Rules:
    """Parse 'pattern=value,pattern=value' (a bare value means '*=value')."""
    rules = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        pattern, sep, value = part.rpartition("=")
        if not sep:
            pattern, value = "*", part
        try:
            rules.append((pattern.strip(), cast(value)))
        except ValueError:
            raise CompressError(f"bad {what} value {value!r} in {part!r}") from None
    if not rules:
        raise CompressError(f"empty {what} rules {text!r}; use e.g. 'conv10=0.8,*=0.5'")
    return tuple(rules)
