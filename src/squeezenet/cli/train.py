"""`squeezenet train` and `squeezenet eval`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import torch
import typer
from rich.table import Table

from ..checkpoint import load_model
from ..data import load_dataset_for_model, parse_spec
from ..data.classes import relabel_to_model_classes
from ..engine import NonFiniteLossError, TrainConfig, evaluate, fit, load_run_config
from ..engine.recipes import RECIPES, recipe
from ..meta import preprocessing_for
from ..models import SqueezeNetConfig
from .app import app, console, err_console
from .models import MODEL_ARG_HELP, merge_model_args, parse_model_args

Opt = typer.Option
MAX_CONFUSION_CLASSES = 30  # a wider confusion matrix is unreadable in a terminal


@app.command("train")
def train_command(
    model: Annotated[str | None, Opt(help="registered model name (see `squeezenet list`)")] = None,
    data: Annotated[str | None, Opt(help="fashion-mnist | mnist | cifar10:PATH | folder:PATH")] = None,
    out: Annotated[str | None, Opt(help="run folder (default runs/<model>; taken: <out>2, ...)")] = None,
    recipe_name: Annotated[str | None, Opt("--recipe", help=f"preset: {', '.join(RECIPES)}")] = None,
    epochs: Annotated[int | None, Opt(help="training epochs")] = None,
    time: Annotated[float | None, Opt(help="minutes for the whole run: the schedule spans them (overrides --epochs)")] = None,
    batch_size: Annotated[int | None, Opt(help="global batch size")] = None,
    lr: Annotated[float | None, Opt(help="peak learning rate")] = None,
    optimizer: Annotated[str | None, Opt(help="sgd | adamw")] = None,
    schedule: Annotated[str | None, Opt(help="cosine | onecycle | constant")] = None,
    warmup_epochs: Annotated[float | None, Opt(help="linear warmup length")] = None,
    momentum: Annotated[float | None, Opt(help="SGD momentum")] = None,
    nesterov: Annotated[bool | None, Opt("--nesterov/--no-nesterov", help="Nesterov momentum")] = None,
    weight_decay: Annotated[float | None, Opt(help="decay on conv weights")] = None,
    label_smoothing: Annotated[float | None, Opt(help="cross-entropy label smoothing")] = None,
    grad_clip: Annotated[float | None, Opt(help="clip gradient norm to this")] = None,
    augment: Annotated[str | None, Opt(help="none | flip | crop-flip | crop-flip-erase | rrc-flip")] = None,
    image_size: Annotated[int | None, Opt(help="resize images to this side")] = None,
    batch_norm: Annotated[bool | None, Opt("--batch-norm/--no-batch-norm", help="BN after convs")] = None,
    small_input: Annotated[bool | None, Opt("--small-input/--no-small-input", help="3x3/1 stem")] = None,
    stem_pool: Annotated[bool | None, Opt("--stem-pool/--no-stem-pool", help="conv1 pool")] = None,
    dropout: Annotated[float | None, Opt(help="dropout before conv10")] = None,
    model_arg: Annotated[list[str] | None, Opt(help=MODEL_ARG_HELP)] = None,
    channels_last: Annotated[bool | None, Opt("--channels-last/--no-channels-last")] = None,
    amp: Annotated[str | None, Opt(help="auto (bf16 where native, else fp32) | bf16 | none")] = None,
    compile_model: Annotated[bool | None, Opt("--compile/--no-compile", help="torch.compile")] = None,
    val_fraction: Annotated[float | None, Opt(help="hold out this much of train for validation")] = None,
    data_dir: Annotated[str | None, Opt(help="where to look for / download the data")] = None,
    skip_bad_images: Annotated[bool, Opt(help="skip undecodable images (counted)")] = False,
    seed: Annotated[int | None, Opt(help="random seed")] = None,
    device: Annotated[str | None, Opt(help="auto | cpu | cuda")] = None,
    threads: Annotated[int | None, Opt(min=1, help="CPU threads for torch")] = None,
    resume: Annotated[bool, Opt(help="continue the run in --out from its checkpoint")] = False,
    exist_ok: Annotated[bool, Opt(help="write into --out even if it holds a run (else --out2, ...)")] = False,
) -> None:
    """Train a SqueezeNet; writes a run folder with metrics, plots, weights and a checkpoint."""
    if threads:
        torch.set_num_threads(threads)
    if resume:
        if out is None:
            raise ValueError("--resume needs --out RUN_FOLDER")
        _refuse_settings_with_resume(locals())
        config = load_run_config(out)
    else:
        config = _config_from_flags(recipe_name, locals())
    try:
        result = fit(config, resume=resume)
    except NonFiniteLossError as e:
        err_console.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(3) from None
    if result.best_eval is None:  # a DDP rank other than 0, which evaluates and reports
        return
    # Final weights first: see TrainConfig.validates_on_test.
    split = "test split" if config.validates_on_test else "validation split"
    console.print(f"{split} top-1: final {result.final_top1:.4f}, "
                  f"best {result.best_top1:.4f} after "
                  f"{result.epochs_run} epochs, {result.wall_time_s:.0f}s; "
                  f"run folder: {result.run_dir}")  # fmt: skip


def _refuse_settings_with_resume(flags: dict[str, Any]) -> None:
    """--resume continues the run exactly as configured: a setting given beside it would be
    silently ignored (or, like a longer --epochs, would break exact resume), so name it."""
    names = {"recipe_name": "recipe", "compile_model": "compile"}
    given = [f"--{names.get(k, k).replace('_', '-')}" for k, v in flags.items()
             if k not in ("out", "threads", "resume") and v not in (None, False)]  # fmt: skip
    if given:
        drop = ", ".join(given)
        raise ValueError(f"--resume takes the run's own settings (config.json); drop {drop}")


_MODEL_FLAGS = ("batch_norm", "small_input", "stem_pool", "dropout")
_SKIP = {"recipe_name", "threads", "resume", "compile_model", "model_arg", *_MODEL_FLAGS}
# The data decides these (build_model): a model that disagrees could not train on it.
_FROM_DATA = ("num_classes", "in_channels")


def _config_from_flags(recipe_name: str | None, flags: dict[str, Any]) -> TrainConfig:
    """Recipe settings, overridden by every flag the user gave."""
    settings = recipe(recipe_name) if recipe_name else {}
    given = merge_model_args(parse_model_args(flags["model_arg"]),
                             {key: flags[key] for key in _MODEL_FLAGS})  # fmt: skip
    fixed = [k for k in _FROM_DATA if k in given]
    if fixed:
        raise ValueError(f"--model-arg {', '.join(fixed)}: taken from the data, not settable")
    kwargs = dict(settings.get("model_kwargs", {}))
    if flags["model"] not in (None, settings.get("model")):
        # A recipe's design-space metaparameters (sr, layout, ...) describe its own model;
        # another --model keeps only the options every SqueezeNet takes (batch_norm, ...).
        fields = SqueezeNetConfig.field_names()
        kwargs = {k: v for k, v in kwargs.items() if k in fields}
    settings["model_kwargs"] = {**kwargs, **given}
    for key, value in flags.items():
        if key not in _SKIP and value is not None and key != "skip_bad_images":
            settings[key] = value
    if flags["compile_model"] is not None:
        settings["compile"] = flags["compile_model"]
    if flags["epochs"] is not None and flags["time"] is None:
        settings.pop("time", None)  # an explicit --epochs beats a recipe's time budget
    settings["skip_bad_images"] = flags["skip_bad_images"]
    settings.setdefault("out", f"runs/{settings.get('model', TrainConfig.model)}")
    return TrainConfig(**settings)


@app.command("eval")
def eval_command(
    weights: Annotated[Path, typer.Argument(help="weights file (.safetensors/.pth/.sqz) or run folder")],
    data: Annotated[str | None, Opt(help="dataset spec; default: the one the model was trained on")] = None,
    split: Annotated[str, Opt(help="train | val | test")] = "test",
    data_dir: Annotated[str | None, Opt(help="where to look for the data")] = None,
    batch_size: Annotated[int, Opt(min=1, help="evaluation batch size")] = 512,
    as_json: Annotated[bool, Opt("--json", help='print {"top1", "top5", "n"} as JSON')] = False,
) -> None:
    """Top-1, top-5, per-class accuracy and confusion matrix of a model on a dataset split."""
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
