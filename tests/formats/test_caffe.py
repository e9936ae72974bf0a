"""The Caffe `.caffemodel` reader on generated files: both layer forms, both blob shapes,
DeepScale's v1.0 (conv10 padded) and v1.1 layouts, and broken files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import squeezenet
from squeezenet.errors import FormatError
from squeezenet.formats import CAFFE_PREPROCESSING, read_caffemodel
from squeezenet.formats.caffe import MAX_CAFFEMODEL_BYTES
from squeezenet.models import SqueezeNet, from_metaparameters, get_model_config

from .caffe_writer import (
    blob,
    conv_param,
    field_bytes,
    field_int,
    key,
    layer,
    squeezenet_caffemodel,
    varint,
)

# Small stand-ins for DeepScale's releases: their layouts (stem, pools, conv10 padding) with
# narrow Fire modules, so files stay a few hundred KB.
V1_0 = from_metaparameters(base_e=16, incr_e=16, sr=0.25, num_classes=10, classifier_padding=1)
V1_1 = from_metaparameters(
    base_e=16, incr_e=16, sr=0.25, num_classes=10, layout=get_model_config("squeezenet1_1")
)


def _model(config) -> SqueezeNet:
    model = SqueezeNet(config).eval()
    with torch.no_grad():
        for p in model.parameters():  # non-zero biases, so a lost one shows
            p.uniform_(-0.1, 0.1)
    return model


def _write(tmp_path: Path, data: bytes, name: str = "m.caffemodel") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("config", [V1_0, V1_1], ids=["v1.0", "v1.1"])
@pytest.mark.parametrize(
    "form",
    [
        {},
        {"v1": True},
        {"legacy_blobs": True},
        {"v1": True, "legacy_blobs": True, "packed": False},
        {"deep_compression_names": True},
    ],
    ids=["layer", "V1 layers", "legacy dims", "V1 unpacked legacy", "conv1x1_1 names"],
)
def test_round_trip(tmp_path: Path, config, form: dict) -> None:
    model = _model(config)
    path = _write(tmp_path, squeezenet_caffemodel(model, **form))
    loaded = squeezenet.load_model(path)
    assert replace(loaded.config, name=config.name) == config  # pools, fires, conv10 pad
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    x = torch.randn(2, 3, 67, 67)
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert loaded.meta.preprocessing == CAFFE_PREPROCESSING
    assert loaded.meta.class_names is None  # 10 classes: not ImageNet's
    assert loaded.meta.provenance.source == "m.caffemodel"


def test_1000_classes_get_imagenet_names_and_v1_0_keeps_conv10_padding(tmp_path: Path) -> None:
    config = replace(V1_0, num_classes=1000)
    path = _write(tmp_path, squeezenet_caffemodel(_model(config), name="SqueezeNet_v1.0"))
    loaded = read_caffemodel(path)
    assert loaded.config.classifier_padding == 1
    assert loaded.meta.class_names[281] == "tabby" and loaded.meta.wnids[0] == "n01440764"
    assert "SqueezeNet_v1.0" in loaded.meta.provenance.notes


def test_full_size_v1_1_layout_maps_onto_torchvision_keys(tmp_path: Path, torchvision_keys) -> None:
    model = _model(get_model_config("squeezenet1_1"))
    loaded = read_caffemodel(_write(tmp_path, squeezenet_caffemodel(model)))
    assert loaded.config.name == "squeezenet1_1" and loaded.config.classifier_padding == 0
    shapes = {k: list(v.shape) for k, v in loaded.state_dict().items()}
    assert shapes == torchvision_keys["squeezenet1_1"]


def _conv_layer(name: str, weight: np.ndarray, stride: int = 1, pad: int = 0) -> bytes:
    blobs = (blob(weight), blob(np.zeros(weight.shape[0], np.float32)))
    param = conv_param(weight.shape[0], weight.shape[-1], stride, pad)
    return layer(name, "Convolution", blobs=blobs, conv=param)


def _structure_cases() -> list[tuple[str, bytes, str]]:
    good = squeezenet_caffemodel(_model(V1_0))
    w1 = np.zeros((8, 3, 7, 7), np.float32)
    squeeze_only = (
        _conv_layer("conv1", w1, 2)
        + _conv_layer("fire2/squeeze1x1", np.zeros((4, 8, 1, 1), np.float32))
        + _conv_layer("conv10", np.zeros((5, 4, 1, 1), np.float32))
    )
    bad_blob = field_bytes(7, field_bytes(1, bytes([2, 3]))) + field_bytes(5, b"\0" * 20)
    return [
        ("empty", b"", "no layers"),
        ("a layer-less net", field_bytes(1, b"name"), "no layers"),
        ("both forms", good + layer("x", "ReLU", v1=True), "both 'layer' and legacy 'layers'"),
        (
            "conv1 stride 3",
            good.replace(conv_param(96, 7, 2, 0), conv_param(96, 7, 3, 0)),
            "'conv1' has stride \\(3, 3\\), SqueezeNet's has \\(2, 2\\)",
        ),
        ("no Fire", _conv_layer("conv1", w1, stride=2), "not a SqueezeNet"),
        ("missing expand", squeeze_only, "'fire2' lacks \\['expand1x1', 'expand3x3'\\]"),
        (
            "blob count",
            layer("conv1", "Convolution", blobs=(bad_blob,)),
            "shape \\(2, 3\\) holds 5 values",
        ),
        ("group wire type", bytes([0x0B, 0x00]), "field 1 has unsupported wire type 3"),
        ("huge length", key(100, 2) + varint(2**40) + b"abc", "needs 1099511627776 bytes"),
        ("overlong varint", key(100, 2) + bytes([0xFF] * 11), "overlong varint"),
    ]


@pytest.mark.parametrize("case", range(10))
def test_broken_structure_gives_a_format_error(tmp_path: Path, case: int) -> None:
    name, data, message = _structure_cases()[case]
    path = _write(tmp_path, data)
    with pytest.raises(FormatError, match=message) as info:
        squeezenet.load_model(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value), name


def test_every_truncation_and_random_bytes_give_a_format_error(tmp_path: Path) -> None:
    data = squeezenet_caffemodel(_model(V1_0))
    rng = np.random.default_rng(0)
    cuts = sorted(set(rng.integers(1, len(data) - 1, 40).tolist()) | {1, 2, 3, len(data) - 1})
    garbage = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in (5, 100, 10_000)]
    for i, bad in enumerate([data[:cut] for cut in cuts] + garbage):
        with pytest.raises(FormatError):
            read_caffemodel(_write(tmp_path, bad, f"{i}.caffemodel"))


def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.caffemodel"
    with path.open("wb") as f:
        f.truncate(MAX_CAFFEMODEL_BYTES + 1)  # sparse: must not be read
    with pytest.raises(FormatError, match="over the .*-byte limit for a Caffe SqueezeNet"):
        read_caffemodel(path)


def test_pool_geometry_is_checked(tmp_path: Path) -> None:
    data = squeezenet_caffemodel(_model(V1_0))
    stride2 = field_int(3, 2)
    pool = field_int(1, 0) + field_int(2, 3) + stride2
    assert data.count(pool) >= 1
    bad = data.replace(pool, field_int(1, 0) + field_int(2, 2) + stride2, 1)  # a 2x2 pool
    with pytest.raises(FormatError, match="'pool1' is not SqueezeNet's 3x3 stride-2"):
        read_caffemodel(_write(tmp_path, bad))
