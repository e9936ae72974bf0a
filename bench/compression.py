"""Deep Compression benchmark: the size/accuracy Pareto curve of SqueezeNet 1.0 and 1.1.

For each model (trained on Fashion-MNIST, or given with --runs) it sweeps a grid of sparsity
levels x bits: each sparsity level is reached by iterative magnitude pruning from the previous
one with masked retraining, then every bits setting is weight-shared, centroid-fine-tuned,
entropy-coded into a real .sqz and evaluated. Sizes are the encoded file's bytes; ratios are
against the model's fp32 weights (as the paper's 10.2x / 7.3x) and its safetensors file.
It also times decoding a 1000-class SqueezeNet 1.0 .sqz against loading its fp32 safetensors.

    python bench/compression.py                                  # trains, then sweeps
    python bench/compression.py --runs runs/fm10 runs/fm11 --eval-limit 2000 --quick

Writes bench/results/compression.json and compression.png. Targets checked at the end:
    SqueezeNet 1.0 'aggressive' .sqz >= 20x smaller than its fp32 safetensors file
    ... with top-1 at most 0.3 points below the uncompressed model
    decoding a 1000-class SqueezeNet 1.0 .sqz < 1 s
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from squeezenet import create_model, load_model, save_model
from squeezenet.compress import (
    CompressConfig,
    PruneConfig,
    ShareConfig,
    bn_scales,
    compress_model,
    decode_model,
    encode_model,
    finalize_,
    finetune_,
    fold_pruned,
    prune_,
    share_weights_,
)
from squeezenet.compress.fold import plain_copy
from squeezenet.compress.pipeline import safetensors_size
from squeezenet.data import load_dataset
from squeezenet.engine import evaluate
from squeezenet.files import atomic_path, atomic_write_text

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "compression.json"
# SqueezeNet paper, Table 2 (ImageNet, relative to the 4.8 MB fp32 SqueezeNet): no accuracy loss.
PAPER_POINTS = [
    {"label": "paper 6-bit (0.47 MB)", "ratio": 10.2, "bits": 6},
    {"label": "paper 8-bit (0.66 MB)", "ratio": 7.3, "bits": 8},
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="squeezenet1_0,squeezenet1_1")
    p.add_argument(
        "--runs",
        nargs="*",
        type=Path,
        default=[],
        help="trained run folders / weights, one per model (else trained here)",
    )
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--train-epochs", type=int, default=4, help="when training the models here")
    p.add_argument(
        "--levels",
        default="0,0.6,1.0,1.2",
        help="sparsity levels: 1.0 = the 'aggressive' preset, 0 = dense",
    )
    p.add_argument("--bits", default="8,6,4,3")
    p.add_argument("--prune-epochs", type=float, default=0.5, help="retraining per level / round")
    p.add_argument(
        "--share-epochs", type=float, default=0.25, help="centroid fine-tuning per point"
    )
    p.add_argument(
        "--eval-limit",
        type=int,
        default=2000,
        help="test images per grid point (the headline uses the whole test split)",
    )
    p.add_argument("--quick", action="store_true", help="levels 0,1; bits 6,4; 0.2/0.1 epochs")
    p.add_argument(
        "--headline-report",
        nargs="*",
        default=[],
        metavar="MODEL=REPORT.json",
        help="reuse `squeezenet compress --preset aggressive` reports instead of rerunning",
    )
    p.add_argument(
        "--amp",
        default="bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "none",
        help="fine-tuning precision: bf16 (default where the CPU has it) or none",
    )
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.quick:
        args.levels, args.bits, args.prune_epochs, args.share_epochs = "0,1.0", "6,4", 0.2, 0.1
    return args


def trained_model(name: str, args: argparse.Namespace, given: Path | None) -> tuple[Any, str]:
    """The model to sweep: given by path, else trained once with the demo recipe (cached)."""
    if given is not None:
        return load_model(given), str(given)
    from squeezenet.engine import TrainConfig, fit
    from squeezenet.engine.recipes import recipe

    out = HERE.parent / "runs" / "bench-compression" / name
    weights = out / "weights" / "best.safetensors"
    if not weights.is_file():
        settings = {**recipe("demo"), "model": name, "epochs": args.train_epochs}
        fit(
            TrainConfig(
                **settings, data=args.data, data_dir=args.data_dir, out=str(out), progress=False
            )
        )
    return load_model(out), str(out)


def budget(args: argparse.Namespace) -> CompressConfig:
    """The 'aggressive' preset with this run's retraining budget and precision."""
    return CompressConfig.preset("aggressive").with_finetune(
        prune={"epochs": args.prune_epochs, "amp": args.amp},
        share={"epochs": args.share_epochs, "amp": args.amp},
    )


