"""Design-space sweeps: one row per point, resumable point by point, a plot; the CLI."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
from PIL import Image

import squeezenet.engine.sweep as sweep_module
from squeezenet import load_model
from squeezenet.engine import TrainConfig
from squeezenet.engine.run import RunDir
from squeezenet.engine.sweep import grid_points, point_label, run_sweep

from ..helpers import run_cli, write_tiny_fashion


class Stop(Exception):
    """Stands for Ctrl-C between points or epochs."""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return write_tiny_fashion(tmp_path / "fmnist", 32, 20)


def base_config(data_dir: Path, **overrides) -> TrainConfig:
    """A tiny design (base_e = incr_e = 8: a few thousand parameters) trained for seconds."""
    settings = dict(
        model="squeezenet_design",
        data="fashion-mnist",
        data_dir=str(data_dir),
        epochs=1,
        model_kwargs={"layout": "squeezenet1_1", "base_e": 8, "incr_e": 8, "batch_norm": True},
        batch_size=16,
        warmup_epochs=0,
        progress=False,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture
def fit_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Record every call of `fit` by the sweep (the point and whether it resumed)."""
    calls: list[dict] = []
    real_fit = sweep_module.fit

    def counting_fit(config: TrainConfig, **kwargs):
        calls.append({"point": Path(config.out).name, "resume": kwargs.get("resume", False)})
        return real_fit(config, **kwargs)

    monkeypatch.setattr(sweep_module, "fit", counting_fit)
    return calls


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


def test_grid_points_are_every_combination() -> None:
    points = grid_points({"sr": [0.25, 0.5], "pct3x3": [0.25, 0.75]})
    assert points == [
        {"sr": 0.25, "pct3x3": 0.25},
        {"sr": 0.25, "pct3x3": 0.75},
        {"sr": 0.5, "pct3x3": 0.25},
        {"sr": 0.5, "pct3x3": 0.75},
    ]
    assert point_label(points[1]) == "sr=0.25,pct3x3=0.75"
    with pytest.raises(
        ValueError,
        match=r"unknown sweep key\(s\) \['squeeze'\]; valid: base_e, "
        r"incr_e, freq, pct3x3, sr, bypass",
    ):
        grid_points({"squeeze": [0.5]})
    with pytest.raises(ValueError, match="at least one value"):
        grid_points({"sr": []})


def test_a_sweep_resumes_between_points_without_retraining(
    data_dir: Path, tmp_path: Path, fit_calls: list[dict]
) -> None:
    base, out, grid = base_config(data_dir), tmp_path / "sweep", {"sr": [0.25, 0.5]}

    def stop_after_first(row: dict) -> None:
        raise Stop(row["point"])

    with pytest.raises(Stop, match="sr=0.25"):
        run_sweep(grid, base, out, on_point=stop_after_first)
    first = read_csv(out / "sweep.csv")
    assert [r["point"] for r in first] == ["sr=0.25"]

    result = run_sweep(grid, base, out)
    assert [c["point"] for c in fit_calls] == ["sr=0.25", "sr=0.5"]  # sr=0.25 trained once
    assert result.trained == ["sr=0.5"]
    rows = read_csv(out / "sweep.csv")
    assert rows[0] == first[0] and [r["point"] for r in rows] == ["sr=0.25", "sr=0.5"]
    for row, sr in zip(result.rows, (0.25, 0.5)):
        model = load_model(RunDir(out / "points" / f"sr={sr}").last)
        params = sum(p.numel() for p in model.parameters())
        assert (row["sr"], row["base_e"], row["incr_e"]) == (sr, 8, 8)
        assert row["layout"] == "squeezenet1_1"
        assert (row["pct3x3"], row["freq"], row["bypass"]) == (0.5, 2, "none")  # defaults filled in
        assert row["params"] == params and row["fp32_bytes"] == 4 * params and row["macs"] > 0
        assert 0 <= row["top1"] <= 1 and row["epochs"] == 1 and row["val_split"] == "test"
    assert result.rows[0]["params"] < result.rows[1]["params"]  # a wider squeeze costs weights
    with Image.open(result.plot) as img:
        assert img.format == "PNG"

    assert run_sweep(grid, base, out).trained == [] and len(fit_calls) == 2  # all done
    with pytest.raises(ValueError, match=r"holds a sweep with other settings \(epochs=1 -> 2\)"):
        run_sweep(grid, dataclasses.replace(base, epochs=2), out)
    # A sweep recorded before TrainConfig gained a setting goes on at that setting's default.
    record = json.loads((out / "sweep.json").read_text())
    del record["base"]["seed"]
    (out / "sweep.json").write_text(json.dumps(record))
    assert run_sweep(grid, base, out).trained == []
    with pytest.raises(ValueError, match=r"other settings \(seed=0 -> 5\)"):
        run_sweep(grid, dataclasses.replace(base, seed=5), out)
    assert len(fit_calls) == 2


