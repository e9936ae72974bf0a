"""What the foreign-format readers share: Caffe's preprocessing, metadata, an exact load."""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from ..errors import FormatError
from ..imagenet import NUM_IMAGENET_CLASSES, imagenet_classes
from ..meta import ModelMeta, Preprocessing, Provenance
from ..models import SqueezeNet, SqueezeNetConfig

# The authors' Caffe SqueezeNets (DeepScale v1.0/v1.1, Deep Compression): BGR, raw 0..255
# values minus the per-channel mean (B, G, R), no division by a std; the image is warped to
# 256x256 (aspect ratio ignored), then the central 227x227 is cut.
CAFFE_PREPROCESSING = Preprocessing(
    input_size=227,
    resize_size=256,
    resize_mode="warp",
    channel_order="BGR",
    scale="0-255",
    mean=(104.0, 117.0, 123.0),
    std=(1.0, 1.0, 1.0),
)


def caffe_imagenet_meta(config: SqueezeNetConfig, provenance: Provenance) -> ModelMeta:
    """The metadata of an imported Caffe-trained model: Caffe's preprocessing, ImageNet's
    class names and WordNet ids when it has 1000 outputs, and where it came from."""
    names = wnids = None
    if config.num_classes == NUM_IMAGENET_CLASSES:
        classes = imagenet_classes()
        names, wnids = classes.names, classes.wnids
    return ModelMeta(
        class_names=names,
        wnids=wnids,
        preprocessing=CAFFE_PREPROCESSING if config.in_channels == 3 else None,
        provenance=provenance,
    )


def load_exact(
    model: SqueezeNet, state: Mapping[str, torch.Tensor], path: str | os.PathLike
) -> None:
    """Load `state` into `model`, which must have exactly its keys and shapes."""
    expected = model.state_dict()
    if state.keys() != expected.keys():
        missing = sorted(expected.keys() - state.keys()) or sorted(state.keys() - expected.keys())
        raise FormatError(f"{path}: weights do not fit {model.config.name}: key {missing[0]!r}")
    for key, tensor in expected.items():
        if state[key].shape != tensor.shape:
            raise FormatError(
                f"{path}: {key} has shape {tuple(state[key].shape)}, "
                f"{model.config.name} needs {tuple(tensor.shape)}"
            )
    model.load_state_dict(state, strict=True)
