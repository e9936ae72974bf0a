"""Latency and throughput per backend, next to the machine's own sgemm rate, measured honestly.

Method, and why:
- Every backend runs the same preprocessed batch. Each is warmed up first (torch.compile
  compiles, onnxruntime allocates its arenas), and the warm-up is not timed.
- Backends are measured in interleaved rounds, in a new (seeded) random order each round,
  rather than one after another, so a load change on a shared machine hits all of them alike
  and no backend always follows the same neighbour; their ratios stay meaningful even when
  absolute times move.
- A turn of short calls starts with one untimed call: the previous backend's worker threads
  may still be spinning for a moment (about a millisecond), and the first call after a
  switch would pay for them. Calls longer than `round_time` are not measurably affected.
- p50 and p90 are over all timed calls; throughput is batch / p50. Achieved GFLOP/s is the
  model's FLOPs (torch.utils.flop_counter, convolutions only, as in the paper) per image x
  batch / p50, for every backend, INT8 included, so it measures useful work per second.
- Ratios are against the best peer at each batch size: the faster of onnxruntime and
  OpenVINO running a plain export of the same network (`PEER_BACKENDS`), in the same rounds:
  the engines a user would pick instead of ours.
- The sgemm rate (a square fp32 matmul in PyTorch at the same thread count) is measured in
  the same rounds: the machine's attainable fp32 peak under the same conditions. The same
  matmul in onnxruntime is measured too (`sgemm_gflops_onnxruntime`), because PyTorch's
  MKL sgemm can fall short of the chip's peak on non-Intel CPUs.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.preprocess import to_model_input
from ..meta import Preprocessing, preprocessing_for
from ..models import SqueezeNet
from ..summary import summarize
from .backends import BACKENDS, PEER_BACKENDS, BackendUnavailable, Runner, make_runner
from .machine import machine_info, mlas_sgemm_task, sgemm_task, torch_threads
from .timing import PEAK_PREFIX, interleave

Progress = Callable[[str], None]


@dataclass
class BenchResult:
    """One backend at one batch size."""

    backend: str
    batch: int
    input_size: int
    threads: int
    p50_ms: float
    p90_ms: float
    images_per_s: float
    gflops: float | None  # None when the model's FLOPs are unknown (a foreign ONNX file)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BenchReport:
    """Everything one benchmark run measured.

    Attributes:
        machine: CPU, thread count, library versions, `sgemm_gflops` (PyTorch) and
            `sgemm_gflops_onnxruntime`.
        model: name, input size, FLOPs per image, parameters.
        results: one row per backend and batch size.
        unavailable: backend -> why it could not run here.
        agreement: backend -> max |logit difference| and top-1 agreement with the first
            float32 backend, proving every backend computes the same model.

    Ratios are against the best peer at each batch size: the faster of the peers
    (`PEER_BACKENDS`: onnxruntime and OpenVINO on a plain export) measured in the same run.
    """

    machine: dict[str, Any]
    model: dict[str, Any]
    results: list[BenchResult] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    agreement: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "model": self.model,
            "results": [r.to_dict() for r in self.results],
            "unavailable": [{"backend": b, "reason": r} for b, r in self.unavailable.items()],
            "agreement": self.agreement,
            "best_peer": {
                str(b): row.backend
                for b in dict.fromkeys(r.batch for r in self.results)
                if (row := self.best_peer(b)) is not None
            },
        }

    def get(self, backend: str, batch: int) -> BenchResult | None:
        """The row of `backend` at `batch`, if it ran."""
        return next((r for r in self.results if r.backend == backend and r.batch == batch), None)

    def fastest(
        self, batch: int, *, int8: bool = False, include_peer: bool = False
    ) -> BenchResult | None:
        """The lowest-p50 row at `batch` among our float32 (or, with int8=True, INT8) backends.

        The peers (onnxruntime and OpenVINO on a plain export) are what we compare against,
        so they are left out unless `include_peer`.
        """
        rows = [
            r
            for r in self.results
            if r.batch == batch
            and _is_int8(r.backend) == int8
            and (include_peer or r.backend not in PEER_BACKENDS)
        ]
        return min(rows, key=lambda r: r.p50_ms, default=None)

    def best_peer(self, batch: int) -> BenchResult | None:
        """The faster peer at `batch` (lowest p50 among `PEER_BACKENDS` that ran)."""
        rows = [r for r in self.results if r.batch == batch and r.backend in PEER_BACKENDS]
        return min(rows, key=lambda r: r.p50_ms, default=None)

    def ratio(self, backend: str, batch: int, peer: str | None = None) -> float | None:
        """p50 latency of `backend` / p50 of `peer` at `batch` (< 1 means faster).

        Args:
            backend: the backend measured.
            batch: the batch size.
            peer: the backend to divide by; None for the best peer at that batch.
        """
        mine = self.get(backend, batch)
        theirs = self.best_peer(batch) if peer is None else self.get(peer, batch)
        return None if mine is None or theirs is None else mine.p50_ms / theirs.p50_ms

    def sgemm_fraction(self, row: BenchResult, peak: str = "sgemm_gflops") -> float | None:
        """The row's achieved GFLOP/s as a fraction of a measured sgemm rate.

        Args:
            row: a result row.
            peak: "sgemm_gflops" (PyTorch's) or "sgemm_gflops_onnxruntime".
        """
        rate = self.machine.get(peak)
        return row.gflops / rate if rate and row.gflops is not None else None


def _is_int8(backend: str) -> bool:
    return backend.endswith("-int8")


def _peak_tasks(size: int, threads: int) -> dict[str, Callable[[], object]]:
    """The sgemm tasks measured alongside the backends, keyed by their machine-info name."""
    tasks: dict[str, Callable[[], object]] = {f"{PEAK_PREFIX}sgemm_gflops": sgemm_task(size)[0]}
    mlas = mlas_sgemm_task(size, threads)
    if mlas is not None:
        tasks[f"{PEAK_PREFIX}sgemm_gflops_onnxruntime"] = mlas
    return tasks


def run_benchmark(
    model: SqueezeNet | None,
    backends: Sequence[str] = BACKENDS,
    batches: Sequence[int] = (1, 32),
    input_size: int | None = None,
    threads: int | None = None,
    *,
    onnx_path: str | os.PathLike[str] | None = None,
    rounds: int = 15,
    round_time: float = 0.1,
    warmup_time: float = 0.5,
    sgemm_size: int = 2048,
    calib_images: torch.Tensor | None = None,
    progress: Progress | None = None,
) -> BenchReport:
    """Measure each backend at each batch size (see the module docstring for the method).

    Args:
        model: the PyTorch model; None to benchmark only `onnx_path` with onnxruntime.
        backends: names from `BACKENDS`; unavailable ones are reported, not fatal.
        batches: batch sizes.
        input_size: square input side (default: the model's own).
        threads: threads for PyTorch and onnxruntime (default: PyTorch's current setting).
        onnx_path: an exported file for the onnxruntime backends instead of exporting `model`.
        rounds: interleaved rounds per batch size.
        round_time: seconds each backend runs per round (at least one call).
        warmup_time: seconds of untimed calls per backend and batch size.
        sgemm_size: side of the matmul that measures the machine's peak.
        calib_images: preprocessed images to calibrate INT8 with (synthetic when None).
        progress: called with a short message as the run advances.
    """
    say = progress or (lambda _msg: None)
    threads = threads or torch.get_num_threads()
    flops_model = model if model is not None else _model_for(onnx_path)
    preprocess = _preprocess_for(flops_model, onnx_path, input_size)
    size = preprocess.input_size
    report = BenchReport(machine_info(threads), _model_info(flops_model, size))
    flops = report.model["flops_per_image"]
    peaks = _peak_tasks(sgemm_size, threads)
    rates: dict[str, list[float]] = {name: [] for name in peaks}
    with torch_threads(threads), tempfile.TemporaryDirectory(prefix="squeezenet-bench-") as tmp:
        runners = _make_runners(
            backends, model, onnx_path, size, threads, Path(tmp), calib_images, report, say
        )
        for batch in batches:
            x = _input_batch(preprocess, batch)
            live = _warm_up(runners, x, warmup_time, report, say)
            if batch == batches[0]:
                report.agreement = _agreement(live, x)
            say(f"batch {batch}: measuring {', '.join(live)} in {rounds} rounds")
            tasks = {name: (lambda r=r, x=x: r(x)) for name, r in live.items()}
            samples = interleave({**tasks, **peaks}, rounds, round_time)
            for name in peaks:
                rates[name] += [2.0 * sgemm_size**3 / t / 1e9 for t in samples.pop(name)]
            for name, times in samples.items():
                report.results.append(_row(name, batch, size, threads, times, flops))
    for name, values in rates.items():
        report.machine[name.removeprefix(PEAK_PREFIX)] = (
            statistics.median(values) if values else None
        )
    report.machine["sgemm_size"] = sgemm_size
    return report


def _model_for(onnx_path: str | os.PathLike[str] | None) -> SqueezeNet | None:
    if onnx_path is None:
        raise ValueError("run_benchmark needs a model or an onnx_path")
    from ..export import model_from_metadata, read_metadata

    return model_from_metadata(read_metadata(onnx_path))


def _preprocess_for(
    model: SqueezeNet | None, onnx_path: str | os.PathLike[str] | None, input_size: int | None
) -> Preprocessing:
    if onnx_path is not None:
        from ..export import onnx_preprocessing

        native = onnx_preprocessing(onnx_path)
        if input_size not in (None, native.input_size):
            raise ValueError(
                f"{onnx_path} was exported at {native.input_size} px; re-export it with "
                f"--input-size {input_size} to benchmark that size"
            )
        return native
    if model is None:
        raise ValueError("run_benchmark needs a model or an onnx_path")
    preprocess = preprocessing_for(model, input_size=input_size)
    minimum = model.min_input_size()
    if preprocess.input_size < minimum:
        raise ValueError(
            f"input size {preprocess.input_size} is too small for {model.config.name}: "
            f"the minimum is {minimum}"
        )
    return preprocess


def _model_info(model: SqueezeNet | None, size: int) -> dict[str, Any]:
    if model is None:  # a foreign ONNX file: no architecture to count FLOPs on
        return {"name": "unknown", "input_size": size, "flops_per_image": None, "params": None}
    summary = summarize(model, size)
    return {
        "name": model.config.name,
        "input_size": size,
        "flops_per_image": summary.total_flops,
        "params": summary.total_params,
        "num_classes": model.num_classes,
    }


def _make_runners(
    backends: Sequence[str],
    model: SqueezeNet | None,
    onnx_path: str | os.PathLike[str] | None,
    size: int,
    threads: int,
    workdir: Path,
    calib_images: torch.Tensor | None,
    report: BenchReport,
    say: Progress,
) -> dict[str, Runner]:
    runners: dict[str, Runner] = {}
    # The peers are built (and so listed) first: any advantage of going first goes to them.
    for name in sorted(dict.fromkeys(backends), key=lambda b: b not in PEER_BACKENDS):
        say(f"preparing {name}")
        try:
            runners[name] = make_runner(
                name,
                model=model,
                onnx_path=onnx_path,
                input_size=size,
                threads=threads,
                workdir=workdir,
                calib_images=calib_images,
            )
        except BackendUnavailable as e:
            report.unavailable[name] = e.reason
    return runners


def _input_batch(preprocess: Preprocessing, batch: int) -> np.ndarray:
    gen = torch.Generator().manual_seed(batch)
    shape = (batch, *preprocess.input_shape)
    images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen)
    return to_model_input(images, preprocess).numpy()


def _warm_up(
    runners: dict[str, Runner], x: np.ndarray, seconds: float, report: BenchReport, say: Progress
) -> dict[str, Runner]:
    """Run each backend untimed for `seconds`; drop (and report) the ones that fail."""
    live = {}
    for name, runner in runners.items():
        if name in report.unavailable:
            continue
        say(f"batch {x.shape[0]}: warming up {name}")
        try:
            runner(x)  # the first call may compile; it is not part of the warm-up time
            deadline = time.perf_counter() + seconds
            calls = 0
            while calls < 2 or time.perf_counter() < deadline:
                runner(x)
                calls += 1
        except Exception as e:
            first_line = (str(e).strip().splitlines() or [""])[0][:200]
            reason = f"failed at batch {x.shape[0]}: {type(e).__name__}: {first_line}"
            report.unavailable[name] = reason
            continue
        live[name] = runner
    return live


def _row(
    name: str, batch: int, size: int, threads: int, times: list[float], flops: int | None
) -> BenchResult:
    p50, p90 = (float(v) for v in np.percentile(times, [50, 90]))
    gflops = flops * batch / p50 / 1e9 if flops else None
    return BenchResult(
        backend=name,
        batch=batch,
        input_size=size,
        threads=threads,
        p50_ms=p50 * 1e3,
        p90_ms=p90 * 1e3,
        images_per_s=batch / p50,
        gflops=gflops,
    )


def _agreement(runners: dict[str, Runner], x: np.ndarray) -> dict[str, dict[str, Any]]:
    """Each backend's logits against the first float32 backend's, on the benchmark batch."""
    reference = next((r for r in runners.values() if r.precision == "fp32"), None)
    if reference is None:
        return {}
    expected = reference(x)
    out = {}
    for name, runner in runners.items():
        got = runner(x)
        out[name] = {
            "reference": reference.backend,
            "max_abs_diff": float(np.abs(got - expected).max()),
            "top1_agreement": float((got.argmax(1) == expected.argmax(1)).mean()),
        }
    return out
