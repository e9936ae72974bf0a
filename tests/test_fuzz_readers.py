"""Fuzzing the `.sqz` and IDX file readers: random bytes and mutations of a valid small file
(with the `.sqz` checksum recomputed, so mutations reach the header and payload parsers) end
in the reader's own format error, never another exception. Kept to seconds."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import squeezenet
from squeezenet.compress.format import SqzFormatError, encode_model, load_sqz
from squeezenet.compress.reader import CHECKSUM
from squeezenet.data import DatasetError
from squeezenet.data.idx import read_idx

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _valid_sqz() -> bytes:
    design = {"base_e": 32, "incr_e": 32, "sr": 0.25, "layout": "squeezenet1_1"}
    model = squeezenet.create_model("squeezenet_design", num_classes=3, small_input=True, **design)
    return encode_model(model.eval())


SQZ = _valid_sqz()
IDX = struct.pack(">I", 0x00000803) + struct.pack(">III", 3, 4, 5) + bytes(range(60))


@st.composite
def mutations(draw, data: bytes) -> bytes:
    """`data` with a few bytes replaced, inserted or deleted, or truncated."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "replace" and out:
            out[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del out[at : at + draw(st.integers(1, 8))]
        else:
            del out[at:]
    return bytes(out)


def _with_crc(data: bytes) -> bytes:
    """Replace the trailing checksum so that the parsers behind it are reached."""
    if len(data) < CHECKSUM.size:
        return data
    body = data[: -CHECKSUM.size]
    return body + CHECKSUM.pack(zlib.crc32(body))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _load_sqz(folder: Path, data: bytes) -> None:
    path = folder / "fuzz.sqz"
    path.write_bytes(data)
    try:
        load_sqz(path)
    except SqzFormatError as e:
        assert str(e) and "\n" not in str(e)


def _read_idx(folder: Path, data: bytes) -> None:
    path = folder / "fuzz-idx"
    path.write_bytes(data)
    try:
        read_idx(path)
    except DatasetError as e:
        assert str(e)


@FUZZ
@given(st.binary(max_size=400))
def test_sqz_random_bytes(workdir: Path, blob: bytes) -> None:
    _load_sqz(workdir, blob)
    _load_sqz(workdir, SQZ[:20] + blob)  # a valid fixed header, then garbage


@FUZZ
@given(mutations(SQZ), st.booleans())
def test_sqz_mutations(workdir: Path, data: bytes, fix_crc: bool) -> None:
    _load_sqz(workdir, _with_crc(data) if fix_crc else data)


@FUZZ
@given(st.binary(max_size=200))
def test_idx_random_bytes(workdir: Path, blob: bytes) -> None:
    _read_idx(workdir, blob)
    _read_idx(workdir, gzip.compress(blob))
    _read_idx(workdir, b"\x1f\x8b" + blob)  # the gzip magic, then garbage


@FUZZ
@given(mutations(IDX), st.booleans())
def test_idx_mutations(workdir: Path, data: bytes, gz: bool) -> None:
    _read_idx(workdir, gzip.compress(data) if gz else data)


@FUZZ
@given(mutations(gzip.compress(IDX)))
def test_idx_gzip_stream_mutations(workdir: Path, data: bytes) -> None:
    _read_idx(workdir, data)


def test_the_valid_files_do_load(workdir: Path) -> None:
    _load_sqz(workdir, SQZ)
    assert load_sqz(workdir / "fuzz.sqz").num_classes == 3
    path = workdir / "valid-idx.gz"
    path.write_bytes(gzip.compress(IDX))
    assert np.array_equal(read_idx(path), np.arange(60, dtype=np.uint8).reshape(3, 4, 5))
