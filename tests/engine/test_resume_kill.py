"""Exact resume after SIGKILL: a real `squeezenet train` process is killed at chosen and random
points (before its first checkpoint, while checkpoint.pt is being written, while any file is
being written, at random delays, while finishing), resumed with `--resume` each time until it
finishes, and must end bit-identical to an uninterrupted run. After every kill each file left
in the run folder must load; the only other files allowed are a killed writer's temp files,
which later writes remove.

`make test` runs the short version (two kills, one thread); `make test-all` the long one
(`-m slow`: eight kills, on one and on two threads).
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from squeezenet import load_model
from squeezenet.engine.run import RunDir

from ..helpers import write_tiny_fashion

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SIGKILL and fork: POSIX")

EPOCHS = 3
TRAIN = [
    "--model",
    "squeezenet1_1",
    "--batch-norm",
    "--dropout",
    "0.3",
    "--data",
    "fashion-mnist",
    "--epochs",
    EPOCHS,
    "--batch-size",
    "16",
    "--lr",
    "0.05",
    "--warmup-epochs",
    "0.5",
    "--seed",
    "3",
    "--augment",
    "crop-flip",
]
# Temp files of our atomic writer: .NAME.PID.RANDOM.tmp
TEMP = re.compile(r"^\.(?P<target>.+)\.\d+\.[^.]+\.tmp$")
# Columns that hold numbers the run computed (not how long it took).
COMPUTED = ("epoch", "lr", "train_loss", "train_top1", "val_loss", "val_top1", "val_top5")


def _train(data: Path, out: Path, threads: int | None) -> subprocess.Popen:
    """A new run on `threads` threads, or (None) `train --resume` of the run in `out`."""
    settings = ["--threads", threads, *TRAIN, "--data-dir", data] if threads else ["--resume"]
    cmd = [sys.executable, "-m", "squeezenet", "train", "--out", out, *settings]
    log = open(out.parent / f"{out.name}.log", "ab")  # noqa: SIM115 (the child holds it)
    try:
        return subprocess.Popen(list(map(str, cmd)), stdout=log, stderr=log, cwd=out.parent)
    finally:
        log.close()


def _temps(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*.tmp") if p.is_file()]


def _metric_rows(run: RunDir) -> list[dict[str, str]]:
    with open(run.metrics, newline="") as f:
        return list(csv.DictReader(f))


# ---- when to kill -----------------------------------------------------------------------------


def _poll(proc: subprocess.Popen, ready, timeout: float = 600.0) -> bool:
    """Wait until `ready()` (True) or the process ends (False)."""
    end = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < end:
        if ready():
            return True
        time.sleep(0.0005)
    return False


def _strategy(name: str, run: RunDir, rng: random.Random, wall_s: float):
    """A function of the process that returns once it is time to kill it (or it ended)."""
    if name == "before_checkpoint":
        return lambda p: _poll(p, lambda: run.config.exists() and not run.checkpoint.exists())
    if name == "checkpoint_write":
        return lambda p: _poll(p, lambda: any(run.root.glob(".checkpoint.pt.*.tmp")))
    if name == "any_write":
        return lambda p: _poll(p, lambda: bool(_temps(run.root)))
    if name == "finishing":  # the last epoch's files are being written, then results.json
        done = lambda: run.metrics.exists() and len(_metric_rows(run)) == EPOCHS  # noqa: E731
        return lambda p: _poll(p, done)
    # "delay": a random time into a random epoch (a fraction of an epoch's share of the
    # uninterrupted run's time), so that the kill lands before the run ends.
    rows, delay = rng.randrange(EPOCHS), rng.uniform(0, wall_s / (EPOCHS + 3))
    started = lambda: run.metrics.exists() and len(_metric_rows(run)) >= rows  # noqa: E731

    def wait(p: subprocess.Popen) -> bool:
        return (rows == 0 or _poll(p, started)) and not _poll(p, lambda: False, delay)

    return wait


# ---- what every kill must leave ---------------------------------------------------------------


def _check_left_files(run: RunDir) -> None:
    """Every file in the folder loads; anything else is a killed writer's temp file."""
    rows = _metric_rows(run) if run.metrics.exists() else []
    assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))
    if run.config.exists():
        assert "resolved" in json.loads(run.config.read_text())
    if run.checkpoint.exists():
        # Written last each epoch: the metrics are of its epoch or of the one after it.
        assert run.load_checkpoint()["epoch"] in (len(rows), len(rows) - 1)
    for weights in (run.last, run.best):
        if weights.exists():
            load_model(weights)
    for png in (run.curves, run.confusion):
        if png.exists():
            with Image.open(png) as image:
                image.verify()
    if run.results.exists():
        json.loads(run.results.read_text())
    known = {
        run.config,
        run.metrics,
        run.checkpoint,
        run.last,
        run.best,
        run.curves,
        run.confusion,
        run.results,
        run.last.parent,
    }
    for path in run.root.rglob("*"):
        match = TEMP.match(path.name)
        assert path in known or (match and path.with_name(match["target"]) in known), path


