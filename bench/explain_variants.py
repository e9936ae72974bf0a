"""Candidate gradient saliency maps for the deletion check, compared on the tuning subset only
(`bench/explain.py --subset tune --maps gradcam,variants`), never on the report images.

All from the literature, each built from the library's own pieces (the same gradients, noise,
channel aggregation and path as `squeezenet.explain`); the gradients are shared where variants
differ only in how they are reduced, and a variant's CPU seconds are its share of the
gradients' CPU time (one thread):
- saliency (Simonyan et al., 2014; CS231n: max |g| over channels), its L2 norm over channels,
  and gradient x input (|sum over channels of g * x| and its positive part; x is relative to
  the mean colour, the zero input);
- SmoothGrad (Smilkov et al., 2017) with 25 or 50 noisy copies of std 10, 15 or 20% of the
  input's range, max or L2 over channels, plain or squared (the mean of the squared gradients,
  Hooker et al., 2019, ROAR's most faithful);
- saliency and SmoothGrad of the class's log-probability instead of its score ("-lp"): the
  gradient of log softmax, evidence for the class against the others, is what the deletion
  check's softmax probability responds to;
- integrated gradients (Sundararajan et al., 2017) from a blurred copy (std 5% of the side;
  Sturmfels et al., 2020) in 32 or 16 steps (the 16 are every other point of the 32), positive
  part or absolute value of the channel sum, and from the mean colour in 16 steps.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from squeezenet.explain import AttributionMap
from squeezenet.explain.attribution import (
    aggregate_channels,
    input_gradient,
    noisy_gradients,
    smoothgrad_map,
    target_class,
)
from squeezenet.explain.core import (
    baseline_image,
    class_score,
    eval_mode,
    load_input,
    to_display,
    top_class,
)
from squeezenet.explain.integrated import path_gradients, signed_map

# name -> (noise, samples, squared, aggregate, objective); "-lp": the log-probability's gradient
SMOOTHGRAD = {
    "sg25-n15-max": (0.15, 25, False, "max", "score"),
    "sg50-n15-max": (0.15, 50, False, "max", "score"),
    "sg50-n15-l2": (0.15, 50, False, "l2", "score"),
    "sgsq25-n15-l2": (0.15, 25, True, "l2", "score"),
    "sgsq50-n15-max": (0.15, 50, True, "max", "score"),
    "sgsq50-n15-l2": (0.15, 50, True, "l2", "score"),
    "sg25-n20-max": (0.20, 25, False, "max", "score"),
    "sgsq25-n20-l2": (0.20, 25, True, "l2", "score"),
    "sg25-n15-max-lp": (0.15, 25, False, "max", "log-probability"),
    "sg50-n15-max-lp": (0.15, 50, False, "max", "log-probability"),
    "sg50-n15-l2-lp": (0.15, 50, False, "l2", "log-probability"),
}
# name -> (baseline, steps computed, steps used, sign)
INTEGRATED = {
    "ig32-blur-pos": ("blur", 32, 32, "positive"),
    "ig16-blur-pos": ("blur", 32, 16, "positive"),
    "ig16-mean-pos": ("mean", 16, 16, "positive"),
}
GRADIENT = ("saliency-max", "saliency-l2", "gradxinput-pos", "saliency-lp-max", "saliency-lp-l2")
VARIANTS = (*GRADIENT, *SMOOTHGRAD, *INTEGRATED)


def _timed(make: Any) -> tuple[torch.Tensor, float]:
    start = time.process_time()
    value = make()
    return value, time.process_time() - start


def _gradient_maps(net: Any, x: torch.Tensor, index: int, names: list[str]) -> tuple[dict, dict]:
    grad, seconds = _timed(lambda: input_gradient(net, x, index))
    product = grad * x
    heats = {
        "saliency-max": aggregate_channels(grad, "max"),
        "saliency-l2": aggregate_channels(grad, "l2"),
        "gradxinput-pos": signed_map(product, "positive"),
    }
    costs = dict.fromkeys(heats, seconds)
    if any(n.startswith("saliency-lp") for n in names):
        grad, seconds = _timed(lambda: input_gradient(net, x, index, "log-probability"))
        for aggregate in ("max", "l2"):
            heats[f"saliency-lp-{aggregate}"] = aggregate_channels(grad, aggregate)
            costs[f"saliency-lp-{aggregate}"] = seconds
    return heats, costs


def _smoothgrad_maps(net: Any, x: torch.Tensor, index: int, names: list[str]) -> tuple[dict, dict]:
    heats, costs, noisy = {}, {}, {}
    wanted = {n: v for n, v in SMOOTHGRAD.items() if n in names}
    for key in sorted({(v[0], v[4]) for v in wanted.values()}):
        most = max(v[1] for v in wanted.values() if (v[0], v[4]) == key)
        noisy[key] = _timed(
            lambda key=key, most=most: torch.cat(
                list(
                    noisy_gradients(
                        net, x, index, samples=most, noise=key[0], seed=0, objective=key[1]
                    )
                )
            )
        )
    for name, (noise, samples, squared, aggregate, objective) in wanted.items():
        grads, seconds = noisy[(noise, objective)]
        used = grads[:samples]
        mean, square = used.mean(0, keepdim=True), used.square().mean(0, keepdim=True)
        heats[name] = smoothgrad_map(mean, square, squared=squared, aggregate=aggregate)
        costs[name] = seconds * samples / len(grads)
    return heats, costs


def _integrated_maps(net: Any, x: torch.Tensor, index: int, names: list[str]) -> tuple[dict, dict]:
    heats, costs, paths = {}, {}, {}
    wanted = {n: v for n, v in INTEGRATED.items() if n in names}
    for baseline in sorted({v[0] for v in wanted.values()}):
        steps = max(v[1] for v in wanted.values() if v[0] == baseline)
        reference = baseline_image(x, baseline, 0.05)
        paths[baseline] = (
            reference,
            *_timed(
                lambda r=reference, s=steps: torch.cat(list(path_gradients(net, x, r, index, s)))
            ),
        )
    for name, (baseline, computed, steps, sign) in wanted.items():
        reference, grads, seconds = paths[baseline]
        used = grads[computed // steps - 1 :: computed // steps]  # alphas k / steps
        heats[name] = signed_map((x - reference) * used.mean(0, keepdim=True), sign)
        costs[name] = seconds * steps / computed
    return heats, costs


def variant_maps(
    net: Any, path: Path, target: int, names: list[str]
) -> tuple[list[AttributionMap], dict[str, float]]:
    """The maps `names` (from VARIANTS) of `path` for class `target`, and each one's CPU seconds.

    A map's method is the library method it varies (for the deletion check's bookkeeping)."""
    with eval_mode(net):
        x = load_input(net, path)
        index, probs = target_class(net, x, target)
        heats, costs = {}, {}
        for family, make in (
            (GRADIENT, _gradient_maps),
            (SMOOTHGRAD, _smoothgrad_maps),
            (INTEGRATED, _integrated_maps),
        ):
            if any(n in family for n in names):
                found, cost = make(net, x, index, names)
                heats.update(found)
                costs.update(cost)
    image, target_score, top = (
        to_display(net, x),
        class_score(net, probs, index),
        top_class(net, probs),
    )
    method = {**dict.fromkeys(GRADIENT, "saliency"), **dict.fromkeys(SMOOTHGRAD, "smoothgrad")}
    maps = [
        AttributionMap(method.get(n, "integrated-gradients"), image, heats[n], target_score, top)
        for n in names
    ]
    return maps, {n: costs[n] for n in names}
