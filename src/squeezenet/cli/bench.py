"""`squeezenet bench`: latency and throughput per backend, against the machine's sgemm rate."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from ..files import atomic_write_text
from ..inference.backends import BACKENDS, PEER_BACKENDS, check_backend_names
from ..inference.benchmark import run_benchmark
from ..meta import preprocessing_for
from .app import console, err_console
from .export import load_split, require_export
from .models import model_from_arg
from .options import JSON, REQUIRED, THREADS, Param, config_command, option

MAX_BATCH = 4096  # 224 px inputs alone take 2.5 GB at this batch; a typo's 10**6 would be 600 GB


def parse_list(value: str, what: str) -> list[str]:
    """'a, b,c' -> ['a', 'b', 'c'], rejecting an empty list."""
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise ValueError(f"{what} must be a comma-separated list, got {value!r}")
    return items


def parse_batches(value: str) -> list[int]:
    """'1,32' -> [1, 32]; every batch size must be a positive integer."""
    try:
        batches = [int(v) for v in parse_list(value, "--batch")]
    except ValueError:
        raise ValueError(f"--batch must be positive integers like 1,32, got {value!r}") from None
    if any(not 1 <= b <= MAX_BATCH for b in batches):
        raise ValueError(f"--batch sizes must be >= 1 and at most {MAX_BATCH}, got {value!r}")
    return batches


@dataclass
class BenchConfig:
    """The options of `squeezenet bench`."""

    backend: str = option(
        "all",
        f"comma-separated: {', '.join(BACKENDS)}; ratios are against the faster of the peers "
        f"({', '.join(PEER_BACKENDS)})",
    )
    batch: str = option("1,32", "comma-separated batch sizes")
    input_size: int | None = option(
        None, "square input side (default: the model's own, 224 for a registered name)", min=1
    )
    rounds: int = option(15, "interleaved timing rounds", min=1)
    calib_data: str | None = option(
        None, "dataset spec to calibrate INT8 on (default: synthetic images, timing only)"
    )
    out: Path | None = option(
        None,
        "also write the JSON report here (--output is the old spelling)",
        flags=("--out", "-o", "--output"),
    )


MODEL = Param(
    "model",
    str,
    "registered model name (random weights), weights, run folder, .sqz or .onnx",
    default=REQUIRED,
    argument=True,
)


@config_command("bench", BenchConfig, params=[MODEL, THREADS, JSON])
def bench_command(config: BenchConfig, model: str, threads: int | None, as_json: bool) -> None:
    """Measure p50/p90 latency, throughput and achieved GFLOP/s of each backend after
    warm-up, next to this machine's measured sgemm GFLOP/s (all in the same run)."""
    backend, batch, input_size, output = config.backend, config.batch, config.input_size, config.out
    if backend == "all":
        names = list(BACKENDS)
    else:
        names = check_backend_names(parse_list(backend, "--backend"))
    batches = parse_batches(batch)
    net, onnx_path = _load(model)
    calib = _calibration(net, config.calib_data, input_size) if config.calib_data else None
    report = run_benchmark(
        net,
        names,
        batches,
        input_size,
        threads,
        onnx_path=onnx_path,
        rounds=config.rounds,
        calib_images=calib,
        progress=lambda msg: err_console.print(f"[dim]{escape(msg)}[/]"),
    )
    data = report.to_dict()
    if output is not None:
        atomic_write_text(output, json.dumps(data, indent=2) + "\n")
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        console.print(bench_table(report))


def _load(model: str) -> tuple[Any, Path | None]:
    if Path(model).suffix.lower() == ".onnx":
        if not Path(model).is_file():
            raise FileNotFoundError(f"no such ONNX file: {model}")
        return None, Path(model)
    return model_from_arg(model), None


def _calibration(net: Any, spec: str, input_size: int | None) -> Any:
    require_export()
    # onnx and onnxruntime are optional dependencies: imported once known to be installed.
    from ..export import CALIBRATION_IMAGES, calibration_inputs

    if net is None:
        raise ValueError("--calib-data needs a PyTorch model; pass the weights, not the .onnx")
    preprocess = preprocessing_for(net, input_size=input_size)
    train = load_split(spec, "train", None, preprocess, CALIBRATION_IMAGES)
    return calibration_inputs(train, preprocess)


def bench_table(report: Any) -> Table:
    """Render a `BenchReport` with ratios against the best peer (the faster of onnxruntime and
    OpenVINO on a plain export) at each batch size."""
    m = report.machine
    sgemm = m.get("sgemm_gflops")
    table = Table(
        "backend",
        "batch",
        "p50 ms",
        "p90 ms",
        "images/s",
        "GFLOP/s",
        "% of sgemm",
        "p50 / best peer",
        title=f"{report.model['name']} @ {report.model['input_size']}px, {m['threads']} threads",
        caption=_caption(report),
    )
    for col in table.columns[1:]:
        col.justify = "right"
    for r in report.results:
        frac = report.sgemm_fraction(r)
        ratio = report.ratio(r.backend, r.batch)
        table.add_row(
            r.backend,
            str(r.batch),
            f"{r.p50_ms:.2f}",
            f"{r.p90_ms:.2f}",
            f"{r.images_per_s:.1f}",
            "" if r.gflops is None else f"{r.gflops:.1f}",
            f"{100 * frac:.0f}%" if frac is not None else "",
            f"{ratio:.2f}x" if ratio is not None else "",
        )
    if sgemm:
        table.add_section()
        table.add_row("sgemm (PyTorch)", "", "", "", "", f"{sgemm:.1f}", "100%", "")
        mlas = m.get("sgemm_gflops_onnxruntime")
        if mlas:
            table.add_row(
                "sgemm (onnxruntime)",
                "",
                "",
                "",
                "",
                f"{mlas:.1f}",
                f"{100 * mlas / sgemm:.0f}%",
                "",
            )
    return table


def _caption(report: Any) -> str:
    m = report.machine
    load = m.get("load_average_1m_at_start")
    lines = [
        f"{m['cpu']}, {m['logical_cpus']} logical CPUs"
        + (f", load average {load:.2f} at start" if load is not None else "")
        + f"; torch {m['torch']}, onnxruntime {m['onnxruntime']}, openvino {m.get('openvino')}",
        "GFLOP/s: model FLOPs (torch.utils.flop_counter) x batch / p50",
    ]
    peers = {b: report.best_peer(b) for b in dict.fromkeys(r.batch for r in report.results)}
    if any(peers.values()):
        best = ", ".join(f"batch {b}: {p.backend}" for b, p in peers.items() if p is not None)
        lines.append(f"best peer: {best}")
    lines += [f"unavailable: {name}: {reason}" for name, reason in report.unavailable.items()]
    return escape("\n".join(lines))
