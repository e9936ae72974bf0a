"""ModelMeta and Preprocessing: validation, JSON round trip, legacy dicts, the fallback rule."""

from __future__ import annotations

import json

import pytest

from squeezenet.formats.common import CAFFE_PREPROCESSING
from squeezenet.meta import (
    IMAGENET_PREPROCESSING,
    MetaError,
    ModelMeta,
    Preprocessing,
    Provenance,
    fallback_preprocessing,
    get_meta,
    preprocessing_for,
)

CAFFE = CAFFE_PREPROCESSING  # the authors' Caffe releases' preprocessing


def test_full_meta_survives_json() -> None:
    meta = ModelMeta(
        class_names=["tench", "goldfish"],
        wnids=["n01440764", "n01443537"],
        preprocessing=CAFFE,
        dataset="imagenet",
        provenance=Provenance(source="x.net", license="BSD-2-Clause"),
    )
    data = json.loads(json.dumps(meta.to_dict()))
    assert ModelMeta.from_dict(data) == meta
    assert data["resize_mode"] == "warp" and data["mean"] == [104.0, 117.0, 123.0]
    assert meta.class_names == ("tench", "goldfish")  # lists are stored as tuples


def test_legacy_training_dict_loads() -> None:
    legacy = {
        "class_names": ["a", "b"],
        "mean": [0.286],
        "std": [0.353],
        "input_size": 28,
        "in_channels": 1,
        "dataset": "fashion-mnist",
    }
    meta = ModelMeta.from_dict(legacy)
    pre = meta.preprocessing
    assert pre == Preprocessing(input_size=28, mean=(0.286,), std=(0.353,), in_channels=1)
    assert meta.dataset == "fashion-mnist" and pre.scale == "0-1" and pre.channel_order == "RGB"
    # Every legacy key keeps its value in the new layout.
    assert {k: v for k, v in meta.to_dict().items() if k in legacy} == legacy


def test_legacy_single_value_statistics_cover_every_channel() -> None:
    meta = ModelMeta.from_dict({"mean": [0.5], "std": [0.25], "input_size": 8}, in_channels=3)
    assert meta.preprocessing.mean == (0.5,) * 3 and meta.preprocessing.in_channels == 3


def test_missing_preprocessing_keys_take_the_fallback() -> None:
    assert ModelMeta.from_dict({"class_names": ["a"]}).preprocessing is None
    pre = ModelMeta.from_dict({"input_size": 24}).preprocessing
    assert pre == fallback_preprocessing(3, 24)
    assert fallback_preprocessing(1, 28).mean == (0.5,)
    assert fallback_preprocessing(3).mean == IMAGENET_PREPROCESSING.mean
    assert ModelMeta.from_dict({"model_config": {}, "quantization": {}}) == ModelMeta()


@pytest.mark.parametrize(
    "data, field",
    [
        ({"input_size": 0}, "input_size"),
        ({"input_size": 5000}, "input_size"),
        ({"input_size": True}, "input_size"),
        ({"input_size": 32, "resize_size": 16}, "resize_size"),
        ({"mean": [0.5, 0.5], "std": [0.2, 0.2]}, "mean"),
        ({"mean": [1.5] * 3}, "mean"),
        ({"mean": [float("nan")] * 3}, "mean"),
        ({"std": [0.2, 0.0, 0.2]}, "std"),
        ({"std": [float("inf")] * 3}, "std"),
        ({"resize_mode": "stretch"}, "resize_mode"),
        ({"channel_order": "GBR"}, "channel_order"),
        ({"in_channels": 2}, "in_channels"),
        ({"scale": "0-255"}, "mean and std"),
        ({"channel_order": "BGR"}, "mean and std"),
        ({"class_names": "abc"}, "class_names"),
        ({"class_names": [1, 2]}, "class_names"),
        ({"class_names": ["a"], "wnids": ["n1", "n2"]}, "wnids"),
        ({"provenance": {"license": 3}}, "provenance.license"),
        ({"dataset": 7}, "dataset"),
    ],
)
def test_bad_fields_are_named(data: dict, field: str) -> None:
    with pytest.raises(MetaError, match=field):
        ModelMeta.from_dict(data)


def test_caffe_means_at_unit_scale_are_refused() -> None:
    """The mistake the scale field exists to catch: Caffe's 0..255 means read as 0..1."""
    with pytest.raises(MetaError, match=r"mean values must be finite and in 0\.\.1"):
        Preprocessing(input_size=227, mean=(104, 117, 123), std=(1, 1, 1))


def test_at_size_keeps_the_resize_ratio() -> None:
    assert IMAGENET_PREPROCESSING.at_size(112).resize_size == 128
    assert IMAGENET_PREPROCESSING.at_size(None) is IMAGENET_PREPROCESSING
    assert fallback_preprocessing(3, 24).at_size(48).resize_size is None


class _Config:
    in_channels = 1


class _Model:
    config = _Config()

    def __init__(self, meta) -> None:
        self.meta = meta


def test_get_meta_and_preprocessing_for() -> None:
    assert get_meta(object()) == ModelMeta()
    legacy = _Model({"mean": [0.5], "std": [0.25], "input_size": 16})
    assert get_meta(legacy).preprocessing.in_channels == 1  # the model's channels win
    assert preprocessing_for(legacy, input_size=32).input_size == 32
    bare = _Model(ModelMeta())
    assert preprocessing_for(bare, default_size=28) == fallback_preprocessing(1, 28)
    assert preprocessing_for(bare).input_size == 224
    wrong = _Model(ModelMeta(preprocessing=IMAGENET_PREPROCESSING))
    with pytest.raises(MetaError, match="3-channel images but the model takes 1"):
        preprocessing_for(wrong)
