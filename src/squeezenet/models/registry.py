"""One registry of model names, timm style: `create_model`, `list_models`, `register_model`."""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from collections.abc import Callable
from typing import Any

from .config import (
    SQUEEZENET1_0,
    SQUEEZENET1_1,
    SqueezeNetConfig,
    from_metaparameters,
    with_bypass,
)
from .squeezenet import SqueezeNet

ConfigBuilder = Callable[..., SqueezeNetConfig]
_REGISTRY: dict[str, ConfigBuilder] = {}
_CONFIG_FIELDS = tuple(f for f in SqueezeNetConfig.field_names() if f != "name")
# squeezenet_design's own options: the paper's metaparameters and the layout they fill.
_META = ("base_e", "incr_e", "freq", "pct3x3", "sr", "layout", "bypass")


def register_model(name: str, builder: ConfigBuilder) -> ConfigBuilder:
    """Register `builder(**overrides) -> SqueezeNetConfig` under `name`.

    Raises:
        ValueError: if the name is already taken.
    """
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered")
    _REGISTRY[name] = builder
    return builder


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style pattern (e.g. '*bypass*'), sorted."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def _unknown_model(name: str) -> ValueError:
    close = difflib.get_close_matches(name, _REGISTRY, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return ValueError(f"unknown model {name!r}{hint} Available: {', '.join(list_models())}")


def get_model_config(name: str, **overrides: Any) -> SqueezeNetConfig:
    """The config `create_model(name, **overrides)` would build."""
    if name not in _REGISTRY:
        raise _unknown_model(name)
    return _REGISTRY[name](**overrides)


def create_model(name: str, **overrides: Any) -> SqueezeNet:
    """Build a registered model, e.g. `create_model("squeezenet1_1", num_classes=10)`.

    Args:
        name: a name from `list_models()`.
        **overrides: config fields (num_classes, in_channels, dropout, batch_norm,
            small_input, classifier_relu) or, for `squeezenet_design`, metaparameters.
    """
    return SqueezeNet(get_model_config(name, **overrides))


def _check_overrides(name: str, overrides: dict[str, Any], extra: tuple[str, ...] = ()) -> None:
    bad = sorted(set(overrides) - set(_CONFIG_FIELDS) - set(extra))
    if bad:
        meta = [k for k in bad if k in _META]
        hint = f"; {', '.join(meta)}: metaparameters of 'squeezenet_design'" if meta else ""
        raise ValueError(
            f"unknown option(s) {bad} for model {name!r}; valid: "
            f"{', '.join(_CONFIG_FIELDS + extra)}{hint}"
        )


def _preset(name: str, base: SqueezeNetConfig) -> ConfigBuilder:
    def build(**overrides: Any) -> SqueezeNetConfig:
        _check_overrides(name, overrides)
        return dataclasses.replace(base, **overrides)

    build.__doc__ = (
        f"{name}: {len(base.fires)} Fire modules, conv1 {base.stem_kernel}x{base.stem_kernel}"
    )
    return build


def _design(**kwargs: Any) -> SqueezeNetConfig:
    _check_overrides("squeezenet_design", kwargs, _META)
    if "fires" in kwargs or "name" in kwargs:
        raise ValueError(
            "squeezenet_design builds its Fire modules (and name) from the "
            "metaparameters; give base_e, incr_e, freq, pct3x3, sr instead"
        )
    layout = kwargs.pop("layout", "squeezenet1_0")
    if isinstance(layout, str):
        layout = get_model_config(layout)
    return from_metaparameters(layout=layout, **kwargs)


for _base in (SQUEEZENET1_0, SQUEEZENET1_1):
    register_model(_base.name, _preset(_base.name, _base))
    for _kind in ("simple", "complex"):
        _cfg = with_bypass(_base, _kind)
        register_model(_cfg.name, _preset(_cfg.name, _cfg))
register_model("squeezenet_design", _design)
