"""Saving, loading, torchvision checkpoints, clear errors, atomic writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import squeezenet
from squeezenet import CheckpointError, create_model, load_model, save_model
from squeezenet.files import atomic_path, atomic_write_bytes
from squeezenet.meta import IMAGENET_PREPROCESSING, ModelMeta

from .models.tv_reference import SqueezeNet as TorchvisionSqueezeNet


@pytest.mark.parametrize(("version", "name"), [("1_0", "squeezenet1_0"), ("1_1", "squeezenet1_1")])
@pytest.mark.parametrize("wrap", ["plain", "ddp", "compiled_in_dict"])
def test_torchvision_pth_loads_with_identical_logits(tmp_path: Path, version, name, wrap) -> None:
    reference = TorchvisionSqueezeNet(version).eval()
    state = reference.state_dict()
    if wrap == "ddp":
        state = {f"module.{k}": v for k, v in state.items()}
    elif wrap == "compiled_in_dict":
        state = {"state_dict": {f"_orig_mod.{k}": v for k, v in state.items()}, "epoch": 3}
    path = tmp_path / "tv.pth"
    torch.save(state, path)
    model = load_model(path)
    assert model.config.fires == squeezenet.get_model_config(name).fires
    assert model.config.pool_after == squeezenet.get_model_config(name).pool_after
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))
    assert model.meta.preprocessing == IMAGENET_PREPROCESSING


def test_pth_with_explicit_architecture_and_shape_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "ten.pth"
    torch.save(create_model("squeezenet1_1", num_classes=10).state_dict(), path)
    assert load_model(path, model="squeezenet1_1", num_classes=10).num_classes == 10
    with pytest.raises(
        CheckpointError, match=r"'classifier\.1\.weight' has shape \(10, 512, 1, 1\)"
    ):
        load_model(path, model="squeezenet1_1")
    with pytest.raises(CheckpointError, match=r"'features\.0\.weight' has shape"):
        load_model(path, model="squeezenet1_0", num_classes=10)


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": create_model("squeezenet1_1").state_dict(), "obj": Path("x")}, path)
    with pytest.raises(CheckpointError, match="weights-only"):
        load_model(path)


@pytest.mark.parametrize("name", ["squeezenet1_0_simple_bypass", "squeezenet1_1_complex_bypass"])
def test_safetensors_round_trip_keeps_architecture_and_meta(tmp_path: Path, name: str) -> None:
    model = create_model(name, num_classes=4, batch_norm=True, small_input=True).eval()
    path = save_model(model, tmp_path / "w.safetensors", meta={"class_names": list("abcd")})
    loaded = load_model(path)
    assert loaded.config == model.config
    assert loaded.meta == ModelMeta(class_names=("a", "b", "c", "d"))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert not loaded.training


def test_run_folder_prefers_best(tmp_path: Path) -> None:
    run = tmp_path / "run"
    best = create_model("squeezenet1_1", num_classes=3)
    save_model(best, run / "weights" / "best.safetensors")
    save_model(create_model("squeezenet1_1", num_classes=3), run / "weights" / "last.safetensors")
    loaded = load_model(run)
    assert torch.equal(loaded.features[0].weight, best.features[0].weight)
    with pytest.raises(CheckpointError, match="not a run folder"):
        load_model(tmp_path)


def test_corrupt_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_model(bad)
    with pytest.raises(FileNotFoundError, match="no such model"):
        load_model(tmp_path / "nope.safetensors")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"garbage")
    with pytest.raises(CheckpointError):
        load_model(junk)


def test_interrupted_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "file.bin"
    atomic_write_bytes(target, b"old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"half-writ")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]


def test_atomic_write_gives_normal_permissions_and_keeps_existing_ones(tmp_path: Path) -> None:
    import os
    import stat

    old_umask = os.umask(0o022)
    try:
        new = atomic_write_bytes(tmp_path / "new.bin", b"x")
        assert stat.S_IMODE(new.stat().st_mode) == 0o644  # as open() makes it, not mkstemp's 0o600
        kept = tmp_path / "kept.bin"
        kept.write_bytes(b"old")
        kept.chmod(0o640)
        atomic_write_bytes(kept, b"new")
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and kept.read_bytes() == b"new"
    finally:
        os.umask(old_umask)


def test_overrides_are_refused_for_files_that_store_their_architecture(tmp_path: Path) -> None:
    weights = save_model(create_model("squeezenet1_1", num_classes=3), tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match=r"config overrides \['small_input'\]"):
        load_model(weights, small_input=True)
    assert load_model(weights).num_classes == 3
    pth = tmp_path / "tv.pth"  # a torchvision layout: the architecture is inferred, overrides apply
    torch.save(create_model("squeezenet1_1", num_classes=3).state_dict(), pth)
    assert load_model(pth, dropout=0.2).config.dropout == 0.2
