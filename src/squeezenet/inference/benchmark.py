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
- Variants (e.g. a channel-pruned copy) run in the same rounds as "variant/backend", each
  exported into its own folder; their GFLOP/s count their own FLOPs, and their ratios are
  against the best peer on the base model: the speed-up a smaller model buys over the engines
  running the original. Their agreement with the base model shows what it costs.
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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.preprocess import to_model_input
from ..meta import Preprocessing, preprocessing_for
from ..models import SqueezeNet
from ..summary import summarize
from .backends import (
    BACKENDS,
    PEER_BACKENDS,
    BackendUnavailable,
    Runner,
    check_backend_names,
    make_runner,
)
from .machine import machine_info, mlas_sgemm_task, sgemm_task, torch_threads
from .report import VARIANT_SEP, BenchReport, BenchResult, variant_runner
from .timing import PEAK_PREFIX, interleave

__all__ = ["VARIANT_BACKENDS", "BenchReport", "BenchResult", "run_benchmark"]

Progress = Callable[[str], None]
# The backends a variant (a smaller model of the same task) runs on unless told otherwise.
VARIANT_BACKENDS: tuple[str, ...] = ("onnxruntime", "onnxruntime-int8")


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
    variants: Mapping[str, SqueezeNet] | None = None,
    variant_backends: Sequence[str] = VARIANT_BACKENDS,
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
        variants: name -> another model of the same task and input (e.g. channel-pruned),
            timed in the same rounds on `variant_backends` as runners "name/backend".
        variant_backends: names from `BACKENDS` to run each variant on; unavailable ones
            are reported as "name/backend".
        rounds: interleaved rounds per batch size.
        round_time: seconds each backend runs per round (at least one call).
        warmup_time: seconds of untimed calls per backend and batch size.
        sgemm_size: side of the matmul that measures the machine's peak.
        calib_images: preprocessed images to calibrate INT8 with (synthetic when None).
        progress: called with a short message as the run advances.
    """
    say = progress or (lambda _msg: None)
    threads = threads or torch.get_num_threads()
    variants = dict(variants or {})
    check_backend_names([*backends, *variant_backends])  # before any export: fail fast
    flops_model = model if model is not None else _model_for(onnx_path)
    preprocess = _preprocess_for(flops_model, onnx_path, input_size)
    size = preprocess.input_size
    report = BenchReport(machine_info(threads), _model_info(flops_model, size))
    report.model["variants"] = _variants_info(variants, size, report.model["flops_per_image"])
    peaks = _peak_tasks(sgemm_size, threads)
    rates: dict[str, list[float]] = {name: [] for name in peaks}
    with torch_threads(threads), tempfile.TemporaryDirectory(prefix="squeezenet-bench-") as tmp:
        lineup = _lineup(backends, model, onnx_path, variants, variant_backends, Path(tmp))
        runners = _make_runners(lineup, size, threads, calib_images, report, say)
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
                flops = report.flops_of(name)
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


def _variants_info(
    variants: dict[str, SqueezeNet], size: int, base_flops: int | None
) -> dict[str, dict[str, Any]]:
    out = {}
    for name, variant in variants.items():
        if not name or VARIANT_SEP in name:
            raise ValueError(f"invalid variant name {name!r}: non-empty, without {VARIANT_SEP!r}")
        if size < variant.min_input_size():
            raise ValueError(
                f"input size {size} is too small for variant {name!r}: "
                f"the minimum is {variant.min_input_size()}"
            )
        info = _model_info(variant, size)
        flops = info["flops_per_image"]
        info["flops_share"] = flops / base_flops if base_flops and flops is not None else None
        out[name] = info
    return out


# (runner name, backend, model, ONNX file to run instead, folder for its exported files)
_Job = tuple[str, str, SqueezeNet | None, str | os.PathLike[str] | None, Path]


def _lineup(
    backends: Sequence[str],
    model: SqueezeNet | None,
    onnx_path: str | os.PathLike[str] | None,
    variants: dict[str, SqueezeNet],
    variant_backends: Sequence[str],
    workdir: Path,
) -> list[_Job]:
    """Every runner to build, in order: the peers first (any advantage of going first goes to
    them), then our backends, then each variant's, in a folder of its own so that its exports
    never clash with the base model's."""
    base = sorted(dict.fromkeys(backends), key=lambda b: b not in PEER_BACKENDS)
    jobs: list[_Job] = [(b, b, model, onnx_path, workdir) for b in base]
    for i, (name, variant) in enumerate(variants.items()):
        folder = workdir / f"variant_{i}"  # not the name: it need not be a valid file name
        jobs += [
            (variant_runner(name, b), b, variant, None, folder)
            for b in dict.fromkeys(variant_backends)
        ]
    return jobs


def _make_runners(
    lineup: list[_Job],
    size: int,
    threads: int,
    calib_images: torch.Tensor | None,
    report: BenchReport,
    say: Progress,
) -> dict[str, Runner]:
    runners: dict[str, Runner] = {}
    for name, backend, model, onnx_path, workdir in lineup:
        say(f"preparing {name}")
        try:
            runners[name] = make_runner(
                backend,
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
