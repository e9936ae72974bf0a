"""`squeezenet train` / `eval` from the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

import squeezenet.data.dataset as dataset_module
from squeezenet import create_model, load_model, save_model
from squeezenet.engine.recipes import RECIPES

from ..helpers import run_cli as run


def run_cli(capsys, *args: object) -> tuple[int, str]:
    """(exit code, stdout and stderr with whitespace folded)."""
    code, out, err = run(capsys, *args)
    return code, " ".join((out + err).split())


def test_train_then_eval_json(tiny_fashion: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    code, text = run_cli(
        capsys,
        "train",
        "--model",
        "squeezenet1_1",
        "--data",
        "fashion-mnist",
        "--data-dir",
        tiny_fashion,
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--out",
        out,
        "--batch-norm",
        "--no-stem-pool",
    )
    assert code == 0, text
    final = float(list(csv.DictReader((out / "metrics.csv").open()))[-1]["val_top1"])
    assert f"test split top-1: final {final:.4f}, best" in text
    saved = json.loads((out / "config.json").read_text())["model_kwargs"]
    assert saved["batch_norm"] is True and saved["stem_pool"] is False
    code, text = run_cli(capsys, "eval", out, "--data-dir", tiny_fashion, "--json")
    assert code == 0, text
    result = json.loads(text)
    assert set(result) == {"top1", "top5", "n"} and result["n"] == 40
    assert 0 <= result["top1"] <= result["top5"] <= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "imagenet-22k"], "unknown dataset spec 'imagenet-22k'"),
        (["--model", "squeezenet1_2"], "did you mean squeezenet1_1"),
        (["--augment", "twirl"], "invalid augment 'twirl'"),
        (["--recipe", "fastest"], "unknown recipe 'fastest'"),
        (["--epochs", "many"], "--epochs"),
        (["--device", "gpu"], "invalid device 'gpu'"),
        (["--threads", "0"], "--threads"),
        (["--model-arg", "sr"], "--model-arg 'sr': expected KEY=VALUE"),
        (["--model-arg", "dropout=0.1", "--dropout", "0.2"], "--dropout or --model-arg dropout="),
        (["--model-arg", "num_classes=3"], "num_classes: taken from the data"),
        (
            ["--model", "squeezenet1_1", "--model-arg", "sr=0.25"],
            "unknown option(s) ['sr'] for model 'squeezenet1_1'",
        ),
        (["--model-arg", "sr=0.25"], "sr: metaparameters of 'squeezenet_design'"),
        (["--model", "squeezenet_design", "--model-arg", "sr=2"], "sr (squeeze ratio) must be"),
    ],
)
def test_train_errors_name_the_bad_argument(
    tiny_fashion: Path, tmp_path: Path, capsys, args: list[str], message: str
) -> None:
    base = [
        "train",
        "--data-dir",
        tiny_fashion,
        "--out",
        tmp_path / "run",
        "--epochs",
        "1",
        "--batch-size",
        "16",
    ]
    code, text = run_cli(capsys, *base, *args)
    assert code == 2
    assert message in text


def test_train_a_design_space_point(tiny_fashion: Path, tmp_path: Path, capsys) -> None:
    """--model-arg reaches the paper's metaparameters; the run folder loads as that network."""

    out = tmp_path / "run"
    code, text = run_cli(
        capsys,
        "train",
        "--model",
        "squeezenet_design",
        "--model-arg",
        "sr=0.25",
        "--model-arg",
        "layout=squeezenet1_1_simple_bypass",
        "--batch-norm",
        "--data-dir",
        tiny_fashion,
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--out",
        out,
    )
    assert code == 0, text
    saved = json.loads((out / "config.json").read_text())["model_kwargs"]
    assert saved == {"sr": 0.25, "layout": "squeezenet1_1_simple_bypass", "batch_norm": True}
    config = load_model(out).config
    assert [f.squeeze for f in config.fires] == [32, 32, 64, 64, 96, 96, 128, 128]  # sr * e_i
    assert config.pool_after == (1, 3) and config.fires[1].bypass == "simple"  # 1.1's layout


