"""Execution backends behind one interface: a `Runner` maps a float32 batch to logits.

    eager              PyTorch, NCHW, inference mode
    channels_last      PyTorch with NHWC memory layout (oneDNN's preferred CPU layout)
    compile            torch.compile (inductor, frozen weights, channels_last)
    onnxruntime        our ONNX export in onnxruntime with our session settings
    onnxruntime-int8   that export, statically quantized (u8s8 QDQ, per-channel)
    onnxruntime-plain  a peer: `torch.onnx.export` with its defaults, run with onnxruntime's
                       default session options
    openvino           our export as an OpenVINO IR (the `openvino` extra), float32, LATENCY hint
    openvino-plain     the other peer: OpenVINO's defaults (float32 pinned) on the plain export

Every figure is compared with the best peer: the faster of the two `-plain` backends, which
are what a user would pick instead of us. A backend that cannot run here (no C++ compiler for
inductor, no PyTorch model behind an ONNX file, onnxruntime or openvino not installed) raises
`BackendUnavailable` with the reason, so a benchmark reports it instead of crashing.
"""

from __future__ import annotations

import copy
import io
import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.preprocess import to_model_input
from ..meta import preprocessing_for
from ..models import SqueezeNet

BACKENDS: tuple[str, ...] = (
    "eager",
    "channels_last",
    "compile",
    "onnxruntime",
    "onnxruntime-int8",
    "onnxruntime-plain",
    "openvino",
    "openvino-plain",
)
PEER_BACKEND = "onnxruntime-plain"  # the peer that is always there when ONNX export is
PEER_BACKENDS = (PEER_BACKEND, "openvino-plain")  # ratios are against the faster of these
OPENVINO_BACKENDS = frozenset({"openvino", "openvino-plain"})
INT8_BACKENDS = frozenset({"onnxruntime-int8"})
TORCH_BACKENDS = frozenset({"eager", "channels_last", "compile"})
# The fastest float32 path in bench/results/inference.json on every model, batch and
# thread count we measured; `predict` uses it unless told otherwise.
DEFAULT_BACKEND = "onnxruntime"


class BackendUnavailable(ValueError):
    """A backend that cannot run on this machine or for this model; the message says why."""

    def __init__(self, backend: str, reason: str) -> None:
        super().__init__(f"backend {backend!r} is unavailable: {reason}")
        self.backend, self.reason = backend, reason


@dataclass
class Runner:
    """A ready-to-run backend.

    Attributes:
        backend: its name (one of `BACKENDS`).
        fn: float32 (N, C, H, W) array -> (N, num_classes) logits.
        precision: "fp32" or "int8".
        onnx_path: the file an onnxruntime or OpenVINO backend runs (`.onnx` or IR `.xml`),
            else None.
    """

    backend: str
    fn: Callable[[np.ndarray], np.ndarray]
    precision: str = "fp32"
    onnx_path: Path | None = None

    def __call__(self, batch: np.ndarray | torch.Tensor) -> np.ndarray:
        if isinstance(batch, torch.Tensor):
            batch = batch.detach().cpu().numpy()
        return self.fn(np.ascontiguousarray(batch, dtype=np.float32))


def check_backend_names(names: list[str]) -> list[str]:
    """Validate backend names, naming the valid choices on error."""
    bad = [n for n in names if n not in BACKENDS]
    if bad or not names:
        raise ValueError(f"unknown backend(s) {bad or names}; valid: {', '.join(BACKENDS)}")
    return list(dict.fromkeys(names))  # de-duplicated, order kept


def onnxruntime_available() -> bool:
    """Whether onnx and onnxruntime (the `export` extra) can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def openvino_available() -> bool:
    """Whether the `openvino` package (the `openvino` extra) can be imported."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_backend(name: str) -> str:
    """`auto` -> the default (fastest float32) backend available here."""
    if name != "auto":
        return check_backend_names([name])[0]
    return DEFAULT_BACKEND if onnxruntime_available() else "channels_last"


def make_runner(
    backend: str,
    *,
    model: SqueezeNet | None = None,
    onnx_path: str | os.PathLike[str] | None = None,
    input_size: int | None = None,
    threads: int | None = None,
    workdir: str | os.PathLike[str] | None = None,
    calib_images: torch.Tensor | None = None,
) -> Runner:
    """Build a runner for `backend` from a PyTorch model and/or an exported ONNX file.

    Args:
        backend: one of `BACKENDS`.
        model: the PyTorch model (needed by the PyTorch backends and to export).
        onnx_path: an existing ONNX file (or, for OpenVINO, an IR `.xml`) to run instead of
            exporting `model`.
        input_size: square input side (default: the model's own).
        threads: intra-op threads for onnxruntime and OpenVINO (PyTorch uses
            `torch.set_num_threads`).
        workdir: where exported files are written (needed when exporting).
        calib_images: preprocessed images to calibrate INT8 with; synthetic images when
            None (fine for timing, not for accuracy).

    Raises:
        BackendUnavailable: the backend cannot run here; `reason` says why.
    """
    check_backend_names([backend])
    if backend in TORCH_BACKENDS:
        if model is None:
            raise BackendUnavailable(backend, "needs a PyTorch model, not an ONNX file")
        return _torch_runner(backend, model)
    if backend in OPENVINO_BACKENDS and not openvino_available():
        raise BackendUnavailable(
            backend, "openvino is not installed (pip install 'squeezenet[openvino]')"
        )
    if not onnxruntime_available():
        raise BackendUnavailable(
            backend, "onnxruntime is not installed (pip install 'squeezenet[export]')"
        )
    if backend in OPENVINO_BACKENDS:
        return _openvino_runner(backend, model, onnx_path, input_size, threads, workdir)
    return _onnx_runner(backend, model, onnx_path, input_size, threads, workdir, calib_images)


