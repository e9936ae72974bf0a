"""ONNX export with its own proof: a single file, dynamic batch, metadata, PyTorch parity.

The file is a plain opset-17 graph of standard operators (Conv, Relu, MaxPool with
`ceil_mode=1`, Concat, GlobalAveragePool), so any ONNX runtime can load it. Dropout is gone
(the model is exported in eval mode) and constants are folded. The model's class names and
preprocessing travel in `metadata_props`, each value JSON-encoded, so `predict` needs
nothing but the file.

Exporter choice: the TorchScript exporter (`dynamo=False`) gives the same clean graph as the
dynamo exporter for these all-convolution networks, in 0.4 s instead of 9 s, and handles the
dynamic batch axis through `dynamic_axes`.
"""

from __future__ import annotations

import copy
import io
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..data.base import InMemoryDataset
from ..data.preprocess import to_model_input
from ..files import atomic_path
from ..meta import Preprocessing, preprocessing_for
from ..models import SqueezeNet
from .onnx_meta import (  # re-exported: the metadata side of an ONNX file
    CONFIG_KEY,
    FORMAT_KEY,
    FORMAT_VERSION,
    MAX_ONNX_BYTES,
    ExportError,
    graph_input_meta,
    load_proto,
    model_from_metadata,
    onnx_metadata,
    onnx_model_meta,
    onnx_preprocessing,
    read_metadata,
    set_metadata,
)

__all__ = [
    "CONFIG_KEY",
    "DEFAULT_ATOL",
    "DEFAULT_OPSET",
    "FORMAT_KEY",
    "FORMAT_VERSION",
    "INPUT_NAME",
    "MAX_ONNX_BYTES",
    "MIN_OPSET",
    "OUTPUT_NAME",
    "ExportError",
    "ExportReport",
    "check_opset",
    "check_parity",
    "evaluate_onnx",
    "export_onnx",
    "graph_input_meta",
    "load_proto",
    "model_from_metadata",
    "onnx_metadata",
    "onnx_model_meta",
    "onnx_preprocessing",
    "ort_session",
    "read_metadata",
    "run_session",
    "set_metadata",
    "supported_opsets",
]

if TYPE_CHECKING:  # onnx and onnxruntime are the optional `export` extra: imported where used
    import onnx
    import onnxruntime as ort

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
DEFAULT_OPSET = 17
DEFAULT_ATOL = 1e-4
MIN_OPSET = 10  # ceil-mode max-pooling
# The TorchScript exporter's newest opset (a private constant: DEFAULT_OPSET if it moves).
_TORCH_MAX_OPSET = getattr(
    getattr(torch.onnx, "_constants", None), "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", DEFAULT_OPSET
)


@dataclass
class ExportReport:
    """What `export_onnx` wrote and how closely it matches PyTorch.

    Attributes:
        path: the ONNX file.
        input_size: side of the square input the file was traced at (any batch size runs).
        opset: ONNX opset version.
        file_bytes: size of the file on disk.
        max_abs_diff: largest |onnxruntime - PyTorch| logit over the check inputs (None if
            the check was skipped).
        tolerance: the bound it had to meet: `atol * max(1, max |logit|)`.
        check_images: how many images were compared.
        check_source: where they came from ("given" or "synthetic").
        metadata: the metadata_props written (decoded).
    """

    path: Path
    input_size: int
    opset: int
    file_bytes: int
    max_abs_diff: float | None = None
    tolerance: float | None = None
    check_images: int = 0
    check_source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def export_onnx(
    model: SqueezeNet,
    path: str | os.PathLike[str],
    *,
    input_size: int | None = None,
    opset: int = DEFAULT_OPSET,
    check: bool = True,
    check_inputs: torch.Tensor | None = None,
    atol: float = DEFAULT_ATOL,
) -> ExportReport:
    """Export `model` to a single ONNX file with a dynamic batch axis, atomically.

    Args:
        model: the SqueezeNet; its `meta` supplies class names and preprocessing.
        path: destination `.onnx` file.
        input_size: square input side (default: the model's preprocessing's, else 224).
        opset: ONNX opset; >= 10 is needed for ceil-mode max-pooling.
        check: run the file in onnxruntime and compare its logits with PyTorch's.
        check_inputs: preprocessed (N, C, S, S) inputs for the check, ideally real images;
            synthetic images are used when None.
        atol: the check fails when the max difference exceeds `atol * max(1, max |logit|)`.

    Raises:
        ExportError: the input size is too small, the opset too old, or the check failed.
    """
    import onnx

    check_opset(opset)
    preprocess = preprocessing_for(model, input_size=input_size)
    _check_input_size(model, preprocess.input_size)
    net = _export_copy(model)
    metadata = onnx_metadata(model, preprocess)
    proto = _trace_to_onnx(net, preprocess, opset)
    set_metadata(proto, metadata)
    onnx.checker.check_model(proto, full_check=True)
    path = Path(path)
    report = ExportReport(path, preprocess.input_size, opset, 0, metadata=metadata)
    with atomic_path(path) as tmp:
        tmp.write_bytes(proto.SerializeToString())
        if check:
            inputs, report.check_source = _check_inputs(check_inputs, preprocess)
            report.max_abs_diff, report.tolerance = check_parity(net, tmp, inputs, atol=atol)
            report.check_images = inputs.shape[0]
    report.file_bytes = path.stat().st_size
    return report


