"""Images without labels: a flat folder (or any dataset, labels dropped) for INT8 calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from squeezenet.data import UNLABELLED, DatasetError, load_dataset, load_dataset_for_model
from squeezenet.meta import Preprocessing


def write_photos(root: Path, n: int, size: tuple[int, int] = (40, 30)) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / "nested" if i % 2 else root  # any layout: labels are not read from it
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"photo{i}.png")


def test_a_flat_folder_loads_as_unlabelled_images_at_the_models_size(tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 5)
    pre = Preprocessing(input_size=24, resize_size=32, mean=(0.5,) * 3, std=(0.25,) * 3)
    data = load_dataset_for_model(f"folder:{tmp_path / 'photos'}", "train", pre, labels=False)
    assert data.images.shape == (5, 3, 24, 24) and data.images.dtype == torch.uint8
    assert data.class_names == [UNLABELLED] and not data.labelled
    assert torch.equal(data.labels, torch.zeros(5, dtype=torch.int64))
    with pytest.raises(DatasetError, match="no class subfolders"):  # labelled: needs classes
        load_dataset_for_model(f"folder:{tmp_path / 'photos' / 'nested'}", "train", pre)


def test_labels_of_any_dataset_can_be_dropped(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_photos(tmp_path / "classes" / name, 2)
    spec = f"folder:{tmp_path / 'classes'}"
    labelled = load_dataset(spec, "train", image_size=16)
    unlabelled = load_dataset(spec, "train", image_size=16, labels=False)
    assert labelled.class_names == ["a", "b"] and labelled.labelled
    assert torch.equal(labelled.images, unlabelled.images) and not unlabelled.labelled


def test_an_empty_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images under"):
        load_dataset(f"folder:{tmp_path / 'empty'}", "train", image_size=16, labels=False)
