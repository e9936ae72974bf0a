"""predict: every image mode, EXIF rotation, broken files, batching, ONNX and PyTorch models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from squeezenet.data.preprocess import load_model_input, to_model_input
from squeezenet.export import export_onnx, export_openvino, openvino_available
from squeezenet.inference import Prediction, PredictionError, Predictor, collect_image_paths

from ..helpers import run_cli
from .conftest import CLASS_NAMES, gradient_image, tiny_model

GOOD = ["a_rgb.png", "b_photo.jpg", "c_gray.png", "d_rgba.png", "e_cmyk.jpg", "f_exif.jpg"]
BAD = ["g_truncated.jpg", "h_not_an_image.png"]


def _by_name(results: list) -> dict[str, Prediction | PredictionError]:
    return {Path(r.path).name: r for r in results}


@pytest.mark.parametrize("backend", ["eager", "onnxruntime"])
def test_good_files_predict_and_bad_files_get_clear_errors(weights_file, image_dir, backend):
    predictor = Predictor.load(weights_file, backend=backend, threads=1)
    inputs = collect_image_paths([image_dir])
    results = _by_name(predictor.predict_paths(inputs, topk=3, batch_size=3))
    assert sorted(results) == sorted(GOOD + BAD)
    for name in GOOD:
        r = results[name]
        assert isinstance(r, Prediction), name
        assert len(r.labels) == 3 and set(r.labels) <= set(CLASS_NAMES)
        assert r.probabilities == sorted(r.probabilities, reverse=True)
        assert sum(r.probabilities) <= 1 + 1e-6
    for name in BAD:
        r = results[name]
        assert isinstance(r, PredictionError) and name in r.error, name
    assert "truncated" in results["g_truncated.jpg"].error


def test_exif_orientation_is_applied(rgb_model, image_dir) -> None:
    predictor = Predictor.load(rgb_model, backend="eager")
    pre = predictor.preprocess
    upright = load_model_input(image_dir / "a_rgb.png", pre)
    rotated_file = load_model_input(image_dir / "f_exif.jpg", pre)
    ignored_exif = to_model_input(gradient_image(40, 30).rotate(90, expand=True), pre)
    assert (rotated_file - upright).abs().mean() < 0.1 * (ignored_exif - upright).abs().mean()


def test_onnx_model_brings_its_own_preprocessing_and_names(rgb_model, image_dir, tmp_path) -> None:
    path = export_onnx(rgb_model, tmp_path / "m.onnx").path
    files = [image_dir / n for n in GOOD]
    via_onnx = list(Predictor.load(path, threads=1).predict_paths(files, topk=5))
    via_torch = list(Predictor.load(rgb_model, backend="eager").predict_paths(files, topk=5))
    for a, b in zip(via_onnx, via_torch):
        assert a.labels == b.labels
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-5)
    with pytest.raises(ValueError, match="ONNX file"):
        Predictor.load(path, backend="eager")
    with pytest.raises(ValueError, match="float model"):
        Predictor.load(path, backend="onnxruntime-int8")


def test_an_openvino_ir_brings_its_own_preprocessing_and_names(rgb_model, image_dir, tmp_path):
    if not openvino_available():
        pytest.skip("openvino not installed")
    path = export_openvino(rgb_model, tmp_path / "ov").path
    files = [image_dir / n for n in GOOD]
    predictor = Predictor.load(path, threads=1)
    via_ir = list(predictor.predict_paths(files, topk=5))
    via_torch = list(Predictor.load(rgb_model, backend="eager").predict_paths(files, topk=5))
    assert predictor.backend == "openvino"
    for a, b in zip(via_ir, via_torch):
        assert a.labels == b.labels
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-5)
    with pytest.raises(ValueError, match="OpenVINO IR; valid: auto, openvino"):
        Predictor.load(path, backend="onnxruntime")


def test_a_foreign_onnx_file_is_read_at_its_own_input_shape(image_dir, tmp_path) -> None:
    """Without our metadata, the graph's (N, 1, 24, 24) input sets the preprocessing, not
    3 x 224."""
    import onnx

    path = export_onnx(tiny_model(in_channels=1), tmp_path / "m.onnx").path
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    onnx.save(proto, str(path))
    predictor = Predictor.load(path, threads=1)
    assert predictor.preprocess.in_channels == 1 and predictor.preprocess.input_size == 24
    results = list(predictor.predict_paths([image_dir / n for n in GOOD], topk=2))
    assert all(isinstance(r, Prediction) and r.labels[0].startswith("class_") for r in results)


def test_order_is_kept_across_batches(rgb_model, image_dir) -> None:
    predictor = Predictor.load(rgb_model, backend="eager")
    inputs = collect_image_paths([image_dir / "c_gray.png", image_dir / "missing.png", image_dir])
    assert isinstance(inputs[1], PredictionError) and "missing.png" in inputs[1].error
    done: list[int] = []
    results = list(predictor.predict_paths(inputs, batch_size=4, on_progress=done.append))
    assert [Path(r.path).name for r in results][:3] == ["c_gray.png", "missing.png", "a_rgb.png"]
    assert done[-1] == len(inputs) == 2 + len(GOOD) + len(BAD)


def test_grayscale_model_reads_color_files(image_dir) -> None:
    predictor = Predictor.load(tiny_model(in_channels=1), backend="eager")
    results = list(predictor.predict_paths([image_dir / n for n in GOOD]))
    assert all(isinstance(r, Prediction) for r in results)


def test_cli_predict_json_and_table(capsys, weights_file, image_dir) -> None:
    code, out, err = run_cli(
        capsys,
        "predict",
        str(weights_file),
        str(image_dir),
        "--json",
        "--topk",
        "2",
        "--threads",
        "1",
    )
    assert code == 1  # some files failed; the others were still predicted
    payload = json.loads(out)
    assert payload["backend"] == "onnxruntime"
    by_name = {Path(r["path"]).name: r for r in payload["results"]}
    assert len(by_name["a_rgb.png"]["predictions"]) == 2 and "error" in by_name["g_truncated.jpg"]
    assert "g_truncated.jpg" in err and "h_not_an_image.png" in err
    code, out, _ = run_cli(capsys, "predict", str(weights_file), str(image_dir / "a_rgb.png"))
    assert code == 0 and "a_rgb.png" in out


def test_cli_predict_clear_error_for_missing_model(capsys, tmp_path) -> None:
    code, _, err = run_cli(capsys, "predict", str(tmp_path / "nope.safetensors"), str(tmp_path))
    assert code == 2 and "no such model file" in err


def test_int8_predictions_come_from_a_calibrated_file(weights_file, image_dir, tmp_path) -> None:
    with pytest.raises(ValueError, match="calibrated on real images"):
        Predictor.load(weights_file, backend="onnxruntime-int8")
    from squeezenet import load_model
    from squeezenet.export import quantize_int8

    model = load_model(weights_file)
    fp32 = export_onnx(model, tmp_path / "m.onnx").path
    pre = Predictor.load(model, backend="eager").preprocess
    calib = torch.stack([load_model_input(image_dir / n, pre) for n in GOOD])
    int8 = quantize_int8(fp32, tmp_path / "m.int8.onnx", calib)
    predictor = Predictor.load(int8, threads=1)
    assert predictor.backend == "onnxruntime-int8" and predictor.class_names == CLASS_NAMES
    results = list(predictor.predict_paths([image_dir / n for n in GOOD]))
    assert all(isinstance(r, Prediction) for r in results)
