"""Hostile and unlucky inputs end in one-line errors, refused before anything large is
allocated or read: zip-bomb and foreign `.pth`, `.sqz`/safetensors that are devices, FIFOs
or huge, NaN metadata and weights, unsupported export options."""

from __future__ import annotations

import io
import math
import os
import tarfile
from pathlib import Path

import pytest
import torch
from PIL import Image

import squeezenet
import squeezenet.formats.sqz as sqz_format
import squeezenet.torchfile as torchfile
from squeezenet import CheckpointError, load_model
from squeezenet.cli.bench import parse_batches
from squeezenet.compress.finetune import FinetuneConfig
from squeezenet.compress.format import SqzFormatError, encode_model, load_sqz
from squeezenet.errors import FormatError

from .helpers import run_cli
from .hostile import rebuild_sqz, sparse_file, zip_bomb_pth


def _tiny(num_classes: int = 2):
    model = squeezenet.create_model("squeezenet1_1", num_classes=num_classes, small_input=True)
    model.meta = {"class_names": [f"c{i}" for i in range(num_classes)], "input_size": 16}
    return model.eval()


def _one_line_error(code: int, out: str, err: str, *fragments: str) -> None:
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# ---- .pth ----------------------------------------------------------------------------------------
def test_zip_bomb_pth_is_refused_before_torch_load(tmp_path: Path, monkeypatch) -> None:
    path = zip_bomb_pth(tmp_path / "bomb.pth", megabytes=300)  # over the 256 MiB cap
    assert path.stat().st_size < 2_000_000

    def must_not_run(*args, **kwargs):
        raise AssertionError("torch.load was reached")

    monkeypatch.setattr(torchfile.torch, "load", must_not_run)
    bomb = r"declare 314,573,\d+ bytes once uncompressed \(a zip bomb"
    with pytest.raises(FormatError, match=bomb):
        load_model(path)


