"""Are the maps faithful? The deletion check of Grad-CAM, saliency and SmoothGrad on real
ImageNet photos with the authors' ImageNet SqueezeNet 1.0.

For each image, each map of the image's *correct* class ranks the cells of a 14 x 14 lattice
(16-17 px at 227) by the map's mean over them; deleting the cells most important first
(replacing them by the same cells of a blurred copy of the image, Gaussian std 5% of the side,
a tenth of the image a step) must lower the class's softmax probability faster than deleting
them in random order (the mean of 3 orders): a smaller area under the curve. Reports both
areas per image and map, their means and the share of images that pass. See
`squeezenet.explain.deletion` for the metric.

Two disjoint sets of images from the shared sample (500 files sorted by name, index i):
- `--subset report` (default): i % 5 == 0, the first 100: the reported figures, written to
  bench/results/explain.json. No setting was chosen on these images.
- `--subset tune`: odd i with i % 5 != 0, every 10th (20 images by default): where settings are
  compared (`--config`, repeated; `--maps variants`: the candidate maps of
  bench/explain_variants.py) before any is used on the report images; printed and written to
  bench/results/explain_tune.json. The metric's settings were fixed from the literature
  beforehand (only a two-image smoke run of 14 against 28 cells a side ran here) and were not
  changed when the maps were compared. The comparison of gradient maps so far (10 of the 20
  images; `--partial` summarises the finished ones, variants dropped part way are listed under
  `screened_out` with their image counts):

    R=bench/results/explain_tune_rows.jsonl  # the finished rows; shards share it, resumable
    python bench/explain.py --subset tune --images 60 --maps gradcam,variants --rows $R \
        --shard i/2                                   # stopped after 2 images: too slow here
    python bench/explain.py --subset tune --images 20 --maps variants --rows $R --shard i/2
    M=saliency-max,saliency-l2,sg25-n15-max,sg50-n15-max,sg50-n15-l2,sgsq50-n15-l2,\
    ig32-blur-pos,ig16-blur-pos                       # after 8-9 images: the rest dropped
    python bench/explain.py --subset tune --images 20 --maps $M --rows $R --shard i/2
    python bench/explain.py --subset tune --images 20 --maps $M --rows $R --partial
    L=saliency-lp-max,saliency-lp-l2,sg50-n15-l2-lp,sg50-n15-max-lp,sg25-n15-max-lp
    python bench/explain.py --subset tune --images 20 --maps $L --rows $R --shard i/2
    python bench/explain.py --subset tune --images 20 --maps $M,$L --rows $R --partial
                                                      # every map finished on all 20

Maps: gradcam (fire9), saliency, smoothgrad (`--samples`, default 25), integrated-gradients
(`--ig-steps`, default 32, from a blurred copy), or any of the tuning variants; each row keeps
each map's CPU seconds (one thread).

    python bench/explain.py [--subset report|tune] [--images N] [--maps gradcam,saliency,...]
        [--config grid=14,baseline=blur,blur=0.05 ...] [--rows FILE ... --shard i/n]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from explain_variants import VARIANTS, variant_maps

from squeezenet import load_model
from squeezenet.explain import (
    deletion_check,
    gradcam,
    integrated_gradients,
    saliency,
    smoothgrad,
)
from squeezenet.files import atomic_write_text
from squeezenet.imagenet import imagenet_classes

ROOT = Path(__file__).resolve().parents[1]
NET = ROOT / "tests" / "fixtures" / "imagenet" / "compressed_SqueezeNet.net"
SAMPLE = ROOT.parent / "shared" / "imagenet" / "sample"
RESULTS = ROOT / "bench" / "results"
LAYER = "fire9"
DEFAULT = {"grid": 14, "baseline": "blur", "blur": 0.05}
LOG_PROBABILITY = "log-probability"  # the "-lp" maps differentiate the class's log-probability


def select(files: list[Path], subset: str, images: int) -> list[Path]:
    """The report or the tuning images (disjoint by construction)."""
    if subset == "report":
        return [f for i, f in enumerate(files) if i % 5 == 0][:images]
    tune = [f for i, f in enumerate(files) if i % 2 == 1 and i % 5 != 0]
    return tune[:: max(1, len(tune) // images)][:images]


def parse_config(text: str) -> dict[str, Any]:
    """ "grid=14,baseline=blur,blur=0.05" -> settings (missing keys: the defaults)."""
    config = dict(DEFAULT)
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        if key not in DEFAULT:
            raise SystemExit(f"unknown config key {key!r}; valid: {', '.join(DEFAULT)}")
        config[key] = value if key == "baseline" else type(DEFAULT[key])(value)
    return config


def run_image(model: Any, path: Path, target: int, configs: list[dict], args: Any) -> dict:
    """Every map once (with its CPU seconds), then the deletion check of all of them under
    each config."""
    make = {
        "gradcam": lambda: gradcam(model, path, target, layer=LAYER),
        "saliency": lambda: saliency(model, path, target),
        "smoothgrad": lambda: smoothgrad(model, path, target, samples=args.samples),
        "saliency-lp": lambda: saliency(model, path, target, objective=LOG_PROBABILITY),
        "smoothgrad-lp": lambda: smoothgrad(
            model, path, target, samples=args.samples, objective=LOG_PROBABILITY
        ),
        "integrated-gradients": lambda: integrated_gradients(
            model, path, target, steps=args.ig_steps
        ),
    }
    maps, seconds = {}, {}
    for name in (n for n in args.maps if n in make):
        start = time.process_time()
        maps[name] = make[name]()
        seconds[name] = time.process_time() - start
    variants = [n for n in args.maps if n in VARIANTS]
    if variants:
        found, cost = variant_maps(model, path, target, variants)
        maps.update(zip(variants, found))
        seconds.update(cost)
    first = maps[args.maps[0]]
    row: dict[str, Any] = {
        "image": path.name,
        "class": target,
        "probability": first.target.probability,
        "predicted": first.predicted.index,
        "cpu_seconds": seconds,
    }
    for n, config in enumerate(configs):
        results = deletion_check(
            model,
            path,
            target,
            attributions=[maps[m] for m in args.maps],
            steps=args.steps,
            random_orders=args.random_orders,
            **config,
        )
        row[f"config{n}"] = {
            name: {"salient_auc": r.salient_auc, "random_auc": r.random_auc}
            for name, r in zip(args.maps, results)
        }
    return row


def summarise(rows: list[dict], key: str, maps: list[str]) -> dict[str, dict]:
    """Per map: mean areas and the share of images whose salient area is below random's."""
    out = {}
    for method in maps:
        salient = [row[key][method]["salient_auc"] for row in rows]
        random = [row[key][method]["random_auc"] for row in rows]
        correct = [
            s < r for s, r, row in zip(salient, random, rows) if row["predicted"] == row["class"]
        ]
        out[method] = {
            "layer": LAYER if method == "gradcam" else None,
            "mean_salient_auc": statistics.mean(salient),
            "mean_random_auc": statistics.mean(random),
            "share_passing": sum(s < r for s, r in zip(salient, random)) / len(rows),
            "share_passing_top1_correct": sum(correct) / len(correct) if correct else None,
            "cpu_seconds_per_image": statistics.mean(
                row.get("cpu_seconds", {}).get(method, float("nan")) for row in rows
            ),
        }
    return out