# ---- PyTorch ----------------------------------------------------------------------------------
def _torch_runner(backend: str, model: SqueezeNet) -> Runner:
    net = copy.deepcopy(model).cpu().float().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    if backend == "eager":
        return Runner(backend, _torch_fn(net, torch.contiguous_format))
    net = net.to(memory_format=torch.channels_last)
    if backend == "channels_last":
        return Runner(backend, _torch_fn(net, torch.channels_last))
    if not (shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")):
        raise BackendUnavailable(backend, "torch.compile (inductor) needs a C++ compiler on PATH")
    # Frozen weights let inductor fold them into its kernels; shapes are static, so each
    # new batch size compiles once (during warm-up) and then runs its specialised code.
    compiled = torch.compile(net, options={"freezing": True}, dynamic=False)
    return Runner(backend, _torch_fn(compiled, torch.channels_last))


def _torch_fn(net: torch.nn.Module, memory_format: torch.memory_format) -> Callable:
    def run(batch: np.ndarray) -> np.ndarray:
        # The layout conversion is part of the cost: callers hand over NCHW arrays.
        x = torch.from_numpy(batch).contiguous(memory_format=memory_format)
        with torch.inference_mode():
            return net(x).numpy()

    return run


# ---- onnxruntime ------------------------------------------------------------------------------
def _onnx_runner(
    backend: str,
    model: SqueezeNet | None,
    onnx_path: str | os.PathLike[str] | None,
    input_size: int | None,
    threads: int | None,
    workdir: str | os.PathLike[str] | None,
    calib_images: torch.Tensor | None,
) -> Runner:
    from ..export import ort_session, read_metadata
    from ..export.int8 import is_quantized

    if onnx_path is not None:
        path = Path(onnx_path)
    elif model is not None:
        path = _export(backend, model, input_size, _workdir(workdir))
    else:
        raise ValueError("make_runner needs a model or an onnx_path")
    quantized = is_quantized(read_metadata(path))
    if backend in INT8_BACKENDS and not quantized:
        path = _quantize(path, _workdir(workdir), calib_images)
    elif backend not in INT8_BACKENDS and quantized:
        raise BackendUnavailable(backend, f"{path.name} is already INT8; use onnxruntime-int8")
    session = ort_session(path, threads, tuned=backend != PEER_BACKEND)
    input_name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: batch})[0]

    precision = "int8" if backend in INT8_BACKENDS else "fp32"
    return Runner(backend, run, precision, path)


# ---- OpenVINO ---------------------------------------------------------------------------------
def _openvino_runner(
    backend: str,
    model: SqueezeNet | None,
    onnx_path: str | os.PathLike[str] | None,
    input_size: int | None,
    threads: int | None,
    workdir: str | os.PathLike[str] | None,
) -> Runner:
    # Optional dependencies: imported once `make_runner` has checked they are installed.
    from ..export import read_metadata
    from ..export.int8 import is_quantized
    from ..export.openvino import compile_openvino, export_openvino, ir_metadata, openvino_runner

    if onnx_path is not None:
        path = Path(onnx_path)  # the peer runs a given file as it is, like onnxruntime-plain
    elif model is None:
        raise ValueError("make_runner needs a model or an onnx_path")
    elif backend == "openvino":  # our export, converted to the IR that `export` ships
        onnx_file = _export("onnxruntime", model, input_size, _workdir(workdir))
        path = onnx_file.with_suffix(".xml")
        if not path.exists():
            path = export_openvino(onnx_file, path, check=False).path
    else:
        path = _export(PEER_BACKEND, model, input_size, _workdir(workdir))
    metadata = read_metadata(path) if path.suffix.lower() == ".onnx" else ir_metadata(path)
    if is_quantized(metadata):
        raise BackendUnavailable(backend, f"{path.name} is INT8; use onnxruntime-int8")
    compiled = compile_openvino(path, threads, tuned=backend == "openvino")
    return Runner(backend, openvino_runner(compiled), "fp32", path)


def _workdir(workdir: str | os.PathLike[str] | None) -> Path:
    if workdir is None:
        raise ValueError("exporting for onnxruntime needs a workdir for the files")
    Path(workdir).mkdir(parents=True, exist_ok=True)
    return Path(workdir)


def _export(backend: str, model: SqueezeNet, input_size: int | None, workdir: Path) -> Path:
    from ..export import export_onnx

    size = preprocessing_for(model, input_size=input_size).input_size
    if backend == PEER_BACKEND:
        return export_plain(model, workdir / f"plain_{size}.onnx", size)
    path = workdir / f"model_{size}.onnx"
    if not path.exists():  # onnxruntime and onnxruntime-int8 share one export
        export_onnx(model, path, input_size=size, check=False)
    return path


def _quantize(float_path: Path, workdir: Path, calib_images: torch.Tensor | None) -> Path:
    from ..export import onnx_preprocessing, quantize_int8

    if calib_images is None:
        preprocess = onnx_preprocessing(float_path)
        gen = torch.Generator().manual_seed(0)
        shape = (32, *preprocess.input_shape)
        images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen)
        calib_images = to_model_input(images, preprocess)
    return quantize_int8(float_path, workdir / f"{float_path.stem}.int8.onnx", calib_images)


def export_plain(model: SqueezeNet, path: Path, input_size: int) -> Path:
    """The baseline export: `torch.onnx.export` defaults plus a dynamic batch axis."""
    net = copy.deepcopy(model).cpu().float().eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (torch.zeros(1, net.config.in_channels, input_size, input_size),),
            buffer,
            dynamo=False,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
    path.write_bytes(buffer.getvalue())
    return path
