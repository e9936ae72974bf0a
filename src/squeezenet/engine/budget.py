"""A time budget for a run (`squeezenet train --time MINUTES`, ultralytics' `time=`).

Before the first epoch a throwaway copy of the model takes a few real training steps on the
run's own batches and scores a slice of the validation split; from those timings the run
plans how many epochs fit in what is left of the budget, and the learning-rate schedule is
built over exactly that many. The run then ends on time *at the end of its schedule* on any
machine, instead of being cut off mid-schedule. After each epoch the plan is checked
against the epoch's real cost, as ultralytics' `time=` does: a machine that slows down
(other jobs, thermal limits) gets the schedule shrunk to what still fits, and one that runs
faster than the first few steps said gets it stretched, so the run ends on time at the end
of its schedule and leaves little of the budget unused. The plan is stored with the run,
so `--resume` continues the same schedule exactly.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

# Per-epoch allowance beyond the measured steps and evaluation: writing weights, checkpoint
# and plots (about a second here), plus a margin for a machine that slows down later.
_EPOCH_OVERHEAD_S = 1.5
_MARGIN = 0.05
# A re-plan that changes the schedule by less than this share of it is not worth the jump
# in learning rate (and a quiet machine then keeps exactly the schedule it planned).
_REPLAN_DEADBAND = 0.02
# Each epoch is priced with the margin, so a steady run keeps finding some budget unspent;
# it is spent by stretching only in the first three quarters of the schedule.
_STRETCH_UNTIL = 0.75
# A time reserve (work after training) takes at most this share of the budget: on a slow
# machine the run itself comes first, and what follows gets the rest.
_RESERVE_MAX_SHARE = 0.3


@dataclass(frozen=True)
class EpochPlan:
    """How a time budget was spent, as planned from the first steps.

    Attributes:
        budget_s: the whole run's budget (start to results.json).
        steps: training steps that fit; the schedule spans exactly these, so the last
            epoch may be partial (whole epochs alone left up to one epoch of the budget idle).
        epochs: epochs begun, the last one possibly partial.
        step_s: measured seconds per training step (after warm-up).
        eval_s: estimated seconds per validation pass.
        planned_at_s: seconds of the budget already spent when the plan was made.
        replanned_at_s: seconds spent when the plan was last changed (None: never).
        first_steps: the steps first planned, before any change (None: never changed).
        reserve_epochs: epochs' worth of training time (at the measured step time, at most
            30% of the budget) the plan leaves unspent, for work that follows in the budget.
    """

    budget_s: float
    steps: int
    epochs: int
    step_s: float
    eval_s: float
    planned_at_s: float
    replanned_at_s: float | None = None
    first_steps: int | None = None
    reserve_epochs: float = 0.0

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def describe(self, steps_per_epoch: int) -> str:
        epoch_s = steps_per_epoch * self.step_s + self.eval_s
        return (
            f"time budget {self.budget_s / 60:.1f} min: {self.steps} steps planned, "
            f"{self.steps / steps_per_epoch:.2f} epochs of {steps_per_epoch} (measured "
            f"{1000 * self.step_s:.0f} ms/step, ~{epoch_s:.0f} s/epoch with evaluation)"
        )

    def replanned(
        self,
        *,
        elapsed_s: float,
        steps_done: int,
        steps_per_epoch: int,
        step_s: float,
        eval_s: float,
    ) -> EpochPlan | None:
        """After an epoch that cost `step_s` per step and `eval_s` to validate: the plan
        resized to the steps that fit what is left of the budget, or None while that is
        within 2% of the plan, or would stretch it in its last quarter."""
        left = self.budget_s - elapsed_s
        reserve = reserve_seconds(self.reserve_epochs, steps_per_epoch, step_s, self.budget_s)
        fitting = steps_fitting(left, steps_per_epoch, step_s, eval_s, reserve)
        steps = max(steps_done, steps_done + fitting)
        if abs(steps - self.steps) <= _REPLAN_DEADBAND * self.steps:
            return None
        if steps > self.steps and steps_done > _STRETCH_UNTIL * self.steps:
            return None  # the learning rate is annealing: a stretch would raise it again
        return replace(
            self,
            steps=steps,
            epochs=-(-steps // steps_per_epoch),
            replanned_at_s=elapsed_s,
            first_steps=self.first_steps or self.steps,
        )

    def describe_replan(self, steps_per_epoch: int, epoch_s: float, was_steps: int) -> str:
        """e.g. 'time budget: epochs take 39 s (first planned at 42 s with margin); schedule
        stretched to 5973 steps (12.76 epochs, was 5505) to end on time'."""
        priced = epoch_cost(steps_per_epoch, self.step_s, self.eval_s)
        change = "shrunk" if self.steps < was_steps else "stretched"
        return (
            f"time budget: epochs take {epoch_s:.0f} s (first planned at {priced:.0f} s with "
            f"margin); schedule {change} to {self.steps} steps "
            f"({self.steps / steps_per_epoch:.2f} epochs, was {was_steps}) to end on time"
        )


