"""Design-space sweeps (the paper's Section 5): train a grid of `squeezenet_design` points.

    sweep/sweep.json            the base training settings and the grid
    sweep/sweep.csv             one row per finished point: metaparameters, parameters, MACs,
                                fp32 size, top-1
    sweep/sweep.png             top-1 against model size, the paper's Figure 2 style
    sweep/points/<point>/       each point's run folder (see run.py)

Every point trains with the same settings (a `TrainConfig`, with whatever budget it holds:
epochs, or a time budget where the config has one) and only its metaparameters changed.
The sweep resumes point by point: a point with a CSV row is never retrained, a point whose
run finished but whose row is missing gets its row from its run folder, a point stopped
between epochs resumes from its checkpoint, and one stopped before its first checkpoint
restarts from scratch.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checkpoint import load_model
from ..files import atomic_path, atomic_write_text
from ..meta import preprocessing_for
from ..models import Metaparameters, get_model_config
from ..models.config import bypass_kind
from ..summary import summarize
from .config import TrainConfig
from .run import RunDir
from .train import fit

DESIGN_KEYS = ("base_e", "incr_e", "freq", "pct3x3", "sr", "bypass")
DESIGN_MODEL = "squeezenet_design"
DEFAULT_LAYOUT = "squeezenet1_0"  # squeezenet_design's own default: the paper's network
CSV_FIELDS = (
    "point",
    *DESIGN_KEYS,
    "layout",
    "params",
    "macs",
    "fp32_bytes",
    "top1",
    "val_split",
    "epochs",
    "train_time_s",
)
# Settings that say where and how visibly a point trains, not what it learns.
_NOT_SETTINGS = ("out", "progress")


@dataclass
class SweepResult:
    """A sweep's rows (every finished point, in grid order) and files.

    Attributes:
        trained: the points (`point` labels) trained or resumed by this call.
    """

    rows: list[dict[str, Any]]
    csv: Path
    plot: Path
    trained: list[str]


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the first key varying slowest.

    Raises:
        ValueError: a key that is not a design-space metaparameter, or no values.
    """
    bad = [k for k in grid if k not in DESIGN_KEYS]
    if bad:
        raise ValueError(f"unknown sweep key(s) {bad}; valid: {', '.join(DESIGN_KEYS)}")
    if not grid or any(len(values) == 0 for values in grid.values()):
        raise ValueError("a sweep needs at least one key with at least one value")
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*grid.values())]


def point_label(point: Mapping[str, Any]) -> str:
    """'sr=0.25,pct3x3=0.5': the point's grid values, also its run folder's name."""
    return ",".join(f"{k}={v}" for k, v in point.items())


def point_config(base: TrainConfig, point: Mapping[str, Any], out: Path) -> TrainConfig:
    """The base settings training `squeezenet_design` at `point`, into `out`.

    A base model other than `squeezenet_design` (a preset such as squeezenet1_1) is taken as
    the layout whose macroarchitecture the metaparameters fill.
    """
    kwargs = dict(base.model_kwargs)
    if base.model != DESIGN_MODEL:
        kwargs.setdefault("layout", base.model)
    kwargs.update(point)
    label = point_label(point)
    return dataclasses.replace(base, model=DESIGN_MODEL, model_kwargs=kwargs, out=str(out / label))


def metaparameters(config: TrainConfig) -> dict[str, Any]:
    """The full design point a config trains: every metaparameter, defaults filled in."""
    kwargs = config.model_kwargs
    defaults = dataclasses.asdict(Metaparameters())
    values = {k: kwargs.get(k, defaults.get(k)) for k in DESIGN_KEYS}
    values["bypass"] = bypass_kind(get_model_config(config.model, **kwargs))
    layout = kwargs.get("layout", DEFAULT_LAYOUT)
    values["layout"] = layout if isinstance(layout, str) else getattr(layout, "name", str(layout))
    return values


def _identity(values: Mapping[str, Any]) -> tuple[str, ...]:
    """What makes two rows the same model: every metaparameter and the layout."""
    return tuple(str(values[k]) for k in (*DESIGN_KEYS, "layout"))


def run_sweep(
    grid: Mapping[str, Sequence[Any]],
    base: TrainConfig,
    out: str | Path,
    *,
    on_point: Callable[[dict[str, Any]], None] | None = None,
) -> SweepResult:
    """Train every point of `grid` with `base`'s settings into `out`, resuming earlier work.

    Args:
        grid: metaparameter -> values (keys from `DESIGN_KEYS`), e.g. {"sr": [0.25, 0.5]}.
        base: the training settings of every point (its `out` is replaced per point).
        out: the sweep folder.
        on_point: called with each point's CSV row once it is recorded (progress, or a stop:
            an exception raised there ends the sweep with that row saved).
    """
    root = Path(out)
    configs = [point_config(base, p, root / "points") for p in grid_points(grid)]  # validates all
    _check_settings(root, base, grid)
    rows = read_rows(root / "sweep.csv")
    done = {_identity(r) for r in rows}
    trained = []
    for config in configs:
        values = metaparameters(config)
        if _identity(values) in done:
            continue
        _train_point(config)
        trained.append(Path(config.out).name)
        row = point_row(config, values)
        rows.append(row)
        done.add(_identity(row))
        write_rows(root / "sweep.csv", rows)
        plot_sweep(_in_grid(rows, configs), list(grid), root / "sweep.png")
        if on_point is not None:
            on_point(row)
    rows = _in_grid(rows, configs)
    plot_sweep(rows, list(grid), root / "sweep.png")
    return SweepResult(rows, root / "sweep.csv", root / "sweep.png", trained)


