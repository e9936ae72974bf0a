"""ONNX external-data traversal is refused by our own check, before onnxruntime reads anything:
`../` and absolute locations, symlinks out of the model's folder, devices, subgraph tensors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from squeezenet.export.external_data import UnsafeExternalDataError  # noqa: E402
from squeezenet.export.onnx import load_proto, ort_session, read_metadata, run_session  # noqa: E402
from squeezenet.inference.predictor import Predictor  # noqa: E402

WEIGHTS = np.arange(4, dtype=np.float32)


def _external(tensor: TensorProto, location: str) -> TensorProto:
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    return tensor


def _model(folder: Path, location: str, *, in_subgraph: bool = False) -> Path:
    """y = x + W with W (4 floats) kept in `location`, written as folder/model.onnx."""
    weights = _external(numpy_helper.from_array(WEIGHTS, "W"), location)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    if in_subgraph:  # W hides in an If branch's Constant node
        out = helper.make_tensor_value_info("W", TensorProto.FLOAT, [4])
        constant = helper.make_node("Constant", [], ["W"], value=weights)
        branch = helper.make_graph([constant], "then", [], [out])
        cond = numpy_helper.from_array(np.array(True), "cond")
        nodes = [
            helper.make_node("If", ["cond"], ["Wc"], then_branch=branch, else_branch=branch),
            helper.make_node("Add", ["x", "Wc"], ["y"]),
        ]
        graph = helper.make_graph(nodes, "g", [x], [y], [cond])
    else:
        add = helper.make_node("Add", ["x", "W"], ["y"])
        graph = helper.make_graph([add], "g", [x], [y], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.bin"
    path.write_bytes(np.full(4, 7, np.float32).tobytes())
    return path


def _refused(path: Path, problem: str) -> None:
    for load in (load_proto, read_metadata, ort_session, Predictor.load):
        with pytest.raises(UnsafeExternalDataError, match=problem) as info:
            load(path)
        assert "refusing to load it" in str(info.value) and "\n" not in str(info.value)


def test_dotdot_location_is_refused(tmp_path: Path, secret: Path) -> None:
    _refused(_model(tmp_path / "m", "../secret.bin"), "outside the model's folder")


def test_absolute_location_is_refused(tmp_path: Path, secret: Path) -> None:
    _refused(_model(tmp_path / "m", str(secret)), "an absolute path")


def test_symlink_out_of_the_folder_is_refused(tmp_path: Path, secret: Path) -> None:
    path = _model(tmp_path / "m", "w.bin")
    (tmp_path / "m" / "w.bin").symlink_to(secret)
    _refused(path, "a link leading outside")


def test_device_and_fifo_are_refused(tmp_path: Path) -> None:
    path = _model(tmp_path / "m", "pipe.bin")
    os.mkfifo(tmp_path / "m" / "pipe.bin")
    _refused(path, "not a regular file")
    path = _model(tmp_path / "d", "zero.bin")
    (tmp_path / "d" / "zero.bin").symlink_to("/dev/zero")
    _refused(path, "a link leading outside")


def test_subgraph_tensors_are_checked_too(tmp_path: Path, secret: Path) -> None:
    path = _model(tmp_path / "m", "../secret.bin", in_subgraph=True)
    _refused(path, "outside the model's folder")


def test_external_data_inside_the_folder_still_runs(tmp_path: Path) -> None:
    path = _model(tmp_path / "m", "sub/w.bin")
    (tmp_path / "m" / "sub").mkdir()
    (tmp_path / "m" / "sub" / "w.bin").write_bytes(WEIGHTS.tobytes())
    load_proto(path)
    out = run_session(ort_session(path), np.ones((4,), np.float32))
    assert out.tolist() == [1.0, 2.0, 3.0, 4.0]
