"""Latency of a model before and after a change that should make it faster (channel
pruning), measured together: both run in the same interleaved rounds (`run_benchmark`
with the changed model as a variant), so the ratio holds even on a busy machine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..models import SqueezeNet
from .backends import onnxruntime_available
from .benchmark import run_benchmark
from .report import variant_runner

AFTER = "after"


def latency_change(
    before: SqueezeNet,
    after: SqueezeNet,
    *,
    batches: Sequence[int] = (1, 32),
    threads: int | None = None,
    rounds: int = 5,
) -> dict[str, Any]:
    """p50 latency of `before` and `after` (same input size) per batch size, and their
    ratio, with onnxruntime where installed (what users deploy with), else channels_last
    PyTorch. A short measurement (`rounds` interleaved rounds of 50 ms each): a guide, not a
    benchmark; `bench/inference.py` is the careful one."""
    backend = "onnxruntime" if onnxruntime_available() else "channels_last"
    report = run_benchmark(
        before,
        [backend],
        batches,
        threads=threads,
        variants={AFTER: after},
        variant_backends=(backend,),
        rounds=rounds,
        round_time=0.05,
        warmup_time=0.2,
        sgemm_size=256,  # the machine's peak is not needed here: keep the rounds short
    )
    out: dict[str, Any] = {"backend": backend, "threads": report.machine.get("threads")}
    for batch in batches:
        old, new = report.get(backend, batch), report.get(variant_runner(AFTER, backend), batch)
        if old is None or new is None:
            reason = report.unavailable.get(backend) or report.unavailable.get(AFTER)
            out[f"batch_{batch}"] = {"error": reason or "did not run"}
            continue
        out[f"batch_{batch}"] = {
            "before_ms": old.p50_ms,
            "after_ms": new.p50_ms,
            "ratio": new.p50_ms / old.p50_ms,
        }
    return out
