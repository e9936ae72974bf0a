"""Inference benchmark: every backend on SqueezeNet 1.0 and 1.1 at 224x224 and on the
Fashion-MNIST demo model and its channel-pruned copy, batch 1 and 32.

Every figure is a ratio against the best peer: the faster of onnxruntime and OpenVINO running a
plain export of the same model (`onnxruntime-plain`, `openvino-plain`; OpenVINO when the
`openvino` extra is installed), measured in the same interleaved run, plus the achieved GFLOP/s as a
fraction of the machine's sgemm GFLOP/s measured in those same rounds. The whole measurement
is repeated (`--repeats`); summaries are medians over the repeats with their min..max, so a
load burst on a shared machine shows up as spread instead of as a result. Optionally it also
measures what INT8 costs in accuracy on a trained model (`--accuracy-model`, default: the
`make demo` run when present).

    python bench/inference.py                       # writes bench/results/inference.json
    python bench/inference.py --threads 2 --repeats 5 --accuracy-model runs/fmnist
    python bench/inference.py --groups demo         # only the Fashion-MNIST demo group

Groups (`--groups`, default both): `imagenet`, `--models` at `--input-size` on `--backends`;
`demo`, the `make demo` model (`--demo-model`, runs/demo) at its own 28x28x1 on the peers and
our onnxruntime and onnxruntime-int8, with its channel-pruned copy (`--pruned-model`,
runs/demo_pruned.sqz) as the variant "pruned" on onnxruntime and onnxruntime-int8 in the same
rounds, INT8 calibrated on Fashion-MNIST train images, plus fp32 and INT8 test top-1 of both
and the pruned model's share of the MACs. Without either file the group is skipped, saying so.
The pruned model is made by

    squeezenet compress runs/demo --data fashion-mnist --preset lossless --channels 0.5 \\
        --prune-epochs 6 --lr 0.05 --out runs/demo_pruned.sqz

The targets checked at the end are in inference_targets.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from inference_targets import VARIANT, targets  # bench/, beside this script

from squeezenet import create_model, load_model
from squeezenet.data.preprocess import to_model_input
from squeezenet.files import atomic_write_text
from squeezenet.hardware import channel_multiple, cpu_flags
from squeezenet.inference.backends import BACKENDS, PEER_BACKENDS
from squeezenet.inference.benchmark import BenchReport, run_benchmark
from squeezenet.inference.machine import machine_info
from squeezenet.inference.report import split_runner
from squeezenet.meta import preprocessing_for
from squeezenet.summary import summarize

RESULTS = Path(__file__).resolve().parent / "results" / "inference.json"
# `make demo` trains this Fashion-MNIST model; the INT8 accuracy check reuses it when present.
DEMO_RUN = Path(__file__).resolve().parents[1] / "runs" / "demo"
DEMO_PRUNED = DEMO_RUN.with_name("demo_pruned.sqz")  # see the module docstring
DEMO_DATA = "fashion-mnist"
GROUPS = ("imagenet", "demo")
DEMO_BACKENDS = (*PEER_BACKENDS, "onnxruntime", "onnxruntime-int8", "openvino")
VARIANT_BACKENDS = ("onnxruntime", "onnxruntime-int8", "openvino")
PRUNE_COMMAND = (
    "squeezenet compress runs/demo --data fashion-mnist --preset lossless --channels 0.5 "
    "--prune-epochs 6 --lr 0.05 --out runs/demo_pruned.sqz"
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="squeezenet1_0,squeezenet1_1")
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--batches", default="1,32")
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--rounds", type=int, default=15, help="interleaved rounds per measurement")
    p.add_argument("--repeats", type=int, default=3, help="independent measurements per model")
    p.add_argument(
        "--accuracy-model",
        type=Path,
        help=f"trained model to measure INT8 accuracy on (default: {DEMO_RUN} if it exists)",
    )
    p.add_argument("--accuracy-data", default="fashion-mnist", help="the dataset it was trained on")
    p.add_argument("--groups", default=",".join(GROUPS), help=f"of {', '.join(GROUPS)}")
    p.add_argument(
        "--demo-model",
        type=Path,
        default=DEMO_RUN,
        help="the dense Fashion-MNIST demo model (`make demo` trains it)",
    )
    p.add_argument(
        "--pruned-model",
        type=Path,
        default=DEMO_PRUNED,
        help="its channel-pruned copy (the command that makes it: see the module docstring)",
    )
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    args.groups = [g.strip() for g in args.groups.split(",") if g.strip()]
    bad = [g for g in args.groups if g not in GROUPS]
    if bad or not args.groups:
        p.error(f"unknown group(s) {bad or args.groups}; valid: {', '.join(GROUPS)}")
    return args


def _spread(values: list[float]) -> dict[str, float] | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize_model(reports: list[BenchReport], batches: list[int]) -> dict[str, Any]:
    """Per batch: each backend's p50 ratio to the best peer of its run (the faster of the
    peers there) and fractions of sgemm, over repeats."""
    out: dict[str, Any] = {}
    backends = list(dict.fromkeys(r.backend for rep in reports for r in rep.results))
    for batch in batches:
        ratios = {b: _spread([rep.ratio(b, batch) for rep in reports]) for b in backends}
        ratios = {b: v for b, v in ratios.items() if v is not None}
        # Our fastest backends are the base model's: variants have their own ratios.
        ours = {b: v for b, v in ratios.items() if b not in PEER_BACKENDS and _base(b)}
        fp32 = min(
            (b for b in ours if not b.endswith("int8")),
            key=lambda b: ours[b]["median"],
            default=None,
        )
        int8 = min(
            (b for b in ours if b.endswith("int8")), key=lambda b: ours[b]["median"], default=None
        )
        peers = [rep.best_peer(batch) for rep in reports]
        out[f"batch_{batch}"] = {
            "best_peer": statistics.mode([p.backend for p in peers if p] or [None]),
            "peer_p50_ms": {
                p: _spread([_p50(rep, p, batch) for rep in reports]) for p in PEER_BACKENDS
            },
            "ratios_vs_best_peer": ratios,
            "fastest_fp32": fp32,
            "fastest_fp32_vs_peer": ratios[fp32]["median"] if fp32 else None,
            "int8_vs_peer": ratios[int8]["median"] if int8 else None,
            "eager_vs_peer": ratios["eager"]["median"] if "eager" in ratios else None,
            "best_sgemm_fraction": _best_fraction(reports, batch, int8_ok=True),
            "best_fp32_sgemm_fraction": _best_fraction(reports, batch, int8_ok=False),
            "best_fp32_onnxruntime_sgemm_fraction": _best_fraction(
                reports, batch, int8_ok=False, peak="sgemm_gflops_onnxruntime"
            ),
        }
    return out


def _base(runner: str) -> bool:
    """Whether `runner` ran the base model (not a variant such as "pruned/onnxruntime")."""
    return split_runner(runner)[0] is None


def _p50(report: BenchReport, backend: str, batch: int) -> float | None:
    row = report.get(backend, batch)
    return None if row is None else row.p50_ms


def _best_fraction(
    reports: list[BenchReport], batch: int, *, int8_ok: bool, peak: str = "sgemm_gflops"
) -> dict[str, Any] | None:
    """Our highest achieved-GFLOP/s fraction of a sgemm rate, median over repeats."""
    fractions, names = [], []
    for rep in reports:
        rows = [
            r
            for r in rep.results
            if r.batch == batch
            and r.backend not in PEER_BACKENDS
            and _base(r.backend)
            and (int8_ok or not r.backend.endswith("int8"))
        ]
        best = max(rows, key=lambda r: r.gflops or 0.0, default=None)
        if best is not None and rep.sgemm_fraction(best, peak) is not None:
            fractions.append(rep.sgemm_fraction(best, peak))
            names.append(best.backend)
    spread = _spread(fractions)
    return None if spread is None else {**spread, "backend": statistics.mode(names)}


def load_splits(spec: str, preprocess: Any) -> tuple[Any, Any]:
    """The train and test splits of `spec` as a model with `preprocess` reads them."""
    from squeezenet.cli.export import load_split

    return tuple(load_split(spec, s, None, preprocess) for s in ("train", "test"))


def int8_accuracy(
    model_path: Path, spec: str, threads: int, splits: tuple[Any, Any] | None = None
) -> dict[str, Any]:
    """fp32 and INT8 top-1 of a trained model on the test split, calibrated on train.

    `splits`: (train, test) already loaded for the model's preprocessing, else loaded here.
    """
    from squeezenet.export import calibration_inputs, evaluate_onnx, export_onnx, quantize_int8

    model = load_model(model_path)
    preprocess = preprocessing_for(model)
    train, test = splits or load_splits(spec, preprocess)
    with tempfile.TemporaryDirectory() as tmp:
        check = to_model_input(test.images[:16], preprocess)
        fp32 = export_onnx(model, Path(tmp) / "m.onnx", check_inputs=check)
        calib = calibration_inputs(train, preprocess)
        int8 = quantize_int8(fp32.path, Path(tmp) / "m.int8.onnx", calib)
        top1 = evaluate_onnx(fp32.path, test, threads=threads)
        top1_int8 = evaluate_onnx(int8, test, threads=threads)
        sizes = (fp32.path.stat().st_size, int8.stat().st_size)
    return {
        "model": str(model_path),
        "data": spec,
        "test_images": len(test),
        "fp32_top1": top1,
        "int8_top1": top1_int8,
        "drop_points": 100 * (top1 - top1_int8),
        "fp32_bytes": sizes[0],
        "int8_bytes": sizes[1],
        "parity_max_abs_diff": fp32.max_abs_diff,
    }


def measure_model(
    name: str,
    args: argparse.Namespace,
    backends: list[str] | tuple[str, ...],
    model: Any = None,
    **options: Any,
) -> dict[str, Any]:
    """`--repeats` independent interleaved measurements of one model, and their summary.

    Args:
        name: what the progress lines call it; the registered model when `model` is None.
        model: the model to measure (default `create_model(name)` at `--input-size`).
        options: more `run_benchmark` keywords (variants, calib_images).
    """
    batches = [int(b) for b in args.batches.split(",")]
    size = args.input_size if model is None else None  # a given model runs at its own size
    model = create_model(name) if model is None else model
    reports = []
    for i in range(args.repeats):
        print(f"== {name} ({i + 1}/{args.repeats})", flush=True)
        report = run_benchmark(
            model,
            backends,
            batches,
            size,
            args.threads,
            rounds=args.rounds,
            progress=lambda msg: print(f"   {msg}", flush=True),
            **options,
        )
        _print(report, batches)
        reports.append(report)
    return {
        "summary": summarize_model(reports, batches),
        "sgemm_gflops": _spread([r.machine["sgemm_gflops"] for r in reports]),
        "sgemm_gflops_onnxruntime": _spread(
            [r.machine.get("sgemm_gflops_onnxruntime") for r in reports]
        ),
        "runs": [r.to_dict() for r in reports],
    }


def measure_demo(args: argparse.Namespace) -> dict[str, Any]:
    """The demo group: the dense demo model and its pruned copy in the same rounds, with the
    accuracy of both in fp32 and INT8 and the pruned model's MACs share."""
    from squeezenet.export import calibration_inputs

    dense, pruned = load_model(args.demo_model), load_model(args.pruned_model)
    preprocess = preprocessing_for(dense)
    splits = load_splits(DEMO_DATA, preprocess)
    timing = measure_model(
        f"demo ({args.demo_model}, variant {VARIANT}: {args.pruned_model})",
        args,
        DEMO_BACKENDS,
        dense,
        variants={VARIANT: pruned},
        variant_backends=VARIANT_BACKENDS,
        calib_images=calibration_inputs(splits[0], preprocess),  # as int8_accuracy calibrates
    )
    size = preprocess.input_size
    macs = {
        name: summarize(m, size).total_macs for name, m in (("dense", dense), (VARIANT, pruned))
    }
    macs["share"] = macs[VARIANT] / macs["dense"]
    print(f"== accuracy of the demo models on {DEMO_DATA} (fp32 and INT8)", flush=True)
    accuracy = {
        name: int8_accuracy(path, DEMO_DATA, args.threads, splits)
        for name, path in (("dense", args.demo_model), (VARIANT, args.pruned_model))
    }
    print(json.dumps({"macs": macs, "accuracy": accuracy}, indent=2))
    return {
        "dense_model": str(args.demo_model),
        "pruned_model": str(args.pruned_model),
        "data": DEMO_DATA,
        "input_shape": list(preprocess.input_shape),
        "backends": list(DEMO_BACKENDS),
        "variant_backends": {VARIANT: list(VARIANT_BACKENDS)},
        "macs": macs,
        "accuracy": accuracy,
        "pruned_fp32_drop_points": 100
        * (accuracy["dense"]["fp32_top1"] - accuracy[VARIANT]["fp32_top1"]),
        **timing,
    }


