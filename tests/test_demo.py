"""`make demo`'s job, end to end on a tiny Fashion-MNIST-format dataset (one epoch)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from squeezenet import demo
from squeezenet.models import get_model_config

from .helpers import write_tiny_fashion


def test_demo_runs_every_step(tmp_path: Path, capsys) -> None:
    write_tiny_fashion(tmp_path, 256, 64)
    out = tmp_path / "run"
    demo.main(["--out", str(out), "--epochs", "1", "--data-dir", str(tmp_path)])
    text = capsys.readouterr().out
    for name in (
        "model.sqz",
        "model.onnx",
        "model.int8.onnx",
        "compression.json",
        "weights/last.safetensors",
        "curves.png",
        "confusion.png",
    ):
        assert (out / name).is_file(), name
    for label in (
        "test top-1 (fp32)",
        ".sqz size",
        ".sqz test top-1",
        "ONNX INT8 test top-1",
        "latency batch 1, onnxruntime-int8",
        "wall time",
    ):
        assert label in text, label
    assert "(BatchNorm, strided small-input stem, 1x28x28)" in text  # the demo recipe's model


def test_model_row_follows_the_config() -> None:
    plain = get_model_config("squeezenet1_0")
    assert demo.describe_model(plain, (3, 224, 224)) == "squeezenet1_0 (3x224x224)"
    small = get_model_config("squeezenet1_1", batch_norm=True, small_input=True)
    assert demo.describe_model(small, (1, 32, 32)) == (
        "squeezenet1_1 (BatchNorm, small-input stem, 1x32x32)"
    )


def test_the_demo_trains_for_less_when_its_deadline_is_near() -> None:
    # 15 minutes, 1 of them spent on set-up: the recipe's 9 minutes fit.
    assert demo.training_minutes(9.0, 14 * 60) == 9.0
    # A slow set-up: training gets its share of what is left after the export reserve.
    left = 10 * 60
    expected = demo.TRAIN_SHARE * (left - demo.EXPORT_RESERVE_S) / 60
    assert expected < 9.0 and demo.training_minutes(9.0, left) == pytest.approx(expected)
    assert demo.training_minutes(9.0, -60) == 0.5  # already late: still trains a little


def test_compression_retraining_scales_with_the_time_left() -> None:
    trained = SimpleNamespace(history=[{"epoch_time_s": 40.0}, {"epoch_time_s": 40.0}])
    planned_s = 40.0 * (
        demo.PRUNE_ROUNDS * demo.PRUNE_EPOCHS
        + demo.SHARE_EPOCHS
        + demo.EVAL_PASSES * demo.EVAL_SHARE
    )
    half = demo.EXPORT_RESERVE_S + planned_s / 2
    assert demo.retraining_share(trained, half) == pytest.approx(0.5)
    assert demo.retraining_share(trained, 3600) == demo.MAX_RETRAINING_SHARE  # spare time
    assert demo.retraining_share(trained, 0) == 0.2  # late: still a little retraining