# ---- the loop ---------------------------------------------------------------------------------


def _reference(data: Path, root: Path, threads: int) -> tuple[RunDir, float]:
    start = time.monotonic()
    proc = _train(data, root / "straight", threads)
    assert proc.wait(timeout=900) == 0, (root / "straight.log").read_text()
    return RunDir(root / "straight"), time.monotonic() - start


def _kill_and_resume(
    data: Path, run: RunDir, threads: int, kills: tuple[str, ...], wall_s: float, seed: int
) -> dict[str, int]:
    """Start the run, kill it at each point in `kills`, resume until it finishes; returns how
    many kills landed (and how many of those while a file was being written)."""
    rng = random.Random(seed)
    landed = {"kills": 0, "mid_write": 0, "runs": 0}
    pending = list(kills)
    while True:
        first = landed["runs"] == 0
        # The first run names its threads; a resumed run must restore them by itself.
        proc = _train(data, run.root, threads if first else None)
        landed["runs"] += 1
        if pending and _strategy(pending.pop(0), run, rng, wall_s)(proc):
            os.kill(proc.pid, signal.SIGKILL)
        code = proc.wait(timeout=900)
        if code == 0:
            return landed
        assert code == -signal.SIGKILL, (run.root.parent / f"{run.root.name}.log").read_text()
        landed["kills"] += 1
        landed["mid_write"] += bool(_temps(run.root))
        _check_left_files(run)
        assert landed["runs"] < len(kills) + 3, "the run does not finish"


def _assert_identical(a: RunDir, b: RunDir) -> None:
    for weights in ("last", "best"):
        x, y = load_file(getattr(a, weights)), load_file(getattr(b, weights))
        assert x.keys() == y.keys()
        for key in x:
            assert torch.equal(x[key], y[key]), (weights, key)
    assert [{k: r[k] for k in COMPUTED} for r in _metric_rows(a)] == [
        {k: r[k] for k in COMPUTED} for r in _metric_rows(b)
    ]
    results = [json.loads(run.results.read_text()) for run in (a, b)]
    for key in ("final", "best", "epochs", "params"):
        assert results[0][key] == results[1][key], key
    resolved = [json.loads(run.config.read_text())["resolved"] for run in (a, b)]
    assert resolved[0] == resolved[1]


def _kill_loop(root: Path, threads: int, kills: tuple[str, ...], seed: int) -> dict[str, int]:
    data = write_tiny_fashion(root / "data", 64, 40)
    straight, wall_s = _reference(data, root, threads)
    run = RunDir(root / "killed")
    landed = _kill_and_resume(data, run, threads, kills, wall_s, seed)
    _assert_identical(straight, run)
    assert not _temps(run.root)  # each killed writer's temp file went with the next write
    return landed


def test_sigkill_before_the_first_checkpoint_and_while_writing_it(tmp_path: Path) -> None:
    landed = _kill_loop(tmp_path, 1, ("before_checkpoint", "checkpoint_write"), seed=0)
    assert landed["kills"] >= 1


LONG = (
    "before_checkpoint",
    "delay",
    "checkpoint_write",
    "any_write",
    "delay",
    "checkpoint_write",
    "delay",
    "finishing",
)


@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])
def test_sigkill_at_many_points_then_resume_is_bit_identical(tmp_path: Path, threads: int) -> None:
    landed = _kill_loop(tmp_path, threads, LONG, seed=threads)
    assert landed["kills"] >= len(LONG) // 2, landed
