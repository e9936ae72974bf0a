"""Are the maps faithful? The deletion check of Grad-CAM and saliency on real ImageNet photos.

For 100 images of the shared ImageNet sample (every fifth file, sorted by name) and the
authors' ImageNet SqueezeNet 1.0, each map of the image's *correct* class orders the pixels;
deleting them most-salient-first must lower the class probability faster than deleting them in
random order (mean of 3 orders): a smaller area under the salient curve than under the random
one. Reports both areas per image and method, their means and the share of images that pass.
Writes bench/results/explain.json.

    python bench/explain.py [--images 100] [--steps 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from squeezenet import load_model
from squeezenet.explain import deletion
from squeezenet.files import atomic_write_text
from squeezenet.imagenet import imagenet_classes

ROOT = Path(__file__).resolve().parents[1]
NET = ROOT / "tests" / "fixtures" / "imagenet" / "compressed_SqueezeNet.net"
SAMPLE = ROOT.parent / "shared" / "imagenet" / "sample"
RESULTS = ROOT / "bench" / "results" / "explain.json"
METHODS = (("gradcam", "fire9"), ("saliency", None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--random-orders", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sample", type=Path, default=SAMPLE)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    files = sorted(args.sample.glob("*.JPEG"))
    stride = max(1, len(files) // args.images)
    files = files[::stride][: args.images]
    if not files:
        raise SystemExit(f"no *.JPEG images in {args.sample}")
    model = load_model(NET)
    index_of = {wnid: i for i, wnid in enumerate(imagenet_classes().wnids)}
    rows, start = [], time.perf_counter()
    for path in files:
        target = index_of[path.name.split("_")[0]]
        row = {"image": path.name, "class": target}
        for method, layer in METHODS:
            r = deletion(model, path, target, attribution=method, layer=layer, steps=args.steps,
                         random_orders=args.random_orders)  # fmt: skip
            row[method] = {"salient_auc": r.salient_auc, "random_auc": r.random_auc,
                           "probability": r.target.probability}  # fmt: skip
        rows.append(row)
    summary = {}
    for method, layer in METHODS:
        salient = [row[method]["salient_auc"] for row in rows]
        random = [row[method]["random_auc"] for row in rows]
        summary[method] = {
            "layer": layer,
            "mean_salient_auc": statistics.mean(salient),
            "mean_random_auc": statistics.mean(random),
            "share_passing": sum(s < r for s, r in zip(salient, random)) / len(rows),
        }
    result = {
        "benchmark": "explain_deletion",
        "model": NET.name,
        "images": len(rows),
        "target": "the image's correct class",
        "steps": args.steps,
        "random_orders": args.random_orders,
        "summary": summary,
        "per_image": rows,
        "seconds": time.perf_counter() - start,
        "machine": {"cpu": platform.processor() or platform.machine(),
                    "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                    "threads": args.threads, "torch": torch.__version__},  # fmt: skip
    }
    atomic_write_text(RESULTS, json.dumps(result, indent=2) + "\n")
    for method, s in summary.items():
        print(f"{method}: salient AUC {s['mean_salient_auc']:.3f} against random "
              f"{s['mean_random_auc']:.3f}; {100 * s['share_passing']:.0f}% of {len(rows)} "
              "images pass")  # fmt: skip
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    main()
