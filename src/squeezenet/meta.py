"""What a model knows about itself: class names, preprocessing and provenance, typed.

Every model the toolkit holds carries a `ModelMeta` (`model.meta`), and every format writes
it down as the flat JSON object of `ModelMeta.to_dict()` (safetensors metadata, `.sqz`
header, run checkpoints, ONNX metadata_props):

    {"class_names": [...], "wnids": [...], "dataset": "fashion-mnist",
     "input_size": 224, "resize_size": 256, "resize_mode": "shorter", "channel_order": "RGB",
     "scale": "0-1", "mean": [...], "std": [...], "in_channels": 3,
     "provenance": {"source": "...", "license": "...", "notes": "..."}}

Every key is optional. The keys files carried before this module (`class_names`, `mean`,
`std`, `input_size`, `resize_size`, `in_channels`, `dataset`) keep their meaning, so every
file already written loads; unknown keys (an ONNX file's `model_config`, ...) are ignored.

The fallback rule, the only one: a model that stores no preprocessing, or stores it only in
part, is read with `fallback_preprocessing`: ImageNet's (torchvision's) mean and std for 3
channels, 0.5 and 0.5 for 1 channel, values scaled to 0..1, RGB, the shorter side resized
to the crop (no margin). The crop is the stored `input_size`, else the size of the data at
hand (a dataset of fixed-size images, an ONNX graph's fixed input), else 224.

This module is the bottom layer: it imports nothing of the package but its field checks
(`metacheck.py`), not even torch; the function that applies a `Preprocessing` to images is
`squeezenet.data.preprocess`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from .metacheck import (
    MetaError,
    channels_of,
    check_choice,
    check_floats,
    check_names,
    check_size,
    check_text,
    is_int,
    model_channels,
    per_channel,
)

ResizeMode = Literal["shorter", "warp"]
ChannelOrder = Literal["RGB", "BGR"]
Scale = Literal["0-1", "0-255"]
RESIZE_MODES: tuple[str, ...] = ("shorter", "warp")
CHANNEL_ORDERS: tuple[str, ...] = ("RGB", "BGR")
SCALES: tuple[str, ...] = ("0-1", "0-255")
SCALE_MAX: dict[str, float] = {"0-1": 1.0, "0-255": 255.0}

DEFAULT_INPUT_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# An untrained grayscale model has no statistics; (0.5, 0.5) maps [0, 1] to [-1, 1].
GRAY_MEAN, GRAY_STD = (0.5,), (0.5,)


@dataclass(frozen=True, kw_only=True)
class Preprocessing:
    """How an image becomes the model's input tensor.

    Decode as RGB (or L for 1 channel); resize (`resize_mode` "shorter": the shorter side to
    `resize_size`, keeping the aspect ratio; "warp": both sides to `resize_size`); centre-crop
    `input_size`; reorder channels to `channel_order`; scale values to `scale`; subtract
    `mean` and divide by `std`, per channel, in `scale`'s units.

    Attributes:
        input_size: side of the square crop the model sees.
        mean: one value per channel, in `scale`'s units, in `channel_order`.
        std: one positive value per channel; Caffe models use (1, 1, 1) at 0..255.
        resize_size: side before the centre crop; None means `input_size` (nothing cut).
            ImageNet models use 256 for a 224 crop.
        resize_mode: "shorter" (torchvision) or "warp" (Caffe: ignore the aspect ratio).
        channel_order: "RGB" or "BGR" (Caffe).
        scale: "0-1" (pixel / 255) or "0-255" (Caffe).
        in_channels: 1 (grayscale) or 3.
    """

    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize_size: int | None = None
    resize_mode: ResizeMode = "shorter"
    channel_order: ChannelOrder = "RGB"
    scale: Scale = "0-1"
    in_channels: int = 3

    def __post_init__(self) -> None:
        check_size("input_size", self.input_size, 1)
        if self.resize_size is not None:
            check_size("resize_size", self.resize_size, 1)
            if self.resize_size < self.input_size:
                raise MetaError(
                    f"resize_size {self.resize_size} must be >= input_size {self.input_size} "
                    f"(the crop is cut from the resized image)"
                )
        check_choice("resize_mode", self.resize_mode, RESIZE_MODES)
        check_choice("channel_order", self.channel_order, CHANNEL_ORDERS)
        check_choice("scale", self.scale, SCALES)
        if isinstance(self.in_channels, bool) or self.in_channels not in (1, 3):
            raise MetaError(f"in_channels must be 1 or 3, got {self.in_channels!r}")
        if self.channel_order == "BGR" and self.in_channels != 3:
            raise MetaError(f"channel_order 'BGR' needs 3 channels, got {self.in_channels}")
        top = SCALE_MAX[self.scale]
        mean = check_floats("mean", self.mean, self.in_channels, 0.0, top)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", check_floats("std", self.std, self.in_channels, 0.0, None))
        if any(s <= 0 for s in self.std):
            raise MetaError(f"std values must be > 0, got {list(self.std)}")

    @property
    def image_mode(self) -> str:
        """The PIL mode images are decoded to: "L" for 1 channel, "RGB" for 3."""
        return "L" if self.in_channels == 1 else "RGB"

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one model input."""
        return self.in_channels, self.input_size, self.input_size

    def at_size(self, input_size: int | None) -> Preprocessing:
        """The same preprocessing serving a crop of `input_size` (None: unchanged); the
        resize keeps its ratio to the crop (256/224 stays 256/224)."""
        if input_size is None or input_size == self.input_size:
            return self
        check_size("input_size", input_size, 1)
        resize = None
        if self.resize_size is not None:
            resize = max(input_size, round(self.resize_size * input_size / self.input_size))
        resize = None if resize == input_size else resize
        return replace(self, input_size=input_size, resize_size=resize)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready keys `from_dict` reads back (`resize_size` only when set)."""
        out: dict[str, Any] = {"input_size": self.input_size}
        if self.resize_size is not None:
            out["resize_size"] = self.resize_size
        out["resize_mode"] = self.resize_mode
        out["channel_order"] = self.channel_order
        out["scale"] = self.scale
        out["mean"], out["std"] = list(self.mean), list(self.std)
        out["in_channels"] = self.in_channels
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, in_channels: int | None = None) -> Preprocessing:
        """Validate and build from `to_dict`'s keys; a missing key takes the fallback rule's
        value (see the module docstring) and a legacy single-value mean/std is repeated for
        every channel.

        Args:
            data: a mapping holding some of `PREPROCESSING_KEYS` (others are ignored).
            in_channels: the model's own channel count; it wins over `data`'s.
        """
        if not isinstance(data, Mapping):
            raise MetaError(f"preprocessing must be a JSON object, got {type(data).__name__}")
        channels = channels_of(data, in_channels)
        size = data.get("input_size", DEFAULT_INPUT_SIZE)
        scale = data.get("scale", "0-1")
        fallback = fallback_preprocessing(channels, size if is_int(size) else DEFAULT_INPUT_SIZE)
        order = data.get("channel_order", "RGB")
        if (scale != "0-1" or order != "RGB") and ("mean" not in data or "std" not in data):
            raise MetaError(
                f"scale {scale!r} with channel_order {order!r} needs its own mean and std"
            )
        return cls(
            input_size=size,
            mean=per_channel(data.get("mean", fallback.mean), channels),
            std=per_channel(data.get("std", fallback.std), channels),
            resize_size=data.get("resize_size"),
            resize_mode=data.get("resize_mode", "shorter"),
            channel_order=order,
            scale=scale,
            in_channels=channels,
        )


PREPROCESSING_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Preprocessing))


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Where a model's weights come from.

    Attributes:
        source: the file or release they were read from ("compressed_SqueezeNet.net").
        license: its licence ("BSD-2-Clause", or the notice's text).
        notes: anything else a user should know (how it was converted, what it scores).
    """

    source: str | None = None
    license: str | None = None
    notes: str | None = None

    def __post_init__(self) -> None:
        for name in ("source", "license", "notes"):
            check_text(f"provenance.{name}", getattr(self, name), optional=True)

    def to_dict(self) -> dict[str, str]:
        items = {"source": self.source, "license": self.license, "notes": self.notes}
        return {k: v for k, v in items.items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        if not isinstance(data, Mapping):
            raise MetaError(f"provenance must be a JSON object, got {type(data).__name__}")
        return cls(source=data.get("source"), license=data.get("license"), notes=data.get("notes"))


@dataclass(frozen=True, kw_only=True)
class ModelMeta:
    """Everything a model carries besides its weights and architecture; all fields optional.

    Attributes:
        class_names: the name of each output, in index order.
        wnids: ImageNet WordNet ids ("n02123045"), one per class, when the classes are ImageNet's.
        preprocessing: how images become inputs; None: not known (the fallback rule applies).
        dataset: the dataset spec the model was trained on ("fashion-mnist").
        provenance: where the weights come from.
    """

    class_names: tuple[str, ...] | None = None
    wnids: tuple[str, ...] | None = None
    preprocessing: Preprocessing | None = None
    dataset: str | None = None
    provenance: Provenance | None = None

    def __post_init__(self) -> None:
        for name in ("class_names", "wnids"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, check_names(name, value))
        if (
            self.wnids is not None
            and self.class_names is not None
            and len(self.wnids) != len(self.class_names)
        ):
            raise MetaError(
                f"wnids has {len(self.wnids)} entries but class_names has {len(self.class_names)}"
            )
        check_text("dataset", self.dataset, optional=True)
        if self.preprocessing is not None and not isinstance(self.preprocessing, Preprocessing):
            raise MetaError(f"preprocessing must be a Preprocessing, got {self.preprocessing!r}")
        if self.provenance is not None and not isinstance(self.provenance, Provenance):
            raise MetaError(f"provenance must be a Provenance, got {self.provenance!r}")

    def to_dict(self) -> dict[str, Any]:
        """The flat JSON object every format stores (see the module docstring)."""
        out: dict[str, Any] = {}
        if self.class_names is not None:
            out["class_names"] = list(self.class_names)
        if self.wnids is not None:
            out["wnids"] = list(self.wnids)
        if self.dataset is not None:
            out["dataset"] = self.dataset
        if self.preprocessing is not None:
            out.update(self.preprocessing.to_dict())
        if self.provenance is not None:
            out["provenance"] = self.provenance.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, in_channels: int | None = None) -> ModelMeta:
        """Validate and build from a stored object, today's or a legacy one.

        Preprocessing is read when any of `PREPROCESSING_KEYS` is present, its missing keys
        filled by the fallback rule; unknown keys are ignored.

        Args:
            data: the decoded JSON object.
            in_channels: the model's own channel count; it wins over the stored one.

        Raises:
            MetaError: a field with the wrong type or an out-of-range value, named.
        """
        if not isinstance(data, Mapping):
            raise MetaError(f"model meta must be a JSON object, got {type(data).__name__}")
        pre = None
        if any(k in data for k in PREPROCESSING_KEYS):
            pre = Preprocessing.from_dict(data, in_channels=in_channels)
        provenance = data.get("provenance")
        return cls(
            class_names=data.get("class_names"),
            wnids=data.get("wnids"),
            preprocessing=pre,
            dataset=data.get("dataset"),
            provenance=None if provenance is None else Provenance.from_dict(provenance),
        )


