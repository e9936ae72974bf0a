"""`squeezenet explain`: what the network sees, as PNGs (and numbers with --json)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape

from ..explain import METHODS, explain, save_png
from ..explain.attribution import AGGREGATES, OBJECTIVES
from ..explain.core import as_model
from ..explain.deletion import ATTRIBUTIONS
from ..explain.integrated import IG_BASELINES, SIGNS
from .app import console
from .options import JSON, REQUIRED, THREADS, Param, config_command, option


@dataclass
class ExplainConfig:
    """The options of `squeezenet explain` (method-specific ones: None = the method's default)."""

    method: str = option("gradcam", " | ".join(METHODS))
    layer: str | None = option(
        None,
        "paper layer name (conv1, fire2 ... conv10) for gradcam, activations and "
        "deletion (default: the last Fire module)",
    )
    target: str | None = option(
        None,
        "class index or name (default: the predicted class); needed by "
        "class-visualization and fooling",
    )
    out: Path = option(Path("explain"), "folder for the PNGs")
    samples: int | None = option(
        None, "smoothgrad, deletion of a smoothgrad map: noisy copies [25]", min=1
    )
    noise: float | None = option(None, "smoothgrad: noise std / value range [0.15]", min=0)
    squared: bool | None = option(
        None, "smoothgrad: average the squared gradients (SmoothGrad-squared) [no]"
    )
    aggregate: str | None = option(
        None, f"smoothgrad: a pixel's channels -> one value, {' | '.join(AGGREGATES)} [max]"
    )
    objective: str | None = option(
        None,
        f"saliency, smoothgrad, deletion: the gradient of the class's {' | '.join(OBJECTIVES)} "
        "[score]",
    )
    baseline: str | None = option(
        None,
        f"integrated-gradients: the path's start; deletion: what deleted cells become; "
        f"{' | '.join(IG_BASELINES)} (a blurred copy or the mean colour) [blur]",
    )
    blur: float | None = option(
        None, "integrated-gradients, deletion: the blur's std / image side [0.05]", min=0
    )
    sign: str | None = option(
        None, f"integrated-gradients: the map keeps {' | '.join(SIGNS)} values [positive]"
    )
    channels: int | None = option(None, "activations: channels shown [16]", min=1)
    steps: int | None = option(
        None,
        "class-visualization: most steps [300]; fooling: most steps [500]; "
        "integrated-gradients: path points [32]; deletion: deletion steps [10]",
        min=1,
    )
    attribution: str | None = option(
        None, f"deletion: the map checked, {' | '.join(ATTRIBUTIONS)} [gradcam]"
    )
    seed: int | None = option(None, "random seed of the noise / order [0]")


# Method-specific options: the methods each one applies to and the keyword it becomes.
_OPTION_USE: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "samples": (("smoothgrad", "deletion"), {}),
    "noise": (("smoothgrad",), {}),
    "squared": (("smoothgrad",), {}),
    "aggregate": (("smoothgrad",), {}),
    "objective": (("saliency", "smoothgrad", "deletion"), {}),
    "baseline": (("integrated-gradients", "deletion"), {}),
    "blur": (("integrated-gradients", "deletion"), {}),
    "sign": (("integrated-gradients",), {}),
    "channels": (("activations",), {}),
    "steps": (
        ("class-visualization", "fooling", "integrated-gradients", "deletion"),
        {"fooling": "max_steps"},
    ),
    "attribution": (("deletion",), {}),
    "seed": (("smoothgrad", "class-visualization", "deletion"), {}),
}
EXPLAIN_ARGS = [
    Param(
        "model",
        str,
        "run folder, weights (.safetensors/.pth) or .sqz",
        default=REQUIRED,
        argument=True,
    ),
    Param("images", list[Path], "image files (none for class-visualization)", argument=True),
]


@config_command(
    "explain",
    ExplainConfig,
    params=[*EXPLAIN_ARGS, THREADS, JSON.with_help("print the numbers as JSON")],
)
def explain_command(
    config: ExplainConfig,
    model: str,
    images: list[Path] | None,
    threads: int | None,
    as_json: bool,
) -> None:
    """Saliency, SmoothGrad, integrated gradients, Grad-CAM, activations, class
    visualisation, fooling images and the deletion check, each written as a PNG per image
    into --out."""
    method, layer, target, out = config.method, config.layer, config.target, config.out
    given = {name: getattr(config, name) for name in _OPTION_USE}
    options = _method_options(method, given)
    net = as_model(model)
    inputs: list[Path | None] = list(images or [])
    if method == "class-visualization":
        if inputs:
            raise ValueError("class-visualization starts from noise; give no images")
        inputs = [None]
    elif not inputs:
        raise ValueError(f"{method} needs at least one image")
    records, used = [], set()
    for image in inputs:
        result = explain(net, image, method, target=target, layer=layer, **options)
        png = _unique(out, _stem(image, method, result), used)
        save_png(result, png)
        records.append(
            {"image": None if image is None else str(image), "png": str(png), **result.to_dict()}
        )
    if as_json:
        print(json.dumps({"model": model, "method": method, "results": records}, indent=2))
        return
    for record in records:
        console.print(escape(_summary(record)), highlight=False)


def _method_options(method: str, given: dict[str, Any]) -> dict[str, Any]:
    """The method's keyword options from the flags given; a flag it does not use is refused
    rather than silently ignored."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    options = {}
    for name, value in given.items():
        if value is None:
            continue
        methods, renamed = _OPTION_USE[name]
        if method not in methods:
            raise ValueError(f"--{name} is for {', '.join(methods)}, not {method}")
        options[renamed.get(method, name)] = value
    return options


def _stem(image: Path | None, method: str, result: Any) -> str:
    if image is None:
        return f"{method}_{result.target.index}_{result.target.name}"
    return f"{image.stem}_{method}"


def _unique(folder: Path, stem: str, used: set[str]) -> Path:
    """folder/stem.png with unsafe characters replaced, numbered if two images share a name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("_") or "image"
    name, n = safe, 1
    while name in used:
        n += 1
        name = f"{safe}_{n}"
    used.add(name)
    return folder / f"{name}.png"


def _summary(r: dict[str, Any]) -> str:
    """One line per result: the class, the method's figures, the PNG."""
    source = r["image"] or "noise"
    if r["method"] == "activations":
        shape = "x".join(map(str, r["layer_shape"]))
        what = f"{r['layer']} {shape}, top channels {r['channels'][:5]}"
    elif r["method"] == "deletion":
        verdict = "passed" if r["passed"] else "failed"
        what = (
            f"{r['attribution']} of '{r['target']['name']}': deletion AUC "
            f"{r['salient_auc']:.3f} vs random {r['random_auc']:.3f} ({verdict})"
        )
    elif r["method"] in ("class-visualization", "fooling"):
        reached = "reached" if r["reached"] else "not reached"
        what = (
            f"'{r['target']['name']}' {r['start_probability']:.1%} -> "
            f"{r['target']['probability']:.1%} in {r['steps']} steps ({reached})"
        )
        if r["method"] == "fooling":
            what += f", L2 norm {r['l2_norm']:.4g} ({r['l2_norm_pixels']:.4g} in pixels)"
    else:
        where = f" on {r['layer']}" if r.get("layer") else ""
        what = f"{r['method']}{where} of '{r['target']['name']}' ({r['target']['probability']:.1%})"
    return f"{source}: {what} -> {r['png']}"