def screened(rows: list[dict], key: str, maps: list[str]) -> dict[str, dict]:
    """Maps the rows hold beyond `maps` (tuning variants dropped part way), each summarised
    over the images it was run on."""
    extra = sorted({m for row in rows for m in row.get(key, {})} - set(maps))
    out = {}
    for method in extra:
        some = [row for row in rows if method in row[key]]
        out[method] = {"images": len(some), **summarise(some, key, [method])[method]}
    return out


def load_rows(paths: list[Path], settings: dict) -> dict[str, dict]:
    """Images already checked with these settings, by file name. Records of one image from
    runs of different maps (each against its own random orders) are merged."""
    done: dict[str, dict] = {}
    for path in paths:
        lines = path.read_text().splitlines() if path.exists() else []
        for record in (json.loads(line) for line in lines if line.strip()):
            kept, row = record["settings"], record["row"]
            if any(kept[k] != settings[k] for k in ("configs", "steps", "random_orders")):
                continue
            if (
                {"smoothgrad", "smoothgrad-lp"} & set(kept["maps"])
                and kept["smoothgrad_samples"] != settings["smoothgrad_samples"]
            ) or (
                "integrated-gradients" in kept["maps"]
                and kept.get("ig_steps") != settings["ig_steps"]
            ):
                continue
            merged = done.setdefault(
                row["image"],
                {k: v for k, v in row.items() if not k.startswith("config") and k != "cpu_seconds"},
            )
            for key, value in row.items():
                if key.startswith("config") or key == "cpu_seconds":
                    merged.setdefault(key, {}).update(value)
    return done