def demo_missing(args: argparse.Namespace) -> str | None:
    """Why the demo group cannot run (a model file missing), or None."""
    why = []
    if not args.demo_model.exists():
        why.append(f"no {args.demo_model} (`make demo` trains runs/demo)")
    if not args.pruned_model.exists():
        why.append(f"no {args.pruned_model} (make it with `{PRUNE_COMMAND}`)")
    return "; ".join(why) or None


def machine(first_run: dict[str, Any], threads: int) -> dict[str, Any]:
    """The run's machine, with what decides the fast kernels: CPU flags, PyTorch's CPU
    capability and the channel multiple the pruning favours here."""
    multiple, why = channel_multiple()
    return {
        **(first_run.get("machine") or machine_info(threads)),
        "cpu_flags": sorted(f for f in cpu_flags() if f.startswith(("avx", "amx")) or "vnni" in f),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "channel_multiple": {"multiple": multiple, "why": why},
    }


def accuracy_check(args: argparse.Namespace, demo: dict[str, Any] | None) -> dict[str, Any] | None:
    """INT8 accuracy of `--accuracy-model` (default the demo run), reusing the demo group's."""
    if args.accuracy_model is None and (DEMO_RUN / "weights").is_dir():
        args.accuracy_model = DEMO_RUN
    if demo and "accuracy" in demo and args.accuracy_model == args.demo_model:
        return demo["accuracy"]["dense"]  # measured just now
    if args.accuracy_model is None:
        print(
            "== INT8 accuracy skipped: no trained model (run `make demo` or pass --accuracy-model)",
            flush=True,
        )
        return None
    print(f"== INT8 accuracy of {args.accuracy_model} on {args.accuracy_data}", flush=True)
    accuracy = int8_accuracy(args.accuracy_model, args.accuracy_data, args.threads)
    print(json.dumps(accuracy, indent=2))
    return accuracy


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",")]
    # Every figure is a ratio against the best peer. The peers go first, so that any advantage
    # of being created or measured first goes to the baselines, not to us.
    backends = [*PEER_BACKENDS] + [b for b in backends if b not in PEER_BACKENDS]
    started = time.time()
    models = {}
    if "imagenet" in args.groups:
        models = {name: measure_model(name, args, backends) for name in args.models.split(",")}
    demo = None
    if "demo" in args.groups:
        if (reason := demo_missing(args)) is not None:
            print(f"== demo group skipped: {reason}", flush=True)
            demo = {"skipped": reason}
        else:
            demo = measure_demo(args)
    accuracy = accuracy_check(args, demo)
    groups = [*models.values(), *([demo] if demo and "runs" in demo else [])]
    first_run = groups[0]["runs"][0] if groups else {}
    result = {
        "benchmark": "inference",
        "machine": machine(first_run, args.threads),
        "settings": {
            "groups": args.groups,
            "input_size": args.input_size,
            "batches": args.batches,
            "threads": args.threads,
            "rounds": args.rounds,
            "repeats": args.repeats,
            "backends": backends,
            "peers": list(PEER_BACKENDS),
            "ratios": "p50 / p50 of the faster peer in the same run",
        },
        "models": models,
        "demo": demo,
        "int8_accuracy": accuracy,
        "targets": targets(models, accuracy, demo, cpu_flags()),
        "wall_time_s": time.time() - started,
        "note": "ratios are p50 latencies measured in the same interleaved rounds, median "
        "(min..max) over the repeats; the CPU may be shared with other jobs (see each run's "
        "machine.load_average_1m_at_start)",
    }
    atomic_write_text(args.output, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["targets"], indent=2))
    print(f"wrote {args.output}")
    return 0


def _print(report: BenchReport, batches: list[int]) -> None:
    m = report.machine
    sgemm = m["sgemm_gflops"]
    print(
        f"   sgemm {sgemm:.1f} GFLOP/s (PyTorch), "
        f"{m.get('sgemm_gflops_onnxruntime') or 0:.1f} (onnxruntime); "
        f"load average {m['load_average_1m_at_start']:.2f} at start"
    )
    for batch in batches:
        peer = report.best_peer(batch)
        for r in (r for r in report.results if r.batch == batch):
            ratio = report.ratio(r.backend, batch)
            print(
                f"   {r.backend:24s} b{batch:<3d} p50 {r.p50_ms:9.2f} ms  "
                f"p90 {r.p90_ms:9.2f} ms  {r.gflops:7.1f} GFLOP/s "
                f"({100 * r.gflops / sgemm:4.0f}% sgemm)  {ratio:.2f}x "
                f"{peer.backend if peer else 'peer'}"
            )
    for backend, reason in report.unavailable.items():
        print(f"   {backend}: unavailable: {reason}")


if __name__ == "__main__":
    sys.exit(main())
