"""ImageFolder scanning, split resolution, in-memory loading and the lazy Dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from squeezenet.data import (
    BadImageError,
    DatasetError,
    ImageFolderDataset,
    load_dataset,
    load_image_folder,
    resolve_split,
    scan_image_folder,
)


@pytest.fixture
def tree(tmp_path, save_image):
    """cat: PNG, upper-case JPG, RGBA; dog: grey JPEG, nested P, CMYK, 16-bit; plus noise."""
    root = tmp_path / "pets"
    save_image(root / "cat" / "a.png", Image.new("RGB", (20, 10), (255, 0, 0)))
    save_image(root / "cat" / "B.JPG", Image.new("RGB", (12, 16), (0, 255, 0)))
    save_image(root / "cat" / "c.png", Image.new("RGBA", (8, 8), (0, 0, 0, 0)))
    save_image(root / "dog" / "d.jpeg", Image.new("L", (9, 9), 128))
    save_image(root / "dog" / "sub" / "e.gif", Image.new("P", (10, 10)))
    save_image(root / "dog" / "f.tif", Image.new("CMYK", (10, 10), (0, 0, 0, 0)))
    save_image(root / "dog" / "g.png", Image.fromarray(np.full((10, 10), 65535, np.uint16)))
    # Ignored: hidden files and folders, non-image extensions, files beside class folders.
    save_image(root / "dog" / ".hidden.png", Image.new("RGB", (4, 4)))
    save_image(root / "dog" / ".cache" / "h.png", Image.new("RGB", (4, 4)))
    save_image(root / ".git" / "i.png", Image.new("RGB", (4, 4)))
    (root / "cat" / "notes.txt").write_text("x")
    (root / "README.md").write_text("x")
    return root


def test_scan_sorted_classes_and_filters(tree):
    samples, classes = scan_image_folder(tree)
    assert classes == ["cat", "dog"]
    names = [(p.relative_to(tree).as_posix(), label) for p, label in samples]
    assert names == [
        ("cat/B.JPG", 0),
        ("cat/a.png", 0),
        ("cat/c.png", 0),
        ("dog/d.jpeg", 1),
        ("dog/f.tif", 1),
        ("dog/g.png", 1),
        ("dog/sub/e.gif", 1),
    ]


def test_load_in_memory_converts_every_mode(tree):
    ds = load_image_folder(tree, 8, num_threads=2)
    assert ds.images.shape == (7, 3, 8, 8) and ds.images.dtype == torch.uint8
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert ds.class_names == ["cat", "dog"] and ds.name == "pets" and ds.num_skipped == 0
    assert ds.images[1, :, 4, 4].tolist() == [255, 0, 0]  # a.png, red
    assert ds.images[2].min() == 255  # transparent -> white
    assert (ds.images[4] >= 250).all()  # CMYK (0,0,0,0) is white
    assert (ds.images[5] == 255).all()  # 16-bit full scale -> 255, not clipped garbage


def test_max_images_decodes_only_a_seeded_sample_in_folder_order(tree, monkeypatch):
    """A few images of a huge folder (e.g. 512 of ImageNet to calibrate on) are decoded
    without touching the rest, and are drawn from every class, not the first ones listed."""
    import squeezenet.data.folder as folder_module

    decoded, real = [], folder_module._decode
    monkeypatch.setattr(
        folder_module, "_decode", lambda path, *a: decoded.append(path) or real(path, *a)
    )
    ds = load_image_folder(tree, 8, max_images=3, num_threads=1)
    assert len(ds) == 3 and len(decoded) == 3
    assert ds.labels.tolist() == sorted(ds.labels.tolist()) and set(ds.labels.tolist()) == {0, 1}
    again = load_image_folder(tree, 8, max_images=3, num_threads=1)
    assert torch.equal(again.images, ds.images)  # the same sample every time
    assert len(load_image_folder(tree, 8, max_images=100)) == 7  # more than there are: all


def test_in_memory_resize_is_shorter_side_then_center_crop(tmp_path, save_image):
    array = np.zeros((10, 30, 3), np.uint8)
    array[:, 10:20] = 255  # white centre third
    save_image(tmp_path / "r" / "c" / "x.png", Image.fromarray(array))
    ds = load_image_folder(tmp_path / "r", 10, num_threads=1)
    assert (ds.images[0] == 255).all()  # only the centre square survives the crop
    gray = load_image_folder(tmp_path / "r", 5, mode="L", resize_size=15, num_threads=1)
    assert gray.images.shape == (1, 1, 5, 5)


def test_warp_resize_keeps_the_whole_width(tmp_path, save_image):
    """Caffe's warp squeezes the 30x10 image to 10x10: the black sides stay in the crop."""
    array = np.zeros((10, 30, 3), np.uint8)
    array[:, 10:20] = 255
    save_image(tmp_path / "r" / "c" / "x.png", Image.fromarray(array))
    ds = load_image_folder(tmp_path / "r", 10, resize_mode="warp", num_threads=1)
    row = ds.images[0, 0, 5]
    assert row[0] < 30 and row[5] > 225 and row[9] < 30
    via_spec = load_dataset(f"folder:{tmp_path / 'r'}", "train", image_size=10, resize_mode="warp")
    assert torch.equal(via_spec.images, ds.images)


