"""CIFAR-10 binary reader: folder and archive layouts, record validation, mocked download."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import squeezenet.data.cifar as cifar
import squeezenet.data.download as download_module
from squeezenet.data import CIFAR10_CLASSES, DatasetError, load_cifar10
from squeezenet.data.cifar import parse_cifar_batch
from squeezenet.data.download import md5sum


def test_record_layout(cifar_records):
    data, pixels = cifar_records([4, 2])
    images, labels = parse_cifar_batch(data, "mem")
    assert images.shape == (2, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64 and labels.tolist() == [4, 2]
    assert torch.equal(images, torch.from_numpy(pixels))
    # Channel-first on disk: byte 1 + 1024 is the first green pixel of record 0.
    assert images[0, 1, 0, 0] == data[1 + 1024]


@pytest.mark.parametrize("layout", ["batches", "parent", "archive", "archive_in_folder"])
def test_layouts(fake_cifar, tar_gz, tmp_path, layout):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    if layout.startswith("archive"):
        tar_gz(fake_cifar, archive)
    path = {
        "batches": fake_cifar,
        "parent": fake_cifar.parent,
        "archive": archive,
        "archive_in_folder": tmp_path,
    }[layout]
    train = load_cifar10("train", path, download=False)
    test = load_cifar10("test", path, download=False)
    assert train.images.shape == (10, 3, 32, 32) and len(test) == 3
    assert train.labels.tolist() == [0, 8, 1, 7, 2, 6, 3, 5, 4, 4]
    assert test.labels.tolist() == [3, 0, 9]
    assert test.class_names == list(CIFAR10_CLASSES) and test.name == "cifar10"
    expected = np.frombuffer((fake_cifar / "test_batch.bin").read_bytes(), np.uint8)
    assert torch.equal(
        test.images[2].flatten(), torch.from_numpy(expected[2 * 3073 + 1 : 3 * 3073].copy())
    )


def test_val_is_test(fake_cifar):
    assert load_cifar10("val", fake_cifar, download=False).labels.tolist() == [3, 0, 9]


def test_class_names_come_from_meta(fake_cifar):
    (fake_cifar / "batches.meta.txt").write_text("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n")
    assert load_cifar10("test", fake_cifar).class_names == list("abcdefghij")


def test_missing_meta_falls_back_to_standard_names(fake_cifar):
    (fake_cifar / "batches.meta.txt").unlink()
    assert load_cifar10("test", fake_cifar).class_names == list(CIFAR10_CLASSES)


def test_size_not_multiple_of_record(fake_cifar):
    path = fake_cifar / "test_batch.bin"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DatasetError, match=r"test_batch.bin has 9214 bytes.*3073"):
        load_cifar10("test", fake_cifar)


def test_empty_batch(fake_cifar):
    (fake_cifar / "test_batch.bin").write_bytes(b"")
    with pytest.raises(DatasetError, match="0 bytes"):
        load_cifar10("test", fake_cifar)


def test_label_out_of_range(fake_cifar, cifar_records):
    data, _ = cifar_records([1, 57])
    (fake_cifar / "test_batch.bin").write_bytes(data)
    with pytest.raises(DatasetError, match="record 1 has label 57.*10 classes"):
        load_cifar10("test", fake_cifar)


def test_missing_batch(fake_cifar):
    (fake_cifar / "data_batch_3.bin").unlink()
    with pytest.raises(DatasetError, match="lacks data_batch_3.bin"):
        load_cifar10("train", fake_cifar)


def test_corrupt_archive(tmp_path):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00garbage" * 10)
    with pytest.raises(DatasetError, match="not a readable CIFAR-10 tar archive"):
        load_cifar10("test", archive)


def test_missing_archive_path(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_cifar10("test", tmp_path / "nope.tar.gz")


def test_nothing_found_and_download_disabled(tmp_path):
    with pytest.raises(DatasetError, match=r"not found in .*empty.*downloads are disabled.*kriz"):
        load_cifar10("test", tmp_path / "empty", download=False)


def test_download_to_cache(fake_cifar, tar_gz, tmp_path, monkeypatch, isolated_cache):
    archive = tar_gz(fake_cifar, tmp_path / "served.tar.gz")
    requested = []

    def opener(url, timeout=None):
        requested.append(url)
        return io.BytesIO(archive.read_bytes())

    monkeypatch.setattr(download_module, "_urlopen", opener)
    monkeypatch.setattr(cifar, "CIFAR10_MD5", md5sum(archive))
    assert load_cifar10("test").labels.tolist() == [3, 0, 9]
    assert requested == [cifar.CIFAR10_URL]
    assert (isolated_cache / "cifar10" / "cifar-10-binary.tar.gz").is_file()
    assert len(load_cifar10("train")) == 10 and len(requested) == 1  # reused, not re-fetched


def test_download_checksum_mismatch(fake_cifar, tar_gz, tmp_path, monkeypatch):
    archive = tar_gz(fake_cifar, tmp_path / "served.tar.gz")
    monkeypatch.setattr(
        download_module, "_urlopen", lambda url, timeout=None: io.BytesIO(archive.read_bytes())
    )
    with pytest.raises(DatasetError, match="checksum mismatch.*c32a1d4ab5d03f1284b67883e8d87530"):
        load_cifar10("test", tmp_path / "dl")
    assert list((tmp_path / "dl").iterdir()) == []
