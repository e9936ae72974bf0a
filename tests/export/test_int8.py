"""INT8: a smaller file that runs, keeps the metadata, shares Concat scales, types chosen by
the CPU (mocked flags), histogram calibration on uneven batches; accuracy helper."""

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
    Int8Scheme,
    calibration_inputs,
    choose_scheme,
    evaluate_onnx,
    export_onnx,
    int8,
    is_quantized,
    ort_session,
    quantize_int8,
    read_metadata,
    run_session,
)
from squeezenet.export.int8 import resolve_scheme
from squeezenet.meta import preprocessing_for


@pytest.fixture(scope="module")
def float_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[squeezenet.SqueezeNet, Path]:
    torch.manual_seed(0)
    model = squeezenet.create_model("squeezenet1_1", num_classes=4, in_channels=1, small_input=True)
    model.meta = {
        "class_names": ["a", "b", "c", "d"],
        "mean": [0.3],
        "std": [0.35],
        "input_size": 16,
        "in_channels": 1,
    }
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
def test_histogram_calibration_prints_nothing_to_stdout(
    float_model, tmp_path: Path, capsys, method
) -> None:
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


@pytest.mark.parametrize(
    ("flags", "machine", "types"),
    [
        ({"avx2", "avx512f", "avx512_vnni"}, "x86_64", "u8s8"),  # AVX-512 VNNI (Zen 4, Ice Lake)
        ({"avx2", "avx_vnni"}, "x86_64", "u8s8"),  # AVX-VNNI (Alder Lake)
        ({"avx2", "fma"}, "x86_64", "u8s8-reduced"),  # AVX2 only: VPMADDUBSW saturates
        ({"avx2", "avx512f", "avx512bw"}, "AMD64", "u8s8-reduced"),  # AVX-512 without VNNI
        (set(), "x86_64", "u8s8-reduced"),  # flags unreadable: the safe choice
        ({"asimd", "asimddp"}, "aarch64", "u8s8"),
        (set(), "arm64", "u8s8"),  # macOS: no /proc/cpuinfo
    ],
)
def test_scheme_follows_the_cpu(flags: set[str], machine: str, types: str) -> None:
    scheme = choose_scheme(flags, machine)
    assert scheme.types == types and scheme.quant_format == "QDQ"
    assert scheme.reduce_range == (types == "u8s8-reduced")
    assert scheme.reason and scheme.to_dict()["reduce_range"] == scheme.reduce_range


def test_auto_scheme_reads_this_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(int8, "cpu_flags", lambda: frozenset({"avx2"}))
    monkeypatch.setattr(int8.platform, "machine", lambda: "x86_64")
    assert resolve_scheme("auto").types == "u8s8-reduced"
    monkeypatch.setattr(int8, "cpu_flags", lambda: frozenset({"avx2", "avx512_vnni"}))
    assert resolve_scheme("auto").types == "u8s8"
    assert "avx512_vnni" in resolve_scheme("auto").reason
    assert resolve_scheme("u8u8") == Int8Scheme("u8u8", reason="asked for")
    with pytest.raises(ExportError, match="unknown INT8 scheme 's8s8'; valid: auto, u8s8"):
        resolve_scheme("s8s8")
    with pytest.raises(ExportError, match="unknown INT8 format 'QOp'; valid: QDQ, QOperator"):
        Int8Scheme("u8s8", "QOp")


def _weights(graph: onnx.GraphProto) -> list[np.ndarray]:
    """The quantized Conv weights (integer initializers of rank 4)."""
    arrays = (numpy_helper.to_array(t) for t in graph.initializer)
    return [a for a in arrays if a.ndim == 4 and a.dtype in (np.int8, np.uint8)]


@pytest.mark.parametrize(
    ("scheme", "dtype", "bound"),
    [("u8s8", np.int8, 127), ("u8s8-reduced", np.int8, 64), ("u8u8", np.uint8, 255)],
)
def test_each_scheme_writes_its_types_and_runs(
    float_model, tmp_path: Path, scheme: str, dtype: type, bound: int
) -> None:
    _, path = float_model
    calib = torch.randn(6, 1, 16, 16)
    out = quantize_int8(path, tmp_path / "q.onnx", calib, scheme=scheme, method="minmax")
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    weights = _weights(proto.graph)
    assert len(weights) == 26 and all(w.dtype == dtype for w in weights)
    assert max(int(np.abs(w.astype(np.int32)).max()) for w in weights) <= bound
    if scheme == "u8s8":  # 8 bits used: the largest weight of a channel maps to 127
        assert max(int(np.abs(w.astype(np.int32)).max()) for w in weights) == 127
    record = read_metadata(out)["quantization"]
    assert record["types"] == scheme and record["reduce_range"] == (scheme == "u8s8-reduced")
    logits = run_session(ort_session(out, threads=1), calib[:3])
    assert logits.shape == (3, 4) and np.isfinite(logits).all()


def test_qoperator_format_writes_qlinear_ops(float_model, tmp_path: Path) -> None:
    _, path = float_model
    scheme = Int8Scheme("u8s8", "QOperator", reason="test")
    out = quantize_int8(path, tmp_path / "q.onnx", torch.randn(4, 1, 16, 16), scheme=scheme)
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert "QLinearConv" in ops and "Conv" not in ops
    assert read_metadata(out)["quantization"]["format"] == "QOperator"
    assert run_session(ort_session(out, threads=1), torch.randn(2, 1, 16, 16)).shape == (2, 4)


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_histogram_calibration_with_a_short_last_batch(float_model, tmp_path: Path, method) -> None:
    """onnxruntime's histogram calibrators failed ("inhomogeneous shape") when the last
    batch was shorter than the others: 10 images in batches of 4."""
    _, path = float_model
    out = quantize_int8(
        path, tmp_path / "q.onnx", torch.randn(10, 1, 16, 16), method=method, batch_size=4
    )
    record = read_metadata(out)["quantization"]
    assert record["calibration"] == method and record["calibration_images"] == 10
    assert ("percentile" in record) == (method == "percentile")