def steps_within(
    budget_s: float,
    spent_s: float,
    steps_per_epoch: int,
    step_s: float,
    eval_s: float,
    reserve_epochs: float = 0.0,
) -> int:
    """How many training steps to plan in `budget_s - spent_s`: what fits, but at least
    one epoch's."""
    reserve = reserve_seconds(reserve_epochs, steps_per_epoch, step_s, budget_s)
    fit = steps_fitting(budget_s - spent_s, steps_per_epoch, step_s, eval_s, reserve)
    return max(steps_per_epoch, fit)


def reserve_seconds(
    reserve_epochs: float, steps_per_epoch: int, step_s: float, budget_s: float
) -> float:
    """Seconds kept for work after training: `reserve_epochs` epochs of training steps, at
    most _RESERVE_MAX_SHARE of the budget."""
    return min(reserve_epochs * steps_per_epoch * step_s, _RESERVE_MAX_SHARE * budget_s)


def steps_fitting(
    left_s: float,
    steps_per_epoch: int,
    step_s: float,
    eval_s: float,
    reserve_s: float = 0.0,
) -> int:
    """Training steps that fit in `left_s` seconds, with each epoch's evaluation and file
    writes priced in, one more evaluation kept in hand for the final report, and
    `reserve_s` seconds left over."""
    epoch_s = epoch_cost(steps_per_epoch, step_s, eval_s)
    return max(0, math.floor(steps_per_epoch * (left_s - eval_s - reserve_s) / epoch_s))


def epoch_cost(steps_per_epoch: int, step_s: float, eval_s: float) -> float:
    """Seconds an epoch is priced at: its steps and evaluation with a margin, and the file
    writes."""
    return (steps_per_epoch * step_s + eval_s) * (1 + _MARGIN) + _EPOCH_OVERHEAD_S


def measure_step_time(
    model: nn.Module,
    make_optimizer: Callable[[nn.Module], torch.optim.Optimizer],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    train_step: Callable[[nn.Module, torch.optim.Optimizer, torch.Tensor, torch.Tensor], None],
    *,
    warmup: int = 3,
    steps: int = 12,
) -> float:
    """Median seconds of a training step of a copy of `model` on `batches` (cycled).

    The model, its optimizer and the global RNG are left exactly as they were, so the run
    that follows is the same as one that never measured.
    """
    rng = torch.get_rng_state()
    probe = copy.deepcopy(model)
    optimizer = make_optimizer(probe)
    times: list[float] = []
    try:
        while len(times) < warmup + steps:
            seen = len(times)
            for images, labels in batches:
                start = time.perf_counter()
                train_step(probe, optimizer, images, labels)
                times.append(time.perf_counter() - start)
                if len(times) == warmup + steps:
                    break
            if len(times) == seen:
                raise ValueError("cannot time a training step: the loader yields no batch")
    finally:
        torch.set_rng_state(rng)
    timed = sorted(times[warmup:])
    return timed[len(timed) // 2]


def measure_eval_time(evaluate_fn: Callable[[int], None], total: int, sample: int = 1024) -> float:
    """Seconds to evaluate `total` images, from timing `evaluate_fn(n)` on n <= `sample`.

    The second of two calls is timed: the first pays one-off costs (kernel selection for the
    evaluation's batch shape, first-touch memory) that the run's evaluations do not, and
    made the estimate 1.3x the real pass (AVX2-capped Zen 4, the demo model)."""
    n = min(total, sample)
    evaluate_fn(n)
    start = time.perf_counter()
    evaluate_fn(n)
    return (time.perf_counter() - start) * total / max(n, 1)
