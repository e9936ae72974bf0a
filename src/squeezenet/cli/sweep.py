"""`squeezenet sweep`: train a grid of design-space points, one CSV row each, and plot them."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from ..engine import TrainConfig
from ..engine.recipes import RECIPES, recipe
from ..engine.sweep import DESIGN_KEYS, DESIGN_MODEL, run_sweep
from ..models import SqueezeNetConfig
from ..summary import format_count
from .app import console, err_console
from .models import MODEL_ARG, parse_key_values, parse_model_args, parse_value
from .options import JSON, THREADS, config_command, option


@dataclass
class SweepConfig:
    """The options of `squeezenet sweep`."""

    grid: list[str] = option(
        help=f"KEY=V1,V2,... values of one metaparameter ({', '.join(DESIGN_KEYS)}), "
        "repeatable; every combination is trained"
    )
    out: Path = option(Path("runs/sweep"), "sweep folder: sweep.csv, sweep.png, points/")
    data: str | None = option(None, "fashion-mnist | mnist | cifar10:PATH | folder:PATH")
    data_dir: str | None = option(None, "where to look for / download the data")
    recipe: str | None = option(None, f"base settings: {', '.join(RECIPES)}")
    model: str | None = option(
        None,
        "layout the metaparameters fill, e.g. squeezenet1_1 (default: the recipe's, "
        f"else {DESIGN_MODEL}'s own, squeezenet1_0)",
    )
    epochs: int | None = option(None, "training epochs per point", min=1)
    seed: int | None = option(None, "random seed of every point")
    model_arg: list[str] | None = option(None, MODEL_ARG.help)
    train_arg: list[str] | None = option(
        None,
        "KEY=VALUE training setting, repeatable: any field of `squeezenet train`'s config "
        "(batch_size=64, lr=0.05, augment=flip, ...)",
    )


# Settings with their own option here, or decided per point: not settable through --train-arg.
_OWN_FLAGS = (
    "model_kwargs",
    *(
        f.name
        for f in dataclasses.fields(SweepConfig)
        if f.name in TrainConfig.__dataclass_fields__
    ),
)
_PER_POINT = ("out", "exist_ok")  # the sweep names, resumes and restarts each point's run folder
SWEEP_JSON = JSON.with_help("print the rows as JSON (no epoch lines)")


@config_command("sweep", SweepConfig, params=[THREADS, SWEEP_JSON])
def sweep_command(config: SweepConfig, threads: int | None, as_json: bool) -> None:
    """Train every combination of the --grid values with the same settings, resuming where a
    stopped sweep left off, into sweep.csv (parameters, MACs, size, top-1) and sweep.png."""
    c = config
    points = parse_grid(c.grid)
    model_args = parse_model_args(c.model_arg)
    both = [k for k in points if k in model_args]
    if both:
        raise ValueError(f"{', '.join(both)}: given by both --grid and --model-arg; keep one")
    flags = {"data": c.data, "data_dir": c.data_dir, "epochs": c.epochs, "seed": c.seed}
    base = _base_config(
        c.recipe, c.model, model_args, parse_train_args(c.train_arg), flags, progress=not as_json
    )

    def report(row: dict[str, Any]) -> None:
        err_console.print(
            f"point {row['point']}: {row['params']:,} params, {format_count(row['macs'])} MACs, "
            f"top-1 {row['top1']:.4f} ({row['train_time_s']:.0f}s)",
            highlight=False,
        )

    result = run_sweep(points, base, c.out, on_point=report)
    if as_json:
        print(
            json.dumps(
                {
                    "csv": str(result.csv),
                    "plot": str(result.plot),
                    "rows": result.rows,
                    "trained": result.trained,
                },
                indent=2,
            )
        )
        return
    console.print(_table(result.rows, list(points)))
    console.print(f"{result.csv}, {result.plot}")


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """['sr=0.125,0.25', 'pct3x3=0.5'] -> {'sr': [0.125, 0.25], 'pct3x3': [0.5]}; values are
    read as JSON where they parse (numbers) and kept as text otherwise (bypass=simple)."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        values = [v.strip() for v in raw.split(",") if v.strip()]
        if not sep or not key or not values:
            raise ValueError(f"--grid {item!r}: expected KEY=V1,V2,..., e.g. sr=0.25,0.5")
        if key in grid:
            raise ValueError(f"--grid {key} is given twice; list all its values once")
        grid[key] = [parse_value(v) for v in values]
    return grid


def parse_train_args(items: list[str] | None) -> dict[str, Any]:
    """--train-arg KEY=VALUE pairs -> TrainConfig settings, keys checked against its fields."""
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    settable = [f for f in fields if f not in _OWN_FLAGS + _PER_POINT]
    settings = parse_key_values(items, "--train-arg", "batch_size=64")
    for key in settings:
        if key in _OWN_FLAGS:
            flag = "--model-arg" if key == "model_kwargs" else f"--{key.replace('_', '-')}"
            raise ValueError(f"--train-arg {key}: use {flag}")
        if key in _PER_POINT:
            raise ValueError(f"--train-arg {key}: the sweep manages each point's run folder")
        if key not in settable:
            raise ValueError(f"--train-arg {key}: unknown setting; valid: {', '.join(settable)}")
    return settings


def _base_config(
    recipe_name: str | None,
    model: str | None,
    model_args: dict[str, Any],
    train_args: dict[str, Any],
    flags: dict[str, Any],
    *,
    progress: bool,
) -> TrainConfig:
    """The recipe's settings (or TrainConfig's defaults), overridden by every flag given."""
    settings = recipe(recipe_name) if recipe_name else {}
    kwargs = dict(settings.get("model_kwargs", {}))
    if model is not None and model != settings.get("model"):
        # The recipe's metaparameters describe its own model; keep what every SqueezeNet takes.
        kwargs = {k: v for k, v in kwargs.items() if k in SqueezeNetConfig.field_names()}
    fixed = [k for k in ("num_classes", "in_channels") if k in model_args]
    if fixed:
        raise ValueError(f"--model-arg {', '.join(fixed)}: taken from the data, not settable")
    settings["model"] = model or settings.get("model", DESIGN_MODEL)
    if settings["model"] != DESIGN_MODEL:  # a preset names the layout the points fill
        kwargs["layout"] = settings["model"]
        settings["model"] = DESIGN_MODEL
    settings["model_kwargs"] = {**kwargs, **model_args}
    settings.update(train_args)
    settings.update({k: v for k, v in flags.items() if v is not None})
    settings["progress"] = progress
    return TrainConfig(**settings)


def _table(rows: list[dict[str, Any]], keys: list[str]) -> Table:
    table = Table(
        *keys,
        "params",
        "MACs",
        "fp32 MB",
        "top-1",
        "epochs",
        "time (s)",
        title="design-space sweep",
    )
    for row in rows:
        table.add_row(
            *(str(row[k]) for k in keys),
            f"{row['params']:,}",
            format_count(row["macs"]),
            f"{row['fp32_bytes'] / 1e6:.2f}",
            f"{row['top1']:.4f}",
            str(row["epochs"]),
            f"{row['train_time_s']:.0f}",
        )
    return table
