"""OpenVINO: IR export (`.xml` + `.bin`) carrying our metadata, and a compiled CPU runner.

Optional: `pip install 'squeezenet[openvino]'`; every function here raises
`OpenVINOUnavailable` (one line, with that command) when the package is missing, and
`openvino_available()` lets callers ask first. `openvino` is imported only inside the
functions that need it, so importing this module never needs it.

Choices, and why:
- The IR is made from our ONNX export by OpenVINO's ONNX frontend (`Core.read_model`), not by
  `openvino.convert_model`: the graph is the same, and `convert_model` sends usage telemetry
  unless the user has opted out, which a library must not do on its user's behalf.
- Weights stay float32: `save_model` compresses them to float16 by default, which would make
  the IR's logits differ from the model's.
- The model's `ModelMeta` (class names, preprocessing, architecture) travels in the IR's
  `rt_info` under `squeezenet/<key>`, each value JSON-encoded: the same keys and encoding as
  the ONNX file's `metadata_props`, so `predict` needs nothing but the two files.
- Runners compile for the CPU with float32 inference precision pinned (OpenVINO would run
  bf16 on a CPU that has it, and no longer compute the model we compare), the given number of
  threads and the LATENCY hint (one stream: one request at a time is what predict and the
  benchmark do).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from ..files import FileLimitError, atomic_path, read_regular
from ..meta import ModelMeta
from ..models import SqueezeNet
from .onnx import (
    DEFAULT_ATOL,
    DEFAULT_OPSET,
    MAX_ONNX_BYTES,
    ExportError,
    _check_inputs,
    _export_copy,
    export_onnx,
    load_proto,
    onnx_preprocessing,
    ort_session,
    read_metadata,
    run_session,
)
from .onnx_meta import input_dims_meta, meta_from_metadata

INSTALL_HINT = "pip install 'squeezenet[openvino]'"
RT_SECTION = "squeezenet"  # rt_info section holding our metadata
MAX_XML_BYTES = 16 << 20  # the graph description; ours are ~40 kB
MAX_BIN_BYTES = MAX_ONNX_BYTES  # the weights
DEFAULT_NAME = "model.xml"  # the IR's name inside an output folder


class OpenVINOUnavailable(ExportError):
    """The optional `openvino` package is not installed."""

    def __init__(self, missing: str = "openvino") -> None:
        super().__init__(f"OpenVINO is not installed ({missing} is missing): {INSTALL_HINT}")


def openvino_available() -> bool:
    """Whether the `openvino` package (the `openvino` extra) can be imported."""
    try:
        require_openvino()
    except OpenVINOUnavailable:
        return False
    return True


def require_openvino() -> ModuleType:
    """The `openvino` module, or `OpenVINOUnavailable` naming the install command."""
    try:
        return importlib.import_module("openvino")
    except ImportError as e:
        raise OpenVINOUnavailable(e.name or "openvino") from None


@dataclass
class OpenVINOReport:
    """What `export_openvino` wrote and how closely it matches its source.

    Attributes:
        path: the IR's `.xml` file (its weights are beside it, `path.with_suffix(".bin")`).
        input_size: side of the square input (any batch size runs).
        file_bytes: size of `.xml` plus `.bin` on disk.
        max_abs_diff: largest |OpenVINO - reference| logit over the check inputs (None if
            the check was skipped).
        tolerance: the bound it had to meet: `atol * max(1, max |logit|)`.
        reference: what it was compared with: "pytorch" or "onnxruntime".
        check_images: how many images were compared.
        check_source: where they came from ("given" or "synthetic").
        openvino: the OpenVINO version that wrote it.
        metadata: the metadata carried in `rt_info` (decoded).
    """

    path: Path
    input_size: int
    file_bytes: int = 0
    max_abs_diff: float | None = None
    tolerance: float | None = None
    reference: str = ""
    check_images: int = 0
    check_source: str = ""
    openvino: str = ""
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def bin_path(self) -> Path:
        return self.path.with_suffix(".bin")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"], out["bin_path"] = str(self.path), str(self.bin_path)
        return out


def ir_path(out: str | os.PathLike[str]) -> Path:
    """The `.xml` an export to `out` writes: `out` itself if it ends in `.xml`, else
    `out/model.xml` (a folder, as ultralytics' `*_openvino_model/`)."""
    out = Path(out)
    return out if out.suffix.lower() == ".xml" else out / DEFAULT_NAME


def export_openvino(
    source: SqueezeNet | str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    input_size: int | None = None,
    opset: int = DEFAULT_OPSET,
    check: bool = True,
    check_inputs: torch.Tensor | None = None,
    atol: float = DEFAULT_ATOL,
) -> OpenVINOReport:
    """Convert a model, or an ONNX file, to an OpenVINO IR with its metadata, atomically.

    Args:
        source: a SqueezeNet (exported to ONNX first, as `export_onnx` does) or an `.onnx`
            file (ours, whose metadata is carried over, or a foreign one).
        out: the `.xml` to write, or a folder to write `model.xml` and `model.bin` in.
        input_size: square input side for a model (default: its preprocessing's); an ONNX
            file keeps the size it was exported at.
        opset: ONNX opset of the intermediate export.
        check: compile the IR and compare its logits with PyTorch's (for a model) or
            onnxruntime's (for an ONNX file), on a batch and on one image alone.
        check_inputs: preprocessed (N, C, S, S) inputs for the check; synthetic when None.
        atol: the check fails when the max difference exceeds `atol * max(1, max |logit|)`.

    Raises:
        OpenVINOUnavailable: the `openvino` package is missing.
        ExportError: the source cannot be exported or read, or the check failed.
    """
    ov = require_openvino()
    xml = ir_path(out)
    with tempfile.TemporaryDirectory(prefix="squeezenet-openvino-") as tmp:
        if isinstance(source, SqueezeNet):
            onnx_path = export_onnx(
                source, Path(tmp) / "model.onnx", input_size=input_size, opset=opset, check=False
            ).path
        else:
            onnx_path = _foreign_onnx(Path(source), input_size)
        metadata = read_metadata(onnx_path)
        model = _read_onnx(ov, onnx_path)
        for key, value in metadata.items():
            model.set_rt_info(json.dumps(value), [RT_SECTION, key])
        saved = Path(tmp) / "ir" / xml.name
        ov.save_model(model, str(saved), compress_to_fp16=False)
        report = OpenVINOReport(xml, onnx_preprocessing(onnx_path).input_size, metadata=metadata)
        report.openvino = ov.get_version()
        if check:
            _check_ir(report, saved, source, onnx_path, check_inputs, atol)
        # Weights first: a reader finds the new .xml only once its .bin is in place.
        for suffix in (".bin", ".xml"):
            with atomic_path(xml.with_suffix(suffix)) as part:
                shutil.copyfile(saved.with_suffix(suffix), part)
    report.file_bytes = xml.stat().st_size + report.bin_path.stat().st_size
    return report


def _foreign_onnx(path: Path, input_size: int | None) -> Path:
    load_proto(path)  # our checks (exists, size, external data) before OpenVINO reads it
    native = onnx_preprocessing(path).input_size
    if input_size not in (None, native):
        raise ExportError(
            f"{path} was exported at {native} px; export the model again at {input_size} "
            "instead of converting this file"
        )
    return path


def _read_onnx(ov: ModuleType, path: Path) -> Any:
    try:
        return ov.Core().read_model(str(path))
    except Exception as e:  # OpenVINO raises its own RuntimeError subclasses for bad graphs
        raise ExportError(f"{path}: OpenVINO cannot read it ({_first_line(e)})") from None


def _check_ir(
    report: OpenVINOReport,
    xml: Path,
    source: SqueezeNet | str | os.PathLike[str],
    onnx_path: Path,
    given: torch.Tensor | None,
    atol: float,
) -> None:
    preprocess = onnx_preprocessing(onnx_path)
    inputs, report.check_source = _check_inputs(given, preprocess)
    if isinstance(source, SqueezeNet):
        with torch.no_grad():  # the same float32 eval-mode copy the export traced
            expected = _export_copy(source)(inputs).numpy()
        report.reference = "pytorch"
    else:
        expected = run_session(ort_session(onnx_path, torch.get_num_threads(), tuned=False), inputs)
        report.reference = "onnxruntime"
    run = openvino_runner(compile_openvino(xml, torch.get_num_threads()))
    x = inputs.numpy()
    got, single = run(x), run(np.ascontiguousarray(x[:1]))  # two batch sizes: the axis is dynamic
    diff = float(max(np.abs(got - expected).max(), np.abs(single - expected[:1]).max()))
    tolerance = atol * max(1.0, float(np.abs(expected).max()))
    if not diff <= tolerance:  # also catches NaN
        raise ExportError(
            f"{report.path}: OpenVINO logits differ from {report.reference} by {diff:.3g} "
            f"(tolerance {tolerance:.3g})"
        )
    report.max_abs_diff, report.tolerance = diff, tolerance
    report.check_images = int(inputs.shape[0])


# ---- reading ----------------------------------------------------------------------------------
def read_ir(path: str | os.PathLike[str]) -> Any:
    """An `openvino.Model` from an IR `.xml` (weights from the `.bin` beside it) or an
    `.onnx` file; both files are checked (regular, size-capped) before OpenVINO reads them."""
    ov = require_openvino()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such OpenVINO IR or ONNX file: {path}")
    if path.suffix.lower() == ".onnx":
        load_proto(path)
        return _read_onnx(ov, path)
    weights = path.with_suffix(".bin")
    try:
        xml = read_regular(path, MAX_XML_BYTES, "OpenVINO IR").decode("utf-8")
        data = read_regular(weights, MAX_BIN_BYTES, "OpenVINO weights file")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: its weights file {weights.name} is missing") from None
    except FileLimitError as e:
        raise ExportError(str(e)) from None
    except UnicodeDecodeError:
        raise ExportError(f"{path}: not an OpenVINO IR (the .xml is not UTF-8 text)") from None
    try:
        return ov.Core().read_model(xml, ov.Tensor(np.frombuffer(data, dtype=np.uint8).copy()))
    except Exception as e:  # OpenVINO's own exception types for a malformed IR
        raise ExportError(f"{path}: not a readable OpenVINO IR ({_first_line(e)})") from None


def ir_metadata(source: str | os.PathLike[str] | Any) -> dict[str, Any]:
    """The metadata an IR carries in `rt_info` (values that are not JSON stay strings);
    empty for an IR not written by `export_openvino`."""
    model = read_ir(source) if isinstance(source, (str, os.PathLike)) else source
    rt_info = model.get_rt_info()
    section = rt_info[RT_SECTION] if RT_SECTION in rt_info else {}  # noqa: SIM401 (no .get)
    out: dict[str, Any] = {}
    for key, value in section.items():
        text = value.astype(str)
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def openvino_model_meta(path: str | os.PathLike[str]) -> ModelMeta:
    """The `ModelMeta` an IR (or ONNX file) carries; a foreign file's preprocessing is the
    fallback rule's at its input's channels and size, as for ONNX files."""
    model = read_ir(path)
    return meta_from_metadata(path, {**_input_meta(model), **ir_metadata(model)})


def _input_meta(model: Any) -> dict[str, int]:
    shape = model.inputs[0].get_partial_shape()
    dims = [d.get_length() if d.is_static else None for d in shape] if shape.rank.is_static else []
    return input_dims_meta(dims)


# ---- running ----------------------------------------------------------------------------------
def compile_openvino(
    source: str | os.PathLike[str] | Any, threads: int | None = None, *, tuned: bool = True
) -> Any:
    """An `openvino.CompiledModel` on the CPU, computing in float32.

    Args:
        source: an IR `.xml`, an `.onnx` file, or an `openvino.Model`.
        threads: inference threads (default: OpenVINO's choice, one per physical core).
        tuned: also ask for the LATENCY hint (one stream, all threads on one request).
            False gives OpenVINO's defaults with only `threads` and float32 set: the peer.
    """
    ov = require_openvino()
    model = read_ir(source) if isinstance(source, (str, os.PathLike)) else source
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    if tuned:
        config["PERFORMANCE_HINT"] = "LATENCY"
    try:
        return ov.Core().compile_model(model, "CPU", config)
    except Exception as e:  # an unsupported operator or setting: one line, not a C++ trace
        raise ExportError(f"OpenVINO cannot compile the model ({_first_line(e)})") from None


def openvino_runner(compiled: Any) -> Callable[[np.ndarray], np.ndarray]:
    """float32 (N, C, H, W) array -> logits, through one reused infer request."""
    request = compiled.create_infer_request()

    def run(batch: np.ndarray) -> np.ndarray:
        request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)}, share_inputs=True)
        return request.get_output_tensor(0).data.copy()  # the request reuses its buffer

    return run


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
