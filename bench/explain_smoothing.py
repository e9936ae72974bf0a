"""Gradient maps of the class's score or log-probability, plain or blurred, in the deletion
check over the whole tuning pool (200 images), never the report images.

The 20 tuning images of bench/explain.py put SmoothGrad of the log-probability at 80% and
plain saliency at 60-70%, short of the 90% the issue asks; on the first 60 images of this
wider set the same maps reached 88-93%, so the whole pool of 200 was run to tell a real
gain from a lucky subset. Each image gets saliency (max |g| over channels) of the score
("sal") and of the log-probability ("sal-lp"), and SmoothGrad of the log-probability (25
copies, noise 15%; max and L2 over channels), each also blurred with a Gaussian of std
SIGMAS pixels before the check ranks the cells ("-b4": 4 px): Grad-CAM, which passes, is a
coarse map, and blurring asks whether the pixel maps only lack that coarseness. (16 and 32
px were tried on the first 60 images too: worse than 8 on every map.) Settings and metric
as bench/explain.py's defaults; rows are appended to --rows, so shards and restarts share
the work. Writes bench/results/explain_smoothing.json.

    python bench/explain_smoothing.py --shard 0/2 & python bench/explain_smoothing.py --shard 1/2
    python bench/explain_smoothing.py --summarise
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch
from explain import LOG_PROBABILITY, NET, RESULTS, SAMPLE, select

from squeezenet import load_model
from squeezenet.explain import deletion_check, saliency
from squeezenet.explain.attribution import aggregate_channels, noisy_gradients
from squeezenet.explain.core import eval_mode, gaussian_blur, load_input
from squeezenet.files import atomic_write_text
from squeezenet.imagenet import imagenet_classes

SIGMAS = (0, 4, 8)
TUNING_POOL = 200  # every tuning image: odd index, not a multiple of 5


def gradient_maps(model, path: Path, target: int) -> tuple[object, dict]:
    """The score's saliency (as an AttributionMap to copy) and every unblurred map by name;
    SmoothGrad's max and L2 maps share one set of noisy gradients."""
    base = saliency(model, path, target)
    heats = {
        "sal": base.map,
        "sal-lp": saliency(model, path, target, objective=LOG_PROBABILITY).map,
    }
    with eval_mode(model):
        x = load_input(model, path)
        noisy = noisy_gradients(
            model, x, target, samples=25, noise=0.15, seed=0, objective=LOG_PROBABILITY
        )
        mean = torch.cat(list(noisy)).mean(0, keepdim=True)
    heats["sg25-lp"] = aggregate_channels(mean, "max")
    heats["sg25-lp-l2"] = aggregate_channels(mean, "l2")
    return base, heats


def run_image(model, path: Path, target: int) -> dict:
    base, heats = gradient_maps(model, path, target)
    maps, names = [], []
    for name, heat in heats.items():
        for sigma in SIGMAS:
            h = torch.as_tensor(heat)[None, None].float()
            blurred = heat if sigma == 0 else gaussian_blur(h, sigma)[0, 0].numpy()
            maps.append(dataclasses.replace(base, map=blurred))
            names.append(f"{name}-b{sigma}")
    results = deletion_check(model, path, target, attributions=maps, random_orders=3)
    return {
        "image": path.name,
        "top1_correct": base.predicted.index == target,
        "auc": {n: [r.salient_auc, r.random_auc] for n, r in zip(names, results)},
    }


def summarise(rows: list[dict]) -> dict:
    correct = [r for r in rows if r["top1_correct"]]
    out = {}
    for name in rows[0]["auc"]:
        passed = [r["auc"][name][0] < r["auc"][name][1] for r in rows]
        out[name] = {
            "share_passing": sum(passed) / len(rows),
            "share_passing_top1_correct": sum(
                r["auc"][name][0] < r["auc"][name][1] for r in correct
            )
            / max(len(correct), 1),
            "mean_salient_auc": sum(r["auc"][name][0] for r in rows) / len(rows),
            "mean_random_auc": sum(r["auc"][name][1] for r in rows) / len(rows),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=Path, default=Path("explain_smoothing_rows.jsonl"))
    parser.add_argument("--shard", default="0/1", help="i/n: this process does images i::n")
    parser.add_argument("--summarise", action="store_true", help="run nothing, write the summary")
    args = parser.parse_args()
    torch.set_num_threads(1)
    files = select(sorted(SAMPLE.glob("*.JPEG")), "tune", TUNING_POOL)
    lines = args.rows.read_text().splitlines() if args.rows.exists() else []
    done = {row["image"]: row for row in map(json.loads, filter(None, lines))}
    if args.summarise:
        rows = [done[f.name] for f in files if f.name in done]
        result = {
            "benchmark": "explain_smoothing",
            "subset": f"tune, {len(rows)} of {len(files)} images",
            "model": NET.name,
            "sigmas_px": SIGMAS,
            "top1_correct": sum(r["top1_correct"] for r in rows),
            "summary": summarise(rows),
        }
        atomic_write_text(RESULTS / "explain_smoothing.json", json.dumps(result, indent=2) + "\n")
        for name, s in result["summary"].items():
            print(f"{name}: {100 * s['share_passing']:.1f}% of {len(rows)} pass")
        return
    model = load_model(NET)
    index_of = {wnid: i for i, wnid in enumerate(imagenet_classes().wnids)}
    shard, shards = (int(v) for v in args.shard.split("/"))
    for path in files[shard::shards]:
        if path.name not in done:
            row = run_image(model, path, index_of[path.name.split("_")[0]])
            with open(args.rows, "a") as f:  # one short line per write: appends do not mix
                f.write(json.dumps(row) + "\n")
            print(path.name, flush=True)


if __name__ == "__main__":
    main()
