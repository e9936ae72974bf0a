"""Transfer learning (`TrainConfig.weights`, `freeze`) and TensorBoard logging (`logger`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from squeezenet import create_model, load_model, save_model
from squeezenet.engine import TrainConfig, fit
from squeezenet.meta import ModelMeta, Preprocessing

CLASSES = ("ant", "bee", "cat")


def write_class_folder(root: Path, per_class: int = 8, size: int = 40) -> Path:
    """train/ and val/ with three classes of random colour-tinted images."""
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("val", 2)):
        for c, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 128, (size, size, 3), dtype=np.uint8)
                pixels[..., c] += 100  # a class is a colour: learnable in a few steps
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def saved_start(tmp_path: Path) -> Path:
    """A small trained-looking model with its own preprocessing and 5 classes."""
    model = create_model("squeezenet1_1", num_classes=5, small_input=True, batch_norm=True)
    pre = Preprocessing(input_size=32, resize_size=36, mean=(0.4, 0.5, 0.6), std=(0.2,) * 3)
    model.meta = ModelMeta(class_names=tuple("vwxyz"), preprocessing=pre)
    return save_model(model, tmp_path / "start.safetensors")


def transfer_config(tmp_path: Path, **overrides) -> TrainConfig:
    settings = dict(
        weights=str(saved_start(tmp_path)),
        data=f"folder:{write_class_folder(tmp_path / 'img')}",
        out=str(tmp_path / "run"),
        epochs=2,
        batch_size=8,
        lr=0.05,
        warmup_epochs=0,
        augment="flip",
        progress=False,
        amp="none",
        seed=1,
    )
    return TrainConfig(**{**settings, **overrides})


def features_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if k.startswith("features.")}


def test_frozen_features_stay_bit_identical_and_the_head_learns_the_new_classes(
    tmp_path: Path,
) -> None:
    config = transfer_config(tmp_path, freeze="features")
    start = load_model(config.weights)
    result = fit(config)
    tuned = load_model(result.run_dir / "weights" / "last.safetensors")
    before, after = features_state(start), features_state(tuned)
    assert before.keys() == after.keys()
    for key, value in before.items():  # weights and BatchNorm running statistics alike
        assert torch.equal(value, after[key]), key
    assert tuned.config.num_classes == 3 and tuned.meta.class_names == CLASSES
    assert not torch.equal(tuned.classifier[1].bias, torch.zeros(3))  # the head did train
    assert tuned.meta.preprocessing == start.meta.preprocessing  # read as the weights were
    saved = json.loads((result.run_dir / "config.json").read_text())
    assert saved["weights"] == config.weights and saved["freeze"] == "features"
    assert saved["model"] == "squeezenet1_1"
    state = torch.load(result.run_dir / "checkpoint.pt", weights_only=True)
    held = [p for group in state["optimizer"]["param_groups"] for p in group["params"]]
    assert len(held) == 2  # conv10's weight and bias only


def test_without_freeze_every_layer_trains(tmp_path: Path) -> None:
    config = transfer_config(tmp_path, epochs=1)
    start = load_model(config.weights)
    tuned = load_model(fit(config).run_dir)
    assert not torch.equal(start.features[0].weight, tuned.features[0].weight)


def test_transfer_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="freeze='features' needs weights"):
        TrainConfig(freeze="features")
    with pytest.raises(ValueError, match="invalid freeze 'classifier'"):
        TrainConfig(weights="imagenet", freeze="classifier")
    with pytest.raises(ValueError, match="model_kwargs \\['batch_norm'\\] do not apply"):
        TrainConfig(weights="imagenet", model_kwargs={"batch_norm": True})
    with pytest.raises(ValueError, match="invalid logger 'wandb'"):
        TrainConfig(logger="wandb")


def test_tensorboard_event_files_hold_the_logged_scalars(tmp_path: Path) -> None:
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator"
    )
    config = transfer_config(tmp_path, logger="tensorboard", freeze="features")
    result = fit(config)
    assert list(result.run_dir.glob("events.out.tfevents.*"))
    events = event_accumulator.EventAccumulator(str(result.run_dir))
    events.Reload()
    steps_per_epoch = (len(CLASSES) * 8) // config.batch_size
    scalars = events.Tags()["scalars"]
    for tag in ("train/loss", "train/top1", "train/lr"):
        assert [e.step for e in events.Scalars(tag)] == list(range(1, 2 * steps_per_epoch + 1))
    for tag in ("epoch/train_loss", "epoch/val_loss", "epoch/val_top1", "epoch/lr"):
        assert tag in scalars and [e.step for e in events.Scalars(tag)] == [1, 2]
    history = result.history
    got = [e.value for e in events.Scalars("epoch/val_top1")]
    assert got == pytest.approx([row["val_top1"] for row in history])
    assert [e.step for e in events.Scalars("val/loss")] == [steps_per_epoch, 2 * steps_per_epoch]


def test_fine_tuning_the_imagenet_weights_onto_three_classes_trains_only_the_head(
    tmp_path: Path,
) -> None:
    """The shipped ImageNet SqueezeNet 1.0 (Caffe preprocessing: BGR, 0-255, warp) on a
    generated 3-class folder, read at 64 pixels to stay fast."""
    start = load_model("imagenet")
    config = TrainConfig(
        weights="imagenet",
        freeze="features",
        image_size=64,
        epochs=1,
        batch_size=8,
        lr=0.01,
        data=f"folder:{write_class_folder(tmp_path / 'img', size=80)}",
        augment="none",
        out=str(tmp_path / "run"),
        warmup_epochs=0,
        progress=False,
        amp="none",
    )
    tuned = load_model(fit(config).run_dir / "weights" / "last.safetensors")
    for key, value in features_state(start).items():
        assert torch.equal(value, tuned.state_dict()[key]), key
    assert tuned.config.name == "squeezenet1_0" and tuned.meta.class_names == CLASSES
    assert tuned.meta.preprocessing == start.meta.preprocessing.at_size(64)
    assert tuned.meta.provenance == start.meta.provenance  # the licence travels with them


def test_without_tensorboard_installed_the_logger_is_one_line(tmp_path: Path, monkeypatch) -> None:
    from squeezenet.engine.logger import open_logger

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import now fails
    with pytest.raises(ValueError, match=r"pip install 'squeezenet\[tensorboard\]'"):
        open_logger("tensorboard", tmp_path)
    assert open_logger(None, tmp_path) is None and list(tmp_path.iterdir()) == []
