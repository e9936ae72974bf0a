"""`make demo`'s job, end to end on a tiny Fashion-MNIST-format dataset (one epoch)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from squeezenet import demo
from squeezenet.engine import FitResult
from squeezenet.engine.budget import reserve_seconds
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


def test_training_row_counts_a_partial_last_epoch_as_a_fraction(tmp_path: Path) -> None:
    def trained(epochs: float, begun: int) -> FitResult:
        return FitResult(tmp_path, 0.9, None, begun, 512.4, [], None, epochs)

    assert demo.describe_training(trained(161 / 16, 11)) == "10.06 epochs in 512 s"
    assert demo.describe_training(trained(12.0, 12)) == "12 epochs in 512 s"
    assert demo.describe_training(trained(1.0, 1)) == "1 epoch in 512 s"


def test_model_row_follows_the_config() -> None:
    plain = get_model_config("squeezenet1_0")
    assert demo.describe_model(plain, (3, 224, 224)) == "squeezenet1_0 (3x224x224)"
    small = get_model_config("squeezenet1_1", batch_norm=True, small_input=True)
    assert demo.describe_model(small, (1, 32, 32)) == (
        "squeezenet1_1 (BatchNorm, small-input stem, 1x32x32)"
    )


def test_the_demo_trains_until_its_deadline_less_the_work_after() -> None:
    # 15 minutes, 1 of them spent on set-up: training gets the rest but the export reserve
    # and the margin; compression's epochs are fit's own reserve (priced at its step time).
    left = 14 * 60
    expected = (left - demo.EXPORT_RESERVE_S - demo.DEADLINE_MARGIN_S) / 60
    assert demo.training_minutes(left) == pytest.approx(expected)
    assert demo.training_minutes(-60) == demo.MIN_TRAINING_MIN  # late: still trains a little


def test_the_demo_config_has_a_time_budget_and_a_reserve(tmp_path: Path, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(demo, "fit", calls.append)
    demo.train_step(tmp_path / "run", None, None, 10 * 60)
    config = calls[0]
    assert config.time == pytest.approx(demo.training_minutes(10 * 60))
    assert config.time_reserve == pytest.approx(demo.RETRAINING_EPOCHS * demo.RETRAINING_STEP_COST)
    assert config.amp == "auto"
    demo.train_step(tmp_path / "run", 3, None, 10 * 60)  # --epochs: a fixed length instead
    assert calls[1].time is None and calls[1].epochs == 3


def test_compression_retraining_scales_with_the_time_left() -> None:
    # 40 s of training steps an epoch (50,000 images at a mean 1,250 img/s); the epochs' wall
    # times include evaluation and are not the price.
    rows = [{"train_images_per_s": r, "epoch_time_s": 60.0} for r in (1500.0, 1000.0)]
    trained = SimpleNamespace(history=rows)
    planned_s = 40.0 * demo.RESERVE_EPOCHS
    half = demo.EXPORT_RESERVE_S + demo.DEADLINE_MARGIN_S + planned_s / 2
    assert demo.retraining_share(trained, 50_000, half) == pytest.approx(0.5)
    assert demo.retraining_share(trained, 50_000, 3600) == demo.MAX_RETRAINING_SHARE
    assert demo.retraining_share(trained, 50_000, 0) == 0.2  # late: still a little retraining


def test_compression_is_priced_as_fits_time_reserve() -> None:
    # The time fit kept back (its reserve at the run's step time) buys all the retraining.
    batch, rate, images = 128, 1250.0, 50_048
    reserve_s = reserve_seconds(demo.RESERVE_EPOCHS, images // batch, batch / rate, 1e6)
    trained = SimpleNamespace(history=[{"train_images_per_s": rate, "epoch_time_s": 99.0}])
    left = reserve_s + demo.EXPORT_RESERVE_S + demo.DEADLINE_MARGIN_S
    assert demo.retraining_share(trained, images, left) == pytest.approx(1.0)
    assert demo.retraining_share(trained, images, left - 10) < 1.0