# The preprocessing of torchvision's published ImageNet checkpoints.
IMAGENET_PREPROCESSING = Preprocessing(
    input_size=224, resize_size=256, mean=IMAGENET_MEAN, std=IMAGENET_STD
)


def fallback_preprocessing(
    in_channels: int = 3, input_size: int = DEFAULT_INPUT_SIZE
) -> Preprocessing:
    """The preprocessing of a model that stores none (the module docstring's rule)."""
    if in_channels == 3:
        return replace(IMAGENET_PREPROCESSING, input_size=input_size, resize_size=None)
    return Preprocessing(
        input_size=input_size,
        mean=GRAY_MEAN * in_channels,
        std=GRAY_STD * in_channels,
        in_channels=in_channels,
    )


def get_meta(model: Any) -> ModelMeta:
    """`model.meta` as a `ModelMeta`: unwraps DDP's `.module`, converts a legacy dict, and
    gives an empty `ModelMeta` for a model that carries none."""
    meta = getattr(model, "meta", None)
    if meta is None and hasattr(model, "module"):
        return get_meta(model.module)
    if isinstance(meta, ModelMeta):
        return meta
    if isinstance(meta, Mapping):
        return ModelMeta.from_dict(meta, in_channels=model_channels(model))
    return ModelMeta()


def preprocessing_for(
    model: Any, *, input_size: int | None = None, default_size: int | None = None
) -> Preprocessing:
    """The preprocessing a model is read with: its own, else the fallback rule's.

    Args:
        model: a SqueezeNet (or anything with `meta` and `config.in_channels`).
        input_size: serve at this crop instead of the stored one (the resize keeps its ratio).
        default_size: the crop for a model without preprocessing when `input_size` is None:
            the size of the data at hand; None means 224.

    Raises:
        MetaError: the stored preprocessing's channels differ from the model's.
    """
    channels = model_channels(model)
    pre = get_meta(model).preprocessing
    if pre is None:
        size = input_size or default_size or DEFAULT_INPUT_SIZE
        return fallback_preprocessing(channels or 3, size)
    if channels is not None and pre.in_channels != channels:
        raise MetaError(
            f"preprocessing is for {pre.in_channels}-channel images but the model takes "
            f"{channels} channels"
        )
    return pre.at_size(input_size)
