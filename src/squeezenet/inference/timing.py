"""Interleaved timing: every task measured in turns, so drift in machine load hits all alike."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

PEAK_PREFIX = "\0peak:"  # prefix of the sgemm task names; no backend name can start with it


def interleave(
    tasks: dict[str, Callable[[], object]], rounds: int, round_time: float
) -> dict[str, list[float]]:
    """Per-call times of each task, run in turns in a new shuffled order each round.

    A turn is as many calls as fit in `round_time` (at least one); peak-rate tasks
    (names starting with the sgemm prefix) make one call per turn.
    """
    latency = {name: time_one_call(fn) for name, fn in tasks.items()}
    calls = {
        name: 1 if name.startswith(PEAK_PREFIX) else int(min(50, max(1, round(round_time / t))))
        for name, t in latency.items()
    }
    samples: dict[str, list[float]] = {name: [] for name in tasks}
    order = list(tasks)
    shuffle = random.Random(0).shuffle  # seeded: reproducible, and no fixed predecessor
    for _ in range(rounds):
        shuffle(order)
        for name in order:
            fn = tasks[name]
            if latency[name] < round_time:  # a longer call hardly feels a 1 ms disturbance
                fn()  # untimed: absorbs the previous turn's still-spinning threads, cold caches
            for _ in range(calls[name]):
                start = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - start)
    return samples


def time_one_call(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return max(time.perf_counter() - start, 1e-6)
