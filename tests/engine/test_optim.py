"""Optimizers and schedules: which parameters decay, and the LR/momentum each schedule gives."""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch
from torch import nn

from squeezenet.engine import build_optimizer, build_scheduler


def _model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1))


def _lrs(optimizer: torch.optim.Optimizer, scheduler, steps: int, key: str = "lr") -> list[float]:
    values = []
    for _ in range(steps):
        values.append(optimizer.param_groups[0][key])
        optimizer.step()
        scheduler.step()
    return values


def test_only_conv_weights_decay() -> None:
    groups = build_optimizer(_model(), "sgd", 0.1, weight_decay=5e-4).param_groups
    assert [p.ndim for p in groups[0]["params"]] == [4, 4] and groups[0]["weight_decay"] == 5e-4
    assert all(p.ndim == 1 for p in groups[1]["params"]) and groups[1]["weight_decay"] == 0.0


def test_warmup_then_cosine_to_zero() -> None:
    opt = build_optimizer(_model(), "sgd", 0.1)
    lrs = _lrs(opt, build_scheduler(opt, "cosine", total_steps=20, warmup_steps=4), 20)
    assert lrs[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert lrs[4] == pytest.approx(0.1) and lrs[12] == pytest.approx(0.05)  # half-way down
    assert all(a >= b for a, b in pairwise(lrs[4:])) and lrs[-1] < 0.01


def test_onecycle_peaks_after_warmup_and_cycles_momentum_only_when_there_is_some() -> None:
    opt = build_optimizer(_model(), "sgd", 0.1, momentum=0.9)
    sched = build_scheduler(opt, "onecycle", total_steps=20, warmup_steps=5)
    lrs = _lrs(opt, sched, 20)
    assert max(lrs) == pytest.approx(0.1) and lrs.index(max(lrs)) == 4 and lrs[0] < 0.01
    assert opt.param_groups[0]["momentum"] != 0.9  # Smith's policy: momentum moves with the LR
    still = build_optimizer(_model(), "sgd", 0.1, momentum=0.0)
    momenta = _lrs(
        still,
        build_scheduler(still, "onecycle", total_steps=20, warmup_steps=5),
        20,
        key="momentum",
    )
    assert set(momenta) == {0.0} and not still.param_groups[0]["nesterov"]
    adam = build_optimizer(_model(), "adamw", 1e-3)
    build_scheduler(adam, "onecycle", total_steps=20, warmup_steps=5)
    assert adam.param_groups[0]["betas"][0] == pytest.approx(0.95)


def test_unknown_schedule_is_named() -> None:
    opt = build_optimizer(_model(), "sgd", 0.1)
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        build_scheduler(opt, "linear", total_steps=10, warmup_steps=0)