def _top1(model, data) -> float:
    return evaluate(model, data).top1


def _point(
    pruned, bits: int, level: float, train, test, args, base: dict[str, Any]
) -> dict[str, Any]:
    """Share at `bits`, fine-tune centroids, encode, decode, evaluate: one grid point."""
    model = fold_pruned(pruned)  # as compress_model does: fold BatchNorm after pruning
    share_weights_(model, ShareConfig(bits=(("*", bits),)))
    finetune_(model, train, budget(args).share_finetune)
    finalize_(model)
    sqz = encode_model(model)
    top1 = _top1(decode_model(sqz), test)
    return {
        "level": level,
        "bits": bits,
        "sqz_bytes": len(sqz),
        "top1": top1,
        "ratio_fp32": base["fp32_bytes"] / len(sqz),
        "ratio_safetensors": base["safetensors_bytes"] / len(sqz),
        "drop_points": 100 * (base["top1"] - top1),
    }


def sweep(model, train, test, args, base: dict[str, Any]) -> list[dict[str, Any]]:
    """Every (sparsity level, bits) point; levels prune progressively from the last one,
    in two rounds of `prune_epochs` retraining each."""
    levels = sorted(float(v) for v in args.levels.split(","))
    bits = [int(b) for b in args.bits.split(",")]
    aggressive = PruneConfig.preset("aggressive")
    net = plain_copy(model)  # as compress_model does: prune and retrain with BatchNorm live
    points, previous = [], 0.0
    for level in levels:
        # Two pruning rounds per step up, as the 'aggressive' preset does: one-shot jumps to
        # high sparsity can leave too little of the network to retrain from.
        for step in ((previous + level) / 2, level) if level > previous else ():
            prune_(net, aggressive.scaled(step), channel_scale=bn_scales(net))
            finetune_(net, train, budget(args).prune_finetune)
        previous = level
        pruned_top1 = _top1(net, test)
        for b in bits:
            point = _point(net, b, level, train, test, args, base)
            point["pruned_top1"] = pruned_top1
            print(
                f"  level {level:.2f} bits {b}: {point['sqz_bytes']:,} B, "
                f"{point['ratio_fp32']:.1f}x, "
                f"top-1 {100 * point['top1']:.2f}%",
                flush=True,
            )
            points.append(point)
    return points