def _in_grid(rows: list[dict[str, Any]], configs: list[TrainConfig]) -> list[dict[str, Any]]:
    """The rows of this grid's points, in grid order (the CSV may hold an earlier grid's too)."""
    by_id = {_identity(r): r for r in rows}
    ids = [_identity(metaparameters(c)) for c in configs]
    return [by_id[i] for i in ids if i in by_id]


def _check_settings(root: Path, base: TrainConfig, grid: Mapping[str, Sequence[Any]]) -> None:
    """Refuse to add points trained with other settings to an existing sweep; record ours."""
    path = root / "sweep.json"
    ours = {k: v for k, v in base.to_dict().items() if k not in _NOT_SETTINGS}
    if path.is_file():
        saved = json.loads(path.read_text()).get("base", {})
        # A setting added to TrainConfig since the sweep began counts at its default value.
        saved = {**_defaults(), **saved}
        changed = sorted(k for k in ours if saved.get(k) != ours[k])
        if changed:
            diff = ", ".join(f"{k}={saved.get(k)!r} -> {ours.get(k)!r}" for k in changed)
            raise ValueError(
                f"{root} holds a sweep with other settings ({diff}); use another --out"
            )
    record = {"base": ours, "grid": {k: list(v) for k, v in grid.items()}}
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def _defaults() -> dict[str, Any]:
    """TrainConfig's default value of every field that has one."""
    out = {}
    for f in dataclasses.fields(TrainConfig):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _train_point(config: TrainConfig) -> None:
    """Train one point: skip a finished run, resume a stopped one, restart one with no epoch."""
    run = RunDir(config.out)
    if run.results.is_file():  # finished; only its CSV row was not written
        return
    if run.checkpoint.is_file() and run.load_checkpoint()["epoch"] < config.epochs:
        fit(config, resume=True)
        return
    if run.root.exists():  # stopped before its first checkpoint, or while finishing
        shutil.rmtree(run.root)
    fit(config)


def point_row(config: TrainConfig, values: Mapping[str, Any]) -> dict[str, Any]:
    """A finished point's CSV row, read from its run folder."""
    run = RunDir(config.out)
    results = json.loads(run.results.read_text())
    model = load_model(run.last)
    summary = summarize(model, preprocessing_for(model).input_size)
    final = results.get("final") or results["best"]
    history = list(csv.DictReader(run.metrics.open()))
    return {
        "point": Path(config.out).name,
        **values,
        "params": summary.total_params,
        "macs": summary.total_macs,
        "fp32_bytes": summary.fp32_bytes,
        "top1": final["top1"],
        "val_split": results.get("val_split", ""),
        "epochs": results["epochs"],
        "train_time_s": round(sum(float(r["epoch_time_s"]) for r in history), 1),
    }


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The CSV's rows (numbers as numbers); none if there is no CSV yet."""
    if not path.is_file():
        return []
    rows = []
    for raw in csv.DictReader(path.open()):
        rows.append({k: _number(v) for k, v in raw.items()})
    return rows


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def plot_sweep(rows: list[dict[str, Any]], keys: list[str], path: Path) -> None:
    """Top-1 against fp32 model size, one line per combination of the other grid keys, each
    point labelled with the first key's value: the paper's Figure 2, with size on the x axis."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    first, rest = keys[0], keys[1:]
    fig, ax = plt.subplots(figsize=(7, 4.8))
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in rest), []).append(row)
    for group, members in groups.items():
        members = sorted(members, key=lambda r: r[first])
        size_mb = [r["fp32_bytes"] / 1e6 for r in members]
        top1 = [100 * r["top1"] for r in members]
        label = ", ".join(f"{k}={v}" for k, v in zip(rest, group)) or None
        ax.plot(size_mb, top1, marker="o", label=label)
        for x, y, r in zip(size_mb, top1, members):
            ax.annotate(
                f"{first}={r[first]}",
                (x, y),
                textcoords="offset points",
                xytext=(4, -12),
                fontsize=8,
            )
    if len(groups) > 1:
        ax.legend(fontsize=8)
    if rows and max(r["fp32_bytes"] for r in rows) > 4 * min(r["fp32_bytes"] for r in rows):
        ax.set_xscale("log")
    epochs = sorted({r["epochs"] for r in rows})
    budget = f", {epochs[0]} epoch{'s' * (epochs[0] != 1)} per point" if len(epochs) == 1 else ""
    ax.set(
        xlabel="model size (MB, fp32)",
        ylabel="top-1 accuracy (%)",
        title=f"design space: varying {', '.join(keys)}{budget}",
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
