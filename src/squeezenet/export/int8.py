"""INT8: static (calibrated) quantization of an exported model with onnxruntime's tooling.

The recipe is onnxruntime's recommended one for CNNs on CPU: `quant_pre_process` (shape
inference and graph clean-up), activation ranges calibrated on real images, then
`quantize_static` with per-channel weights; onnxruntime fuses the QDQ pairs (and the
Relu after every Conv) into QLinearConv at load time.

The integer types follow the CPU (`choose_scheme`, onnxruntime's guidance): uint8
activations with int8 weights (u8s8, the combination onnxruntime's x86 kernels are fastest
at; signed-signed measured 3x slower here) where the dot product accumulates without
saturation (x86 with VNNI, Arm, others); on x86 without VNNI, u8s8 runs on VPMADDUBSW,
whose 16-bit pair sums can saturate, so the weights get 7 bits (`reduce_range`), which
keeps the fast kernel and cannot saturate (2 x 255 x 64 < 32768).

Activation ranges: "percentile" (99.999th, the default) clips the rare outliers that
stretch a min/max range. On the authors' ImageNet SqueezeNet 1.0 (fp32 64.2% top-1 on the
500-image sample) min/max ranges lost 1.4 points, percentile ones none (bench/imagenet.py).
onnxruntime's histogram calibrators keep every batch's activations and stack them, which
fails on a short last batch ("inhomogeneous shape") and holds them all in memory; batches
are fed one collect at a time here, the histograms merge between them.

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
import platform
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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
from ..hardware import cpu_flags
from ..meta import Preprocessing
from .onnx import ExportError, load_proto, read_metadata, set_metadata

CalibrationName = Literal["minmax", "entropy", "percentile"]
CALIBRATION_METHODS: dict[str, CalibrationMethod] = {
    "minmax": CalibrationMethod.MinMax,
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
}
DEFAULT_CALIBRATION: CalibrationName = "percentile"
PERCENTILE = 99.999  # of each activation's histogram: the range's upper end
QUANTIZATION_KEY = "quantization"
CALIBRATION_IMAGES = 512  # training images to calibrate on, by default

# Integer types by name: (activations, weights, reduce_range: 7-bit weights).
SCHEME_TYPES: dict[str, tuple[QuantType, QuantType, bool]] = {
    "u8s8": (QuantType.QUInt8, QuantType.QInt8, False),
    "u8s8-reduced": (QuantType.QUInt8, QuantType.QInt8, True),
    "u8u8": (QuantType.QUInt8, QuantType.QUInt8, False),
}
QUANT_FORMATS = {"QDQ": QuantFormat.QDQ, "QOperator": QuantFormat.QOperator}
# x86 flags (Linux /proc/cpuinfo names) of instructions with 32-bit u8 x s8 dot products.
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
_X86_MACHINES = frozenset({"x86_64", "amd64", "i386", "i686", "x86"})


@dataclass(frozen=True)
class Int8Scheme:
    """The integer types and ONNX format of an INT8 model, and why they were chosen.

    Attributes:
        types: a key of `SCHEME_TYPES`: "u8s8", "u8s8-reduced" (7-bit weights) or "u8u8".
        quant_format: "QDQ" (QuantizeLinear/DequantizeLinear pairs that onnxruntime fuses)
            or "QOperator" (QLinearConv and friends written out).
        reason: one line for the metadata and reports.
    """

    types: str = "u8s8"
    quant_format: str = "QDQ"
    reason: str = ""

    def __post_init__(self) -> None:
        if self.types not in SCHEME_TYPES:
            raise ExportError(
                f"unknown INT8 types {self.types!r}; valid: {', '.join(SCHEME_TYPES)}"
            )
        if self.quant_format not in QUANT_FORMATS:
            valid = ", ".join(QUANT_FORMATS)
            raise ExportError(f"unknown INT8 format {self.quant_format!r}; valid: {valid}")

    @property
    def reduce_range(self) -> bool:
        return SCHEME_TYPES[self.types][2]

    def to_dict(self) -> dict[str, Any]:
        _, weights, reduced = SCHEME_TYPES[self.types]
        return {
            "types": self.types,
            "format": self.quant_format,
            "activations": "uint8",
            "weights": "int8" if weights == QuantType.QInt8 else "uint8",
            "reduce_range": reduced,
            "reason": self.reason,
        }


def choose_scheme(flags: Iterable[str] | None = None, machine: str | None = None) -> Int8Scheme:
    """The INT8 types onnxruntime's guidance gives for a CPU (this one by default).

    u8s8 QDQ everywhere its dot products cannot saturate: x86 with VNNI (32-bit
    accumulation), Arm and other architectures. On x86 without VNNI onnxruntime runs u8s8 on
    VPMADDUBSW, whose 16-bit pair sums saturate with 8-bit weights; 7-bit weights
    ("u8s8-reduced") keep that fast kernel and cannot saturate.

    Args:
        flags: CPU feature flags (`hardware.cpu_flags()` by default).
        machine: `platform.machine()` by default.
    """
    flags = cpu_flags() if flags is None else frozenset(flags)
    machine = (platform.machine() if machine is None else machine).lower()
    if machine not in _X86_MACHINES:
        return Int8Scheme("u8s8", reason=f"{machine or 'unknown'} CPU: u8s8 cannot saturate")
    vnni = sorted(VNNI_FLAGS & flags)
    if vnni:
        return Int8Scheme("u8s8", reason=f"x86 with {', '.join(vnni)}: u8s8 cannot saturate")
    return Int8Scheme(
        "u8s8-reduced",
        reason="x86 without VNNI: 7-bit weights so u8s8 (VPMADDUBSW) cannot saturate",
    )


def resolve_scheme(scheme: str | Int8Scheme) -> Int8Scheme:
    """A scheme: "auto" (`choose_scheme()` for this CPU), a `SCHEME_TYPES` name, or as is."""
    if isinstance(scheme, Int8Scheme):
        return scheme
    if scheme == "auto":
        return choose_scheme()
    if scheme not in SCHEME_TYPES:
        raise ExportError(f"unknown INT8 scheme {scheme!r}; valid: auto, {', '.join(SCHEME_TYPES)}")
    return Int8Scheme(scheme, reason="asked for")


def quantize_int8(
    onnx_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    calib_images: torch.Tensor | np.ndarray,
    *,
    method: CalibrationName = DEFAULT_CALIBRATION,
    scheme: str | Int8Scheme = "auto",
    per_channel: bool = True,
    share_concat_scales: bool = True,
    batch_size: int = 32,
) -> Path:
    """Quantize a float ONNX model to INT8, calibrated on `calib_images`; atomic write.

    Args:
        onnx_path: a float model from `export_onnx`.
        out_path: destination `.onnx` file.
        calib_images: preprocessed float32 (N, C, H, W) inputs, ideally a few hundred
            training images (`calibration_inputs` makes them from a dataset).
        method: activation range calibration: "percentile" (99.999th), "entropy" or "minmax".
        scheme: integer types and format: "auto" (`choose_scheme` for this CPU), a name of
            `SCHEME_TYPES`, or an `Int8Scheme`.
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
    chosen = resolve_scheme(scheme)
    images = _calibration_array(calib_images)
    metadata = read_metadata(onnx_path)
    if is_quantized(metadata):
        raise ExportError(f"{onnx_path} is already INT8; quantize the float model it came from")
    activations, weights, reduce_range = SCHEME_TYPES[chosen.types]
    # onnxruntime's histogram calibrators print a progress line per batch to stdout, which
    # would corrupt a caller's own output there (e.g. `export --json`) and floods a terminal:
    # dropped (its warnings go through logging, not print).
    with (
        tempfile.TemporaryDirectory(prefix="squeezenet-int8-") as tmp,
        open(os.devnull, "w") as quiet,
        contextlib.redirect_stdout(quiet),
    ):
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
                quant_format=QUANT_FORMATS[chosen.quant_format],
                per_channel=per_channel,
                reduce_range=reduce_range,
                activation_type=activations,
                weight_type=weights,
            )
            record = {
                **chosen.to_dict(),
                "per_channel": per_channel,
                "calibration": method,
                "calibration_images": len(images),
                "shared_concat_scales": share_concat_scales,
            }
            if method == "percentile":
                record["percentile"] = PERCENTILE
            _finish(out, metadata, record)
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
    """Feeds one batch of images to onnxruntime's calibrator."""

    def __init__(self, input_name: str, batch: np.ndarray) -> None:
        self._batch: dict[str, np.ndarray] | None = {input_name: batch}

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch, self._batch = self._batch, None
        return batch


def _calibrate(
    model_path: Path, images: np.ndarray, method: CalibrationMethod, batch_size: int, tmp: Path
) -> TensorsData:
    options = {"percentile": PERCENTILE} if method == CalibrationMethod.Percentile else {}
    calibrator = create_calibrator(
        model_path,
        augmented_model_path=str(tmp / "augmented.onnx"),
        calibrate_method=method,
        extra_options=options,
    )
    input_name = load_proto(model_path).graph.input[0].name
    step = max(1, batch_size)
    # One collect per batch: the histogram calibrators stack a collect's batches (a short
    # last one fails) and hold every activation until the end; the min/max and the
    # histograms merge across collects instead.
    for start in range(0, len(images), step):
        calibrator.collect_data(_BatchReader(input_name, images[start : start + step]))
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


def _finish(path: Path, metadata: dict, record: dict[str, Any]) -> None:
    """Carry the float model's metadata over, add how it was quantized, and validate."""
    proto = load_proto(path)
    metadata = dict(metadata)
    metadata[QUANTIZATION_KEY] = record
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
