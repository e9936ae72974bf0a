"""`squeezenet export`: ONNX (checked against PyTorch), calibrated INT8, and OpenVINO IR."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape

from ..data import DatasetError, load_dataset_for_model
from ..data.preprocess import to_model_input
from ..meta import Preprocessing, preprocessing_for
from .app import console
from .models import model_from_arg
from .options import JSON, REQUIRED, THREADS, Param, config_command, option

FORMATS = ("onnx", "openvino")


def require_export() -> None:
    """Fail with a clear message when the optional ONNX dependencies are missing."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise ValueError(
            f"ONNX export needs onnx and onnxruntime ({e.name} is missing): "
            "pip install 'squeezenet[export]'"
        ) from None


def default_output(model: str, suffix: str = ".onnx") -> Path:
    """Where an export of `model` goes by default: beside the weights, or in the run folder."""
    path = Path(model)
    if path.is_dir():
        return path / f"model{suffix}"
    if path.exists():
        return path.with_suffix(suffix)
    return Path(f"{model}{suffix}")  # a registered name: the current folder


def load_split(
    spec: str,
    split: str,
    data_dir: Path | None,
    preprocess: Preprocessing,
    max_images: int | None = None,
) -> Any:
    """A split of `spec` as the model reads it (an image folder at its input and resize
    sizes, in its channels): train to calibrate on, test to check and evaluate on. With
    `max_images`, a seeded random sample: only those images of a folder are decoded."""
    return load_dataset_for_model(spec, split, preprocess, data_dir=data_dir, max_images=max_images)


@dataclass
class ExportConfig:
    """The options of `squeezenet export`."""

    out: Path | None = option(
        None,
        "ONNX file, or OpenVINO .xml or folder, to write (default: beside the weights; "
        "--output is the old spelling)",
        flags=("--out", "-o", "--output"),
    )
    format: str = option(
        "onnx", f"export format: {' | '.join(FORMATS)} (IR .xml + .bin; needs the openvino extra)"
    )
    input_size: int | None = option(None, "square input side (default: the model's own)", min=1)
    opset: int = option(17, "ONNX opset (>= 10 for ceil-mode pooling)")
    int8: bool = option(False, "also write a calibrated INT8 model (*.int8.onnx)")
    data: str | None = option(
        None,
        "labelled dataset spec whose test split checks and scores the exports (default: "
        "--calib-data, when it holds labels)",
    )
    calib_data: str | None = option(
        None,
        "images to calibrate INT8 on, labels ignored: a dataset spec (its train split) or "
        "folder:PATH with or without class folders (default: --data)",
    )
    calib_images: int = option(512, "images to calibrate on (a random sample)", min=1)
    calibration: str | None = option(
        None, "activation range calibration: minmax | entropy | percentile (default: percentile)"
    )
    eval_limit: int | None = option(
        None, "evaluate on a random sample of this many test images", min=1
    )
    data_dir: Path | None = option(None, "folder holding the datasets")


MODEL = Param(
    "model",
    str,
    "run folder, weights (.safetensors/.pth), .sqz file, or a registered model name",
    default=REQUIRED,
    argument=True,
)


