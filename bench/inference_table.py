"""The README's inference tables, in markdown, from bench/results/inference.json.

    python bench/inference_table.py [path/to/inference.json]

Prints: per model (and variant) and batch size, the best peer's p50 latency and each of our
backends' p50 as a ratio to it (median over the repeats; a variant's ratios are against the
best peer on the original model); the accuracy of each compressed variant of the demo model;
the issue's targets with their verdicts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "inference.json"
SEP = "/"  # a variant's runner names: "pruned/onnxruntime"


def markdown(header: list[str], rows: list[list[str]], align: str = "") -> str:
    """A markdown table; `align` has an "l" or "r" per column (default: the first column
    left-aligned, the others, numbers, right-aligned)."""
    align = align or "l" + "r" * (len(header) - 1)
    lines = [header, [":---" if a == "l" else "---:" for a in align], *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _groups(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, measured group) for each model of the run, the demo group last."""
    out = []
    for name, group in (data.get("models") or {}).items():
        out.append((f"{name} @ {data['settings']['input_size']} px", group))
    demo = data.get("demo") or {}
    if "summary" in demo:
        model = demo["runs"][0]["model"]
        out.append((f"demo: {model['name']} @ {model['input_size']} px", demo))
    return out


def _variant_label(group: dict[str, Any], variant: str) -> str:
    info = group["runs"][0]["model"].get("variants", {}).get(variant, {})
    share = info.get("flops_share")
    return f"{variant}" + (f" ({share:.2f}x the FLOPs)" if share is not None else "")


def latency_table(data: dict[str, Any]) -> str:
    """Per model/variant and batch: the best peer's p50 and our backends' ratios to it."""
    peers = set(data["settings"]["peers"])
    rows: list[tuple[str, str, dict[str, Any], dict[str, float]]] = []
    columns: dict[str, None] = {}
    for label, group in _groups(data):
        for key, batch in group["summary"].items():
            ratios = {r: v["median"] for r, v in batch["ratios_vs_best_peer"].items()}
            by_variant: dict[str | None, dict[str, float]] = {}
            for runner, ratio in ratios.items():
                variant, _, backend = runner.rpartition(SEP)
                if backend not in peers or variant:
                    by_variant.setdefault(variant or None, {})[backend] = ratio
                    columns.setdefault(backend)
            for variant, mine in by_variant.items():
                name = label if variant is None else f"  {_variant_label(group, variant)}"
                rows.append((name, key.removeprefix("batch_"), batch, mine))
    header = ["model", "batch", "best peer", "peer p50 ms", *(f"{c}" for c in columns)]
    cells = []
    for name, size, batch, mine in rows:
        peer = batch.get("best_peer")
        p50 = (batch.get("peer_p50_ms", {}).get(peer) or {}).get("median")
        cells.append(
            [
                name,
                size,
                peer or "",
                f"{p50:.2f}" if p50 is not None else "",
                *(f"{mine[c]:.2f}x" if c in mine else "" for c in columns),
            ]
        )
    return markdown(header, cells, "lrlr" + "r" * len(columns))


def accuracy_table(data: dict[str, Any]) -> str | None:
    """Test top-1 of each variant of the demo model, fp32 and INT8, against the dense fp32."""
    demo = data.get("demo") or {}
    accuracy = demo.get("accuracy") or (
        {"dense": data["int8_accuracy"]} if data.get("int8_accuracy") else None
    )
    if not accuracy:
        return None
    base = accuracy["dense"]["fp32_top1"]
    macs = demo.get("macs", {})
    rows = []
    for variant, acc in accuracy.items():
        share = macs[variant] / macs["dense"] if variant in macs and macs.get("dense") else None
        for precision, key in (("fp32", "fp32_top1"), ("INT8", "int8_top1")):
            top1 = acc[key]
            rows.append(
                [
                    variant,
                    precision,
                    f"{100 * top1:.2f}%",
                    f"{100 * (top1 - base):+.2f}",
                    f"{share:.2f}" if share is not None else "",
                    f"{acc[precision.lower() + '_bytes'] / 1024:.0f} KiB",
                ]
            )
    header = ["model", "precision", "test top-1", "vs dense fp32 (points)", "MACs share", "file"]
    return f"{accuracy['dense']['data']} test split\n\n" + markdown(header, rows, "llrrrr")


def targets_table(data: dict[str, Any]) -> str:
    """Each target's measured value, bound and verdict."""
    verdict = {True: "met", False: "**missed**", None: "not measured"}
    rows = []
    for name, t in (data.get("targets") or {}).items():
        value = t.get("value")
        text = "" if value is None else f"{value:.3g}"
        rows.append([name, text, verdict[t.get("met")], t.get("why", "")])
    return markdown(["target", "value", "verdict", "note"], rows, "lrll")


def caption(data: dict[str, Any]) -> str:
    m, s = data.get("machine", {}), data.get("settings", {})
    vnni = [f for f in m.get("cpu_flags", []) if "vnni" in f or f == "amx_int8"]
    return (
        f"{m.get('cpu', '?')}, {s.get('threads')} threads, PyTorch CPU capability "
        f"{m.get('torch_cpu_capability', '?')}, {'VNNI: ' + ', '.join(vnni) if vnni else 'no VNNI'}"
        f"; p50 ratios against the best peer (the faster of {' and '.join(s.get('peers', []))}) "
        f"in the same interleaved rounds, median over {s.get('repeats')} repeats"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("path", type=Path, nargs="?", default=RESULTS)
    args = p.parse_args(argv)
    try:
        data = json.loads(args.path.read_text())
    except (OSError, ValueError) as e:
        print(f"cannot read {args.path}: {e}", file=sys.stderr)
        return 1
    if "peers" not in data.get("settings", {}):
        print(
            f"{args.path} predates the best-peer results; rerun bench/inference.py", file=sys.stderr
        )
        return 1
    parts = [caption(data), latency_table(data), accuracy_table(data), targets_table(data)]
    print("\n\n".join(part for part in parts if part))
    return 0


if __name__ == "__main__":
    sys.exit(main())
