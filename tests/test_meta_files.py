"""Every format writes `ModelMeta` and reads it back; files written before it still load; a
broken meta is the format's own one-line error."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as st_save

import squeezenet
from squeezenet import CheckpointError, load_model, save_model
from squeezenet.compress import SqzFormatError, decode_model, encode_model
from squeezenet.formats.common import CAFFE_PREPROCESSING
from squeezenet.meta import MetaError, ModelMeta, Provenance

CAFFE = CAFFE_PREPROCESSING  # the authors' Caffe releases' preprocessing
# What `squeezenet train` wrote into every file before ModelMeta existed.
LEGACY = {
    "class_names": ["a", "b", "c"],
    "mean": [0.286],
    "std": [0.353],
    "input_size": 28,
    "in_channels": 1,
    "dataset": "fashion-mnist",
}


def _model(in_channels: int = 3) -> squeezenet.SqueezeNet:
    return squeezenet.create_model(
        "squeezenet1_1", num_classes=3, in_channels=in_channels, small_input=True
    ).eval()


def _full_meta() -> ModelMeta:
    return ModelMeta(
        class_names=("a", "b", "c"),
        wnids=("n1", "n2", "n3"),
        preprocessing=CAFFE,
        dataset="imagenet",
        provenance=Provenance(source="x.net", license="BSD"),
    )


def test_safetensors_and_sqz_carry_every_field(tmp_path: Path) -> None:
    model = _model()
    model.meta = _full_meta()
    assert load_model(save_model(model, tmp_path / "w.safetensors")).meta == model.meta
    assert decode_model(encode_model(model)).meta == model.meta


def test_onnx_metadata_carries_every_field(tmp_path: Path) -> None:
    from squeezenet.export import export_onnx, onnx_model_meta

    model = _model()
    model.meta = _full_meta()
    path = export_onnx(model, tmp_path / "m.onnx", check=False).path
    assert onnx_model_meta(path) == model.meta


def test_legacy_safetensors_header_loads(tmp_path: Path) -> None:
    model = _model(in_channels=1)
    header = {
        "format": "squeezenet",
        "format_version": "1",
        "config": json.dumps(model.config.to_dict()),
        "meta": json.dumps(LEGACY),
    }
    path = tmp_path / "old.safetensors"
    path.write_bytes(st_save(model.state_dict(), metadata=header))
    meta = load_model(path).meta
    assert meta == ModelMeta.from_dict(LEGACY) and meta.preprocessing.input_size == 28
    assert meta.preprocessing.mean == (0.286,) and meta.dataset == "fashion-mnist"


def test_legacy_sqz_header_loads() -> None:
    model = _model(in_channels=1)
    data = encode_model(model, LEGACY)  # a plain dict, as callers passed before
    assert decode_model(data).meta == ModelMeta.from_dict(LEGACY)


def test_legacy_run_checkpoint_loads(tmp_path: Path) -> None:
    model = _model(in_channels=1)
    state = {
        "model": model.state_dict(),
        "optimizer": {},
        "history": [],
        "config": "{}",
        "model_config": json.dumps(model.config.to_dict()),
        "meta": json.dumps(LEGACY),
    }
    torch.save(state, tmp_path / "checkpoint.pt")
    assert load_model(tmp_path / "checkpoint.pt").meta == ModelMeta.from_dict(LEGACY)


def test_a_bad_meta_is_the_formats_error(tmp_path: Path) -> None:
    model = _model()
    header = {
        "format": "squeezenet",
        "format_version": "1",
        "config": json.dumps(model.config.to_dict()),
        "meta": json.dumps({"input_size": 0}),
    }
    path = tmp_path / "bad.safetensors"
    path.write_bytes(st_save(model.state_dict(), metadata=header))
    with pytest.raises(CheckpointError, match="bad model meta: input_size must be"):
        load_model(path)
    data = encode_model(model)
    with pytest.raises(SqzFormatError, match="meta: std values must be > 0"):
        decode_model(_with_meta(data, {"std": [1, 0, 1]}))


def _with_meta(data: bytes, meta: dict) -> bytes:
    """`.sqz` bytes whose header's meta is replaced (checksum and lengths fixed up)."""
    from squeezenet.formats import sqz

    header, start = sqz.read_header(data)
    header["meta"] = meta
    raw = json.dumps(header, separators=(",", ":")).encode()
    packed = zlib.compress(raw, 9)
    fixed = sqz.FIXED_HEADER.pack(sqz.MAGIC, sqz.FORMAT_VERSION, 0, len(packed), len(raw))
    body = fixed + packed + data[start : -sqz.CHECKSUM.size]
    return body + sqz.CHECKSUM.pack(zlib.crc32(body))


def test_the_model_refuses_preprocessing_for_other_channels() -> None:
    model = _model(in_channels=1)
    with pytest.raises(MetaError, match="3-channel images but squeezenet1_1 takes 1"):
        model.meta = ModelMeta(preprocessing=CAFFE)
    model.meta = {"mean": [0.5], "std": [0.5]}  # a legacy dict takes the model's channels
    assert model.meta.preprocessing.in_channels == 1
