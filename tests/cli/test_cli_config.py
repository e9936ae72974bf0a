"""Options generated from config dataclasses: --config FILE, --print-config, one name each."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from squeezenet.cli import app
from squeezenet.cli.compress import CompressOptions
from squeezenet.cli.options import JSON, config_command, option
from squeezenet.cli.train import EvalConfig
from squeezenet.engine import TrainConfig

from ..helpers import run_cli


def options_of(command: str) -> dict[str, str]:
    """{option spelling: help} of a `squeezenet` subcommand, from the built click command."""
    params = get_command(app).commands[command].params
    return {opt: p.help or "" for p in params for opt in (*p.opts, *p.secondary_opts)}


def test_every_train_config_field_is_an_option_with_help() -> None:
    options = options_of("train")
    for f in dataclasses.fields(TrainConfig):
        if f.name == "model_kwargs":  # --model-arg KEY=VALUE and the model flags
            continue
        flag = "--" + f.name.replace("_", "-")
        assert flag in options, f"TrainConfig.{f.name} has no {flag}"
        assert options[flag], f"{flag} has no help"


def test_option_names_agree_across_commands() -> None:
    for command in ("train", "compress", "export", "bench", "explain", "sweep"):
        assert "--out" in options_of(command), command
    for command in ("train", "eval", "compress", "sweep"):
        assert "--data" in options_of(command), command
    for command in ("train", "eval", "compress", "export", "bench", "predict", "explain", "sweep"):
        assert {"--threads", "--config", "--print-config"} <= set(options_of(command)), command
    for command in ("train", "eval", "compress", "predict"):
        assert "--batch-size" in options_of(command), command
    assert {"-o", "--output"} <= set(options_of("export"))  # the old spellings still work


def test_train_print_config_reads_back_to_the_same_settings(tmp_path: Path, capsys) -> None:
    code, first, err = run_cli(
        capsys,
        "train",
        "--recipe",
        "demo",
        "--epochs",
        "3",
        "--lr",
        "0.05",
        "--no-nesterov",
        "--model-arg",
        "dropout=0.25",
        "--out",
        tmp_path / "run",
        "--print-config",
    )
    assert code == 0, err
    settings = json.loads(first)
    assert settings["epochs"] == 3 and settings["lr"] == 0.05 and settings["nesterov"] is False
    assert settings["model_kwargs"]["dropout"] == 0.25
    assert TrainConfig(**settings).to_dict() == settings  # a whole TrainConfig
    saved = tmp_path / "train.json"
    saved.write_text(first)
    code, again, err = run_cli(capsys, "train", "--config", saved, "--print-config")
    assert code == 0, err
    assert json.loads(again) == settings
    assert not (tmp_path / "run").exists()  # --print-config trains nothing
    # Flags beside --config win over the file.
    code, out, err = run_cli(capsys, "train", "--config", saved, "--epochs", "5", "--print-config")
    assert code == 0, err
    assert json.loads(out) == {**settings, "epochs": 5}


def test_a_toml_config_and_kebab_keys(tmp_path: Path, capsys) -> None:
    path = tmp_path / "eval.toml"
    path.write_text('split = "train"\nbatch-size = 64\n')
    code, out, err = run_cli(
        capsys, "eval", "weights.safetensors", "--config", path, "--print-config"
    )
    assert code == 0, err
    expected = dataclasses.asdict(EvalConfig(split="train", batch_size=64))
    assert json.loads(out) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"epochs": "ten"}', "epochs must be int, got 'ten'"),
        ('{"epoch": 3}', "unknown option 'epoch'; valid: model, model_kwargs,"),
        ('{"epochs": 3', "not valid JSON"),
        ("[1, 2]", "expected an object of option names, got list"),
        ('{"nesterov": "no"}', "nesterov must be bool, got 'no'"),
    ],
)
def test_a_bad_config_file_is_a_one_line_error(
    tmp_path: Path, capsys, text: str, message: str
) -> None:
    path = tmp_path / "train.json"
    path.write_text(text)
    code, out, err = run_cli(capsys, "train", "--config", path, "--print-config")
    assert code == 2 and not out
    assert len(err.strip().splitlines()) == 1, err
    assert f"--config {path}: " in err and message in err


def test_a_missing_config_file_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "export", "m.safetensors", "--config", tmp_path / "no.json")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "cannot read it (No such file or directory)" in err


def test_a_required_option_may_come_from_the_config_file(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "sweep", "--print-config")
    assert code == 2 and "missing option --grid" in err
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({"grid": ["sr=0.25,0.5"], "epochs": 2}))
    code, out, err = run_cli(capsys, "sweep", "--config", path, "--print-config")
    assert code == 0, err
    assert json.loads(out)["grid"] == ["sr=0.25,0.5"] and json.loads(out)["epochs"] == 2


def test_a_new_field_becomes_an_option_with_its_docstring_help(tmp_path: Path) -> None:
    @dataclass
    class Toy:
        """A config.

        Attributes:
            size: the side, in pixels. More words that --help leaves out.
            name: what to call it.
        """

        size: int = 8
        name: str | None = None
        fast: bool = option(False, "go fast")

    toy = typer.Typer()
    seen = []
    config_command("toy", Toy, params=[JSON], target=toy)(lambda c, as_json: seen.append(c))
    config_command("other", Toy, target=toy)(lambda c: None)  # a group, so `toy` is named
    runner = CliRunner()
    help_text = " ".join(runner.invoke(toy, ["toy", "--help"], terminal_width=200).output.split())
    assert "--size" in help_text and "the side, in pixels" in help_text
    assert "More words" not in help_text and "--fast" in help_text and "go fast" in help_text
    result = runner.invoke(toy, ["toy", "--size", "3", "--fast", "--print-config"])
    assert result.exit_code == 0 and not seen
    assert json.loads(result.output) == {"size": 3, "name": None, "fast": True}
    path = tmp_path / "toy.json"
    path.write_text(result.output)
    assert runner.invoke(toy, ["toy", "--config", str(path), "--name", "x"]).exit_code == 0
    assert seen == [Toy(size=3, name="x", fast=True)]


def test_compress_options_are_checked_before_anything_loads(capsys) -> None:
    code, out, err = run_cli(
        capsys,
        "compress",
        "missing.safetensors",
        "--channels",
        "0.5",
        "--channel-multiple",
        "8",
        "--sparsity",
        "conv1=0.5,*=0",
        "--print-config",
    )
    assert code == 0, err
    printed = json.loads(out)
    assert (printed["channels"], printed["channel_multiple"]) == (0.5, 8)
    assert printed["sparsity"] == "conv1=0.5,*=0"
    code, _, err = run_cli(capsys, "compress", "m.safetensors", "--channel-multiple", "0")
    assert code == 2 and "--channel-multiple" in err
    code, _, err = run_cli(capsys, "compress", "missing.safetensors", "--channels", "2")
    assert code == 2 and "channels share must be in (0, 1]" in err


def test_shared_finetune_options_do_not_switch_phases_on() -> None:
    lossless = CompressOptions(preset="lossless", augment="flip", batch_size=64)
    config = lossless.to_config()
    assert config.prune_finetune is None and config.share_finetune is None
    config = CompressOptions(preset="lossless", augment="flip", prune_epochs=6).to_config()
    assert config.share_finetune is None
    assert (config.prune_finetune.epochs, config.prune_finetune.augment) == (6, "flip")
    config = CompressOptions(preset="paper", augment="flip").to_config()
    assert config.prune_finetune.augment == config.share_finetune.augment == "flip"