def test_pth_with_too_many_zip_entries_is_refused(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "w.pth"
    torch.save(_tiny().state_dict(), path)
    monkeypatch.setattr(torchfile, "MAX_ZIP_ENTRIES", 3)
    with pytest.raises(FormatError, match="entries, over the 3 a torch checkpoint may have"):
        load_model(path)


def test_legacy_pickle_pth_still_loads(tmp_path: Path) -> None:
    # torchvision's published SqueezeNet weights are in this pre-1.6 format
    model = _tiny(10)
    path = tmp_path / "legacy.pth"
    torch.save(model.state_dict(), path, _use_new_zipfile_serialization=False)
    loaded = load_model(path, model="squeezenet1_1", num_classes=10, small_input=True)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_foreign_tar_device_and_fifo_pth_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    with pytest.raises(FormatError, match="not a torch checkpoint"):
        load_model(text)
    tar = tmp_path / "old.pth"  # torch < 0.4's tar format: torch.load would extract it
    with tarfile.open(tar, "w") as archive:
        archive.addfile(tarfile.TarInfo("storages"), io.BytesIO(b""))
    with pytest.raises(FormatError, match="not a torch checkpoint"):
        load_model(tar)
    zero = tmp_path / "zero.pth"
    zero.symlink_to("/dev/zero")
    with pytest.raises(FormatError, match="is a character device"):
        load_model(zero)
    fifo = tmp_path / "fifo.pt"
    os.mkfifo(fifo)
    with pytest.raises(FormatError, match="is a FIFO"):
        load_model(fifo)


# ---- .sqz and safetensors ------------------------------------------------------------------------
def test_sqz_device_fifo_and_huge_files_are_refused_from_fstat(tmp_path: Path) -> None:
    zero = tmp_path / "zero.sqz"
    zero.symlink_to("/dev/zero")  # grew to 16.5 GB in 40 s before
    with pytest.raises(SqzFormatError, match="is a character device, not a regular .sqz file"):
        load_model(zero)
    fifo = tmp_path / "fifo.sqz"
    os.mkfifo(fifo)
    with pytest.raises(SqzFormatError, match="is a FIFO"):
        load_sqz(fifo)
    good = encode_model(_tiny())
    huge = sparse_file(tmp_path / "huge.sqz", 1 << 40, good[:20])
    with pytest.raises(SqzFormatError, match=r"1,099,511,627,776 bytes, over the .*-byte limit"):
        load_sqz(huge)


def test_sqz_magic_is_checked_before_the_rest_is_read(tmp_path: Path, monkeypatch) -> None:
    path = sparse_file(tmp_path / "foreign.sqz", 100 << 20, b"GIF89a" + bytes(14))

    def must_not_run(*args, **kwargs):
        raise AssertionError("the rest of the file was read")

    monkeypatch.setattr(sqz_format, "read_exactly", must_not_run)
    with pytest.raises(SqzFormatError, match="bad magic bytes"):
        load_sqz(path)


def test_safetensors_device_and_fifo_are_refused(tmp_path: Path) -> None:
    zero = tmp_path / "w.safetensors"
    zero.symlink_to("/dev/zero")
    with pytest.raises(CheckpointError, match="is a character device"):
        load_model(zero)
    fifo = tmp_path / "f.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="is a FIFO"):
        load_model(fifo)


# ---- metadata and outputs ------------------------------------------------------------------------
@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "img.png"
    Image.new("RGB", (20, 20), (90, 30, 200)).save(path)
    return path


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("std", [math.nan] * 3),
        ("std", [0.0] * 3),
        ("mean", [math.inf] * 3),
        ("input_size", 10**6),
        ("input_size", "224"),
        ("resize_size", 10**9),
    ],
)
def test_hostile_sqz_metadata_is_one_line_error(capsys, tmp_path, image, key, value) -> None:
    path = tmp_path / "m.sqz"
    path.write_bytes(rebuild_sqz(encode_model(_tiny()), lambda h: h["meta"].update({key: value})))
    code, out, err = run_cli(capsys, "predict", path, image, "--json", "--backend", "eager")
    _one_line_error(code, out, err, key)
    assert out == ""


def test_nan_weights_are_an_error_never_nan_in_json(capsys, tmp_path, image) -> None:
    model = _tiny()
    with torch.no_grad():
        model.classifier[1].weight.fill_(math.nan)
    path = squeezenet.save_model(model, tmp_path / "nan.safetensors")
    code, out, err = run_cli(capsys, "predict", path, image, "--json", "--backend", "eager")
    _one_line_error(code, out, err, "NaN or infinite for 1 of 1 images")
    assert "NaN" not in out


# ---- options -------------------------------------------------------------------------------------
def test_export_opset_out_of_range_is_one_line_and_writes_nothing(capsys, tmp_path) -> None:
    pytest.importorskip("onnx")
    out = tmp_path / "m.onnx"
    for opset in ("99", "9"):
        code, stdout, err = run_cli(capsys, "export", "squeezenet1_1", "--opset", opset, "-o", out)
        _one_line_error(code, stdout, err, f"opset {opset} is not supported; valid: 10..")
    args = ("export", "squeezenet1_1", "--calibration", "best", "-o", out)
    code, stdout, err = run_cli(capsys, *args)
    _one_line_error(code, stdout, err, "unknown calibration 'best'; valid: minmax")
    assert list(tmp_path.iterdir()) == []


def test_bench_batch_and_finetune_values_are_bounded() -> None:
    with pytest.raises(ValueError, match=r"--batch sizes must be >= 1 and at most 4096"):
        parse_batches("1,1000000")
    for bad in (
        {"lr": math.inf},
        {"lr": math.nan},
        {"epochs": math.inf},
        {"momentum": math.nan},
        {"weight_decay": math.inf},
        {"label_smoothing": 1.5},
    ):
        with pytest.raises(ValueError, match="fine-tune"):
            FinetuneConfig(**bad)
