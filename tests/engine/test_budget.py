"""`--time`: the schedule spans a time budget planned from the first steps."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from squeezenet.engine import TrainConfig, fit, load_run_config
from squeezenet.engine import settings as settings_module
from squeezenet.engine.budget import steps_within
from squeezenet.engine.recipes import recipe
from squeezenet.engine.run import RunDir

from .test_train import tiny_config


def test_steps_within_fills_the_budget_and_plans_at_least_one_epoch() -> None:
    # 100 steps of 0.1 s + 5 s of evaluation = 15 s, plus the margin and overhead per epoch.
    epoch_s = 15 * 1.05 + 1.5
    assert steps_within(600, 20, 100, 0.1, 5.0) == math.floor(100 * (600 - 20 - 5) / epoch_s)
    assert steps_within(600, 20, 100, 0.1, 5.0) % 100 != 0  # the last epoch is partial
    assert steps_within(10, 9, 100, 0.1, 5.0) == 100  # over budget already: still one epoch


@pytest.mark.parametrize("epoch_cost_s", [0.4, 1.5])
def test_time_budget_sets_epochs_and_completes_the_schedule(
    tiny_fashion: Path, tmp_path: Path, monkeypatch, epoch_cost_s: float
) -> None:
    # The step and evaluation timings are the machine's; pin them so the plan is known.
    steps = 64 // 16
    monkeypatch.setattr(settings_module, "measure_step_time", lambda *a, **k: epoch_cost_s / steps)
    monkeypatch.setattr(settings_module, "measure_eval_time", lambda *a, **k: 0.0)
    config = tiny_config(tiny_fashion, tmp_path / "run", epochs=50, time=0.2, schedule="cosine")
    result = fit(config)

    saved = json.loads(RunDir(result.run_dir).config.read_text())
    plan = saved["resolved"]["time_plan"]
    expected = steps_within(12.0, plan["planned_at_s"], steps, epoch_cost_s / steps, 0.0)
    assert plan["steps"] == expected and saved["resolved"]["epochs"] == -(-expected // steps)
    assert result.epochs_run == saved["resolved"]["epochs"] != 50
    assert result.history[-1]["lr"] == pytest.approx(0.0, abs=1e-9)  # schedule ran to its end
    assert saved["time"] == 0.2 and saved["epochs"] == 50  # the request, beside what it became


def test_resume_keeps_the_planned_epochs(tiny_fashion: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(settings_module, "measure_step_time", lambda *a, **k: 0.05)
    monkeypatch.setattr(settings_module, "measure_eval_time", lambda *a, **k: 0.0)
    config = tiny_config(tiny_fashion, tmp_path / "run", epochs=50, time=0.1)

    def stop_after_first(state: dict) -> None:
        if state["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(config, hooks=[stop_after_first])
    planned = json.loads(RunDir(config.out).config.read_text())["resolved"]["epochs"]
    monkeypatch.setattr(
        settings_module, "measure_step_time", lambda *a, **k: 1e-9
    )  # not re-planned
    result = fit(load_run_config(config.out), resume=True)
    assert result.epochs_run == planned


def test_the_demo_recipe_uses_auto_precision_and_a_time_budget() -> None:
    settings = recipe("demo")
    config = TrainConfig(**settings)
    assert config.amp == "auto" and config.time is not None and 0 < config.time <= 10


def test_time_must_be_positive_and_finite() -> None:
    for bad in (0, -1, math.inf, math.nan):
        with pytest.raises(ValueError, match="invalid time"):
            TrainConfig(time=bad)
