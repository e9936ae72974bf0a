"""Training: loss goes down, runs resume exactly, NaN stops cleanly, files are complete."""

from __future__ import annotations

import dataclasses
import errno
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from squeezenet import CheckpointError, create_model, load_model
from squeezenet.data import BatchLoader, InMemoryDataset, Normalize
from squeezenet.engine import (
    NonFiniteLossError,
    TrainConfig,
    build_optimizer,
    fit,
    load_run_config,
    train_one_epoch,
)
from squeezenet.engine.recipes import RECIPES, recipe
from squeezenet.engine.run import RunDir
from squeezenet.files import WriteError


def tiny_config(data_dir: Path, out: Path, **overrides) -> TrainConfig:
    settings = dict(
        model="squeezenet1_1",
        model_kwargs={"batch_norm": True, "dropout": 0.3},
        data="fashion-mnist",
        data_dir=str(data_dir),
        out=str(out),
        epochs=3,
        batch_size=16,
        lr=0.05,
        warmup_epochs=0.5,
        progress=False,
        seed=3,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def test_a_few_steps_lower_the_loss() -> None:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(32) % 4
    images = torch.randint(0, 50, (32, 1, 28, 28), generator=g, dtype=torch.uint8)
    for i, y in enumerate(labels):
        images[i, 0, 6 * y : 6 * y + 5] = 230
    data = InMemoryDataset(images, labels, ["a", "b", "c", "d"], "toy")
    loader = BatchLoader(data, 32, shuffle=False, augment=None, normalize=Normalize([0.2], [0.3]))
    model = create_model(
        "squeezenet1_1",
        num_classes=4,
        in_channels=1,
        small_input=True,
        batch_norm=True,
        classifier_relu=False,
    )
    opt = build_optimizer(model, "sgd", 0.05)
    first = train_one_epoch(model, loader, opt)["train_loss"]
    for _ in range(15):
        last = train_one_epoch(model, loader, opt)["train_loss"]
    assert last < 0.5 * first


def test_run_folder_has_every_file(tiny_fashion: Path, tmp_path: Path) -> None:
    result = fit(tiny_config(tiny_fashion, tmp_path / "run", epochs=2))
    run = RunDir(result.run_dir)
    for path in (
        run.config,
        run.metrics,
        run.curves,
        run.confusion,
        run.best,
        run.last,
        run.checkpoint,
        run.results,
    ):
        assert path.is_file() and path.stat().st_size > 0, path
    assert run.curves.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = run.metrics.read_text().strip().splitlines()
    assert rows[0].startswith("epoch,lr,train_loss") and len(rows) == 3
    assert result.final_top1 == pytest.approx(float(rows[-1].split(",")[5]), rel=1e-5)  # val_top1
    assert result.best_eval is not None and result.best_eval.top1 == pytest.approx(result.best_top1)
    results = json.loads(run.results.read_text())  # validated on test: "best" is test-picked
    assert results["final"]["top1"] == pytest.approx(result.final_top1)
    assert results["best"]["top1"] == pytest.approx(result.best_top1)
    assert results["val_split"] == "test" and results["epochs"] == 2
    state = torch.load(run.checkpoint, weights_only=True)  # plain types and tensors only
    assert state["epoch"] == 2
    model = load_model(result.run_dir)
    assert model.meta.class_names[0] == "T-shirt/top" and model.meta.preprocessing.input_size == 28
    assert model.meta.dataset == "fashion-mnist"
    assert not any(p.name.endswith(".tmp") for p in run.root.rglob("*"))
    # The checkpoint loads as the very model trained (a small-input stem, which its tensor
    # shapes alone would read as the 224-pixel one), with its preprocessing.
    last, from_checkpoint = load_model(run.last), load_model(run.checkpoint)
    assert from_checkpoint.config == last.config and from_checkpoint.config.small_input
    assert from_checkpoint.meta == last.meta
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(from_checkpoint(x), last(x))
    del state["model_config"]  # as written before the config was stored
    torch.save(state, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="load its run folder"):
        load_model(tmp_path / "old.pt")


def test_resume_gives_identical_weights(tiny_fashion: Path, tmp_path: Path) -> None:
    fit(tiny_config(tiny_fashion, tmp_path / "straight"))

    def stop_after_two(state: dict) -> None:
        if state["epoch"] == 2:
            raise KeyboardInterrupt

    config = tiny_config(tiny_fashion, tmp_path / "stopped")
    with pytest.raises(KeyboardInterrupt):
        fit(config, hooks=[stop_after_two])
    assert torch.load(RunDir(config.out).checkpoint, weights_only=True)["epoch"] == 2
    # A stopped run may be moved before it is resumed: it continues where it now is.
    moved = shutil.move(tmp_path / "stopped", tmp_path / "moved")
    fit(load_run_config(moved), resume=True)
    a = load_file(tmp_path / "straight" / "weights" / "last.safetensors")
    b = load_file(tmp_path / "moved" / "weights" / "last.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    rows = (tmp_path / "moved" / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 4 and not (tmp_path / "stopped").exists()


def test_resume_refuses_changed_settings(tiny_fashion: Path, tmp_path: Path) -> None:
    fit(tiny_config(tiny_fashion, tmp_path / "run", epochs=1))
    with pytest.raises(ValueError, match="lr=0.05 -> 0.5"):
        fit(tiny_config(tiny_fashion, tmp_path / "run", epochs=1, lr=0.5), resume=True)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        fit(tiny_config(tiny_fashion, tmp_path / "fresh"), resume=True)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tiny_fashion: Path, tmp_path: Path) -> None:
    def poison(state: dict) -> None:
        if state["epoch"] == 1:
            with torch.no_grad():
                state["model"].features[0].weight.fill_(float("nan"))

    config = tiny_config(tiny_fashion, tmp_path / "run")
    with pytest.raises(NonFiniteLossError, match="loss is nan"):
        fit(config, hooks=[poison])
    run = RunDir(config.out)
    state = torch.load(run.checkpoint, weights_only=True)
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert len(run.metrics.read_text().strip().splitlines()) == 2


def test_diverged_epoch_end_stops_before_overwriting_the_checkpoint(
    tiny_fashion: Path, tmp_path: Path, monkeypatch
) -> None:
    """Weights that went non-finite in an epoch's last steps show only in validation."""
    from squeezenet.engine import epochs as epochs_module

    real_evaluate, calls = epochs_module.evaluate, []

    def evaluate(*args, **kwargs):
        result = real_evaluate(*args, **kwargs)
        calls.append(1)
        return dataclasses.replace(result, loss=float("nan")) if len(calls) == 2 else result

    monkeypatch.setattr(epochs_module, "evaluate", evaluate)
    config = tiny_config(tiny_fashion, tmp_path / "run")
    run, saved = RunDir(config.out), {}

    def keep_epoch_one(state: dict) -> None:
        if state["epoch"] == 1:
            saved["last"] = run.last.read_bytes()

    with pytest.raises(NonFiniteLossError, match="validation loss is nan after epoch 2"):
        fit(config, hooks=[keep_epoch_one])
    assert torch.load(run.checkpoint, weights_only=True)["epoch"] == 1
    assert run.last.read_bytes() == saved["last"]


def test_image_folder_with_only_train_holds_out_validation_and_counts_bad_files(
    tmp_path: Path, capsys
) -> None:
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for name in ("cat", "dog"):
        (tmp_path / "data" / "train" / name).mkdir(parents=True)
        for i in range(8):
            pixels = torch.randint(0, 256, (32, 32, 3), dtype=torch.uint8, generator=g).numpy()
            Image.fromarray(pixels).save(tmp_path / "data" / "train" / name / f"{i}.png")
    bad = tmp_path / "data" / "train" / "dog" / "8.png"
    bad.write_bytes((tmp_path / "data" / "train" / "dog" / "0.png").read_bytes()[:60])  # truncated
    config = tiny_config(
        tmp_path,
        tmp_path / "run",
        data=f"folder:{tmp_path / 'data'}",
        image_size=32,
        val_fraction=0.25,
        epochs=1,
        batch_size=4,
        skip_bad_images=True,
    )
    # Without a held-out fraction, the folder's only split would be validated on.
    for kind in ("folder", "Folder"):  # the kind is read case-blind, as load_dataset reads it
        with pytest.raises(ValueError, match="no train/ and val/ .* pass --val-fraction"):
            flat = f"{kind}:{tmp_path / 'data' / 'train'}"
            fit(dataclasses.replace(config, data=flat, val_fraction=0.0))
    result = fit(config)  # there is no test/ or val/ folder: it must not be read
    assert result.best_eval is not None and result.best_eval.n == 4  # a quarter of 16 good files
    assert json.loads(RunDir(result.run_dir).results.read_text())["skipped_images"] == [str(bad)]
    printed = capsys.readouterr().out
    assert f"skipped 1 undecodable images (--skip-bad-images), e.g. {bad}" in printed


def test_interrupted_checkpoint_write_keeps_the_old_file(
    tiny_fashion: Path, tmp_path: Path, monkeypatch
) -> None:
    config = tiny_config(tiny_fashion, tmp_path / "run", epochs=1)
    fit(config)
    run = RunDir(config.out)
    before = run.checkpoint.read_bytes()

    real_write_bytes = Path.write_bytes

    def disk_full(path: Path, data) -> int:  # half the bytes land, then the disk is full
        real_write_bytes(path, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    with pytest.raises(WriteError) as info:  # torch.save's own writer said "basic_ios::clear"
        run.save_checkpoint({"epoch": 99})
    assert str(info.value) == f"cannot write {run.checkpoint}: No space left on device"
    assert run.checkpoint.read_bytes() == before
    assert not list(run.root.glob(".checkpoint.pt.*"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"epochs": 0}, "invalid epochs"),
        ({"augment": "twirl"}, "invalid augment 'twirl'"),
        ({"lr": -1.0}, "invalid lr"),
        ({"schedule": "linear"}, "invalid schedule"),
        ({"device": "gpu"}, "invalid device 'gpu'; choose auto, cpu, cuda or cuda:N"),
        ({"eval_batch_size": 0}, "invalid eval_batch_size"),
    ],
)
def test_invalid_settings(overrides: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message):
        tiny_config(tmp_path, tmp_path / "run", **overrides)


