"""The issue's targets for bench/inference.py, each a measured value, a bound and a verdict.

Computed from the summaries the benchmark writes (plain dicts), so that a saved
bench/results/inference.json can be re-checked. Ratios are p50 latencies against the best
peer (the faster of onnxruntime and OpenVINO on a plain export) in the same run.

On SqueezeNet 1.1 (batch 1 unless stated):
    our fastest fp32 backend / best peer            <= 1.0
    onnxruntime-int8 / best peer                    <= 0.5
    onnxruntime-int8 / best peer                    <= 0.45 with VNNI (avx512_vnni, avx_vnni,
                                                    amx_int8 in the CPU flags), else <= 0.6
    best GFLOP/s at batch 32 / sgemm GFLOP/s        >= 0.8
    INT8 top-1 drop on the accuracy model           <= 0.5 points
and on the demo group, against the best peer on the dense model, at batch 1 and 32:
    pruned fp32 (onnxruntime or openvino) / best peer  <= 0.6
    pruned/onnxruntime-int8 / best peer             <= 0.4
    pruned MACs / dense MACs                        <= 0.5
    dense fp32 top-1 - pruned fp32 top-1            <= 0.5 points
"""

from __future__ import annotations

from typing import Any

VARIANT = "pruned"  # the demo group's channel-pruned copy of the demo model
FP32_RUNNERS = ("onnxruntime", "openvino")  # our fp32 deployment paths of the pruned model
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")  # INT8 dot products: onnxruntime's fast u8s8


def check(value: Any, bound: float, upper: bool) -> dict[str, Any]:
    """A target's measured value (the median of a spread), bound and verdict (None: not run)."""
    if isinstance(value, dict):
        value = value["median"]
    met = None if value is None else (value <= bound if upper else value >= bound)
    return {"value": value, "bound": bound, "met": met}


def targets(
    models: dict[str, Any],
    accuracy: dict[str, Any] | None,
    demo: dict[str, Any] | None = None,
    flags: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The issue's targets on SqueezeNet 1.1 and on the demo group, each with its measured
    value and verdict; `flags`: the CPU's, which set the INT8 bound."""
    s = models.get("squeezenet1_1", {}).get("summary", {})
    b1, b32 = s.get("batch_1", {}), s.get("batch_32", {})
    out = {
        "fastest_fp32_vs_peer_batch1 <= 1.0": check(b1.get("fastest_fp32_vs_peer"), 1.0, True),
        "int8_vs_peer_batch1 <= 0.5": check(b1.get("int8_vs_peer"), 0.5, True),
        "best_sgemm_fraction_batch32 >= 0.8": check(b32.get("best_sgemm_fraction"), 0.8, False),
        "best_fp32_sgemm_fraction_batch32 >= 0.8": check(
            b32.get("best_fp32_sgemm_fraction"), 0.8, False
        ),
    }
    if accuracy is not None:
        out["int8_top1_drop_points <= 0.5"] = check(accuracy["drop_points"], 0.5, True)
    vnni = sorted(set(VNNI_FLAGS) & flags)
    bound = 0.45 if vnni else 0.6
    why = f"CPU has {', '.join(vnni)}" if vnni else f"CPU has none of {', '.join(VNNI_FLAGS)}"
    out[f"squeezenet1_1_int8_vs_peer_batch1 <= {bound}"] = {
        **check(b1.get("int8_vs_peer"), bound, True),
        "why": f"bound {bound} (0.45 with VNNI, else 0.6): {why}",
    }
    return {**out, **demo_targets(demo)}


def demo_targets(demo: dict[str, Any] | None) -> dict[str, Any]:
    """The pruned demo model against the best peer on the dense one, its MACs and accuracy."""
    demo = demo or {"skipped": "the demo group was not run"}
    summary = demo.get("summary", {})

    def ratio(runner: str, batch: int) -> Any:
        return summary.get(f"batch_{batch}", {}).get("ratios_vs_best_peer", {}).get(runner)

    out = {}
    for kind, runners, bound in (("fp32", FP32_RUNNERS, 0.6), ("int8", ("onnxruntime-int8",), 0.4)):
        for batch in (1, 32):
            timed = {r: ratio(f"{VARIANT}/{r}", batch) for r in runners}
            timed = {r: v for r, v in timed.items() if v is not None}
            fastest = min(timed, key=lambda r: timed[r]["median"], default=None)
            out[f"demo_pruned_{kind}_vs_peer_batch{batch} <= {bound}"] = {
                **check(timed.get(fastest), bound, True),
                "why": f"fastest of {', '.join(runners)}: {fastest}",
            }
    out["demo_pruned_macs_share <= 0.5"] = check(demo.get("macs", {}).get("share"), 0.5, True)
    out["demo_pruned_fp32_top1_drop_points <= 0.5"] = check(
        demo.get("pruned_fp32_drop_points"), 0.5, True
    )
    if "skipped" in demo:
        out = {name: {**target, "why": demo["skipped"]} for name, target in out.items()}
    return out
