"""Rich renderings of what the library returns (the library itself never renders)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from ..compress import CompressionReport
from ..engine import FitResult


def make_console(*, stderr: bool = False) -> Console:
    """A console as wide as the terminal, or 160 columns when piped or captured (so tables
    and summary rows are not wrapped into unreadable, ungreppable pieces in logs)."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 160)


def epochs_text(result: FitResult) -> str:
    """'12 epochs', or '10.06 epochs' where a time budget's last epoch was partial."""
    trained = result.epochs_trained
    if trained != round(trained):
        return f"{trained:.2f} epochs"
    return "1 epoch" if trained == 1 else f"{trained:.0f} epochs"


def compression_table(report: CompressionReport) -> Table:
    """A compression report as a rich table: one row per conv, then totals."""
    table = Table(
        "layer",
        "shape",
        "params",
        "nnz",
        "density",
        "bits",
        "codebook",
        "positions",
        "index B",
        "position B",
        "bias B",
        "bits/weight",
        title=f"{report.model}: {report.sqz_bytes:,} bytes .sqz "
        f"({report.ratio:.1f}x smaller than fp32)",
    )
    for col in table.columns[2:]:
        col.justify = "right"
    for l in report.layers:
        table.add_row(
            l.paper_name,
            "x".join(map(str, l.shape)),
            f"{l.params:,}",
            f"{l.nnz:,}",
            f"{100 * l.density:.1f}%",
            str(l.bits),
            str(l.codebook_size or "-"),
            l.position_mode,
            f"{l.index_bytes:,}",
            f"{l.position_bytes:,}",
            f"{l.bias_bytes:,}",
            f"{l.bits_per_weight:.2f}",
        )
    table.add_section()
    weights = sum(l.params for l in report.layers)
    table.add_row(
        "total",
        "",
        f"{weights:,}",
        f"{report.nnz:,}",
        f"{100 * report.nnz / max(weights, 1):.1f}%",
        "",
        "",
        f"header {report.header_bytes:,} B",
        f"{sum(l.index_bytes for l in report.layers):,}",
        f"{sum(l.position_bytes for l in report.layers):,}",
        f"{sum(l.bias_bytes for l in report.layers):,}",
        f"{8 * report.sqz_bytes / max(report.params, 1):.2f}",
        style="bold",
    )
    table.caption = _compression_caption(report)
    return table


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _compression_caption(report: CompressionReport) -> str:
    parts = [f"fp32 {report.fp32_bytes:,} B -> .sqz {report.sqz_bytes:,} B: {report.ratio:.1f}x"]
    if report.safetensors_bytes:
        parts.append(
            f"vs safetensors file {report.safetensors_bytes:,} B: {report.ratio_safetensors:.1f}x"
        )
    if report.top1_before is not None or report.top1_after is not None:
        parts.append(
            f"top-1 {_pct(report.top1_before)} -> pruned {_pct(report.top1_pruned)} -> "
            f".sqz {_pct(report.top1_after)}"
        )
    if report.decode_seconds is not None:
        parts.append(f"decode {1000 * report.decode_seconds:.0f} ms")
    if report.channels is not None:
        parts.append(_channels_caption(report.channels))
    return "; ".join(parts)


def _channels_caption(channels: dict) -> str:
    """e.g. 'channels: 49.9% of the MACs, 311,770 of 732,362 parameters, top-1 93.07%,
    latency batch 1 0.30 -> 0.17 ms (0.57x, onnxruntime)'."""
    text = (
        f"channels: {100 * channels['macs_share']:.1f}% of the MACs, "
        f"{channels['params_after']:,} of {channels['params_before']:,} parameters, "
        f"top-1 {_pct(channels.get('top1'))}"
    )
    latency = channels.get("latency") or {}
    for key, row in latency.items():
        if key.startswith("batch_") and "ratio" in row:
            text += (
                f", latency batch {key.removeprefix('batch_')} {row['before_ms']:.2f} -> "
                f"{row['after_ms']:.2f} ms ({row['ratio']:.2f}x, {latency['backend']})"
            )
    return text