@pytest.fixture
def tree_with_bad(tree):
    (tree / "cat" / "zz_text.png").write_text("not an image")
    good = (tree / "cat" / "a.png").read_bytes()
    (tree / "dog" / "trunc.png").write_bytes(good[: len(good) // 2])
    return tree


def test_bad_image_raises_with_path(tree_with_bad):
    with pytest.raises(BadImageError, match=r"zz_text\.png|trunc\.png"):
        load_image_folder(tree_with_bad, 8, num_threads=2)


def test_skip_bad_images_counts_and_lists(tree_with_bad):
    ds = load_image_folder(tree_with_bad, 8, skip_bad_images=True, num_threads=2)
    assert len(ds) == 7 and ds.num_skipped == 2
    assert sorted(p.name for p in ds.skipped_paths) == ["trunc.png", "zz_text.png"]
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1, 1]


def test_all_bad_is_an_error(tmp_path):
    (tmp_path / "r" / "c").mkdir(parents=True)
    (tmp_path / "r" / "c" / "x.jpg").write_text("nope")
    with pytest.raises(DatasetError, match="all 1 images .* failed"):
        load_image_folder(tmp_path / "r", 8, skip_bad_images=True)


def test_empty_and_classless_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no class subfolders"):
        scan_image_folder(tmp_path / "empty")
    (tmp_path / "noimg" / "c").mkdir(parents=True)
    (tmp_path / "noimg" / "c" / "x.txt").write_text("x")
    with pytest.raises(DatasetError, match=r"no images under .*noimg \(looked for extensions"):
        scan_image_folder(tmp_path / "noimg")
    with pytest.raises(DatasetError, match="does not exist"):
        scan_image_folder(tmp_path / "missing")


@pytest.fixture
def split_tree(tmp_path, save_image):
    root = tmp_path / "imagenette"
    for split, classes in {"train": ["a", "b", "c"], "val": ["a", "c"]}.items():
        for c in classes:
            save_image(root / split / c / "x.png", Image.new("RGB", (6, 6), (ord(c), 0, 0)))
    return root


def test_split_layout_uses_train_class_names(split_tree):
    path, names = resolve_split(split_tree, "train")
    assert path == split_tree / "train" and names is None
    path, names = resolve_split(split_tree, "val")
    assert path == split_tree / "val" and names == ["a", "b", "c"]
    val = load_dataset(f"folder:{split_tree}", "val", image_size=4)
    assert val.labels.tolist() == [0, 2]  # "c" keeps label 2 though "b" is missing from val
    assert val.class_names == ["a", "b", "c"] and val.name == "imagenette"
    assert load_dataset(f"folder:{split_tree}", "test", image_size=4).labels.tolist() == [0, 2]


def test_test_folder_fallback_and_missing_split(tmp_path, save_image):
    root = tmp_path / "d"
    save_image(root / "train" / "a" / "x.png", Image.new("RGB", (4, 4)))
    with pytest.raises(DatasetError, match=r"split 'val' needs .*val or .*test"):
        resolve_split(root, "val")
    save_image(root / "test" / "a" / "y.png", Image.new("RGB", (4, 4)))
    assert resolve_split(root, "val")[0] == root / "test"


def test_flat_folder_serves_any_split(tree):
    assert resolve_split(tree, "val") == (tree, None)


def test_unknown_class_in_val(split_tree, save_image):
    save_image(split_tree / "val" / "zebra" / "x.png", Image.new("RGB", (4, 4)))
    with pytest.raises(DatasetError, match="'zebra'"):
        load_dataset(f"folder:{split_tree}", "val", image_size=4)


def test_lazy_dataset_with_dataloader(tree):
    ds = ImageFolderDataset(tree, 8)
    image, label = ds[0]
    assert image.shape == (3, 8, 8) and image.dtype == torch.uint8 and label == 0
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1, 1]
    images, labels = next(iter(DataLoader(ds, batch_size=7, num_workers=0)))
    assert images.shape == (7, 3, 8, 8) and labels.dtype == torch.int64
    assert torch.equal(images, load_image_folder(tree, 8, num_threads=1).images)


def test_lazy_dataset_transform(tree):
    ds = ImageFolderDataset(tree, transform=lambda img: img.size)
    assert ds[0] == ((12, 16), 0)
    with pytest.raises(ValueError, match="image_size or a transform"):
        ImageFolderDataset(tree)


def test_lazy_dataset_bad_images(tree_with_bad):
    strict = ImageFolderDataset(tree_with_bad, 8)
    bad_index = [p.name for p, _ in strict.samples].index("trunc.png")
    with pytest.raises(BadImageError, match="trunc.png"):
        strict[bad_index]
    lenient = ImageFolderDataset(tree_with_bad, 8, skip_bad_images=True)
    image, label = lenient[bad_index]  # replaced by the next good sample
    assert image.shape == (3, 8, 8) and lenient.num_skipped == 1
    lenient[bad_index]
    assert lenient.num_skipped == 1  # the same file is counted once
    assert lenient.verify(num_threads=2) == 2 and len(lenient) == 7
    assert sorted(p.name for p in lenient.skipped_paths) == ["trunc.png", "zz_text.png"]
    with pytest.raises(BadImageError):
        ImageFolderDataset(tree_with_bad, 8).verify()