@pytest.mark.parametrize("kind", ["flip", "crop-flip", "crop-flip-erase", "rrc-flip"])
def test_every_augment_keeps_shape_dtype_and_range(kind: str) -> None:
    from squeezenet.engine import build_augment

    images = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8)
    out = build_augment(kind, 28)(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert not torch.equal(out, images)  # something random happened to 8 images


def test_unknown_augment_is_refused_not_read_as_flip() -> None:
    from squeezenet.engine import build_augment

    with pytest.raises(ValueError, match="invalid augment 'crop-flip-eras'"):
        build_augment("crop-flip-eras", 28)


def test_cuda_without_cuda_and_uneven_ranks_fail_before_any_work(
    tmp_path: Path, monkeypatch
) -> None:
    from squeezenet.engine import distributed
    from squeezenet.engine import train as train_module

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device 'cuda': CUDA is not available here"):
        train_module.resolve_device("cuda")
    assert train_module.resolve_device("auto") == torch.device("cpu")
    # 16 images per global batch cannot be split evenly over 3 processes.
    monkeypatch.setattr(distributed, "setup", lambda: (0, 3))
    with pytest.raises(ValueError, match="batch_size 16 must be a multiple of the 3 processes"):
        fit(tiny_config(tmp_path / "no-data", tmp_path / "run"))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_builds_a_model_that_trains_on_fashion_mnist(name: str) -> None:
    """A recipe is a TrainConfig that validates, and its model runs forward and backward on
    Fashion-MNIST's 1x28x28 images (build_model adds the data's classes and channels)."""
    config = TrainConfig(**recipe(name))
    model = create_model(config.model, num_classes=10, in_channels=1, **config.model_kwargs)
    model(torch.randn(2, 1, 28, 28)).sum().backward()
    # Our Fashion-MNIST recipes stay within the 1.25M parameters the best recipe may use.
    assert sum(p.numel() for p in model.parameters()) <= 1_250_000


def test_a_second_run_of_the_same_command_never_overwrites_the_first(
    tiny_fashion: Path, tmp_path: Path
) -> None:
    config = tiny_config(tiny_fashion, tmp_path / "train", epochs=1)
    first = fit(config)
    first_weights = (first.run_dir / "weights" / "last.safetensors").read_bytes()
    second = fit(config)
    assert (first.run_dir, second.run_dir) == (tmp_path / "train", tmp_path / "train2")
    assert (first.run_dir / "weights" / "last.safetensors").read_bytes() == first_weights
    assert json.loads((second.run_dir / "config.json").read_text())["out"] == str(second.run_dir)
    for run in (first.run_dir, second.run_dir):
        assert "started" in json.loads((run / "config.json").read_text())
        assert "finished" in json.loads((run / "results.json").read_text())
    again = fit(dataclasses.replace(config, exist_ok=True))  # asked for: the folder is reused
    assert again.run_dir == tmp_path / "train"