def test_a_point_stopped_between_epochs_resumes(
    data_dir: Path, tmp_path: Path, fit_calls: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, out, grid = base_config(data_dir, epochs=2), tmp_path / "sweep", {"sr": [0.5]}
    counting_fit = sweep_module.fit

    def stop_after_epoch_1(config: TrainConfig, **kwargs):
        def hook(info: dict) -> None:
            raise Stop(f"epoch {info['epoch']}")

        return counting_fit(config, hooks=[hook], **kwargs)

    monkeypatch.setattr(sweep_module, "fit", stop_after_epoch_1)
    with pytest.raises(Stop, match="epoch 1"):
        run_sweep(grid, base, out)
    assert not (out / "sweep.csv").exists()
    monkeypatch.setattr(sweep_module, "fit", counting_fit)
    result = run_sweep(grid, base, out)
    assert fit_calls == [{"point": "sr=0.5", "resume": False}, {"point": "sr=0.5", "resume": True}]
    run = RunDir(out / "points" / "sr=0.5")
    assert [int(r["epoch"]) for r in read_csv(run.metrics)] == [1, 2]
    assert result.rows[0]["epochs"] == 2


def test_a_point_stopped_before_its_first_epoch_restarts(
    data_dir: Path, tmp_path: Path, fit_calls: list[dict]
) -> None:
    out = tmp_path / "sweep"
    point = out / "points" / "sr=0.25"
    point.mkdir(parents=True)
    (point / "config.json").write_text("{}")  # all a run writes before its first checkpoint
    (point / "stray.tmp").write_text("")
    result = run_sweep({"sr": [0.25]}, base_config(data_dir), out)
    assert fit_calls == [{"point": "sr=0.25", "resume": False}]
    assert not (point / "stray.tmp").exists() and (point / "checkpoint.pt").is_file()
    assert json.loads((point / "config.json").read_text())["model_kwargs"]["sr"] == 0.25
    assert len(result.rows) == 1


def test_sweep_cli_trains_the_grid_and_prints_json(data_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "sweep"
    code, stdout, stderr = run_cli(
        capsys,
        "sweep",
        "--grid",
        "sr=0.5",
        "--grid",
        "pct3x3=0.25",
        "--data",
        "fashion-mnist",
        "--data-dir",
        data_dir,
        "--epochs",
        "1",
        "--model",
        "squeezenet1_1",
        "--model-arg",
        "base_e=8",
        "--model-arg",
        "incr_e=8",
        "--train-arg",
        "batch_size=16",
        "--train-arg",
        "warmup_epochs=0",
        "--out",
        out,
        "--json",
    )
    assert code == 0, stderr
    report = json.loads(stdout)
    [row] = report["rows"]
    assert row["point"] == "sr=0.5,pct3x3=0.25" and row["layout"] == "squeezenet1_1"
    assert (row["base_e"], row["sr"], row["pct3x3"]) == (8, 0.5, 0.25)
    assert report["trained"] == ["sr=0.5,pct3x3=0.25"] and Path(report["plot"]).is_file()
    assert "point sr=0.5,pct3x3=0.25:" in stderr
    saved = json.loads((out / "sweep.json").read_text())
    assert saved["base"]["batch_size"] == 16 and saved["grid"] == {"sr": [0.5], "pct3x3": [0.25]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "squeeze=0.5"], "unknown sweep key(s) ['squeeze']; valid: base_e, incr_e"),
        (["--grid", "sr"], "--grid 'sr': expected KEY=V1,V2,..."),
        (["--grid", "sr=0.5", "--grid", "sr=0.25"], "--grid sr is given twice"),
        (["--grid", "sr=2"], "sr (squeeze ratio) must be in (0, 1], got 2"),
        (
            ["--grid", "sr=0.5", "--model-arg", "sr=0.25"],
            "sr: given by both --grid and --model-arg",
        ),
        (
            ["--grid", "sr=0.5", "--train-arg", "speed=3"],
            "--train-arg speed: unknown setting; valid:",
        ),
        (["--grid", "sr=0.5", "--train-arg", "epochs=3"], "--train-arg epochs: use --epochs"),
        (["--grid", "sr=0.5", "--model", "squeezenet1_2"], "did you mean squeezenet1_1"),
    ],
)
def test_sweep_cli_errors_name_the_valid_choices(
    data_dir: Path, tmp_path: Path, capsys, args: list[str], message: str
) -> None:
    out = tmp_path / "sweep"
    code, stdout, stderr = run_cli(capsys, "sweep", *args, "--data-dir", data_dir, "--out", out)
    assert code == 2 and stdout == "", stderr
    assert message in " ".join(stderr.split())
    assert not (out / "points").exists()  # nothing trained