def complete(row: dict | None, configs: int, maps: list[str]) -> bool:
    """`row` has every map under every config."""
    return row is not None and all(
        m in row.get(f"config{n}", {}) for n in range(configs) for m in maps
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", choices=("report", "tune"), default="report")
    parser.add_argument("--images", type=int, default=None, help="default: 100 / 20")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--random-orders", type=int, default=3)
    parser.add_argument(
        "--config",
        action="append",
        default=None,
        help="grid=..,baseline=blur|mean,blur=..; repeat to compare",
    )
    parser.add_argument("--maps", default="gradcam,saliency,smoothgrad")
    parser.add_argument("--samples", type=int, default=25, help="SmoothGrad's noisy copies")
    parser.add_argument("--ig-steps", type=int, default=32, help="integrated gradients' steps")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--shard", default="0/1", help="i/n: this process does images i::n")
    parser.add_argument(
        "--rows",
        type=Path,
        action="append",
        default=None,
        help="JSONL of finished images: the first is appended to; all are reused where the "
        "settings match (shards share one; a last run over all writes the summary)",
    )
    parser.add_argument(
        "--partial",
        action="store_true",
        help="tune only: run nothing, summarise the images finished (the rest listed as not run)",
    )
    parser.add_argument("--sample", type=Path, default=SAMPLE)
    parser.add_argument("--note", default="", help="how the rows were computed, for the record")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = args.images or (100 if args.subset == "report" else 20)
    files = select(sorted(args.sample.glob("*.JPEG")), args.subset, images)
    if not files:
        raise SystemExit(f"no *.JPEG images in {args.sample}")
    configs = [parse_config(c) for c in (args.config or [""])]
    args.maps = [
        m for name in args.maps.split(",") for m in (VARIANTS if name == "variants" else [name])
    ]
    model = load_model(NET)
    index_of = {wnid: i for i, wnid in enumerate(imagenet_classes().wnids)}
    settings = {
        "configs": configs,
        "maps": args.maps,
        "steps": args.steps,
        "random_orders": args.random_orders,
        "smoothgrad_samples": args.samples,
        "ig_steps": args.ig_steps,
    }
    done = load_rows(args.rows or [], settings)
    shard, shards = (int(v) for v in args.shard.split("/"))
    start = time.perf_counter()
    for n, path in enumerate(files):
        if (
            args.partial
            or n % shards != shard
            or complete(done.get(path.name), len(configs), args.maps)
        ):
            continue
        row = run_image(model, path, index_of[path.name.split("_")[0]], configs, args)
        done[path.name] = row
        if args.rows:
            with open(args.rows[0], "a") as f:  # one short line per write: appends do not mix
                f.write(json.dumps({"settings": settings, "row": row}) + "\n")
        print(f"{len(done)}/{len(files)} {path.name}", flush=True)
    missing = [f.name for f in files if not complete(done.get(f.name), len(configs), args.maps)]
    if missing and not (args.partial and args.subset == "tune"):
        print(f"{len(missing)} images left to other shards; no summary written")
        return
    rows = [done[f.name] for f in files if f.name not in missing]
    summaries = [
        {
            "config": c,
            "summary": summarise(rows, f"config{n}", args.maps),
            "screened_out": screened(rows, f"config{n}", args.maps),
        }
        for n, c in enumerate(configs)
    ]
    result = {
        "benchmark": "explain_deletion",
        "subset": args.subset,
        "model": NET.name,
        "images": len(rows),
        "images_not_run": missing,
        "top1_correct": sum(r["predicted"] == r["class"] for r in rows),
        "target": "the image's correct class",
        "metric": "softmax probability of the target as a grid x grid lattice of cells is "
        "deleted, most important first (the map's mean per cell) or in random order "
        "(mean of random_orders orders), steps equal steps; a deleted cell takes the "
        "values of a Gaussian-blurred copy (std blur x side) or the mean colour; "
        "area under each curve over the share deleted (0..1); an image passes when "
        "the salient area is below the random one",
        "steps": args.steps,
        "random_orders": args.random_orders,
        "smoothgrad_samples": args.samples,
        "integrated_gradients": {"steps": args.ig_steps, "baseline": "blur", "blur": 0.05},
        "configs": summaries,
        "per_image": rows,
        "seconds_this_run": time.perf_counter() - start,
        "note": args.note,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": args.threads,
            "torch": torch.__version__,
        },
    }
    if args.subset == "report":
        result["summary"] = summaries[0]["summary"]
    name = "explain.json" if args.subset == "report" else "explain_tune.json"
    atomic_write_text(RESULTS / name, json.dumps(result, indent=2) + "\n")
    for entry in summaries:
        print(entry["config"])
        for method, s in entry["summary"].items():
            print(
                f"  {method}: salient AUC {s['mean_salient_auc']:.3f} against random "
                f"{s['mean_random_auc']:.3f}; {100 * s['share_passing']:.0f}% of {len(rows)} "
                "images pass"
            )
    print(f"-> {RESULTS / name}")


if __name__ == "__main__":
    main()
