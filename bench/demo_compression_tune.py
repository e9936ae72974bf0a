"""The demo's compression settings compared on a held-out sixth of Fashion-MNIST's training
split, never on the test split the demo reports.

A demo-recipe model is trained on the other five sixths (`squeezenet train --recipe demo
--epochs 9 --val-fraction 0.16666667 --out RUN`, seed 0: the same split as here); each
setting compresses a copy of its final weights the demo's way (`demo.demo_compress_config`,
full retraining share) with one change, and the `.sqz` file's decoded model is scored on the
held-out images. Prints one JSON line per setting and writes
bench/results/demo_compression_tune.json.

    python bench/demo_compression_tune.py RUN [base lr0.005 lr0.02 lr0.03 lr0.04 ls r3 ...]
    python bench/demo_compression_tune.py RUN demo demo:conv10=0.3 "demo:*.squeeze=0.5" ...

"demo" is the demo's compression as it is now; "demo:PATTERN=S[,PATTERN=S]" changes the
sparsity of the layers PATTERN matches (the demo's rule of that pattern, or a new rule put
first), "demo:bits:PATTERN=B" their bits, and "demo:epochs=E" the epochs of each pruning round.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time
from pathlib import Path

import torch

from squeezenet import demo, hardware
from squeezenet.checkpoint import load_model
from squeezenet.compress import CompressConfig, PruneConfig, compress_to_file
from squeezenet.data import load_dataset
from squeezenet.engine import evaluate
from squeezenet.engine.recipes import recipe
from squeezenet.engine.setup import split_train_val
from squeezenet.files import atomic_write_text

RESULTS = Path(__file__).parent / "results" / "demo_compression_tune.json"
HELD_OUT = 0.16666667
DEFAULT_LR = 0.01  # what `demo.PRUNE_LR` replaced: "base" is the demo's config at this lr


def demo_variant(config: CompressConfig, change: str) -> CompressConfig:
    """The demo's compression `config` with `change`: 'PATTERN=S,...' sparsities,
    'bits:PATTERN=B,...' bits (a pattern the demo has gets the new value; a new one goes
    first, so it wins) or 'epochs=E' per pruning round."""
    if change.startswith("epochs="):
        return config.with_finetune(prune={"epochs": float(change.removeprefix("epochs="))})
    bits = change.startswith("bits:")
    pairs = [rule.split("=") for rule in change.removeprefix("bits:").split(",")]
    if bits:
        rules = with_rules(config.share.bits, {p: int(b) for p, b in pairs})
        return dataclasses.replace(config, share=dataclasses.replace(config.share, bits=rules))
    rules = with_rules(config.prune.sparsity, {p: float(v) for p, v in pairs})
    return dataclasses.replace(config, prune=PruneConfig(rules))


def with_rules(rules: tuple, changes: dict) -> tuple:
    """`rules` with each changed pattern's value replaced, and new patterns put first."""
    new = tuple((p, v) for p, v in changes.items() if p not in dict(rules))
    return new + tuple((p, changes.get(p, v)) for p, v in rules)


def setting(name: str) -> CompressConfig:
    """'demo' or 'demo:CHANGE' (see `demo_variant`), 'base' (the demo's at the compress
    default lr), 'lrX' (masked retraining's peak lr), 'ls' (label smoothing 0.1 in both
    phases, as in training) or 'r3' (three pruning rounds of 2/3 epoch)."""
    config = demo.demo_compress_config(recipe("demo"), 1.0)
    if name == "demo":
        return config
    if name.startswith("demo:"):
        return demo_variant(config, name.removeprefix("demo:"))
    if name == "base":
        return config.with_finetune(prune={"lr": DEFAULT_LR})
    if name.startswith("lr"):
        return config.with_finetune(prune={"lr": float(name[2:])})
    if name == "ls":
        smooth = {"label_smoothing": 0.1}
        return config.with_finetune(prune={"lr": DEFAULT_LR, **smooth}, share=smooth)
    if name == "r3":
        three = dataclasses.replace(config, rounds=3)
        return three.with_finetune(prune={"epochs": 2 / 3, "lr": DEFAULT_LR})
    raise SystemExit(f"unknown setting {name!r}: base, lrX, ls or r3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the run folder trained on five sixths of train")
    parser.add_argument("settings", nargs="*", default=["base", "lr0.02", "lr0.03"])
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON to write")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    hardware.keep_freed_memory()
    dense = load_model(args.run / "weights" / "last.safetensors")
    train, held_out = split_train_val(load_dataset("fashion-mnist", "train"), HELD_OUT, 0)
    dense_top1 = evaluate(dense, held_out).top1
    rows = []
    for name in args.settings:
        start = time.perf_counter()
        sqz = args.run / f"tune_{name}.sqz"
        done = compress_to_file(
            copy.deepcopy(dense), sqz, train=train, test=held_out, config=setting(name)
        )
        top1 = evaluate(load_model(done.sqz_path), held_out).top1
        row = {
            "setting": name,
            "held_out_top1": top1,
            "points_lost": 100 * (dense_top1 - top1),
            "pruned_top1": done.report.top1_pruned,
            "sqz_bytes": done.report.sqz_bytes,
            "seconds": time.perf_counter() - start,
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    result = {
        "benchmark": "demo_compression_tune",
        "held_out": f"{len(held_out)} images of train (fraction {HELD_OUT}, seed 0)",
        "dense_held_out_top1": dense_top1,
        "rows": rows,
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
