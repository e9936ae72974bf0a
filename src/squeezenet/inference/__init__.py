"""Serving: predictions, backends and benchmarks.

Submodules are imported on first use (PEP 562): they pull in onnxruntime, which is an
optional dependency and slow to import. A model's preprocessing is `squeezenet.meta`'s
`Preprocessing`, applied by `squeezenet.data.preprocess`.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "BACKENDS": "backends",
    "BackendUnavailable": "backends",
    "make_runner": "backends",
    "Prediction": "predictor",
    "PredictionError": "predictor",
    "Predictor": "predictor",
    "collect_image_paths": "predictor",
    "BenchReport": "report",
    "BenchResult": "report",
    "machine_info": "machine",
    "measure_sgemm": "machine",
    "run_benchmark": "benchmark",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
