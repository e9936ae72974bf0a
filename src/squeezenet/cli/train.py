"""`squeezenet train` and `squeezenet eval`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ..checkpoint import load_model
from ..data import load_dataset_for_model, parse_spec
from ..data.classes import relabel_to_model_classes
from ..engine import NonFiniteLossError, TrainConfig, evaluate, fit, load_run_config
from ..engine.recipes import RECIPES, recipe
from ..meta import preprocessing_for
from ..models import SqueezeNetConfig
from .app import console, err_console
from .models import MODEL_ARG, merge_model_args, parse_model_args
from .options import JSON, REQUIRED, THREADS, Param, config_command, config_params, option
from .render import epochs_text

MAX_CONFUSION_CLASSES = 30  # a wider confusion matrix is unreadable in a terminal

# Model options with a flag of their own (help from SqueezeNetConfig's docstring); the others
# are --model-arg KEY=VALUE. Their defaults depend on the model, so none is shown.
MODEL_FLAGS = ("batch_norm", "small_input", "stem_pool", "dropout")
# The data decides these (build_model): a model that disagrees could not train on it.
_FROM_DATA = ("num_classes", "in_channels")

RECIPE = Param(
    "recipe_name",
    str,
    f"preset settings: {', '.join(RECIPES)} (options given win)",
    flags=("--recipe",),
)
RESUME = Param(
    "resume",
    bool,
    "continue the run in --out from its checkpoint",
    default=False,
    flags=("--resume",),
)
TRAIN_PARAMS = [
    RECIPE,
    *config_params(SqueezeNetConfig, only=MODEL_FLAGS, defaults=False),
    MODEL_ARG,
    THREADS,
    RESUME,
]


def train_config(
    given: dict[str, Any],
    *,
    recipe_name: str | None,
    model_arg: list[str] | None,
    resume: bool,
    threads: int | None = None,
    **model_flags: Any,
) -> TrainConfig:
    """The run's TrainConfig: the recipe's settings (or TrainConfig's defaults), overridden by
    the settings given (--config FILE, then the flags); with --resume, the run's own."""
    if resume:
        others = {
            "--recipe": recipe_name,
            "--model-arg": model_arg,
            **{f"--{k.replace('_', '-')}": v for k, v in model_flags.items()},
        }
        given_flags = [f"--{k.replace('_', '-')}" for k in given if k != "out"]
        _refuse_settings_with_resume([k for k, v in others.items() if v is not None] + given_flags)
        if "out" not in given:
            raise ValueError("--resume needs --out RUN_FOLDER")
        return load_run_config(given["out"])
    settings = recipe(recipe_name) if recipe_name else {}
    model_args = merge_model_args(parse_model_args(model_arg), model_flags)
    fixed = [k for k in _FROM_DATA if k in model_args]
    if fixed:
        raise ValueError(f"--model-arg {', '.join(fixed)}: taken from the data, not settable")
    kwargs = dict(given.get("model_kwargs", settings.get("model_kwargs", {})))
    if "model_kwargs" not in given and given.get("model") not in (None, settings.get("model")):
        # A recipe's design-space metaparameters (sr, layout, ...) describe its own model;
        # another --model keeps only the options every SqueezeNet takes (batch_norm, ...).
        kwargs = {k: v for k, v in kwargs.items() if k in SqueezeNetConfig.field_names()}
    if "epochs" in given and "time" not in given:
        settings.pop("time", None)  # an explicit --epochs beats a recipe's time budget
    settings.update(given)
    settings["model_kwargs"] = {**kwargs, **model_args}
    settings.setdefault("out", f"runs/{settings.get('model', TrainConfig.model)}")
    return TrainConfig(**settings)


def _refuse_settings_with_resume(given: list[str]) -> None:
    """--resume continues the run exactly as configured: a setting given beside it would be
    silently ignored (or, like a longer --epochs, would break exact resume), so name it."""
    if given:
        drop = ", ".join(given)
        raise ValueError(f"--resume takes the run's own settings (config.json); drop {drop}")


@config_command(
    "train",
    TrainConfig,
    params=TRAIN_PARAMS,
    exclude=("model_kwargs",),
    hide_defaults=("out",),
    build=train_config,
)
def train_command(config: TrainConfig, *, resume: bool, **_options: Any) -> None:
    """Train a SqueezeNet; writes a run folder (--out, default runs/<model>) with metrics,
    plots, weights and a checkpoint."""
    try:
        result = fit(config, resume=resume)
    except NonFiniteLossError as e:
        err_console.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(3) from None
    if result.best_eval is None:  # a DDP rank other than 0, which evaluates and reports
        return
    # Final weights first: see TrainConfig.validates_on_test.
    split = "test split" if config.validates_on_test else "validation split"
    console.print(
        f"{split} top-1: final {result.final_top1:.4f}, "
        f"best {result.best_top1:.4f} after "
        f"{epochs_text(result)}, {result.wall_time_s:.0f}s; "
        f"run folder: {result.run_dir}"
    )


@dataclass
class EvalConfig:
    """The options of `squeezenet eval`."""

    data: str | None = option(None, "dataset spec (default: the one the model was trained on)")
    split: str = option("test", "train | val | test")
    data_dir: str | None = option(None, "where to look for the data")
    batch_size: int = option(512, "evaluation batch size", min=1)


WEIGHTS = Param(
    "weights",
    Path,
    "weights file (.safetensors/.pth/.sqz) or run folder",
    default=REQUIRED,
    argument=True,
)
EVAL_JSON = JSON.with_help('print {"top1", "top5", "n"} as JSON')


@config_command("eval", EvalConfig, params=[WEIGHTS, THREADS, EVAL_JSON])
def eval_command(config: EvalConfig, weights: Path, threads: int | None, as_json: bool) -> None:
    """Top-1, top-5, per-class accuracy and confusion matrix of a model on a dataset split."""
    data, split, data_dir, batch_size = (
        config.data,
        config.split,
        config.data_dir,
        config.batch_size,
    )
    model = load_model(weights)
    spec = data or model.meta.dataset
    if not spec:
        raise ValueError(f"{weights} does not record its dataset; pass --data")
    dataset = load_dataset_for_model(spec, split, preprocessing_for(model), data_dir=data_dir)
    if model.meta.class_names and parse_spec(spec)[0] == "folder":
        # Class folders (some of ImageNet's, by WordNet id or name) onto the model's outputs.
        dataset = relabel_to_model_classes(dataset, model.meta.class_names, model.meta.wnids)
    result = evaluate(model, dataset, batch_size=batch_size)
    if as_json:
        print(json.dumps({"top1": result.top1, "top5": result.top5, "n": result.n}))
        return
    table = Table("class", "accuracy", title=f"{weights} on {spec} ({split}, n={result.n})")
    # Only the classes the data holds (a folder may hold a few of a model's 1000), by index:
    # names need not be unique (ImageNet has two "crane"s).
    for i in sorted(set(dataset.labels.tolist())):
        row = result.confusion[i]
        table.add_row(dataset.class_names[i], f"{row[i] / max(sum(row), 1):.4f}")
    table.add_section()
    table.add_row("top-1", f"{result.top1:.4f}", style="bold")
    table.add_row("top-5", f"{result.top5:.4f}", style="bold")
    console.print(table)
    if len(dataset.class_names) <= MAX_CONFUSION_CLASSES:
        console.print(_confusion_table(result.confusion, dataset.class_names))


def _confusion_table(confusion: list[list[int]], names: list[str]) -> Table:
    short = [n[:8] for n in names]
    table = Table("true \\ pred", *short, title="confusion matrix")
    for name, row in zip(short, confusion):
        table.add_row(name, *map(str, row))
    return table