def pareto(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Points no other point beats on both size and accuracy, smallest first."""
    front, best = [], -1.0
    for p in sorted(points, key=lambda p: (p["sqz_bytes"], -p["top1"])):
        if p["top1"] > best:
            front.append(p)
            best = p["top1"]
    return front


def headline(model, train, test, args) -> dict[str, Any]:
    """The 'aggressive' preset end to end, as `squeezenet compress --preset aggressive` runs it,
    evaluated on the full test split."""
    _, report = compress_model(model, train, test, budget(args))
    return report.to_dict()


def decode_benchmark(rounds: int = 5) -> dict[str, Any]:
    """Decode a 1000-class SqueezeNet 1.0 .sqz (paper preset) vs load its fp32 safetensors."""
    torch.manual_seed(0)
    model = create_model("squeezenet1_0").eval()
    with tempfile.TemporaryDirectory() as tmp:
        st_path = save_model(model, Path(tmp) / "m.safetensors")
        sqz = encode_model(_compressed_from(model))
        decode_s, load_s = [], []
        for _ in range(rounds):
            t = time.perf_counter()
            decode_model(sqz)
            decode_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            load_model(st_path)
            load_s.append(time.perf_counter() - t)
    decode, load = statistics.median(decode_s), statistics.median(load_s)
    return {
        "model": "squeezenet1_0 (1000 classes, paper preset)",
        "sqz_bytes": len(sqz),
        "decode_seconds": decode,
        "safetensors_load_seconds": load,
        "decode_vs_load": decode / load,
    }


def _compressed_from(model):
    net = plain_copy(model)
    prune_(net, PruneConfig.preset("paper"))
    share_weights_(net, ShareConfig.preset("paper"))
    return finalize_(net)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, r in results["models"].items():
        xs = [p["ratio_fp32"] for p in r["points"]]
        ys = [100 * p["top1"] for p in r["points"]]
        line = ax.scatter(xs, ys, s=18, alpha=0.5, label=f"{name} grid")
        front = r["pareto"]
        ax.plot(
            [p["ratio_fp32"] for p in front],
            [100 * p["top1"] for p in front],
            "-o",
            color=line.get_facecolor()[0],
            label=f"{name} Pareto front",
        )
        ax.axhline(100 * r["baseline"]["top1"], color=line.get_facecolor()[0], ls=":", lw=1)
        h = r.get("headline")
        if h:
            # The headline is evaluated on the whole test split, the grid on --eval-limit images,
            # so its label carries its own before/after.
            label = (
                f"{name} headline .sqz, full test split: {100 * h['top1_before']:.2f}% -> "
                f"{100 * h['top1_after']:.2f}%"
            )
            ax.scatter(
                [h["ratio"]],
                [100 * h["top1_after"]],
                marker="*",
                s=160,
                color=line.get_facecolor()[0],
                edgecolor="k",
                label=label,
            )
    base = max(100 * r["baseline"]["top1"] for r in results["models"].values())
    # No accuracy loss in the paper: drawn at the best baseline, 6-bit labelled right, 8-bit left.
    for p, (dx, ha) in zip(PAPER_POINTS, ((8, "left"), (-8, "right"))):
        ax.scatter([p["ratio"]], [base], marker="D", s=60, color="k")
        ax.annotate(
            p["label"] + ", ImageNet, no loss",
            (p["ratio"], base),
            textcoords="offset points",
            xytext=(dx, -14),
            ha=ha,
            fontsize=8,
        )
    ax.set_xscale("log")
    ticks = [1, 2, 5, 10, 20, 50, 100]
    ax.set_xticks(ticks, [f"{t}x" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("compression ratio vs fp32 weights (.sqz file bytes)")
    ax.set_ylabel("Fashion-MNIST top-1 (%)")
    ax.set_title(
        "SqueezeNet + Deep Compression: size vs accuracy (dotted: uncompressed)\n"
        f"grid on the first {results['settings']['test_images']:,} test images"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def targets(results: dict[str, Any]) -> dict[str, Any]:
    h = results["models"].get("squeezenet1_0", {}).get("headline")
    out: dict[str, Any] = {}
    if h:
        out["squeezenet1_0 ratio vs safetensors >= 20"] = {
            "value": h["ratio_safetensors"],
            "met": h["ratio_safetensors"] >= 20,
        }
        out["squeezenet1_0 top-1 drop <= 0.3 points"] = {
            "value": h["top1_drop_points"],
            "met": h["top1_drop_points"] <= 0.3,
        }
    d = results["decode"]["decode_seconds"]
    out["decode 1000-class squeezenet1_0 < 1 s"] = {"value": d, "met": d < 1.0}
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.models.split(",")
    if args.runs and len(args.runs) != len(names):
        print(f"--runs needs one path per model ({names})", file=sys.stderr)
        return 2
    train = load_dataset(args.data, "train", data_dir=args.data_dir)
    test_full = load_dataset(args.data, "test", data_dir=args.data_dir)
    test = (
        test_full.subset(torch.arange(min(args.eval_limit, len(test_full))))
        if args.eval_limit
        else test_full
    )
    results: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "threads": args.threads,
            "torch": torch.__version__,
        },
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        | {"runs": [str(r) for r in args.runs], "test_images": len(test)},
        "paper_points": PAPER_POINTS,
        "models": {},
    }
    start = time.perf_counter()
    for i, name in enumerate(names):
        model, source = trained_model(name, args, args.runs[i] if args.runs else None)
        base = {
            "top1": _top1(model, test),
            "fp32_bytes": 4 * sum(p.numel() for p in model.parameters()),
            "safetensors_bytes": safetensors_size(model),
            "source": source,
        }
        print(f"{name}: uncompressed top-1 {100 * base['top1']:.2f}%", flush=True)
        points = sweep(model, train, test, args, base)
        results["models"][name] = {"baseline": base, "points": points, "pareto": pareto(points)}
        given = dict(item.split("=", 1) for item in args.headline_report)
        if name in given:  # made by the CLI on the same model: recorded with its source
            report = json.loads(Path(given[name]).read_text())
            results["models"][name]["headline"] = {**report, "source": given[name]}
        else:
            results["models"][name]["headline"] = headline(model, train, test_full, args)
    results["decode"] = decode_benchmark()
    results["targets"] = targets(results)
    results["seconds"] = time.perf_counter() - start
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.output, json.dumps(results, indent=2) + "\n")
    plot(results, args.output.with_suffix(".png"))
    print(json.dumps(results["targets"], indent=2))
    print(f"wrote {args.output} and {args.output.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
