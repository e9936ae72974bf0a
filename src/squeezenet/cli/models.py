"""`squeezenet list` and `squeezenet summary`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..checkpoint import load_model
from ..models import SqueezeNet, SqueezeNetConfig, create_model, get_model_config, list_models
from ..pretrained import PRETRAINED
from ..summary import ModelSummary, format_count, summarize
from .app import app, console
from .options import JSON, REQUIRED, Param, config_command, config_params


@app.command("list")
def list_command(
    pattern: Annotated[str, typer.Argument(help="shell-style filter, e.g. '*bypass*'")] = "*",
) -> None:
    """List the registered models with their parameter counts (1000 classes)."""
    table = Table("model", "params", "Fire modules", "conv1", title="registered models")
    for name in list_models(pattern):
        cfg = get_model_config(name)
        params = sum(p.numel() for p in SqueezeNet(cfg).parameters())
        table.add_row(
            name, f"{params:,}", str(len(cfg.fires)), f"{cfg.stem_kernel}x{cfg.stem_kernel}"
        )
    console.print(table)


MODEL_ARG = Param(
    "model_arg",
    list[str],
    "KEY=VALUE model option, repeatable: a design-space point with "
    "squeezenet_design (sr=0.25, base_e=, incr_e=, freq=, pct3x3=, "
    "layout=squeezenet1_1_simple_bypass, bypass=) or any config field",
)


def parse_key_values(items: list[str] | None, flag: str, example: str) -> dict[str, Any]:
    """Repeated `flag KEY=VALUE` options -> a dict; `-` in keys reads as `_`, a key given
    twice is refused, and a value is read as JSON where it parses (0.25, 3, true) and kept
    as text otherwise (squeezenet1_1)."""
    pairs: dict[str, Any] = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"{flag} {item!r}: expected KEY=VALUE, e.g. {example}")
        if key in pairs:
            raise ValueError(f"{flag} {key} is given twice")
        pairs[key] = parse_value(raw)
    return pairs


def parse_value(raw: str) -> Any:
    """A command-line value as JSON where it parses (0.25, 3, true), else the text itself."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def parse_model_args(items: list[str] | None) -> dict[str, Any]:
    """`--model-arg KEY=VALUE` pairs -> model overrides (timm's `--model-kwargs`); the
    model's own checks then name a bad key or value."""
    return parse_key_values(items, "--model-arg", "sr=0.25")


def merge_model_args(model_args: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """`--model-arg` overrides plus the dedicated flags that were given (not None); a key
    given both ways is refused rather than one silently winning."""
    given = {k: v for k, v in flags.items() if v is not None}
    both = sorted(set(given) & set(model_args))
    if both:
        raise ValueError(
            "give each model option once: "
            + ", ".join(f"--{k.replace('_', '-')} or --model-arg {k}=" for k in both)
        )
    return {**model_args, **given}


def model_from_arg(model: str, num_classes: int | None = None, **overrides) -> SqueezeNet:
    """A registered name builds a fresh model; an existing path, or a name of the weights we
    ship ("imagenet"), loads one."""
    if Path(model).exists() or model in PRETRAINED:
        net = load_model(model)
        if num_classes is not None and num_classes != net.num_classes:
            net.reset_classifier(num_classes)
        return net
    if num_classes is not None:
        overrides["num_classes"] = num_classes
    return create_model(model, **overrides)


SUMMARY_FLAGS = ("num_classes", "in_channels", "small_input", "stem_pool", "batch_norm")
SUMMARY_PARAMS = [
    Param(
        "model",
        str,
        "a registered name or a weights file / run folder",
        default=REQUIRED,
        argument=True,
    ),
    Param("input_size", int, "square input side in pixels", default=224, min=1),
    *config_params(SqueezeNetConfig, only=SUMMARY_FLAGS, defaults=False),
    MODEL_ARG,
    JSON,
]


@config_command("summary", None, params=SUMMARY_PARAMS)
def summary_command(
    model: str, input_size: int, model_arg: list[str] | None, as_json: bool, **flags: Any
) -> None:
    """Per-layer table (the paper's Table 1): shapes, filters, parameters, MACs, bytes."""
    overrides = merge_model_args(parse_model_args(model_arg), flags)
    num_classes = overrides.pop("num_classes", None)  # a file's classifier can be reset, too
    if overrides and (Path(model).exists() or model in PRETRAINED):  # stored in the file
        named = [k for k in flags if k in overrides] + (["model_arg"] if model_arg else [])
        spelled = ", ".join("--" + k.replace("_", "-") for k in named)
        raise ValueError(f"{spelled} describe a registered model, not the file {model}; drop them")
    net = model_from_arg(model, num_classes, **overrides)
    summary = summarize(net, input_size)
    if as_json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        console.print(summary_table(summary))


def summary_table(s: ModelSummary) -> Table:
    """Render a `ModelSummary` as a rich table with a totals row."""
    table = Table(
        "layer",
        "output (CxHxW)",
        "s1x1",
        "e1x1",
        "e3x3",
        "bypass",
        "params",
        "MACs",
        "fp32 bytes",
        title=f"{s.model} @ {s.in_channels}x{s.input_size}x{s.input_size}, {s.num_classes} classes",
        caption="MACs: multiply-accumulates of conv layers (FLOPs = 2 x MACs), "
        "counted with torch.utils.flop_counter",
    )
    for col in table.columns[2:]:
        col.justify = "right"
    for r in s.rows:
        table.add_row(
            r.name,
            "x".join(map(str, r.output_shape)),
            *(str(v) if v is not None else "" for v in (r.squeeze, r.expand1x1, r.expand3x3)),
            r.bypass if r.bypass not in (None, "none") else "",
            f"{r.params:,}",
            format_count(r.macs),
            f"{r.fp32_bytes:,}",
        )
    table.add_section()
    table.add_row(
        "total",
        "",
        "",
        "",
        "",
        "",
        f"{s.total_params:,}",
        f"{s.total_macs / 1e9:.3f}G",
        f"{s.fp32_bytes:,}",
        style="bold",
    )
    return table
