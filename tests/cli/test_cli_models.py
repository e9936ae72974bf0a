"""`squeezenet list` / `summary` and how the CLI reports errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ..helpers import run_cli


def test_list_shows_every_model(capsys) -> None:
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    assert "squeezenet1_0_complex_bypass" in out and "1,248,424" in out


def test_summary_table_and_json(capsys) -> None:
    code, out, _ = run_cli(capsys, "summary", "squeezenet1_1")
    assert code == 0 and "fire9" in out and "1,235,496" in out and "0.349G" in out
    code, out, _ = run_cli(
        capsys,
        "summary",
        "squeezenet1_0",
        "--json",
        "--num-classes",
        "10",
        "--input-size",
        "32",
        "--small-input",
        "--in-channels",
        "1",
    )
    data = json.loads(out)
    assert code == 0 and data["num_classes"] == 10 and data["in_channels"] == 1
    assert data["rows"][0]["output_shape"] == [96, 32, 32]


def test_summary_of_a_design_space_point(capsys) -> None:
    code, out, err = run_cli(
        capsys,
        "summary",
        "squeezenet_design",
        "--json",
        "--model-arg",
        "sr=0.25",
        "--model-arg",
        "layout=squeezenet1_1",
        "--model-arg",
        "pct3x3=0.75",
    )
    assert code == 0, err
    fire2 = next(r for r in json.loads(out)["rows"] if r["name"] == "fire2")
    assert (fire2["squeeze"], fire2["expand1x1"], fire2["expand3x3"]) == (32, 32, 96)


def test_summary_of_a_file_refuses_architecture_flags(capsys, tmp_path) -> None:
    """A file's architecture is stored in it: flags that would change it are not ignored."""
    from squeezenet import create_model, save_model

    weights = save_model(create_model("squeezenet1_1", num_classes=3), tmp_path / "w.safetensors")
    code, out, err = run_cli(capsys, "summary", str(weights), "--small-input", "--no-batch-norm")
    assert code == 2 and "--small-input, --batch-norm describe a registered model" in err
    code, out, err = run_cli(capsys, "summary", str(weights), "--model-arg", "sr=0.5")
    assert code == 2 and "--model-arg describe a registered model" in err
    code, out, _ = run_cli(capsys, "summary", str(weights), "--json")
    assert code == 0 and json.loads(out)["num_classes"] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summary", "squeezenet1_2"], "did you mean squeezenet1_1"),
        (["summary", "squeezenet1_0", "--input-size", "12"], "input size 12 is too small"),
        (["summary", "squeezenet1_0", "--num-classes", "0"], "num_classes"),
        (["summary", "squeezenet1_0", "--input-size", "abc"], "--input-size"),
        (
            ["summary", "squeezenet1_0", "--num-classes", "5", "--model-arg", "num_classes=7"],
            "--num-classes or --model-arg num_classes=",
        ),
    ],
)
def test_errors_name_the_bad_argument(capsys, args, message) -> None:
    code, out, err = run_cli(capsys, *args)
    assert code == 2
    assert message in " ".join((out + err).split())


def test_console_entry_point_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "squeezenet", "list", "*1_1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "squeezenet1_1" in proc.stdout and "squeezenet1_0 " not in proc.stdout
