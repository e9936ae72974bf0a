"""ONNX export: parity with PyTorch for every registered model, metadata, dynamic batch."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import squeezenet
from squeezenet.data.preprocess import to_model_input
from squeezenet.export import (
    ExportError,
    export_onnx,
    onnx_model_meta,
    ort_session,
    read_metadata,
    run_session,
)
from squeezenet.export import onnx as onnx_export
from squeezenet.meta import preprocessing_for


def _model(name: str) -> squeezenet.SqueezeNet:
    return squeezenet.create_model(name, num_classes=10).eval()


def _node_types(path: Path) -> list[str]:
    return [n.op_type for n in onnx.load(str(path)).graph.node]


@pytest.mark.parametrize("name", squeezenet.list_models())
def test_export_matches_pytorch_for_every_registered_model(tmp_path: Path, name: str) -> None:
    model = _model(name)
    size = max(64, model.min_input_size())
    report = export_onnx(model, tmp_path / f"{name}.onnx", input_size=size)
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-4
    proto = onnx.load(str(report.path))
    onnx.checker.check_model(proto, full_check=True)
    types = [n.op_type for n in proto.graph.node]
    assert "Dropout" not in types and "Identity" not in types  # eval mode, no aliases
    pools = [n for n in proto.graph.node if n.op_type == "MaxPool"]
    assert pools and all(
        onnx.helper.get_attribute_value(a) == 1
        for n in pools
        for a in n.attribute
        if a.name == "ceil_mode"
    )
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.HasField("dim_value")


@pytest.mark.parametrize(
    "overrides",
    [{"batch_norm": True}, {"small_input": True, "in_channels": 1}],
    ids=["batch_norm", "grayscale_small_input"],
)
def test_export_variants(tmp_path: Path, overrides: dict) -> None:
    model = squeezenet.create_model("squeezenet1_0_complex_bypass", num_classes=7, **overrides)
    model.eval()
    size = 32 if overrides.get("small_input") else 64
    report = export_onnx(model, tmp_path / "m.onnx", input_size=size)
    assert report.max_abs_diff <= 1e-4 and report.check_source == "synthetic"


def test_any_batch_size_runs(tmp_path: Path) -> None:
    model = _model("squeezenet1_1")
    path = export_onnx(model, tmp_path / "m.onnx", input_size=48).path
    session = ort_session(path, threads=1)
    for batch in (1, 3, 8):
        x = torch.randn(batch, 3, 48, 48)
        with torch.no_grad():
            expected = model(x).numpy()
        np.testing.assert_allclose(run_session(session, x), expected, atol=1e-4)


def test_metadata_carries_class_names_and_preprocessing(tmp_path: Path) -> None:
    model = squeezenet.create_model("squeezenet1_1", num_classes=3, in_channels=1, small_input=True)
    model.meta = {
        "class_names": ["cat", "dog", "émeu"],
        "mean": [0.286],
        "std": [0.353],
        "input_size": 28,
        "in_channels": 1,
        "dataset": "fashion-mnist",
    }
    path = export_onnx(model.eval(), tmp_path / "m.onnx").path
    meta = read_metadata(path)
    assert meta["class_names"] == ["cat", "dog", "émeu"]
    assert meta["mean"] == [0.286] and meta["std"] == [0.353] and meta["input_size"] == 28
    assert meta["dataset"] == "fashion-mnist" and meta["model_config"]["small_input"] is True
    assert meta["resize_mode"] == "shorter" and meta["channel_order"] == "RGB"
    assert onnx_model_meta(path) == model.meta
    # The same keys are visible to any onnxruntime user.
    props = ort_session(path).get_modelmeta().custom_metadata_map
    assert props["input_size"] == "28"
    # Served at half size, a resize of 29 scales to 14.5 -> 14, the crop itself: the file
    # must not keep the model's own 29, or predict would resize to 29 and crop 14.
    model.meta = dataclasses.replace(
        model.meta, preprocessing=dataclasses.replace(model.meta.preprocessing, resize_size=29)
    )
    meta = read_metadata(export_onnx(model.eval(), tmp_path / "h.onnx", input_size=14).path)
    assert meta["input_size"] == 14 and "resize_size" not in meta


def test_real_check_inputs_are_used(tmp_path: Path) -> None:
    model = _model("squeezenet1_1")
    inputs = to_model_input(
        torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8),
        preprocessing_for(model, input_size=32),
    )
    report = export_onnx(model, tmp_path / "m.onnx", input_size=32, check_inputs=inputs)
    assert report.check_source == "given" and report.check_images == 6
    with pytest.raises(ExportError, match="check inputs"):
        export_onnx(model, tmp_path / "bad.onnx", input_size=32, check_inputs=inputs[:, :1])


def test_clear_errors(tmp_path: Path) -> None:
    model = _model("squeezenet1_0")
    with pytest.raises(ExportError, match="too small.*minimum is 21"):
        export_onnx(model, tmp_path / "m.onnx", input_size=20)
    with pytest.raises(ExportError, match="ceil-mode"):
        export_onnx(model, tmp_path / "m.onnx", opset=9)
    model.meta = {"class_names": ["a", "b"]}
    with pytest.raises(ExportError, match="2 class names but the model has 10"):
        export_onnx(model, tmp_path / "m.onnx", input_size=32)
    (tmp_path / "junk.onnx").write_text("not onnx")
    with pytest.raises(ExportError, match="not a readable ONNX file"):
        read_metadata(tmp_path / "junk.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_failed_check_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def mismatch(*_args, **_kwargs):
        raise ExportError("logits differ")

    monkeypatch.setattr(onnx_export, "check_parity", mismatch)
    with pytest.raises(ExportError, match="logits differ"):
        export_onnx(_model("squeezenet1_1"), tmp_path / "m.onnx", input_size=32)
    assert list(tmp_path.iterdir()) == []
