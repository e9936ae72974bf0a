"""`--time`: the schedule spans a time budget planned from the first steps."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from squeezenet.engine import TrainConfig, fit, load_run_config
from squeezenet.engine import budget as budget_module
from squeezenet.engine import epochs as epochs_module
from squeezenet.engine import settings as settings_module
from squeezenet.engine.budget import (
    EpochPlan,
    measure_eval_time,
    reserve_seconds,
    steps_fitting,
    steps_within,
)
from squeezenet.engine.recipes import recipe
from squeezenet.engine.run import RunDir

from .test_train import tiny_config


def test_steps_within_fills_the_budget_and_plans_at_least_one_epoch() -> None:
    # 100 steps of 0.1 s + 5 s of evaluation = 15 s, plus the margin and overhead per epoch.
    epoch_s = 15 * 1.05 + 1.5
    assert steps_within(600, 20, 100, 0.1, 5.0) == math.floor(100 * (600 - 20 - 5) / epoch_s)
    assert steps_within(600, 20, 100, 0.1, 5.0) % 100 != 0  # the last epoch is partial
    assert steps_within(10, 9, 100, 0.1, 5.0) == 100  # over budget already: still one epoch


def test_a_reserve_leaves_epochs_of_training_time_unspent() -> None:
    epoch_s = 15 * 1.05 + 1.5
    # Two epochs' worth of steps (2 x 100 x 0.1 s) come off what is left before planning.
    assert steps_within(600, 20, 100, 0.1, 5.0, 2.0) == math.floor(
        100 * (600 - 20 - 5 - 20) / epoch_s
    )
    steps = steps_within(600, 20, 100, 0.1, 5.0, 2.0)
    plan = EpochPlan(600, steps, 0, 0.1, 5.0, 20, reserve_epochs=2.0)
    # Steps twice as slow: the reserve is re-priced at the new step time (2 x 100 x 0.2 s).
    slow = plan.replanned(elapsed_s=70, steps_done=200, steps_per_epoch=100, step_s=0.2, eval_s=5.0)
    assert slow is not None and slow.reserve_epochs == 2.0
    assert slow.steps == 200 + math.floor(100 * (600 - 70 - 5 - 40) / (25 * 1.05 + 1.5))


def test_a_reserve_takes_at_most_a_share_of_the_budget() -> None:
    # 20 epochs of 10 s would be 200 s of a 300 s budget: capped at 30%, 90 s.
    assert reserve_seconds(20, 100, 0.1, 300) == pytest.approx(90)
    assert reserve_seconds(2, 100, 0.1, 300) == pytest.approx(20)  # under the cap: as asked
    epoch_s = 15 * 1.05 + 1.5
    assert steps_within(300, 0, 100, 0.1, 5.0, 20) == math.floor(100 * (300 - 5 - 90) / epoch_s)


def test_the_evaluation_estimate_leaves_out_one_off_costs(monkeypatch) -> None:
    # A fake clock: the first evaluation of 1,024 images takes 4 s (kernel selection), later
    # ones 1 s; 10,000 images then take ~9.8 s, not 39.
    clock = [0.0]
    calls: list[int] = []

    def evaluate(n: int) -> None:
        calls.append(n)
        clock[0] += 4.0 if len(calls) == 1 else 1.0

    monkeypatch.setattr(budget_module, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    assert measure_eval_time(evaluate, 10_000) == pytest.approx(10_000 / 1024)
    assert calls == [1024, 1024]
    assert measure_eval_time(evaluate, 100) == pytest.approx(1.0)  # all of a small split


def test_a_plan_follows_the_measured_epochs_both_ways() -> None:
    plan = EpochPlan(600, steps_within(600, 20, 100, 0.1, 5.0), 0, 0.1, 5.0, 20)
    on_time = dict(steps_per_epoch=100, step_s=0.1, eval_s=5.0)
    # Epochs costing what was measured leave the plan as it is (within its 2% dead band).
    assert plan.replanned(elapsed_s=20 + 2 * 15.75 + 3, steps_done=200, **on_time) is None
    # Steps twice as slow since the start: what is left of the budget holds fewer steps.
    slow = plan.replanned(
        elapsed_s=20 + 2 * 25, steps_done=200, steps_per_epoch=100, step_s=0.2, eval_s=5.0
    )
    assert slow is not None and 200 < slow.steps < plan.steps
    assert slow.steps == 200 + steps_fitting(600 - 70, 100, 0.2, 5.0)
    assert slow.epochs == -(-slow.steps // 100) and slow.first_steps == plan.steps
    assert slow.replanned_at_s == 70
    # Faster than the first steps said: the schedule is stretched over what is left.
    fast = plan.replanned(
        elapsed_s=20 + 2 * 8, steps_done=200, steps_per_epoch=100, step_s=0.05, eval_s=3.0
    )
    assert fast is not None and fast.steps == 200 + steps_fitting(600 - 36, 100, 0.05, 3.0)
    assert fast.steps > plan.steps and fast.first_steps == plan.steps
    # In the schedule's last quarter it may still shrink, but no longer stretch.
    late = int(0.8 * plan.steps)
    assert (
        plan.replanned(elapsed_s=100, steps_done=late, steps_per_epoch=100, step_s=0.05, eval_s=3.0)
        is None
    )
    # A spent budget ends the run now, and changes keep the first plan's length on record.
    spent = slow.replanned(elapsed_s=600, steps_done=300, **on_time)
    assert spent is not None and spent.steps == 300 and spent.first_steps == plan.steps


def _first_plan_only(monkeypatch) -> None:
    """The plan made from the pinned timings is kept: the tiny model's real epochs, far
    faster than those, would otherwise stretch it after each epoch."""
    monkeypatch.setattr(epochs_module, "replan", lambda *a, **k: None)


def _plan_then_stall(monkeypatch, planned_steps: int, epoch: int, stall_s: float) -> None:
    """A deterministic clock for the budget: the first plan is `planned_steps`; each step is
    measured at 0.4 s and an epoch of 4 costs 3.2 s with its overheads, as the planner
    prices it; from `epoch` on the clock reads `stall_s` later, as if the machine had
    stalled then. The real re-planning logic runs on it, whatever the machine's own speed."""
    monkeypatch.setattr(settings_module, "measure_step_time", lambda *a, **k: 0.1)
    monkeypatch.setattr(settings_module, "measure_eval_time", lambda *a, **k: 0.0)
    monkeypatch.setattr(settings_module, "steps_within", lambda *a, **k: planned_steps)
    real = epochs_module.replan

    def stalled(resolved, *, elapsed_s, steps_done, steps_per_epoch, **timings):
        late = stall_s if steps_done >= epoch * steps_per_epoch else 0.0
        return real(
            resolved,
            elapsed_s=0.8 * steps_done + late,
            steps_done=steps_done,
            steps_per_epoch=steps_per_epoch,
            step_s=0.4,
            eval_s=0.0,
        )

    monkeypatch.setattr(epochs_module, "replan", stalled)