def supported_opsets() -> range:
    """The opsets `export_onnx` can write here: from `MIN_OPSET` (ceil-mode max-pooling) to
    the newest both the installed torch exporter and onnx know."""
    import onnx

    newest = min(_TORCH_MAX_OPSET, onnx.defs.onnx_opset_version())
    return range(MIN_OPSET, newest + 1)


def check_opset(opset: int) -> None:
    """Raise `ExportError` (one line, with the valid range) for an opset we cannot write."""
    import onnx

    valid = supported_opsets()
    if isinstance(opset, bool) or not isinstance(opset, int) or opset not in valid:
        raise ExportError(
            f"opset {opset!r} is not supported; valid: {valid.start}..{valid.stop - 1} "
            f"(from {MIN_OPSET} for ceil-mode max-pooling to the newest torch "
            f"{torch.__version__.split('+')[0]} and onnx {onnx.__version__} can write)"
        )


def _check_input_size(model: SqueezeNet, input_size: int) -> None:
    minimum = model.min_input_size()
    if input_size < minimum:
        raise ExportError(
            f"input size {input_size} is too small for {model.config.name}: "
            f"the minimum is {minimum}"
        )


def _export_copy(model: SqueezeNet) -> SqueezeNet:
    """A CPU float32 eval-mode copy, so exporting never touches the caller's model."""
    net = copy.deepcopy(model).cpu().float().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _trace_to_onnx(net: SqueezeNet, preprocess: Preprocessing, opset: int) -> onnx.ModelProto:
    import onnx

    # Batch 2 in the trace so that no size-1 batch dimension can be specialised away.
    dummy = torch.zeros(2, *preprocess.input_shape)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo; see the module docstring.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(
            net,
            (dummy,),
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            do_constant_folding=True,
        )
    proto = onnx.load_model_from_string(buffer.getvalue())
    _inline_shared_initializers(proto.graph)
    proto.doc_string = f"{net.config.name}: SqueezeNet (Iandola et al. 2016), by squeezenet"
    return proto


def _inline_shared_initializers(graph: onnx.GraphProto) -> None:
    """Replace `Identity(initializer)` nodes by a copy of the initializer.

    The exporter de-duplicates identical weights (the all-zero biases of a freshly
    initialised model) and aliases them through Identity nodes; a copy keeps the graph a
    plain chain of compute nodes for every runtime, at the cost of a few bytes.
    """
    initializers = {t.name: t for t in graph.initializer}
    for node in [n for n in graph.node if n.op_type == "Identity" and n.input[0] in initializers]:
        copy_ = graph.initializer.add()
        copy_.CopyFrom(initializers[node.input[0]])
        copy_.name = node.output[0]
        graph.node.remove(node)


