"""Export -> INT8 -> evaluate, as one call (what `squeezenet export --int8` and the demo run).

>>> outcome = export_pipeline(model, "model.onnx", test=test, calib=train)
>>> outcome.to_dict()   # {"onnx": {...}, "int8": {...}}, the JSON `export --json` prints
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..data.base import InMemoryDataset
from ..data.preprocess import to_model_input
from ..meta import preprocessing_for
from ..models import SqueezeNet
from .int8 import CALIBRATION_IMAGES, DEFAULT_CALIBRATION, calibration_inputs, quantize_int8
from .onnx import DEFAULT_OPSET, ExportReport, evaluate_onnx, export_onnx

CHECK_IMAGES = 16  # test images the parity check runs on


@dataclass
class ExportOutcome:
    """What `export_pipeline` wrote and measured.

    Attributes:
        onnx: the fp32 export's report (path, size, parity check).
        onnx_top1: fp32 ONNX top-1 on the test data (None without it).
        eval_images: test images scored.
        int8_path: the INT8 file (None without calibration data).
        calibration: activation range method of the INT8 model.
        calib_inputs: the preprocessed images INT8 was calibrated on (N, C, S, S), for a
            benchmark that quantizes again.
    """

    onnx: ExportReport
    onnx_top1: float | None = None
    eval_images: int = 0
    int8_path: Path | None = None
    int8_top1: float | None = None
    calibration: str | None = None
    calib_inputs: torch.Tensor | None = None

    def to_dict(self) -> dict[str, Any]:
        r = self.onnx
        fp32: dict[str, Any] = {
            "path": str(r.path),
            "file_bytes": r.file_bytes,
            "input_size": r.input_size,
            "opset": r.opset,
            "max_abs_diff": r.max_abs_diff,
            "tolerance": r.tolerance,
            "check_images": r.check_images,
            "check_source": r.check_source,
        }
        if self.onnx_top1 is not None:
            fp32.update(top1=self.onnx_top1, eval_images=self.eval_images)
        out: dict[str, Any] = {"onnx": fp32}
        if self.int8_path is not None and self.calib_inputs is not None:
            out["int8"] = {
                "path": str(self.int8_path),
                "file_bytes": self.int8_path.stat().st_size,
                "calibration": self.calibration,
                "calibration_images": int(self.calib_inputs.shape[0]),
                "top1": self.int8_top1,
            }
        return out


def int8_path_for(onnx_path: str | os.PathLike) -> Path:
    """`model.onnx` -> `model.int8.onnx`, beside it."""
    path = Path(onnx_path)
    return path.with_name(path.name.removesuffix(".onnx") + ".int8.onnx")


def export_pipeline(
    model: SqueezeNet,
    out: str | os.PathLike,
    *,
    test: InMemoryDataset | None = None,
    calib: InMemoryDataset | None = None,
    input_size: int | None = None,
    opset: int = DEFAULT_OPSET,
    calib_images: int = CALIBRATION_IMAGES,
    calibration: str = DEFAULT_CALIBRATION,
    check_images: int = CHECK_IMAGES,
) -> ExportOutcome:
    """Export `model` to ONNX (parity-checked on `test`'s first images, else synthetic ones)
    and score it on `test`; with `calib` (any dataset: labels are ignored, see
    `data.load_dataset(..., labels=False)`), also a calibrated INT8 model beside it
    (`int8_path_for`), scored on `test` too.

    Raises:
        ExportError: a bad opset or input size, or a parity check that failed.
    """
    pre = preprocessing_for(model, input_size=input_size)
    check = to_model_input(test.images[:check_images], pre) if test is not None else None
    report = export_onnx(model, out, input_size=input_size, opset=opset, check_inputs=check)
    outcome = ExportOutcome(report)
    if test is not None:
        outcome.onnx_top1, outcome.eval_images = evaluate_onnx(report.path, test), len(test)
    if calib is None:
        return outcome
    outcome.calib_inputs = calibration_inputs(calib, pre, count=calib_images)
    outcome.int8_path = int8_path_for(report.path)
    quantize_int8(report.path, outcome.int8_path, outcome.calib_inputs, method=calibration)  # type: ignore[arg-type]
    outcome.calibration = calibration
    if test is not None:
        outcome.int8_top1 = evaluate_onnx(outcome.int8_path, test)
    return outcome