def test_a_run_that_falls_behind_shrinks_its_schedule_and_still_completes_it(
    tiny_fashion: Path, tmp_path: Path, monkeypatch
) -> None:
    # 40 steps (4 an epoch) planned in a 30 s budget; only the 20 s stall after epoch 2
    # makes the run late.
    _plan_then_stall(monkeypatch, 40, 2, 20.0)
    config = tiny_config(tiny_fashion, tmp_path / "run", epochs=50, time=0.5, schedule="cosine")
    result = fit(config)

    plan = json.loads(RunDir(result.run_dir).config.read_text())["resolved"]["time_plan"]
    assert plan["first_steps"] == 40 and 8 < plan["steps"] < 40
    assert result.epochs_run == -(-plan["steps"] // 4) < -(-plan["first_steps"] // 4)
    assert result.epochs_trained == plan["steps"] / 4  # fractional where the last is partial
    assert result.history[-1]["lr"] == pytest.approx(0.0, abs=1e-9)  # the shrunk schedule ended


def test_a_run_faster_than_planned_stretches_its_schedule_and_completes_it(
    tiny_fashion: Path, tmp_path: Path, monkeypatch
) -> None:
    # First planned at 3 epochs of a 30 s budget; epochs then cost 3.2 s, so ~9 fit.
    _plan_then_stall(monkeypatch, 12, 99, 0.0)
    config = tiny_config(tiny_fashion, tmp_path / "run", epochs=50, time=0.5, schedule="cosine")
    result = fit(config)

    plan = json.loads(RunDir(result.run_dir).config.read_text())["resolved"]["time_plan"]
    assert plan["first_steps"] == 12 and 24 < plan["steps"] < 50
    assert result.epochs_run == -(-plan["steps"] // 4) > 3
    assert result.history[-1]["lr"] == pytest.approx(0.0, abs=1e-9)  # the longer schedule ended


def test_a_resumed_run_continues_the_shrunk_schedule_exactly(
    tiny_fashion: Path, tmp_path: Path, monkeypatch
) -> None:
    _plan_then_stall(monkeypatch, 40, 2, 10.0)
    whole = fit(tiny_config(tiny_fashion, tmp_path / "whole", epochs=50, time=0.5))
    config = tiny_config(tiny_fashion, tmp_path / "cut", epochs=50, time=0.5)

    def stop_after_third(state: dict) -> None:
        if state["epoch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(config, hooks=[stop_after_third])
    resumed = fit(load_run_config(config.out), resume=True)
    plan = resumed.resolved.plan
    assert plan.first_steps == 40 and plan.steps < 40 and resumed.epochs_run > 3
    assert resumed.epochs_run == whole.epochs_run
    assert [r["lr"] for r in resumed.history] == [r["lr"] for r in whole.history]
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in whole.history]


@pytest.mark.parametrize("epoch_cost_s", [0.4, 1.5])
def test_time_budget_sets_epochs_and_completes_the_schedule(
    tiny_fashion: Path, tmp_path: Path, monkeypatch, epoch_cost_s: float
) -> None:
    # The step and evaluation timings are the machine's; pin them so the plan is known.
    steps = 64 // 16
    monkeypatch.setattr(settings_module, "measure_step_time", lambda *a, **k: epoch_cost_s / steps)
    monkeypatch.setattr(settings_module, "measure_eval_time", lambda *a, **k: 0.0)
    _first_plan_only(monkeypatch)
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
    _first_plan_only(monkeypatch)
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
