"""SqueezeNet architectures as data: the paper's Table 1 rows as frozen dataclasses.

A `SqueezeNetConfig` fully describes a network, so a saved file can rebuild its own model.
Presets (`SQUEEZENET1_0`, `SQUEEZENET1_1`, bypass variants) are plain instances; any point of
the paper's design space (Section 5) comes from `from_metaparameters`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Bypass = Literal["none", "simple", "complex"]
BYPASS_CHOICES: tuple[str, ...] = ("none", "simple", "complex")


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class FireConfig:
    """One Fire module: a 1x1 squeeze feeding parallel 1x1 and 3x3 expands (paper Fig. 1).

    Attributes:
        squeeze: filters of the 1x1 squeeze conv (s1x1).
        expand1x1: filters of the 1x1 expand conv (e1x1).
        expand3x3: filters of the 3x3 expand conv (e3x3).
        bypass: "none", "simple" (identity, needs in == out channels) or "complex"
            (a 1x1 conv on the bypass path), as in the paper's Fig. 2.
    """

    squeeze: int
    expand1x1: int
    expand3x3: int
    bypass: Bypass = "none"

    def __post_init__(self) -> None:
        _check_int("squeeze", self.squeeze, 1)
        _check_int("expand1x1", self.expand1x1, 1)
        _check_int("expand3x3", self.expand3x3, 1)
        if self.bypass not in BYPASS_CHOICES:
            raise ValueError(f"bypass must be one of {BYPASS_CHOICES}, got {self.bypass!r}")

    @property
    def out_channels(self) -> int:
        return self.expand1x1 + self.expand3x3


@dataclass(frozen=True)
class SqueezeNetConfig:
    """A whole SqueezeNet: stem conv, Fire modules, max-pools between them, conv classifier.

    Attributes:
        name: the preset or design this config came from (informational).
        stem_channels: filters of conv1.
        stem_kernel: conv1 kernel size (7 for 1.0, 3 for 1.1).
        fires: the Fire modules fire2..fireN in order.
        pool_after: indices into `fires` after which a 3x3/2 max-pool follows (one always
            follows conv1). 1.0 pools after fire4 and fire8, 1.1 after fire3 and fire5.
        num_classes: classifier outputs.
        in_channels: image channels (3 for RGB, 1 for grayscale).
        dropout: dropout probability before conv10.
        batch_norm: BatchNorm after every conv (adds keys, renames none).
        small_input: a stem for 28-32 px images: conv1 becomes 3x3 stride 1 padding 1, so the
            three max-pools bring 32 px to 4x4 at conv10 instead of collapsing it to 1x1.
        stem_pool: the 3x3/2 max-pool after conv1. Without it conv1 takes twice the stride
            instead, so fire2 sees the same resolution but the full-resolution conv1 output,
            the largest activation of a small-input SqueezeNet, is never made.
        classifier_relu: ReLU on conv10's output before the average pool, as in the paper and
            torchvision (needed for identical logits with their checkpoints).
        classifier_padding: zero padding of conv10's 1x1 kernel. The authors' Caffe SqueezeNet
            1.0 pads it by 1 (a border of bias-only outputs enters the average pool), so their
            weights need 1 for their logits; torchvision's and ours use 0. Adds no keys.
    """

    name: str
    stem_channels: int
    stem_kernel: int
    fires: tuple[FireConfig, ...]
    pool_after: tuple[int, ...]
    num_classes: int = 1000
    in_channels: int = 3
    dropout: float = 0.5
    batch_norm: bool = False
    small_input: bool = False
    stem_pool: bool = True
    classifier_relu: bool = True
    classifier_padding: int = 0

    def __post_init__(self) -> None:
        _check_int("stem_channels", self.stem_channels, 1)
        _check_int("stem_kernel", self.stem_kernel, 1)
        _check_int("num_classes", self.num_classes, 1)
        _check_int("in_channels", self.in_channels, 1)
        _check_int("classifier_padding", self.classifier_padding, 0)
        if not self.fires:
            raise ValueError("a SqueezeNet needs at least one Fire module")
        if not all(isinstance(f, FireConfig) for f in self.fires):
            raise ValueError("fires must be FireConfig instances")
        for flag in ("batch_norm", "small_input", "stem_pool", "classifier_relu"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        dropout = self.dropout
        number = isinstance(dropout, (int, float)) and not isinstance(dropout, bool)
        if not number or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        for i in self.pool_after:
            if not isinstance(i, int) or not 0 <= i < len(self.fires) - 1:
                raise ValueError(
                    f"pool_after index {i!r} out of range: a pool must sit between Fire modules "
                    f"0..{len(self.fires) - 2}"
                )
        if len(set(self.pool_after)) != len(self.pool_after):
            raise ValueError(f"pool_after has duplicates: {self.pool_after}")
        for i, (fire, cin) in enumerate(zip(self.fires, self.fire_in_channels())):
            if fire.bypass == "simple" and cin != fire.out_channels:
                raise ValueError(
                    f"fire{i + 2}: a simple (identity) bypass needs equal input and output "
                    f"channels, got {cin} -> {fire.out_channels}; use bypass='complex'"
                )

    @property
    def stem_geometry(self) -> tuple[int, int, int]:
        """conv1's (kernel, stride, padding): 3x3/1 padded for small input, else
        `stem_kernel`/2 unpadded; the stride doubles when no max-pool follows conv1."""
        kernel, stride, padding = (3, 1, 1) if self.small_input else (self.stem_kernel, 2, 0)
        return kernel, stride * (1 if self.stem_pool else 2), padding

    def fire_in_channels(self) -> list[int]:
        """Input channels of each Fire module."""
        chans, c = [], self.stem_channels
        for fire in self.fires:
            chans.append(c)
            c = fire.out_channels
        return chans

    @property
    def num_features(self) -> int:
        """Channels entering the classifier (512 for the paper's networks)."""
        return self.fires[-1].out_channels

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The fields a config has (and a preset can be given as overrides, less `name`)."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; `from_dict` inverts it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SqueezeNetConfig:
        """Rebuild a config from `to_dict` output, rejecting unknown fields."""
        if not isinstance(data, dict):
            raise ValueError(f"model config must be a JSON object, got {type(data).__name__}")
        known = set(cls.field_names())
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config field(s) {unknown}; valid: {sorted(known)}")
        data = dict(data)
        try:
            data["fires"] = tuple(FireConfig(**f) for f in data.get("fires", ()))
            data["pool_after"] = tuple(data.get("pool_after", ()))
            return cls(**data)
        except TypeError as e:
            raise ValueError(f"invalid model config: {e}") from None


def _fires(rows: list[tuple[int, int, int]]) -> tuple[FireConfig, ...]:
    return tuple(FireConfig(s, e1, e3) for s, e1, e3 in rows)


# Paper Table 1 / torchvision: (squeeze, expand1x1, expand3x3) for fire2..fire9.
_FIRES_1_0 = _fires(
    [
        (16, 64, 64),
        (16, 64, 64),
        (32, 128, 128),
        (32, 128, 128),
        (48, 192, 192),
        (48, 192, 192),
        (64, 256, 256),
        (64, 256, 256),
    ]
)

SQUEEZENET1_0 = SqueezeNetConfig(
    name="squeezenet1_0", stem_channels=96, stem_kernel=7, fires=_FIRES_1_0, pool_after=(2, 6)
)
# 1.1 (SqueezeNet v1.1 from the authors' repo): a 64-filter 3x3 stem and earlier pools,
# 2.4x less computation at the same accuracy.
SQUEEZENET1_1 = SqueezeNetConfig(
    name="squeezenet1_1", stem_channels=64, stem_kernel=3, fires=_FIRES_1_0, pool_after=(1, 3)
)


def with_bypass(config: SqueezeNetConfig, kind: Bypass) -> SqueezeNetConfig:
    """Add the paper's bypass connections (Section 6, Fig. 2).

    "simple": identity bypass around every Fire module whose input and output channels match
    (fire3, fire5, fire7, fire9 of 1.0 and 1.1). "complex": the same, plus a 1x1 conv bypass
    around all the others.
    """
    if kind not in BYPASS_CHOICES:
        raise ValueError(f"bypass must be one of {BYPASS_CHOICES}, got {kind!r}")
    fires = []
    for fire, cin in zip(config.fires, config.fire_in_channels()):
        if kind == "none":
            mode = "none"
        elif cin == fire.out_channels:
            mode = "simple"
        else:
            mode = "complex" if kind == "complex" else "none"
        fires.append(replace(fire, bypass=mode))
    suffix = "" if kind == "none" else f"_{kind}_bypass"
    base = config.name.removesuffix("_simple_bypass").removesuffix("_complex_bypass")
    return replace(config, fires=tuple(fires), name=base + suffix)


@dataclass(frozen=True)
class Metaparameters:
    """The paper's microarchitecture metaparameters (Section 5.1).

    For Fire module i (0-based): e_i = base_e + incr_e * floor(i / freq);
    e3x3_i = pct3x3 * e_i; e1x1_i = e_i - e3x3_i; s1x1_i = sr * e_i.
    Defaults give exactly SqueezeNet 1.0's Fire modules.
    """

    base_e: int = 128
    incr_e: int = 128
    freq: int = 2
    pct3x3: float = 0.5
    sr: float = 0.125
    num_fires: int = field(default=8)

    def __post_init__(self) -> None:
        _check_int("base_e", self.base_e, 2)
        _check_int("incr_e", self.incr_e, 0)
        _check_int("freq", self.freq, 1)
        _check_int("num_fires", self.num_fires, 1)
        for name in ("pct3x3", "sr"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number, got {value!r}")
        if not 0.0 < self.pct3x3 < 1.0:
            raise ValueError(f"pct3x3 must be in (0, 1), got {self.pct3x3!r}")
        if not 0.0 < self.sr <= 1.0:
            raise ValueError(f"sr (squeeze ratio) must be in (0, 1], got {self.sr!r}")

    def fire_rows(self) -> tuple[FireConfig, ...]:
        rows = []
        for i in range(self.num_fires):
            e = self.base_e + self.incr_e * (i // self.freq)
            # Round half up (not banker's rounding) and keep both expands non-empty so the
            # extremes of the paper's sweep (pct3x3 = 1%, 99%) still build.
            e3 = min(max(1, math.floor(self.pct3x3 * e + 0.5)), e - 1)
            s = max(1, math.floor(self.sr * e + 0.5))
            rows.append(FireConfig(squeeze=s, expand1x1=e - e3, expand3x3=e3))
        return tuple(rows)


def from_metaparameters(
    base_e: int = 128,
    incr_e: int = 128,
    freq: int = 2,
    pct3x3: float = 0.5,
    sr: float = 0.125,
    *,
    layout: SqueezeNetConfig = SQUEEZENET1_0,
    bypass: Bypass | None = None,
    **overrides: Any,
) -> SqueezeNetConfig:
    """Build any point of the paper's design space on a preset's macroarchitecture.

    Args:
        base_e, incr_e, freq, pct3x3, sr: the metaparameters (see `Metaparameters`).
        layout: the preset whose stem and pool positions are kept (1.0 by default).
        bypass: "none", "simple" or "complex" (Section 6, see `with_bypass`); default the
            layout's own, so a `*_simple_bypass` layout keeps its bypasses.
        **overrides: other `SqueezeNetConfig` fields (num_classes, batch_norm, ...).
    """
    meta = Metaparameters(base_e, incr_e, freq, pct3x3, sr, num_fires=len(layout.fires))
    name = f"squeezenet_design(base_e={base_e},incr_e={incr_e},freq={freq},pct3x3={pct3x3},sr={sr})"
    design = replace(layout, name=name, fires=meta.fire_rows(), **overrides)
    return with_bypass(design, bypass_kind(layout) if bypass is None else bypass)


def bypass_kind(config: SqueezeNetConfig) -> Bypass:
    """The bypass a config uses: "complex" if any Fire has a conv bypass, else "simple" if
    any has an identity one, else "none"."""
    kinds = {fire.bypass for fire in config.fires}
    return "complex" if "complex" in kinds else "simple" if "simple" in kinds else "none"
