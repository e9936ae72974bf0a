"""MNIST / Fashion-MNIST: local search order and the (mocked) download path."""

from __future__ import annotations

import dataclasses
import io
import os
import stat
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

import squeezenet.data.download as download_module
import squeezenet.data.mnist as mnist
from squeezenet.data import DatasetError, load_fashion_mnist, load_mnist
from squeezenet.data.download import md5sum


def _spec(server: Path | None = None, md5: dict[str, str] | None = None, **kw):
    """FASHION_MNIST without its system folder (so the installed package is not seen)."""
    base = server.as_uri() + "/" if server is not None else mnist.FASHION_MNIST.base_url
    return dataclasses.replace(
        mnist.FASHION_MNIST, base_url=base, md5=md5 or mnist.FASHION_MNIST.md5, system_dirs=(), **kw
    )


@pytest.fixture
def server(tmp_path, fake_mnist):
    """A folder of .gz files served through file:// URLs, and their real checksums."""
    folder = tmp_path / "server"
    arrays = fake_mnist(folder)
    md5 = {stem: md5sum(folder / f"{stem}.gz") for stem in arrays}
    return folder, md5, arrays


@pytest.fixture
def real_opener(monkeypatch):
    """Re-enable urllib for file:// URLs only."""

    def opener(url, timeout=None):
        assert url.startswith("file://"), url
        return urllib.request.urlopen(url, timeout=timeout)

    monkeypatch.setattr(download_module, "_urlopen", opener)


@pytest.mark.parametrize("gz", [True, False])
def test_loads_from_data_dir(tmp_path, fake_mnist, gz):
    arrays = fake_mnist(tmp_path / "d", gz=gz)
    ds = mnist.load_idx_dataset(_spec(), "train", data_dir=tmp_path / "d", download=False)
    assert ds.images.shape == (5, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert torch.equal(ds.images[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"]))
    assert ds.labels.tolist() == [0, 1, 2, 9, 4]
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert ds.name == "fashion-mnist"


@pytest.mark.parametrize("split", ["test", "val"])
def test_test_and_val_read_t10k(tmp_path, fake_mnist, split):
    fake_mnist(tmp_path / "d")
    ds = mnist.load_idx_dataset(_spec(), split, data_dir=tmp_path / "d", download=False)
    assert ds.labels.tolist() == [7, 8, 9]


def test_search_order_data_dir_then_system_then_cache(
    tmp_path, fake_mnist, write_idx, isolated_cache
):
    def make(folder, label):
        fake_mnist(folder)
        write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(3, label, np.uint8), gz=True)

    make(tmp_path / "system", 1)
    make(isolated_cache / "fashion-mnist", 2)
    spec = dataclasses.replace(_spec(), system_dirs=(tmp_path / "system",))
    assert mnist.load_idx_dataset(spec, "test", download=False).labels.tolist() == [1, 1, 1]
    make(tmp_path / "mine", 3)
    got = mnist.load_idx_dataset(spec, "test", data_dir=tmp_path / "mine", download=False)
    assert got.labels.tolist() == [3, 3, 3]
    no_system = dataclasses.replace(spec, system_dirs=())
    assert mnist.load_idx_dataset(no_system, "test", download=False).labels.tolist() == [2, 2, 2]


def test_download_into_cache_then_reuse(server, real_opener, isolated_cache, monkeypatch):
    folder, md5, arrays = server
    ds = mnist.load_idx_dataset(_spec(folder, md5), "train")
    cached = isolated_cache / "fashion-mnist"
    assert sorted(p.name for p in cached.iterdir()) == [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ]
    assert ds.labels.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    # as open() makes a file (0o666 less the umask), not mkstemp's owner-only 0o600
    umask = os.umask(0o022)
    os.umask(umask)
    mode = stat.S_IMODE((cached / "train-images-idx3-ubyte.gz").stat().st_mode)
    assert mode == 0o666 & ~umask

    def fail(*args, **kwargs):
        raise AssertionError("should have used the cache")

    monkeypatch.setattr(download_module, "_urlopen", fail)
    assert len(mnist.load_idx_dataset(_spec(folder, md5), "train")) == 5


def test_download_goes_to_data_dir_when_given(server, real_opener, tmp_path):
    folder, md5, _ = server
    mnist.load_idx_dataset(_spec(folder, md5), "test", data_dir=tmp_path / "mine")
    assert (tmp_path / "mine" / "t10k-images-idx3-ubyte.gz").is_file()


def test_checksum_mismatch_deletes_temp_file(server, real_opener, isolated_cache):
    folder, md5, _ = server
    bad = {**md5, "train-images-idx3-ubyte": "0" * 32}
    with pytest.raises(DatasetError) as info:
        mnist.load_idx_dataset(_spec(folder, bad), "train")
    message = str(info.value)
    assert "checksum mismatch" in message and "0" * 32 in message and "deleted" in message
    assert list((isolated_cache / "fashion-mnist").iterdir()) == []  # no .part, no file


def test_offline_message_says_how_to_fix(monkeypatch, isolated_cache):
    def offline(url, timeout=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(download_module, "_urlopen", offline)
    monkeypatch.setattr(mnist, "FASHION_MNIST", _spec())
    with pytest.raises(DatasetError) as info:
        load_fashion_mnist("train")
    message = str(info.value)
    assert "name resolution" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz" in message
    assert "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" in message
    assert str(isolated_cache / "fashion-mnist") in message
    assert "--data-dir" in message
    assert not any((isolated_cache / "fashion-mnist").iterdir())


def test_download_disabled(tmp_path):
    with pytest.raises(DatasetError, match="downloads are disabled"):
        mnist.load_idx_dataset(_spec(), "train", data_dir=tmp_path / "empty", download=False)


def test_official_urls_and_checksums_are_used(monkeypatch, server, isolated_cache):
    """A mocked opener sees the official MNIST URL; our fake files get the real MD5 check."""
    folder, md5, _ = server
    requested = []

    def opener(url, timeout=None):
        requested.append(url)
        return io.BytesIO((folder / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(download_module, "_urlopen", opener)
    with pytest.raises(DatasetError, match="checksum mismatch.*f68b3c2dcbeaaa9fbdd348bbdeb94873"):
        load_mnist("train")
    assert requested == ["https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz"]
    monkeypatch.setattr(mnist, "MNIST", dataclasses.replace(mnist.MNIST, md5=md5))
    ds = load_mnist("test")
    assert ds.class_names == [str(d) for d in range(10)] and ds.name == "mnist"


def test_count_mismatch_between_images_and_labels(tmp_path, fake_mnist, write_idx):
    fake_mnist(tmp_path / "d")
    write_idx(tmp_path / "d" / "train-labels-idx1-ubyte.gz", np.zeros(4, np.uint8), gz=True)
    with pytest.raises(DatasetError, match="5 images but .* 4 labels"):
        mnist.load_idx_dataset(_spec(), "train", data_dir=tmp_path / "d", download=False)


def test_unknown_split(tmp_path):
    with pytest.raises(DatasetError, match="unknown split 'validation'"):
        mnist.load_idx_dataset(_spec(), "validation", data_dir=tmp_path)
