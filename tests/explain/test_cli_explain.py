"""`squeezenet explain` from the command line: one PNG per image and method, numbers as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from squeezenet import SqueezeNet, save_model

from ..helpers import run_cli
from .util import assert_png


@pytest.fixture
def model_file(tiny_model: SqueezeNet, tmp_path: Path) -> Path:
    return save_model(tiny_model, tmp_path / "tiny.safetensors")


@pytest.mark.parametrize(
    ("method", "args", "key"),
    [
        ("saliency", [], "map_max"),
        ("saliency", ["--objective", "log-probability"], "objective"),
        ("smoothgrad", ["--samples", "3"], "map_max"),
        ("smoothgrad", ["--samples", "3", "--squared", "--aggregate", "l2"], "squared"),
        ("integrated-gradients", ["--steps", "4", "--baseline", "mean"], "attribution_sum"),
        ("gradcam", ["--layer", "fire5", "--target", "dog"], "map_max"),
        ("activations", ["--layer", "conv1", "--channels", "4"], "channels"),
        ("fooling", ["--target", "1", "--steps", "300"], "l2_norm"),
        ("deletion", ["--steps", "4", "--attribution", "saliency"], "salient_auc"),
        (
            "deletion",
            ["--attribution", "smoothgrad", "--samples", "2", "--objective", "log-probability"],
            "salient_auc",
        ),
        (
            "deletion",
            ["--attribution", "integrated-gradients", "--baseline", "mean"],
            "salient_auc",
        ),
    ],
)
def test_each_method_writes_a_png_and_json(
    model_file: Path,
    image_file: Path,
    tmp_path: Path,
    capsys,
    method: str,
    args: list[str],
    key: str,
) -> None:
    out = tmp_path / "pngs"
    code, stdout, stderr = run_cli(
        capsys,
        "explain",
        model_file,
        image_file,
        image_file,
        "--method",
        method,
        *args,
        "--out",
        out,
        "--json",
    )
    assert code == 0, stderr
    report = json.loads(stdout)
    assert report["method"] == method and len(report["results"]) == 2
    pngs = [Path(r["png"]) for r in report["results"]]
    assert [p.name for p in pngs] == [f"photo_{method}.png", f"photo_{method}_2.png"]
    for record, png in zip(report["results"], pngs):
        assert record["image"] == str(image_file) and key in record
        assert_png(png)
    if method == "gradcam":
        assert report["results"][0]["target"]["name"] == "dog"
        assert report["results"][0]["layer"] == "fire5"


def test_class_visualization_takes_no_image(model_file: Path, tmp_path: Path, capsys) -> None:
    code, stdout, stderr = run_cli(
        capsys,
        "explain",
        model_file,
        "--method",
        "class-visualization",
        "--target",
        "bird",
        "--steps",
        "5",
        "--out",
        tmp_path,
    )
    assert code == 0, stderr
    png = tmp_path / "class-visualization_2_bird.png"
    assert_png(png)
    assert "noise: 'bird'" in stdout and "in 5 steps (not reached)" in stdout


def test_a_table_line_without_json(
    model_file: Path, image_file: Path, tmp_path: Path, capsys
) -> None:
    code, stdout, _ = run_cli(capsys, "explain", model_file, image_file, "--out", tmp_path)
    assert code == 0
    assert "gradcam on fire9 of '" in stdout and "photo_gradcam.png" in " ".join(stdout.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--layer", "fire12"], "unknown layer 'fire12'; valid: conv1, maxpool1, fire2"),
        (["--target", "zebra"], "unknown class 'zebra'; valid: 0..2 or a name (cat, dog, bird)"),
        (["--target", "7"], "class index 7 is out of range; valid: 0..2"),
        (
            ["--method", "lime"],
            "unknown method 'lime'; valid: saliency, smoothgrad, integrated-gradients, gradcam",
        ),
        (["--samples", "3"], "--samples is for smoothgrad, deletion, not gradcam"),
        (["--squared"], "--squared is for smoothgrad, not gradcam"),
        (["--objective", "log-probability"], "--objective is for saliency, smoothgrad, deletion"),
        (["--method", "saliency", "--objective", "logit"], "unknown objective 'logit'; valid"),
        (["--method", "smoothgrad", "--aggregate", "mean"], "unknown aggregate 'mean'; valid"),
        (
            ["--method", "integrated-gradients", "--baseline", "black"],
            "unknown baseline 'black'; valid: blur, mean",
        ),
        (["--method", "saliency", "--sign", "absolute"], "--sign is for integrated-gradients"),
        (["--method", "fooling"], "fooling needs a target class"),
        (["--method", "saliency", "--layer", "fire9"], "saliency takes no layer"),
    ],
)
def test_errors_name_the_valid_choices(
    model_file: Path, image_file: Path, tmp_path: Path, capsys, args: list[str], message: str
) -> None:
    code, stdout, stderr = run_cli(
        capsys, "explain", model_file, image_file, *args, "--out", tmp_path / "out"
    )
    assert code == 2 and stdout == ""
    assert message in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_missing_image_is_one_line(model_file: Path, tmp_path: Path, capsys) -> None:
    code, _, stderr = run_cli(
        capsys, "explain", model_file, tmp_path / "nope.png", "--out", tmp_path
    )
    assert code == 2 and "nope.png" in stderr and len(stderr.strip().splitlines()) == 1