# ---- running and checking ---------------------------------------------------------------------
def ort_session(
    path: str | os.PathLike[str], threads: int | None = None, *, tuned: bool = True
) -> ort.InferenceSession:
    """An onnxruntime CPU session.

    Args:
        path: the ONNX file.
        threads: intra-op threads (default: onnxruntime's choice, one per physical core).
        tuned: our settings: all graph optimisations (Conv+ReLU fusion, NCHWc blocked
            layout), sequential execution and a single inter-op thread, which is what a
            chain of convolutions wants. They equal onnxruntime 1.32's defaults; we pin
            them so that a change of default cannot silently slow us down. False gives
            onnxruntime's defaults (the peer we compare against) with only `threads` set.
    """
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such ONNX file: {path}")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings about unused initializers are noise to users
    if threads:
        options.intra_op_num_threads = threads
    if tuned:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
    load_proto(path)  # our own checks (size, external data) before onnxruntime reads it
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for bad files
        raise ExportError(f"{path}: onnxruntime cannot load it ({e})") from None


def run_session(session: ort.InferenceSession, inputs: np.ndarray | torch.Tensor) -> np.ndarray:
    """Logits (N, K) of a float32 (N, C, H, W) batch."""
    if isinstance(inputs, torch.Tensor):
        inputs = inputs.detach().cpu().numpy()
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.ascontiguousarray(inputs, dtype=np.float32)})[0]


def _check_inputs(
    given: torch.Tensor | None, preprocess: Preprocessing
) -> tuple[torch.Tensor, str]:
    if given is not None:
        if given.dim() != 4 or tuple(given.shape[1:]) != preprocess.input_shape:
            raise ExportError(
                f"check inputs must be (N, {', '.join(map(str, preprocess.input_shape))}), "
                f"got {tuple(given.shape)}"
            )
        return given.float(), "given"
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4, *preprocess.input_shape), dtype=torch.uint8, generator=gen)
    return to_model_input(images, preprocess), "synthetic"


def check_parity(
    model: torch.nn.Module,
    onnx_path: str | os.PathLike[str],
    inputs: torch.Tensor,
    *,
    atol: float = DEFAULT_ATOL,
) -> tuple[float, float]:
    """Compare onnxruntime with PyTorch on `inputs`, as a whole batch and one image alone.

    Returns:
        (max abs difference, tolerance).

    Raises:
        ExportError: the difference exceeds `atol * max(1, max |logit|)`.
    """
    session = ort_session(onnx_path, threads=torch.get_num_threads(), tuned=False)
    with torch.no_grad():
        expected = model.eval()(inputs).numpy()
    got = run_session(session, inputs)
    single = run_session(session, inputs[:1])  # a different batch size: the axis is dynamic
    diff = float(max(np.abs(got - expected).max(), np.abs(single - expected[:1]).max()))
    tolerance = atol * max(1.0, float(np.abs(expected).max()))
    if not diff <= tolerance:  # also catches NaN
        raise ExportError(
            f"{onnx_path}: onnxruntime logits differ from PyTorch by {diff:.3g} "
            f"(tolerance {tolerance:.3g})"
        )
    return diff, tolerance


def evaluate_onnx(
    path: str | os.PathLike[str],
    dataset: InMemoryDataset,
    *,
    batch_size: int = 256,
    threads: int | None = None,
    limit: int | None = None,
) -> float:
    """Top-1 accuracy (fraction) of an ONNX classifier on a dataset, with its own preprocessing.

    Args:
        path: an ONNX file written by `export_onnx` or `quantize_int8`.
        dataset: labelled uint8 images; resized to the model's input size if needed.
        batch_size: images per run.
        threads: intra-op threads.
        limit: evaluate only the first `limit` images.
    """
    session = ort_session(path, threads)
    meta = onnx_model_meta(path)
    names = meta.class_names
    if names and len(names) != dataset.num_classes:
        raise ExportError(
            f"{path} has {len(names)} classes but dataset {dataset.name!r} "
            f"has {dataset.num_classes}"
        )
    n = len(dataset) if limit is None else min(limit, len(dataset))
    if n == 0:
        raise ExportError(f"dataset {dataset.name!r} is empty")
    correct = 0
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        inputs = to_model_input(dataset.images[start:stop], meta.preprocessing)
        logits = run_session(session, inputs)
        correct += int((logits.argmax(1) == dataset.labels[start:stop].numpy()).sum())
    return correct / n
