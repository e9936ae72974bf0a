"""Deployment formats: ONNX export with PyTorch parity, calibrated INT8, and OpenVINO IR.

Needs the optional `export` dependencies (onnx, onnxruntime): `pip install 'squeezenet[export]'`;
the OpenVINO IR also needs `pip install 'squeezenet[openvino]'`.

    >>> report = export_onnx(model, "model.onnx")             # checked against PyTorch
    >>> quantize_int8("model.onnx", "model.int8.onnx", calibration_inputs(train, pre))
    >>> evaluate_onnx("model.int8.onnx", test)                  # top-1 accuracy
    >>> export_openvino(model, "model_openvino/")               # model.xml + model.bin
    >>> export_pipeline(model, "model.onnx", test=test, calib=train)  # all three in one
"""

from .int8 import (
    CALIBRATION_IMAGES,
    CALIBRATION_METHODS,
    SCHEME_TYPES,
    Int8Scheme,
    calibration_inputs,
    choose_scheme,
    is_quantized,
    quantize_int8,
)
from .onnx import (
    DEFAULT_OPSET,
    ExportError,
    ExportReport,
    check_parity,
    evaluate_onnx,
    export_onnx,
    model_from_metadata,
    onnx_model_meta,
    onnx_preprocessing,
    ort_session,
    read_metadata,
    run_session,
)
from .openvino import (
    OpenVINOReport,
    OpenVINOUnavailable,
    compile_openvino,
    export_openvino,
    openvino_available,
    openvino_model_meta,
)
from .pipeline import ExportOutcome, export_pipeline, int8_path_for

__all__ = [
    "CALIBRATION_IMAGES",
    "CALIBRATION_METHODS",
    "DEFAULT_OPSET",
    "ExportError",
    "ExportOutcome",
    "ExportReport",
    "Int8Scheme",
    "SCHEME_TYPES",
    "OpenVINOReport",
    "OpenVINOUnavailable",
    "calibration_inputs",
    "check_parity",
    "choose_scheme",
    "compile_openvino",
    "evaluate_onnx",
    "export_onnx",
    "export_openvino",
    "export_pipeline",
    "int8_path_for",
    "is_quantized",
    "model_from_metadata",
    "onnx_model_meta",
    "onnx_preprocessing",
    "openvino_available",
    "openvino_model_meta",
    "ort_session",
    "quantize_int8",
    "read_metadata",
    "run_session",
]
