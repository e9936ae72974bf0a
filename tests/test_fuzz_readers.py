"""Fuzzing the `.sqz`, IDX, Deep Compression `.net` and Caffe `.caffemodel` readers: random
bytes and mutations of a valid small file (with the `.sqz` checksum recomputed, so mutations
reach the header and payload parsers) end in the reader's own format error, never another
exception. Kept to seconds."""

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
from squeezenet.data import DatasetError
from squeezenet.data.idx import read_idx
from squeezenet.errors import FormatError
from squeezenet.formats import read_caffemodel, read_net
from squeezenet.formats.deepcompression import conv_layers
from squeezenet.formats.sqz_reader import CHECKSUM
from squeezenet.models import SqueezeNet, from_metaparameters, get_model_config

from .formats.caffe_writer import squeezenet_caffemodel
from .formats.test_deepcompression import encode_net

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _valid_sqz() -> bytes:
    design = {"base_e": 32, "incr_e": 32, "sr": 0.25, "layout": "squeezenet1_1"}
    model = squeezenet.create_model("squeezenet_design", num_classes=3, small_input=True, **design)
    return encode_model(model.eval())


# Narrow SqueezeNets of the .net (v1.0, conv10 padded) and Caffe v1.1 layouts: files of KBs.
NET_CONFIG = from_metaparameters(base_e=16, incr_e=16, sr=0.25, num_classes=3, classifier_padding=1)
CAFFE_CONFIG = from_metaparameters(
    base_e=16, incr_e=16, sr=0.125, num_classes=3, layout=get_model_config("squeezenet1_1")
)


def _valid_net() -> bytes:
    """Sparse weights drawn from per-layer 256-entry codebooks, as the authors' file holds."""
    rng = np.random.default_rng(0)
    layers = []
    for _, shape in conv_layers(NET_CONFIG):
        codebook = np.concatenate([[0.0], rng.normal(0, 0.1, 255)]).astype(np.float32)
        picked = codebook[rng.integers(1, 256, size=shape)]
        weight = np.where(rng.random(shape) < 0.02, picked, 0).astype(np.float32)
        layers.append((weight, rng.normal(0, 0.1, shape[0]).astype(np.float32), codebook))
    return encode_net(layers)


SQZ = _valid_sqz()
IDX = struct.pack(">I", 0x00000803) + struct.pack(">III", 3, 4, 5) + bytes(range(60))
NET = _valid_net()
CAFFE = squeezenet_caffemodel(SqueezeNet(CAFFE_CONFIG))


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


def _read_foreign(folder: Path, data: bytes, suffix: str) -> None:
    path = folder / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        if suffix == ".net":
            read_net(path, NET_CONFIG)
        else:
            read_caffemodel(path)
    except FormatError as e:
        assert str(e) and "\n" not in str(e)


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


@FUZZ
@given(st.binary(max_size=400), st.sampled_from([".net", ".caffemodel"]))
def test_net_and_caffemodel_random_bytes(workdir: Path, blob: bytes, suffix: str) -> None:
    _read_foreign(workdir, blob, suffix)
    head = (NET if suffix == ".net" else CAFFE)[:120]
    _read_foreign(workdir, head + blob, suffix)  # a valid start, then garbage


@FUZZ
@given(mutations(NET))
def test_net_mutations(workdir: Path, data: bytes) -> None:
    _read_foreign(workdir, data, ".net")


@FUZZ
@given(mutations(CAFFE))
def test_caffemodel_mutations(workdir: Path, data: bytes) -> None:
    _read_foreign(workdir, data, ".caffemodel")


def test_the_valid_files_do_load(workdir: Path) -> None:
    _load_sqz(workdir, SQZ)
    assert load_sqz(workdir / "fuzz.sqz").num_classes == 3
    path = workdir / "valid-idx.gz"
    path.write_bytes(gzip.compress(IDX))
    assert np.array_equal(read_idx(path), np.arange(60, dtype=np.uint8).reshape(3, 4, 5))
    (workdir / "valid.net").write_bytes(NET)
    assert read_net(workdir / "valid.net", NET_CONFIG).config.num_classes == 3
    (workdir / "valid.caffemodel").write_bytes(CAFFE)
    assert read_caffemodel(workdir / "valid.caffemodel").config.num_classes == 3