def test_another_model_drops_the_recipes_metaparameters(
    tiny_fashion: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    """A recipe's sr/layout describe its own design: --model X keeps only options X takes."""

    monkeypatch.setitem(
        RECIPES,
        "design",
        {
            "model": "squeezenet_design",
            "epochs": 1,
            "batch_size": 16,
            "model_kwargs": {"layout": "squeezenet1_1", "sr": 0.25, "batch_norm": True},
        },
    )
    out = tmp_path / "run"
    code, text = run_cli(
        capsys,
        "train",
        "--recipe",
        "design",
        "--model",
        "squeezenet1_1",
        "--data-dir",
        tiny_fashion,
        "--out",
        out,
    )
    assert code == 0, text
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"] == "squeezenet1_1" and saved["model_kwargs"] == {"batch_norm": True}


def test_eval_refuses_mismatched_data(tiny_fashion: Path, tmp_path: Path, capsys) -> None:

    weights = save_model(
        create_model("squeezenet1_1", num_classes=3, in_channels=1), tmp_path / "w.safetensors"
    )
    code, text = run_cli(
        capsys, "eval", weights, "--data", "fashion-mnist", "--data-dir", tiny_fashion
    )
    assert code == 2 and "model has 3 classes but dataset" in text


def test_resume_refuses_settings_it_would_ignore(tmp_path: Path, capsys) -> None:
    code, text = run_cli(
        capsys, "train", "--resume", "--out", tmp_path / "run", "--epochs", "30", "--recipe", "demo"
    )
    assert code == 2
    assert "--resume takes the run's own settings (config.json); drop --recipe, --epochs" in text


def test_eval_reads_a_folder_with_the_models_own_preprocessing(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """ImageNet weights are evaluated as they were trained: shorter side 256, centre crop 224."""

    for name in ("a", "b"):
        (tmp_path / "data" / "test" / name).mkdir(parents=True)
        Image.new("RGB", (40, 30), (200, 30, 30)).save(tmp_path / "data" / "test" / name / "0.png")
    model = create_model("squeezenet1_1", num_classes=2, small_input=True)
    model.meta = {
        "class_names": ["a", "b"],
        "input_size": 16,
        "resize_size": 24,
        "mean": [0.5] * 3,
        "std": [0.25] * 3,
    }
    weights = save_model(model, tmp_path / "w.safetensors")
    seen, real = [], dataset_module.load_dataset
    monkeypatch.setattr(
        dataset_module, "load_dataset", lambda *a, **k: seen.append(k) or real(*a, **k)
    )
    code, text = run_cli(capsys, "eval", weights, "--data", f"folder:{tmp_path / 'data'}", "--json")
    assert code == 0, text
    assert seen[0]["image_size"] == 16 and seen[0]["resize_size"] == 24
    assert json.loads(text)["n"] == 2


def test_eval_and_export_read_a_colour_folder_in_grayscale_for_a_grayscale_model(
    tmp_path: Path, capsys
) -> None:

    for split in ("train", "test"):
        for name in ("a", "b"):
            (tmp_path / "data" / split / name).mkdir(parents=True)
            Image.new("RGB", (20, 20), (200, 30, 30)).save(
                tmp_path / "data" / split / name / "0.png"
            )
    model = create_model("squeezenet1_1", num_classes=2, in_channels=1, small_input=True)
    model.meta = {"class_names": ["a", "b"], "input_size": 16, "mean": [0.5], "std": [0.25]}
    weights = save_model(model, tmp_path / "w.safetensors")
    data = f"folder:{tmp_path / 'data'}"
    code, text = run_cli(capsys, "eval", weights, "--data", data, "--json")
    assert code == 0, text
    assert json.loads(text)["n"] == 2
    code, out, err = run(
        capsys,
        "export",
        weights,
        "-o",
        tmp_path / "m.onnx",
        "--int8",
        "--calib-data",
        data,
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["int8"]["calibration_images"] == 2
