"""The .sqz file: lossless round trips, and a reader that refuses every bad input cleanly."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import squeezenet
from squeezenet.compress import (
    PruneConfig,
    ShareConfig,
    SqzFormatError,
    decode_model,
    encode_model,
    finalize_,
    layer_encodings,
    prune_,
    save_sqz,
    share_weights_,
)
from squeezenet.formats import sqz
from squeezenet.formats import sqz_writer as writer

from .conftest import tiny_model


def _compressed(model, sparsity: str = "paper", bits: str = "paper"):
    prune_(model, PruneConfig.preset(sparsity))
    share_weights_(model, ShareConfig.preset(bits))
    return finalize_(model)


@pytest.fixture(scope="module")
def sqz_bytes() -> bytes:
    torch.manual_seed(1)
    return encode_model(_compressed(tiny_model(), "aggressive", "aggressive"))


def _with_crc(body: bytes) -> bytes:
    """Re-seal mutated bytes so the parser itself, not just the checksum, is exercised."""
    return body + struct.pack("<I", zlib.crc32(body))


def _rebuild(data: bytes, edit) -> bytes:
    """Apply `edit` to the decoded JSON header and re-pack a well-framed file."""
    header, start = sqz.read_header(data)
    edit(header)
    raw = json.dumps(header).encode()
    packed = zlib.compress(raw)
    fixed = struct.pack("<8sHHII", sqz.MAGIC, sqz.FORMAT_VERSION, 0, len(packed), len(raw))
    return _with_crc(fixed + packed + data[start:-4])


@pytest.mark.parametrize(
    ("kwargs", "bypass"),
    [({}, "none"), ({"batch_norm": True}, "complex"), ({"in_channels": 1}, "simple")],
)
def test_logits_round_trip(tmp_path: Path, kwargs: dict, bypass: str) -> None:
    from squeezenet import SqueezeNet
    from squeezenet.models import with_bypass

    base = tiny_model(**kwargs)
    model = SqueezeNet(with_bypass(base.config, bypass)).eval()
    model.meta = base.meta
    if not model.config.batch_norm:  # sharing needs BN folded; a BN model is folded on save
        _compressed(model)
    path = save_sqz(model, tmp_path / "m.sqz")
    loaded = squeezenet.load_model(path)
    assert loaded.meta == model.meta and not loaded.config.batch_norm
    x = torch.randn(3, model.config.in_channels, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x), rtol=1e-4, atol=1e-5)
    if not kwargs.get("batch_norm"):  # without folding the tensors are identical, bit for bit
        for key, value in model.state_dict().items():
            assert torch.equal(value, loaded.state_dict()[key]), key


def test_any_weights_round_trip_losslessly() -> None:
    model = tiny_model()  # unpruned, unshared float32: raw values, dense positions
    with torch.no_grad():
        model.features[0].weight[:, :, 0, 0] = 0  # a few exact zeros in a raw layer
        model.classifier[1].weight.zero_()  # an empty layer
        model.classifier[1].bias.copy_(torch.arange(10) * 1e-8)  # not float16-representable
    decoded = decode_model(encode_model(model))
    for key, value in model.state_dict().items():
        assert torch.equal(value, decoded.state_dict()[key]), key
    modes = {e.name: (e.value_mode, e.position_mode) for e in layer_encodings(encode_model(model))}
    assert modes["classifier.1"][1] == "empty" and modes["features.3.squeeze"] == ("raw", "dense")


def test_position_coding_picks_the_smaller_form() -> None:
    model = _compressed(tiny_model(), "paper")
    modes = {e.name: e.position_mode for e in layer_encodings(encode_model(model))}
    assert modes["features.3.squeeze"] == "dense" and modes["classifier.1"] in ("gaps", "bitmask")
    dense = np.ones(4096, dtype=bool)
    dense[::97] = False  # 99% dense: a bitmask is far smaller than one gap symbol per weight
    assert writer._encode_positions(dense, 4096)[0]["mode"] == "bitmask"


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path: Path, sqz_bytes: bytes) -> None:
    model = decode_model(sqz_bytes)
    save_sqz(model, tmp_path / "m.sqz")
    assert [p.name for p in tmp_path.iterdir()] == ["m.sqz"]
    assert (tmp_path / "m.sqz").read_bytes() == sqz_bytes  # deterministic encoding


def test_wrong_version_and_foreign_files(tmp_path: Path, sqz_bytes: bytes) -> None:
    newer = bytearray(sqz_bytes)
    newer[8:10] = struct.pack("<H", 2)
    with pytest.raises(SqzFormatError, match="version 2; this build reads version 1"):
        decode_model(_with_crc(bytes(newer[:-4])))
    with pytest.raises(SqzFormatError, match="magic"):
        decode_model(b"PK\x03\x04" + sqz_bytes[4:])
    path = tmp_path / "notes.sqz"
    path.write_text("hello")
    with pytest.raises(SqzFormatError, match=r"notes\.sqz.*truncated"):
        squeezenet.load_model(path)


def test_every_truncation_is_refused(sqz_bytes: bytes) -> None:
    for n in list(range(0, 64)) + list(range(64, len(sqz_bytes), max(1, len(sqz_bytes) // 300))):
        with pytest.raises(SqzFormatError):
            decode_model(sqz_bytes[:n])


def test_flipped_bytes_fail_the_checksum(sqz_bytes: bytes) -> None:
    for i in range(0, len(sqz_bytes), max(1, len(sqz_bytes) // 200)):
        data = bytearray(sqz_bytes)
        data[i] ^= 0x5A
        with pytest.raises(SqzFormatError):
            decode_model(bytes(data))


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_mutated_payload_with_valid_checksum_never_crashes(sqz_bytes: bytes, data) -> None:
    _, start = sqz.read_header(sqz_bytes)
    body = bytearray(sqz_bytes[:-4])
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(start, len(body) - 1))
        body[i] = data.draw(st.integers(0, 255))
    try:
        model = decode_model(_with_crc(bytes(body)))
    except SqzFormatError:
        return
    assert isinstance(model, squeezenet.SqueezeNet)  # a valid-looking stream decodes to a model


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_are_refused(blob: bytes) -> None:
    with pytest.raises(SqzFormatError):
        decode_model(blob)
    with pytest.raises(SqzFormatError):
        decode_model(sqz.MAGIC + blob)


def _set(path: tuple, value):
    def edit(header: dict) -> None:
        node = header
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def _first_coded(header: dict) -> int:
    return next(i for i, l in enumerate(header["layers"]) if l["positions"]["mode"] == "gaps")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set(("model", "num_classes"), 10**9), "exceeds"),
        (_set(("model", "stem_channels"), -3), "bad model config"),
        (_set(("model", "batch_norm"), True), "batch_norm"),
        (_set(("model", "bogus"), 1), "unknown model config field"),
        (_set(("block_size",), 0), "block_size"),
        (_set(("block_size",), 2**40), "block_size"),
        (_set(("layers", 0, "shape"), [10**6, 10**6, 3, 3]), "shape"),
        (_set(("layers", 0, "nnz"), 10**12), "nnz"),
        (_set(("layers", 0, "nnz"), "12"), "wrong type"),
        (_set(("layers", 0, "values", "mode"), "magic"), "unknown value mode"),
        (_set(("layers", 0, "bias", "dtype"), "float64"), "bias dtype"),
        (_set(("layers", 1, "values", "codebook"), []), "codebook"),
        (_set(("layers", 1, "values", "codebook"), [float("nan")]), "JSON|codebook"),
        (_set(("layers", 1, "values", "codebook"), [1e300]), "finite float32"),  # inf as float32
        (_set(("layers", 1, "values", "codebook"), [10**400]), "finite float32"),  # beyond float64
        (_set(("model", "dropout"), "0.5"), "bad model config"),
        (_set(("layers", 1, "values", "code", "lengths"), "zz"), "hex"),
        (_set(("layers", 1, "values", "code", "n"), 10**15), "out of range"),
        (_set(("layers", 1, "values", "code", "nbits"), 10**15), "out of range"),
        (_set(("layers", 1, "values", "code", "nbytes"), 10**15), "out of range"),
        (lambda h: h["layers"].pop(), "layer list"),
        (lambda h: h.pop("format"), "not a squeezenet.sqz header"),
        (lambda h: h["layers"][_first_coded(h)]["positions"].update(escape=0), "escape"),
        (lambda h: h["layers"][_first_coded(h)]["positions"].update(escape=10**9), "out of range"),
        (
            lambda h: h["layers"][_first_coded(h)]["positions"]["code"].update(n=10**8),
            "out of range",
        ),
        (lambda h: h.update(meta=[1, 2]), "meta"),
    ],
)
def test_hostile_headers_are_refused_before_allocating(
    sqz_bytes: bytes, edit, message: str
) -> None:
    with pytest.raises(SqzFormatError, match=message):
        decode_model(_rebuild(sqz_bytes, edit))


def test_header_bomb_is_refused() -> None:
    raw_len = sqz.MAX_HEADER_BYTES + 1
    packed = zlib.compress(b" " * raw_len)
    body = struct.pack("<8sHHII", sqz.MAGIC, 1, 0, len(packed), raw_len) + packed
    with pytest.raises(SqzFormatError, match="exceeds"):
        decode_model(_with_crc(body))
    # A header that inflates to more than it declares is cut off at the declared length.
    body = struct.pack("<8sHHII", sqz.MAGIC, 1, 0, len(packed), 100) + packed
    with pytest.raises(SqzFormatError, match="decompressed length"):
        decode_model(_with_crc(body))


def test_thousand_class_torchvision_checkpoint_compresses_without_data(tmp_path: Path) -> None:
    from squeezenet.compress import compress_model

    pth = tmp_path / "squeezenet1_0.pth"
    torch.save(squeezenet.create_model("squeezenet1_0").state_dict(), pth)  # torchvision layout
    model, report = compress_model(squeezenet.load_model(pth))
    assert report.top1_before is None and report.top1_after is None
    assert report.nnz == pytest.approx(0.355 * 1_235_496, rel=0.02)  # the paper's Table 1 pattern
    assert report.sqz_bytes < 500_000 and report.decode_seconds is not None
    assert model.meta.preprocessing.input_size == 224 and model.num_classes == 1000


def test_writer_refuses_what_the_reader_would(tmp_path: Path, monkeypatch) -> None:
    """A model or header over the reader's limits fails when written (and before any
    retraining in compress_model), not when the file is loaded back."""
    from squeezenet.compress import CompressError, compress_model

    model = squeezenet.create_model("squeezenet1_1", num_classes=3, small_input=True)
    monkeypatch.setattr(sqz, "MAX_PARAMS", 1000)
    with pytest.raises(ValueError, match="parameters is over the 1,000"):
        sqz.save_sqz(model, tmp_path / "m.sqz")
    with pytest.raises(CompressError, match="parameters is over"):
        compress_model(model)
    monkeypatch.undo()
    monkeypatch.setattr(sqz, "MAX_HEADER_BYTES", 100)
    with pytest.raises(ValueError, match="header would be"):
        sqz.save_sqz(model, tmp_path / "m.sqz")
    assert list(tmp_path.iterdir()) == []
