"""INT8: a smaller file that runs, keeps the metadata, shares Concat scales; accuracy helper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

import squeezenet
from squeezenet.data import InMemoryDataset
from squeezenet.data.preprocess import to_model_input
from squeezenet.export import (
    ExportError,
    calibration_inputs,
    evaluate_onnx,
    export_onnx,
    is_quantized,
    ort_session,
    quantize_int8,
    read_metadata,
    run_session,
)
from squeezenet.meta import preprocessing_for


@pytest.fixture(scope="module")
def float_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[squeezenet.SqueezeNet, Path]:
    torch.manual_seed(0)
    model = squeezenet.create_model("squeezenet1_1", num_classes=4, in_channels=1, small_input=True)
    model.meta = {"class_names": ["a", "b", "c", "d"], "mean": [0.3], "std": [0.35],
                  "input_size": 16, "in_channels": 1}  # fmt: skip
    path = tmp_path_factory.mktemp("int8") / "model.onnx"
    export_onnx(model.eval(), path, check=False)
    return model, path


def _dataset(n: int, size: int = 16, classes: int = 4) -> InMemoryDataset:
    gen = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (n, 1, size, size), dtype=torch.uint8, generator=gen)
    return InMemoryDataset(images, torch.zeros(n, dtype=torch.int64), list("abcd"[:classes]), "toy")


def test_int8_file_is_smaller_runs_and_keeps_metadata(float_model, tmp_path: Path) -> None:
    model, path = float_model
    calib = calibration_inputs(_dataset(40), preprocessing_for(model), count=32)
    out = quantize_int8(path, tmp_path / "model.int8.onnx", calib)
    assert out.stat().st_size < 0.5 * path.stat().st_size
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in proto.graph.node}
    meta = read_metadata(out)
    assert is_quantized(meta) and not is_quantized(read_metadata(path))
    assert meta["class_names"] == ["a", "b", "c", "d"]
    assert meta["quantization"]["calibration_images"] == 32
    logits = run_session(ort_session(out, threads=1), calib[:5])
    assert logits.shape == (5, 4) and np.isfinite(logits).all()


def test_each_fire_concat_shares_one_scale(float_model, tmp_path: Path) -> None:
    _, path = float_model
    calib = torch.randn(8, 1, 16, 16)
    graph = onnx.load(str(quantize_int8(path, tmp_path / "q.onnx", calib))).graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    concats = [n for n in graph.node if n.op_type == "Concat"]
    assert len(concats) == 8  # one per Fire module
    for concat in concats:
        scales = {float(consts[producer[i].input[1]]) for i in concat.input}  # DQ scales
        consumer = next(n for n in graph.node if concat.output[0] in n.input)  # the Q
        scales.add(float(consts[consumer.input[1]]))
        assert len(scales) == 1, concat.name


def test_quantize_rejects_bad_calibration(float_model, tmp_path: Path) -> None:
    _, path = float_model
    with pytest.raises(ExportError, match="non-empty"):
        quantize_int8(path, tmp_path / "q.onnx", torch.zeros(0, 1, 16, 16))
    with pytest.raises(ExportError, match="calibration method"):
        quantize_int8(path, tmp_path / "q.onnx", torch.zeros(2, 1, 16, 16), method="magic")
    assert not (tmp_path / "q.onnx").exists()


def test_quantize_rejects_an_int8_model(float_model, tmp_path: Path) -> None:
    _, path = float_model
    int8 = quantize_int8(path, tmp_path / "q.onnx", torch.randn(4, 1, 16, 16))
    with pytest.raises(ExportError, match="already INT8"):
        quantize_int8(int8, tmp_path / "qq.onnx", torch.randn(4, 1, 16, 16))
    assert not (tmp_path / "qq.onnx").exists()


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_histogram_calibration_prints_nothing_to_stdout(float_model, tmp_path: Path, capsys,
                                                        method) -> None:  # fmt: skip
    """stdout stays clean for callers who print JSON there; onnxruntime's progress goes to
    stderr."""
    _, path = float_model
    quantize_int8(path, tmp_path / "q.onnx", torch.randn(8, 1, 16, 16), method=method)
    assert capsys.readouterr().out == ""


def test_evaluate_onnx_counts_top1(float_model) -> None:
    model, path = float_model
    data = _dataset(30)
    with torch.no_grad():
        predicted = model(to_model_input(data.images, preprocessing_for(model))).argmax(1)
    data.labels = predicted  # the model agrees with itself on every image
    assert evaluate_onnx(path, data, batch_size=7) == 1.0
    data.labels = (predicted + 1) % 4
    assert evaluate_onnx(path, data, limit=10) == 0.0
    with pytest.raises(ExportError, match="4 classes but dataset"):
        evaluate_onnx(path, _dataset(3, classes=3))