@config_command(
    "export", ExportConfig, params=[MODEL, THREADS, JSON.with_help("print a JSON report")]
)
def export_command(config: ExportConfig, model: str, threads: int | None, as_json: bool) -> None:
    """Export to a single ONNX file (dynamic batch, class names and preprocessing in its
    metadata), checked against PyTorch; with --int8, also a calibrated INT8 model and the
    test accuracy before and after. --format openvino writes an OpenVINO IR instead."""
    c = config
    if c.format not in FORMATS:
        raise ValueError(f"unknown format {c.format!r}; valid: {', '.join(FORMATS)}")
    if c.int8 and c.format != "onnx":
        raise ValueError("--int8 writes an ONNX file: use it with --format onnx")
    calib_spec = c.calib_data or c.data
    if c.int8 and calib_spec is None:
        raise ValueError(
            "--int8 needs calibration images: pass --calib-data SPEC (any images of the model's "
            "domain, e.g. folder:PATH, labels ignored) or --data SPEC"
        )
    require_export()
    # onnx and onnxruntime are optional dependencies: imported once known to be installed.
    from ..export import export_pipeline
    from ..export.int8 import CALIBRATION_METHODS, DEFAULT_CALIBRATION
    from ..export.onnx import check_opset

    check_opset(c.opset)  # before anything is loaded or written
    calibration = c.calibration or DEFAULT_CALIBRATION
    if calibration not in CALIBRATION_METHODS:
        raise ValueError(
            f"unknown calibration {c.calibration!r}; valid: {', '.join(CALIBRATION_METHODS)}"
        )
    net = model_from_arg(model)
    preprocess = preprocessing_for(net, input_size=c.input_size)
    test = _test_split(c, preprocess, quiet=as_json)
    if c.format == "openvino":
        check = to_model_input(test.images[:16], preprocess) if test is not None else None
        onnx_out = default_output(model)  # the IR folder is named after it: w_openvino/
        out = c.out or onnx_out.with_name(f"{onnx_out.stem}_openvino")
        _export_openvino(c, net, out, check, as_json)
        return
    calib = None
    if c.int8:  # labels ignored: a flat folder of photos calibrates, as would ImageNet's train
        calib = load_dataset_for_model(
            calib_spec,
            "train",
            preprocess,
            data_dir=c.data_dir,
            max_images=c.calib_images,
            labels=False,
        )
    outcome = export_pipeline(
        net,
        c.out or default_output(model),
        test=test,
        calib=calib,
        input_size=c.input_size,
        opset=c.opset,
        calib_images=c.calib_images,
        calibration=calibration,
    )
    result = outcome.to_dict()
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        _print_result(result)


def _test_split(c: ExportConfig, preprocess: Preprocessing, quiet: bool) -> Any:
    """The labelled test split to check and score on: --data's, else --calib-data's when it
    holds labels (a flat folder of photos has none: the exports are then checked on
    synthetic images and not scored)."""
    spec = c.data or c.calib_data
    if spec is None:
        return None
    try:
        return load_split(spec, "test", c.data_dir, preprocess, c.eval_limit)
    except DatasetError as e:
        if c.data is not None:
            raise
        if not quiet:
            console.print(
                f"not scored: {escape(str(e))}; pass --data SPEC to score the exports",
                highlight=False,
            )
        return None


def _export_openvino(c: ExportConfig, net: Any, out: Path, check: Any, as_json: bool) -> None:
    # openvino is optional: export_openvino says how to install it when it is missing.
    from ..export import export_openvino

    report = export_openvino(net, out, input_size=c.input_size, opset=c.opset, check_inputs=check)
    result = {"openvino": report.to_dict()}
    del result["openvino"]["metadata"]
    if as_json:
        print(json.dumps(result, indent=2))
        return
    size = report.input_size
    console.print(
        f"wrote [bold]{escape(str(report.path))}[/] and {escape(report.bin_path.name)} "
        f"({report.file_bytes / 1e6:.2f} MB, OpenVINO IR, {size}x{size}, dynamic batch)"
    )
    console.print(
        f"  OpenVINO vs PyTorch on {report.check_images} {report.check_source} images: "
        f"max |diff| {report.max_abs_diff:.2e} (tolerance {report.tolerance:.1e})"
    )


def _print_result(result: dict[str, Any]) -> None:
    fp32 = result["onnx"]
    size = fp32["input_size"]
    console.print(
        f"wrote [bold]{escape(fp32['path'])}[/] ({fp32['file_bytes'] / 1e6:.2f} MB, "
        f"opset {fp32['opset']}, {size}x{size}, dynamic batch)"
    )
    console.print(
        f"  onnxruntime vs PyTorch on {fp32['check_images']} {fp32['check_source']} images: "
        f"max |diff| {fp32['max_abs_diff']:.2e} (tolerance {fp32['tolerance']:.1e})"
    )
    if "top1" in fp32:
        n = fp32["eval_images"]
        console.print(f"  fp32 top-1: {100 * fp32['top1']:.2f}% on {n:,} test images")
    if "int8" in result:
        q = result["int8"]
        console.print(
            f"wrote [bold]{escape(q['path'])}[/] ({q['file_bytes'] / 1e6:.2f} MB, INT8 QDQ, "
            f"{q['calibration']} calibration on {q['calibration_images']} images)"
        )
        if q["top1"] is not None:
            change = 100 * (q["top1"] - fp32["top1"])
            console.print(f"  int8 top-1: {100 * q['top1']:.2f}% ({change:+.2f} points vs fp32)")
