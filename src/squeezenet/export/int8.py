"""INT8: static (calibrated) quantization of an exported model with onnxruntime's tooling.

The recipe is onnxruntime's recommended one for CNNs on CPU: `quant_pre_process` (shape
inference and graph clean-up), activation ranges calibrated on real training images,
then `quantize_static` into QDQ format with per-channel int8 weights and uint8 activations
(u8s8, the combination onnxruntime's x86 kernels are fastest at: signed-signed measured 3x
slower here). onnxruntime fuses the QDQ pairs into QLinearConv at load time.

One SqueezeNet-specific step: every Fire module ends in a Concat of its two expand
branches. Calibrated separately, the branches get different scales and onnxruntime's
QLinearConcat must requantize every byte through a lookup table (17% of INT8 kernel time
for SqueezeNet 1.1 at 224 px in our profile). Giving both branches and the Concat output
the union of their ranges makes the Concat a plain copy (4% after); the branch with the
smaller range loses at most a bit of resolution. Measured on a Fashion-MNIST SqueezeNet 1.1
(fp32 89.65% top-1): 89.68% with shared scales, 89.72% without.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    TensorData,
    TensorsData,
    create_calibrator,
    quant_pre_process,
    quantize_static,
    save_tensors_data,
)

from ..data.dataset import InMemoryDataset
from ..data.preprocess import to_model_input
from ..files import atomic_path
from ..meta import Preprocessing
from .onnx import ExportError, load_proto, read_metadata, set_metadata

CalibrationName = Literal["minmax", "entropy", "percentile"]
CALIBRATION_METHODS: dict[str, CalibrationMethod] = {
    "minmax": CalibrationMethod.MinMax,
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
}
QUANTIZATION_KEY = "quantization"
CALIBRATION_IMAGES = 512  # training images to calibrate on, by default


def quantize_int8(
    onnx_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    calib_images: torch.Tensor | np.ndarray,
    *,
    method: CalibrationName = "minmax",
    per_channel: bool = True,
    share_concat_scales: bool = True,
    batch_size: int = 32,
) -> Path:
    """Quantize a float ONNX model to INT8 (QDQ), calibrated on `calib_images`; atomic write.

    Args:
        onnx_path: a float model from `export_onnx`.
        out_path: destination `.onnx` file.
        calib_images: preprocessed float32 (N, C, H, W) inputs, ideally a few hundred
            training images (`calibration_inputs` makes them from a dataset).
        method: activation range calibration: "minmax", "entropy" or "percentile".
        per_channel: one weight scale per output channel (recommended for convolutions).
        share_concat_scales: one scale for each Fire module's Concat and its inputs, so the
            Concat is a copy (see the module docstring).
        batch_size: images per calibration run.

    Returns:
        `out_path`; its metadata is the float model's plus a "quantization" entry.
    """
    if method not in CALIBRATION_METHODS:
        valid = ", ".join(CALIBRATION_METHODS)
        raise ExportError(f"unknown calibration method {method!r}; valid: {valid}")
    images = _calibration_array(calib_images)
    metadata = read_metadata(onnx_path)
    if is_quantized(metadata):
        raise ExportError(f"{onnx_path} is already INT8; quantize the float model it came from")
    # onnxruntime's histogram calibrators print progress to stdout, which would corrupt a
    # caller's own output there (e.g. `export --json`); send it to stderr instead.
    with (tempfile.TemporaryDirectory(prefix="squeezenet-int8-") as tmp,
          contextlib.redirect_stdout(sys.stderr)):  # fmt: skip
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(onnx_path), str(prepared))
        ranges = _calibrate(prepared, images, CALIBRATION_METHODS[method], batch_size, Path(tmp))
        if share_concat_scales:
            share_concat_ranges(load_proto(prepared), ranges)
        cache = Path(tmp) / "ranges.json"
        save_tensors_data(ranges, cache)
        with atomic_path(out_path) as out:
            quantize_static(
                str(prepared),
                str(out),
                calibration_data_reader=None,  # the ranges come from the cache written above
                calibration_cache_path=str(cache),
                calibrate_method=CALIBRATION_METHODS[method],
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
            )
            _finish(out, metadata, method, per_channel, share_concat_scales, len(images))
    return Path(out_path)


def _calibration_array(images: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    images = np.ascontiguousarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[0] == 0:
        raise ExportError(
            f"calibration needs a non-empty (N, C, H, W) batch of preprocessed images, "
            f"got shape {images.shape}"
        )
    return images


class _BatchReader(CalibrationDataReader):
    """Feeds the calibration images to onnxruntime's calibrator in batches."""

    def __init__(self, input_name: str, images: np.ndarray, batch_size: int) -> None:
        self._batches: Iterator[np.ndarray] = (
            images[i : i + batch_size] for i in range(0, len(images), max(1, batch_size))
        )
        self._input_name = input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {self._input_name: batch}


def _calibrate(
    model_path: Path, images: np.ndarray, method: CalibrationMethod, batch_size: int, tmp: Path
) -> TensorsData:
    calibrator = create_calibrator(
        model_path, augmented_model_path=str(tmp / "augmented.onnx"), calibrate_method=method
    )
    input_name = load_proto(model_path).graph.input[0].name
    calibrator.collect_data(_BatchReader(input_name, images, batch_size))
    return calibrator.compute_data()


def share_concat_ranges(model: onnx.ModelProto, ranges: TensorsData) -> int:
    """Give every Concat's inputs and output the union of their calibrated ranges.

    Returns:
        How many Concat nodes were unified.
    """
    count = 0
    for node in model.graph.node:
        if node.op_type != "Concat":
            continue
        names = [n for n in (*node.input, *node.output) if n in ranges]
        if len(names) != len(node.input) + len(node.output):
            continue  # a tensor without a range is not quantized; leave this Concat alone
        lows, highs = zip(*(ranges[n].range_value for n in names))
        low = np.array(min(float(np.min(v)) for v in lows), dtype=np.float32)
        high = np.array(max(float(np.max(v)) for v in highs), dtype=np.float32)
        for name in names:
            ranges[name] = TensorData(lowest=low, highest=high)
        count += 1
    return count


def _finish(
    path: Path, metadata: dict, method: str, per_channel: bool, shared: bool, n_images: int
) -> None:
    """Carry the float model's metadata over, add how it was quantized, and validate."""
    proto = load_proto(path)
    metadata = dict(metadata)
    metadata[QUANTIZATION_KEY] = {
        "format": "QDQ",
        "activations": "uint8",
        "weights": "int8 per-channel" if per_channel else "int8 per-tensor",
        "calibration": method,
        "calibration_images": n_images,
        "shared_concat_scales": shared,
    }
    set_metadata(proto, metadata)
    onnx.checker.check_model(proto)
    path.write_bytes(proto.SerializeToString())


def calibration_inputs(
    dataset: InMemoryDataset,
    preprocess: Preprocessing,
    *,
    count: int = CALIBRATION_IMAGES,
    seed: int = 0,
) -> torch.Tensor:
    """A random, reproducible sample of `count` dataset images, preprocessed for the model."""
    if len(dataset) == 0:
        raise ExportError(f"dataset {dataset.name!r} has no images to calibrate on")
    gen = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(dataset), generator=gen)[: max(1, count)]
    return to_model_input(dataset.images[index], preprocess)


def is_quantized(metadata: dict) -> bool:
    """Whether an exported file's metadata says it was made by `quantize_int8`."""
    return isinstance(metadata.get(QUANTIZATION_KEY), dict)

