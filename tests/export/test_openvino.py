"""OpenVINO IR export: outputs as PyTorch's, metadata carried, a clear error without the extra."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from squeezenet import create_model, save_model
from squeezenet.export import export_onnx
from squeezenet.export.onnx import ExportError
from squeezenet.export.openvino import (
    INSTALL_HINT,
    OpenVINOUnavailable,
    compile_openvino,
    export_openvino,
    ir_metadata,
    ir_path,
    openvino_available,
    openvino_model_meta,
    openvino_runner,
    read_ir,
)

from ..helpers import run_cli

needs_openvino = pytest.mark.skipif(not openvino_available(), reason="openvino not installed")
NAMES = ["cat", "dog", "fox"]


def tiny(input_size: int = 20) -> torch.nn.Module:
    net = create_model("squeezenet1_1", num_classes=3, small_input=True)
    net.meta = {
        "class_names": NAMES,
        "mean": [0.4, 0.5, 0.6],
        "std": [0.2, 0.25, 0.3],
        "input_size": input_size,
    }
    return net.eval()


def test_ir_path_is_the_xml_or_a_file_in_the_folder(tmp_path: Path) -> None:
    assert ir_path(tmp_path / "m.xml") == tmp_path / "m.xml"
    assert ir_path(tmp_path / "m_openvino_model") == tmp_path / "m_openvino_model" / "model.xml"


@needs_openvino
def test_ir_round_trip_matches_pytorch(tmp_path: Path) -> None:
    model = tiny()
    report = export_openvino(model, tmp_path / "ov")
    assert report.path == tmp_path / "ov" / "model.xml" and report.bin_path.is_file()
    assert report.reference == "pytorch" and report.max_abs_diff <= report.tolerance
    assert report.file_bytes == report.path.stat().st_size + report.bin_path.stat().st_size
    assert sorted(p.name for p in (tmp_path / "ov").iterdir()) == ["model.bin", "model.xml"]
    run = openvino_runner(compile_openvino(report.path, threads=1))
    x = torch.randn(5, 3, 20, 20)
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(run(x.numpy()), expected, atol=1e-4)
    np.testing.assert_allclose(run(x[:1].numpy()), expected[:1], atol=1e-4)  # dynamic batch
    meta = openvino_model_meta(report.path)
    assert list(meta.class_names) == NAMES
    assert meta.preprocessing.input_size == 20 and meta.preprocessing.std == (0.2, 0.25, 0.3)
    assert ir_metadata(report.path)["model_config"]["num_classes"] == 3


@needs_openvino
def test_ir_from_an_onnx_file_is_checked_against_onnxruntime(tmp_path: Path) -> None:
    onnx_path = export_onnx(tiny(), tmp_path / "m.onnx", check=False).path
    report = export_openvino(onnx_path, tmp_path / "m.xml")
    assert report.reference == "onnxruntime" and report.max_abs_diff <= report.tolerance
    assert report.input_size == 20 and list(openvino_model_meta(report.path).class_names) == NAMES
    with pytest.raises(ExportError, match="exported at 20 px"):
        export_openvino(onnx_path, tmp_path / "other.xml", input_size=32)
    assert not (tmp_path / "other.xml").exists()


@needs_openvino
def test_broken_ir_files_are_one_line_errors(tmp_path: Path) -> None:
    report = export_openvino(tiny(), tmp_path / "m.xml", check=False)
    report.bin_path.unlink()
    with pytest.raises(FileNotFoundError, match="m.bin is missing"):
        read_ir(report.path)
    bad = tmp_path / "bad.xml"
    bad.write_text("<net>not a graph")
    bad.with_suffix(".bin").write_bytes(b"")
    with pytest.raises(ExportError, match="not a readable OpenVINO IR"):
        read_ir(bad)


def test_missing_openvino_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now fails
    assert not openvino_available()
    with pytest.raises(OpenVINOUnavailable) as info:
        export_openvino(tiny(), tmp_path / "m.xml")
    message = str(info.value)
    assert "\n" not in message and INSTALL_HINT in message and "openvino" in message
    assert not (tmp_path / "m.xml").exists()


@needs_openvino
def test_cli_export_format_openvino(capsys, tmp_path: Path) -> None:
    weights = save_model(tiny(), tmp_path / "w.safetensors")
    code, stdout, err = run_cli(capsys, "export", weights, "--format", "openvino", "--json")
    assert code == 0, err
    report = json.loads(stdout)["openvino"]
    assert report["path"] == str(tmp_path / "w_openvino" / "model.xml")  # beside the weights
    assert report["reference"] == "pytorch" and report["max_abs_diff"] <= report["tolerance"]
    assert list(openvino_model_meta(report["path"]).class_names) == NAMES
    code, _, err = run_cli(capsys, "export", weights, "--format", "openvino", "--int8")
    assert code != 0 and "--int8 writes an ONNX file" in err


def test_cli_export_without_openvino_is_one_line(
    capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)
    weights = save_model(tiny(), tmp_path / "w.safetensors")
    code, stdout, err = run_cli(capsys, "export", weights, "--format", "openvino", "-o", "x.xml")
    assert code != 0 and stdout == "" and INSTALL_HINT in err and len(err.strip().splitlines()) == 1
