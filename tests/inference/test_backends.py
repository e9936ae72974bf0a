"""Backend names, defaults and what each runner computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from squeezenet.inference import backends
from squeezenet.inference.backends import (
    BACKENDS,
    BackendUnavailable,
    check_backend_names,
    make_runner,
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
