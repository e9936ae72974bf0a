"""Multi-process training through torchrun (CPU, gloo): same result as one process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from squeezenet.engine import fit
from squeezenet.engine.run import RunDir

from .test_train import tiny_config

# No BatchNorm and no dropout: then each rank's slice of a global batch gives the gradient
# that the whole batch gives in one process, up to float summation order (which can flip a
# max-pool's choice between near-equal values, so weights match closely but not bit for bit).
PLAIN = {"model_kwargs": {"batch_norm": False, "dropout": 0.0}}


def torchrun(procs: int, *args: object) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={procs}",
        "-m",
        "squeezenet",
        "train",
        *map(str, args),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def train_args(data_dir: Path, out: Path) -> list[object]:
    return [
        "--data",
        "fashion-mnist",
        "--data-dir",
        data_dir,
        "--out",
        out,
        "--model",
        "squeezenet1_1",
        "--no-batch-norm",
        "--dropout",
        "0",
        "--epochs",
        2,
        "--batch-size",
        16,
        "--lr",
        0.05,
        "--warmup-epochs",
        0.5,
        "--seed",
        3,
        "--threads",
        1,
    ]


def test_two_processes_match_one(tiny_fashion: Path, tmp_path: Path) -> None:
    single = fit(tiny_config(tiny_fashion, tmp_path / "one", epochs=2, **PLAIN))
    done = torchrun(2, *train_args(tiny_fashion, tmp_path / "two"))
    assert done.returncode == 0, done.stderr[-3000:]
    one = load_file(RunDir(single.run_dir).last)
    two = load_file(RunDir(tmp_path / "two").last)
    assert one.keys() == two.keys()
    # Relative L2 distance over all weights: 6e-5 measured; summing the ranks' gradients
    # instead of averaging them (the same as doubling the lr) gives 0.11.
    diff = torch.cat([(two[k] - one[k]).flatten() for k in one]).norm()
    assert diff / torch.cat([one[k].flatten() for k in one]).norm() < 1e-3
    # Rank 0 alone writes: one metrics row per epoch, not one per process.
    rows = RunDir(tmp_path / "two").metrics.read_text().strip().splitlines()
    assert len(rows) == 1 + 2
    assert done.stdout.count("test split top-1: final") == 1  # and one closing line


def test_a_failing_rank_fails_the_launch(tiny_fashion: Path, tmp_path: Path) -> None:
    done = torchrun(2, *train_args(tiny_fashion, tmp_path / "bad"), "--lr", "-1")
    assert done.returncode != 0
    assert "invalid lr" in done.stderr + done.stdout
    assert not (tmp_path / "bad" / "weights").exists()
