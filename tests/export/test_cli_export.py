"""`squeezenet export` end to end on a generated image-folder dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

import squeezenet
from squeezenet.cli.export import load_split
from squeezenet.meta import Preprocessing, preprocessing_for

from ..helpers import run_cli


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    model = squeezenet.create_model("squeezenet1_1", num_classes=2, small_input=True)
    model.meta = {
        "class_names": ["cat", "dog"],
        "mean": [0.5] * 3,
        "std": [0.25] * 3,
        "input_size": 16,
        "in_channels": 3,
    }
    return squeezenet.save_model(model, tmp_path / "model" / "tiny.safetensors")


@pytest.fixture
def folder_data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for split in ("train", "test"):
        for label, colour in (("cat", (200, 40, 40)), ("dog", (40, 40, 200))):
            (root / split / label).mkdir(parents=True)
            for i in range(4):
                Image.new("RGB", (20, 20), tuple(c + 10 * i for c in colour)).save(
                    root / split / label / f"{i}.png"
                )
    return root


def test_export_int8_with_calibration_and_accuracy(capsys, weights, folder_data, tmp_path) -> None:
    out = tmp_path / "out" / "m.onnx"
    code, stdout, err = run_cli(
        capsys,
        "export",
        str(weights),
        "--format",
        "onnx",
        "--int8",
        "--calib-data",
        f"folder:{folder_data}",
        "-o",
        str(out),
        "--json",
    )
    assert code == 0, err
    report = json.loads(stdout)
    fp32, int8 = report["onnx"], report["int8"]
    assert fp32["max_abs_diff"] <= 1e-4 and fp32["check_source"] == "given"
    assert Path(int8["path"]) == tmp_path / "out" / "m.int8.onnx"
    assert int8["file_bytes"] < fp32["file_bytes"] and int8["calibration_images"] == 8
    assert 0 <= int8["top1"] <= 1 and 0 <= fp32["top1"] <= 1


def test_int8_calibrates_on_a_flat_folder_without_labels(
    capsys, weights, folder_data, tmp_path
) -> None:
    """--calib-data may be any photos (no class folders); --data scores; without --data an
    unlabelled folder exports unscored, saying so."""
    flat = tmp_path / "photos"
    flat.mkdir()
    for i, colour in enumerate(((200, 40, 40), (40, 40, 200), (90, 200, 90))):
        Image.new("RGB", (24, 18), colour).save(flat / f"photo{i}.jpg")
    out = tmp_path / "out" / "m.onnx"
    args = ["export", weights, "--int8", "--calib-data", f"folder:{flat}", "--out", out]
    code, stdout, err = run_cli(capsys, *args, "--data", f"folder:{folder_data}", "--json")
    assert code == 0, err
    report = json.loads(stdout)
    assert report["int8"]["calibration_images"] == 3  # the photos, not --data's 8 images
    assert report["onnx"]["eval_images"] == 8 and 0 <= report["int8"]["top1"] <= 1
    code, stdout, err = run_cli(capsys, *args)
    assert code == 0, err
    assert "not scored" in stdout and "pass --data SPEC" in stdout
    assert (tmp_path / "out" / "m.int8.onnx").is_file()


def test_calibration_folder_is_read_with_the_models_resize_and_crop(tmp_path: Path) -> None:
    """ImageNet-style weights (resize 16, crop 8 here) calibrate on what they were trained on:
    the centre of the image, not the whole image squeezed to the crop size."""

    for split in ("train", "test"):
        (tmp_path / split / "a").mkdir(parents=True)
        image = Image.new("RGB", (20, 20), (255, 0, 0))  # red border ...
        image.paste((0, 0, 255), (4, 4, 16, 16))  # ... around a blue centre
        image.save(tmp_path / split / "a" / "0.png")
    preprocess = Preprocessing(input_size=8, mean=(0.5,) * 3, std=(0.25,) * 3, resize_size=16)
    for name in ("train", "test"):
        split = load_split(f"Folder:{tmp_path}", name, None, preprocess)  # any case of "folder"
        assert split.images.shape == (1, 3, 8, 8)
        red, _, blue = split.images[0, :, 0, 0].tolist()  # a corner of the crop
        assert blue > 200 and red < 50


def test_export_without_int8_reads_only_the_test_split(capsys, weights, folder_data, tmp_path):
    """The train split is read only to calibrate: without --int8 it may be absent (or huge)."""

    shutil.rmtree(folder_data / "train")
    data, out = f"folder:{folder_data}", tmp_path / "m.onnx"
    code, stdout, err = run_cli(
        capsys, "export", str(weights), "--calib-data", data, "-o", str(out), "--json"
    )
    assert code == 0, err
    report = json.loads(stdout)
    assert report["onnx"]["check_source"] == "given" and 0 <= report["onnx"]["top1"] <= 1
    assert report["onnx"]["eval_images"] == 8 and "int8" not in report


def test_eval_limit_scores_a_sample_of_every_class(capsys, weights, folder_data, tmp_path):
    """The test folder lists the cats first: a limit of 4 must not score only cats."""

    preprocess = preprocessing_for(squeezenet.load_model(weights))
    sample = load_split(f"folder:{folder_data}", "test", None, preprocess, max_images=4)
    assert len(sample) == 4 and set(sample.labels.tolist()) == {0, 1}
    code, stdout, err = run_cli(
        capsys,
        "export",
        str(weights),
        "--calib-data",
        f"folder:{folder_data}",
        "--eval-limit",
        "4",
        "-o",
        str(tmp_path / "m.onnx"),
        "--json",
    )
    assert code == 0, err
    assert json.loads(stdout)["onnx"]["eval_images"] == 4


def test_export_defaults_and_human_output(capsys, weights) -> None:
    code, stdout, _ = run_cli(capsys, "export", str(weights))
    assert code == 0 and (weights.parent / "tiny.onnx").is_file()
    assert "max |diff|" in stdout and "dynamic batch" in stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--int8"], "--calib-data"),
        (["--format", "tflite"], "unknown format"),
        (["--input-size", "4"], "too small"),
    ],
)
def test_export_errors_are_one_line(capsys, weights, args: list[str], message: str) -> None:
    code, _, err = run_cli(capsys, "export", str(weights), *args)
    assert code == 2 and message in err and "Traceback" not in err
