"""InMemoryDataset validation, load_dataset spec parsing, compute_mean_std."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import squeezenet.data.base as base_module
import squeezenet.data.mnist as mnist
from squeezenet.data import DatasetError, InMemoryDataset, compute_mean_std, load_dataset


def _ds(n=4, classes=3, **overrides):
    fields = {
        "images": torch.zeros(n, 1, 2, 2, dtype=torch.uint8),
        "labels": torch.arange(n, dtype=torch.int64) % classes,
        "class_names": [str(i) for i in range(classes)],
        "name": "toy",
    }
    return InMemoryDataset(**{**fields, **overrides})


def test_in_memory_dataset_basics():
    ds = _ds()
    assert len(ds) == 4 and ds.num_classes == 3 and ds.image_shape == (1, 2, 2)
    sub = ds.subset(torch.tensor([3, 1]))
    assert sub.labels.tolist() == [0, 1] and sub.name == "toy"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"images": torch.zeros(4, 1, 2, 2)}, "uint8 tensor, got torch.float32"),
        (
            {"images": torch.zeros(4, 2, 2, dtype=torch.uint8)},
            r"\(N, C, H, W\), got shape \(4, 2, 2\)",
        ),
        ({"labels": torch.zeros(4, dtype=torch.int32)}, "int64 tensor, got torch.int32"),
        ({"labels": torch.zeros(3, dtype=torch.int64)}, r"4 images but labels have shape \(3,\)"),
        ({"labels": torch.tensor([0, 1, 2, 3])}, r"labels span 0\.\.3 but there are 3 classes"),
        ({"class_names": []}, "class_names is empty"),
    ],
)
def test_in_memory_dataset_validation(overrides, message):
    with pytest.raises(DatasetError, match=message):
        _ds(**overrides)


def test_unknown_spec_lists_valid_forms():
    with pytest.raises(DatasetError) as info:
        load_dataset("imagenet", "train")
    message = str(info.value)
    assert "'imagenet'" in message
    for form in ("fashion-mnist", "mnist", "cifar10:PATH", "folder:PATH"):
        assert form in message


@pytest.mark.parametrize("spec", ["folder:", "mnist:/x"])
def test_malformed_specs(spec):
    with pytest.raises(DatasetError, match="unknown dataset spec"):
        load_dataset(spec, "train")


def test_bad_split_and_size():
    with pytest.raises(DatasetError, match="unknown split 'dev'"):
        load_dataset("mnist", "dev")
    with pytest.raises(DatasetError, match="positive integer, got 0"):
        load_dataset("mnist", "train", image_size=0)


def test_folder_needs_image_size(tmp_path):
    with pytest.raises(DatasetError, match="needs an image size"):
        load_dataset(f"folder:{tmp_path}", "train")


def test_idx_specs_and_resize(tmp_path, fake_mnist, monkeypatch):
    monkeypatch.setattr(
        mnist, "FASHION_MNIST", dataclasses.replace(mnist.FASHION_MNIST, system_dirs=())
    )
    fake_mnist(tmp_path / "d")
    ds = load_dataset("fashion-mnist", "train", data_dir=tmp_path / "d", download=False)
    assert ds.images.shape == (5, 1, 28, 28) and ds.name == "fashion-mnist"
    big = load_dataset("mnist", "test", data_dir=tmp_path / "d", download=False, image_size=40)
    assert big.images.shape == (3, 1, 40, 40) and big.images.dtype == torch.uint8
    assert big.name == "mnist"
    sample = load_dataset(
        "fashion-mnist", "train", data_dir=tmp_path / "d", download=False, max_images=2
    )
    assert len(sample) == 2
    assert any(torch.equal(sample.images[0], image) for image in ds.images)
    with pytest.raises(DatasetError, match="max_images must be a positive integer"):
        load_dataset("fashion-mnist", "train", data_dir=tmp_path / "d", max_images=0)


def test_cifar_spec_with_and_without_path(fake_cifar, isolated_cache):
    assert len(load_dataset(f"cifar10:{fake_cifar}", "test", download=False)) == 3
    assert load_dataset(f"cifar10:{fake_cifar}", "train", image_size=16).images.shape == (
        10,
        3,
        16,
        16,
    )
    (isolated_cache / "cifar10").mkdir(parents=True)
    fake_cifar.rename(isolated_cache / "cifar10" / fake_cifar.name)
    assert len(load_dataset("cifar10", "val", download=False)) == 3


def test_compute_mean_std_matches_direct_computation(monkeypatch):
    monkeypatch.setattr(base_module, "_CHUNK", 3)  # force several chunks
    images = torch.randint(
        0, 256, (10, 3, 5, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    mean, std = compute_mean_std(images)
    x = images.double() / 255
    assert torch.allclose(torch.tensor(mean, dtype=torch.float64), x.mean(dim=(0, 2, 3)))
    assert torch.allclose(
        torch.tensor(std, dtype=torch.float64), x.std(dim=(0, 2, 3), unbiased=False)
    )
    assert len(mean) == 3 and all(isinstance(v, float) for v in mean + std)


def test_compute_mean_std_constant_and_errors():
    mean, std = compute_mean_std(torch.full((2, 1, 3, 3), 51, dtype=torch.uint8))
    assert mean == pytest.approx((0.2,)) and std == pytest.approx((0.0,), abs=1e-7)
    with pytest.raises(DatasetError, match="non-empty uint8"):
        compute_mean_std(torch.zeros(2, 1, 3, 3))
