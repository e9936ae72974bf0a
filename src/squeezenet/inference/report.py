"""What a benchmark run measured: one row per runner and batch, ratios against the best peer.

A runner is a backend on the benchmarked model ("onnxruntime") or on one of its variants, a
smaller model of the same task timed in the same rounds ("pruned/onnxruntime"). Ratios are
always against the best peer on the base model: "the pruned model runs at 0.5x of what
onnxruntime or OpenVINO take for the original".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .backends import PEER_BACKENDS

VARIANT_SEP = "/"  # "pruned/onnxruntime": backend onnxruntime on the variant "pruned"


def variant_runner(variant: str, backend: str) -> str:
    """The runner name of `backend` on `variant`, e.g. "pruned/onnxruntime"."""
    return f"{variant}{VARIANT_SEP}{backend}"


def split_runner(name: str) -> tuple[str | None, str]:
    """(variant or None for the base model, backend) of a runner name."""
    variant, sep, backend = name.rpartition(VARIANT_SEP)
    return (variant, backend) if sep else (None, name)


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
        model: name, input size, FLOPs per image, parameters; `variants`: variant name ->
            the same for that model, plus its `flops_share` of the base model's FLOPs.
        results: one row per runner (backend, or "variant/backend") and batch size.
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
        self,
        batch: int,
        *,
        int8: bool = False,
        include_peer: bool = False,
        variant: str | None = None,
    ) -> BenchResult | None:
        """The lowest-p50 row at `batch` among our float32 (or, with int8=True, INT8) backends.

        The peers (onnxruntime and OpenVINO on a plain export) are what we compare against,
        so they are left out unless `include_peer`. Rows are the base model's, or with
        `variant`, that variant's.
        """
        rows = [
            r
            for r in self.results
            if r.batch == batch
            and _is_int8(r.backend) == int8
            and split_runner(r.backend)[0] == variant
            and (include_peer or r.backend not in PEER_BACKENDS)
        ]
        return min(rows, key=lambda r: r.p50_ms, default=None)

    def best_peer(self, batch: int) -> BenchResult | None:
        """The faster peer at `batch` (lowest p50 among `PEER_BACKENDS` that ran), always on
        the base model: a variant's rows are compared with what a peer takes for the original."""
        rows = [r for r in self.results if r.batch == batch and r.backend in PEER_BACKENDS]
        return min(rows, key=lambda r: r.p50_ms, default=None)

    def ratio(self, backend: str, batch: int, peer: str | None = None) -> float | None:
        """p50 latency of `backend` / p50 of `peer` at `batch` (< 1 means faster).

        Args:
            backend: the runner measured: a backend, or "variant/backend".
            batch: the batch size.
            peer: the backend to divide by; None for the best peer at that batch.
        """
        mine = self.get(backend, batch)
        theirs = self.best_peer(batch) if peer is None else self.get(peer, batch)
        return None if mine is None or theirs is None else mine.p50_ms / theirs.p50_ms

    def flops_of(self, runner: str) -> int | None:
        """FLOPs per image of the model `runner` ran: the base model's or its variant's."""
        variant = split_runner(runner)[0]
        info = self.model if variant is None else self.model.get("variants", {}).get(variant, {})
        return info.get("flops_per_image")

    def sgemm_fraction(self, row: BenchResult, peak: str = "sgemm_gflops") -> float | None:
        """The row's achieved GFLOP/s as a fraction of a measured sgemm rate.

        Args:
            row: a result row.
            peak: "sgemm_gflops" (PyTorch's) or "sgemm_gflops_onnxruntime".
        """
        rate = self.machine.get(peak)
        return row.gflops / rate if rate and row.gflops is not None else None


def _is_int8(backend: str) -> bool:
    return backend.endswith("-int8")  # "pruned/onnxruntime-int8" too
