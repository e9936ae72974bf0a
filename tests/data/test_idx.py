"""IDX reader: happy paths (raw and gzipped) and every header/payload error."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from squeezenet.data import DatasetError, read_idx, read_idx_images, read_idx_labels


@pytest.mark.parametrize("gz", [False, True])
def test_reads_images_and_labels(tmp_path, write_idx, gz):
    images = np.arange(2 * 28 * 28, dtype=np.int64).reshape(2, 28, 28).astype(np.uint8)
    labels = np.array([3, 7], dtype=np.uint8)
    img_t = read_idx_images(write_idx(tmp_path / "i", images, gz=gz))
    lab_t = read_idx_labels(write_idx(tmp_path / "l", labels, gz=gz))
    assert img_t.shape == (2, 1, 28, 28) and img_t.dtype == torch.uint8
    assert torch.equal(img_t[:, 0], torch.from_numpy(images))
    assert lab_t.dtype == torch.int64 and lab_t.tolist() == [3, 7]


def test_gzip_detected_by_content_not_name(tmp_path, write_idx):
    labels = np.array([1, 2, 3], dtype=np.uint8)
    gz_without_suffix = write_idx(tmp_path / "labels", labels, gz=True)
    raw_with_suffix = write_idx(tmp_path / "labels.gz", labels, gz=False)
    assert read_idx_labels(gz_without_suffix).tolist() == [1, 2, 3]
    assert read_idx_labels(raw_with_suffix).tolist() == [1, 2, 3]


def test_generic_reader_handles_big_endian_types(tmp_path):
    values = np.array([[1, -2], [300, -30000]], dtype=">i2")
    header = (0x0B02).to_bytes(4, "big") + (2).to_bytes(4, "big") + (2).to_bytes(4, "big")
    path = tmp_path / "shorts"
    path.write_bytes(header + values.tobytes())
    out = read_idx(path)
    assert out.dtype == np.int16 and out.tolist() == [[1, -2], [300, -30000]]


def test_swapped_files_name_the_magic(tmp_path, write_idx):
    labels = write_idx(tmp_path / "train-labels", np.zeros(4, dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"train-labels.*0x00000801.*expected 0x00000803"):
        read_idx_images(labels)


def test_wrong_magic_prefix(tmp_path, write_idx):
    path = write_idx(tmp_path / "x", np.zeros((1, 2, 2), dtype=np.uint8), magic=0x12340803)
    with pytest.raises(DatasetError, match="0x12340803"):
        read_idx(path)


def test_unknown_type_code(tmp_path, write_idx):
    path = write_idx(tmp_path / "x", np.zeros(3, dtype=np.uint8), magic=0x00000A01)
    with pytest.raises(DatasetError, match="element type code 0x0A"):
        read_idx(path)


@pytest.mark.parametrize("delta", [-1, 1])
def test_payload_length_must_match_exactly(tmp_path, write_idx, delta):
    path = write_idx(tmp_path / "x", np.zeros((2, 28, 28), dtype=np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[:-1] if delta < 0 else data + b"\0")
    with pytest.raises(DatasetError, match=r"x has \d+ payload bytes .* needs 1568"):
        read_idx_images(path)


@pytest.mark.parametrize("content", [b"", b"\0\0\x08", b"\0\0\x08\x03\0\0\0\x01"])
def test_short_or_truncated_header(tmp_path, content):
    path = tmp_path / "hdr"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match="too short|truncated inside"):
        read_idx(path)


def test_corrupt_gzip(tmp_path, write_idx):
    path = write_idx(tmp_path / "x.gz", np.zeros(10, dtype=np.uint8), gz=True)
    path.write_bytes(path.read_bytes()[:15])
    with pytest.raises(DatasetError, match="corrupt or truncated gzip"):
        read_idx_labels(path)


def test_zero_dimensions(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(gzip.compress((0x0800).to_bytes(4, "big")))
    with pytest.raises(DatasetError, match="0 dimensions"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="cannot read IDX file .*nope"):
        read_idx_labels(tmp_path / "nope")
