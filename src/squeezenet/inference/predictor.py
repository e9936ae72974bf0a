"""Top-k predictions for image files, with the model's own preprocessing and class names.

    >>> predictor = Predictor.load("runs/fmnist")          # or weights, .sqz, .onnx
    >>> for result in predictor.predict_paths(["shoe.jpg", "photos/"]):
    ...     print(result.to_dict())

Images are decoded by `squeezenet.data.images.load_image` (any mode, EXIF orientation
applied, full decode so truncated files fail here), in a small thread pool because Pillow
releases the GIL while decoding, and run in batches. A file that cannot be read becomes a
`PredictionError` naming it; the other files still get their predictions.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import load_model
from ..data.errors import BadImageError
from ..data.folder import IMAGE_EXTENSIONS
from ..data.preprocess import load_model_input
from ..meta import ModelMeta, Preprocessing, fallback_preprocessing, preprocessing_for
from ..models import SqueezeNet
from .backends import INT8_BACKENDS, TORCH_BACKENDS, Runner, make_runner, resolve_backend


@dataclass
class Prediction:
    """The top-k classes of one image, best first."""

    path: str
    labels: list[str]
    indices: list[int]
    probabilities: list[float]

    def to_dict(self) -> dict[str, Any]:
        top = [
            {"label": label, "index": index, "probability": prob}
            for label, index, prob in zip(self.labels, self.indices, self.probabilities)
        ]
        return {"path": self.path, "predictions": top}


class NonFiniteOutputError(ValueError):
    """The model produced NaN or infinite logits (broken weights or preprocessing)."""


@dataclass
class PredictionError:
    """An input that could not be predicted, and why."""

    path: str
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "error": self.error}


Result = Prediction | PredictionError


def collect_image_paths(inputs: Iterable[str | os.PathLike[str]]) -> list[Path | PredictionError]:
    """Expand inputs into image files, in order: files as given, folders recursively.

    Folders contribute their files with image extensions (sorted, hidden ones skipped); a
    file named explicitly is always tried, whatever its extension. A missing input becomes
    a `PredictionError` in its place.
    """
    out: list[Path | PredictionError] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            out += sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in IMAGE_EXTENSIONS
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.exists():
            out.append(path)
        else:
            out.append(PredictionError(str(path), f"no such file or folder: {path}"))
    return out


class Predictor:
    """A model ready to classify images: runner + preprocessing + class names."""

    def __init__(
        self, runner: Runner, preprocess: Preprocessing, class_names: Sequence[str]
    ) -> None:
        self.runner = runner
        self.preprocess = preprocess
        self.class_names = list(class_names)

    @property
    def backend(self) -> str:
        return self.runner.backend

    @classmethod
    def load(
        cls,
        model: str | os.PathLike[str] | SqueezeNet,
        *,
        backend: str = "auto",
        threads: int | None = None,
    ) -> Predictor:
        """Load a run folder, weights file, `.sqz`, `.onnx` file, OpenVINO IR `.xml` or an
        in-memory model.

        Args:
            model: what to load; an `.onnx` or `.xml` file brings its preprocessing and class
                names in its metadata, the others in their `meta`.
            backend: "auto" (the fastest float32 backend here; an INT8 `.onnx` runs as
                INT8) or a name from `BACKENDS`.
            threads: intra-op threads for onnxruntime.
        """
        if isinstance(model, SqueezeNet):
            return cls._from_torch(model, backend, threads)
        path = Path(model)
        if path.suffix.lower() == ".onnx":
            return cls._from_onnx(path, backend, threads)
        if path.suffix.lower() == ".xml":
            return cls._from_openvino(path, backend, threads)
        return cls._from_torch(load_model(path), backend, threads)

    @classmethod
    def _from_torch(cls, model: SqueezeNet, backend: str, threads: int | None) -> Predictor:
        backend = resolve_backend(backend)
        if backend in INT8_BACKENDS:
            # Calibrating on anything but real images would silently cost accuracy.
            raise ValueError(
                "INT8 prediction needs a model calibrated on real images: run `squeezenet "
                "export MODEL --int8 --calib-data SPEC` and predict with the .int8.onnx file"
            )
        preprocess = preprocessing_for(model)
        names = model.meta.class_names or [f"class_{i}" for i in range(model.num_classes)]
        # The exported file is read into the session at creation, so it can go right after.
        with tempfile.TemporaryDirectory(prefix="squeezenet-predict-") as tmp:
            runner = make_runner(backend, model=model, threads=threads, workdir=tmp)
        return cls(runner, preprocess, names)

    @classmethod
    def _from_onnx(cls, path: Path, backend: str, threads: int | None) -> Predictor:
        from ..export import onnx_model_meta, read_metadata
        from ..export.int8 import is_quantized

        metadata = read_metadata(path)
        if backend == "auto":
            backend = "onnxruntime-int8" if is_quantized(metadata) else "onnxruntime"
        backend = resolve_backend(backend)
        if backend in TORCH_BACKENDS:
            raise ValueError(
                f"{path.name} is an ONNX file: use backend onnxruntime or onnxruntime-int8, "
                f"or pass the PyTorch weights to use {backend!r}"
            )
        if backend in INT8_BACKENDS and not is_quantized(metadata):
            raise ValueError(
                f"{path.name} is a float model; make an INT8 file with "
                f"`squeezenet export ... --int8 --calib-data ...` and pass that"
            )
        runner = make_runner(backend, onnx_path=path, threads=threads)
        return cls._with_meta(runner, onnx_model_meta(path))

    @classmethod
    def _from_openvino(cls, path: Path, backend: str, threads: int | None) -> Predictor:
        if backend not in ("auto", "openvino"):
            raise ValueError(
                f"backend {backend!r} cannot run {path.name}, an OpenVINO IR; valid: auto, openvino"
            )
        runner = make_runner("openvino", onnx_path=path, threads=threads)
        # Optional dependency, installed: make_runner has just run it.
        from ..export.openvino import openvino_model_meta

        return cls._with_meta(runner, openvino_model_meta(path))

    @classmethod
    def _with_meta(cls, runner: Runner, meta: ModelMeta) -> Predictor:
        # A foreign file has no preprocessing metadata: its input's channels and size are
        # the best defaults there are (not 3 x 224).
        preprocess = meta.preprocessing or fallback_preprocessing()
        names = meta.class_names
        if not names:  # a foreign file: number the classes
            num_classes = runner(np.zeros((1, *preprocess.input_shape), np.float32)).shape[1]
            names = [f"class_{i}" for i in range(num_classes)]
        return cls(runner, preprocess, names)

    # ---- prediction ---------------------------------------------------------------------------
    def probabilities(self, batch: torch.Tensor | np.ndarray) -> np.ndarray:
        """Softmax probabilities (N, num_classes) of preprocessed inputs (N, C, S, S)."""
        logits = self.runner(batch).astype(np.float64)
        if logits.ndim != 2 or logits.shape[1] != len(self.class_names):
            raise ValueError(
                f"the model gives outputs of shape {logits.shape} but names "
                f"{len(self.class_names)} classes; its class names do not fit it"
            )
        bad = int((~np.isfinite(logits)).any(axis=1).sum())
        if bad:  # NaN weights or statistics: a NaN probability is no prediction (nor JSON)
            raise NonFiniteOutputError(
                f"the model's outputs are NaN or infinite for {bad} of {len(logits)} images; "
                "its weights or preprocessing statistics are broken"
            )
        logits -= logits.max(axis=1, keepdims=True)  # stable softmax
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict_paths(
        self,
        paths: Iterable[str | os.PathLike[str] | PredictionError],
        *,
        topk: int = 5,
        batch_size: int = 32,
        on_progress: Callable[[int], None] | None = None,
    ) -> Iterator[Result]:
        """Predict every image file, yielding one result per input, in order.

        Args:
            paths: image files (e.g. from `collect_image_paths`; errors pass through).
            topk: how many classes to report per image (capped at the class count).
            batch_size: images per model run.
            on_progress: called with the number of inputs finished after each batch.
        """
        if topk < 1 or batch_size < 1:
            raise ValueError(f"topk and batch_size must be >= 1, got {topk} and {batch_size}")
        items = list(paths)
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            for start in range(0, len(items), batch_size):
                chunk = items[start : start + batch_size]
                yield from self._predict_chunk(chunk, topk, pool)
                if on_progress is not None:
                    on_progress(start + len(chunk))

    def _predict_chunk(self, chunk: list[Any], topk: int, pool: ThreadPoolExecutor) -> list[Result]:
        decoded = list(pool.map(self._decode, chunk))
        good = [i for i, d in enumerate(decoded) if isinstance(d, torch.Tensor)]
        results: list[Any] = [d if isinstance(d, PredictionError) else None for d in decoded]
        if good:
            probs = self.probabilities(torch.stack([decoded[i] for i in good]))
            for row, i in zip(probs, good):
                results[i] = self._top(str(chunk[i]), row, topk)
        return results

    def _decode(self, item: str | os.PathLike[str] | PredictionError) -> Any:
        """A preprocessed (C, S, S) tensor, or the PredictionError saying why not."""
        if isinstance(item, PredictionError):
            return item
        try:
            return load_model_input(item, self.preprocess)
        except BadImageError as e:
            return PredictionError(str(item), str(e))

    def _top(self, path: str, probs: np.ndarray, topk: int) -> Prediction:
        order = np.argsort(-probs, kind="stable")[: min(topk, len(probs))]
        return Prediction(
            path=path,
            labels=[self.class_names[i] for i in order],
            indices=[int(i) for i in order],
            probabilities=[float(probs[i]) for i in order],
        )
