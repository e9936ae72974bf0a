"""Backend names, defaults and what each runner computes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from squeezenet.inference import backends
from squeezenet.inference.backends import (
    BACKENDS,
    OPENVINO_BACKENDS,
    PEER_BACKENDS,
    BackendUnavailable,
    check_backend_names,
    make_runner,
    openvino_available,
    resolve_backend,
)

from .conftest import tiny_model


def test_names_and_default() -> None:
    assert check_backend_names(["eager", "eager", "onnxruntime"]) == ["eager", "onnxruntime"]
    with pytest.raises(ValueError, match="unknown backend.*valid: eager"):
        check_backend_names(["tensorrt"])
    assert resolve_backend("auto") == backends.DEFAULT_BACKEND
    assert resolve_backend("channels_last") == "channels_last"


def test_auto_falls_back_without_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "onnxruntime_available", lambda: False)
    assert resolve_backend("auto") == "channels_last"
    with pytest.raises(BackendUnavailable, match="onnxruntime is not installed"):
        make_runner("onnxruntime", model=tiny_model())


@pytest.mark.parametrize("name", [b for b in BACKENDS if b != "compile"])
def test_every_backend_computes_the_model(name: str, tmp_path) -> None:
    if name in OPENVINO_BACKENDS and not openvino_available():
        pytest.skip("openvino not installed: its unavailability is tested below")
    model = tiny_model(input_size=16)
    runner = make_runner(name, model=model, threads=1, workdir=tmp_path)
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        expected = model(x).numpy()
    got = runner(x)
    assert got.shape == (3, 5) and runner.precision == ("int8" if "int8" in name else "fp32")
    if runner.precision == "fp32":
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_int8_file_only_serves_the_int8_backend(tmp_path) -> None:
    int8 = make_runner("onnxruntime-int8", model=tiny_model(), workdir=tmp_path)
    with pytest.raises(BackendUnavailable, match="already INT8"):
        make_runner("onnxruntime", onnx_path=int8.onnx_path)
    assert make_runner("onnxruntime-int8", onnx_path=int8.onnx_path).onnx_path == int8.onnx_path


def test_openvino_backends_are_listed_and_one_is_a_peer() -> None:
    assert set(BACKENDS) >= OPENVINO_BACKENDS
    assert set(PEER_BACKENDS) == {"onnxruntime-plain", "openvino-plain"}


@pytest.mark.parametrize("name", sorted(OPENVINO_BACKENDS))
def test_openvino_missing_is_unavailable_not_a_crash(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now fails
    assert not openvino_available()
    with pytest.raises(BackendUnavailable) as info:
        make_runner(name, model=tiny_model(), workdir=tmp_path)
    assert info.value.reason == "openvino is not installed (pip install 'squeezenet[openvino]')"


@pytest.mark.skipif(not openvino_available(), reason="openvino not installed")
def test_openvino_runs_a_given_ir_or_onnx_file(tmp_path: Path) -> None:
    model = tiny_model(input_size=16)
    ours = make_runner("openvino", model=model, threads=1, workdir=tmp_path)
    assert ours.onnx_path.suffix == ".xml"  # the IR that `export --format openvino` writes
    x = torch.randn(2, 3, 16, 16)
    for path in (ours.onnx_path, ours.onnx_path.with_suffix(".onnx")):
        np.testing.assert_allclose(make_runner("openvino", onnx_path=path)(x), ours(x), atol=1e-5)
    int8 = make_runner("onnxruntime-int8", model=model, workdir=tmp_path)
    with pytest.raises(BackendUnavailable, match="is INT8"):
        make_runner("openvino-plain", onnx_path=int8.onnx_path)
