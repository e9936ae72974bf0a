"""`train` errors that used to be tracebacks, some after files were written: a broken or
hostile checkpoint.pt under --resume, and an --image-size the model cannot classify."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from squeezenet import create_model
from squeezenet.engine import TrainConfig, build_optimizer
from squeezenet.engine.optim import build_scheduler
from squeezenet.models import get_model_config
from squeezenet.models.shapes import min_input_size

from ..helpers import run_cli
from .test_train import tiny_config


def _checkpoint_cases(valid: bytes) -> dict[str, object]:
    """What each broken checkpoint.pt holds: bytes, an object to torch.save, or a link."""
    state = torch.load(io.BytesIO(valid), weights_only=True)
    return {
        "truncated": valid[: len(valid) // 2],
        "garbage": b"\x00garbage" * 50,
        "dev_zero": Path("/dev/zero"),
        "a list": [1, 2, 3],
        "missing keys": {"epoch": 1},
        "wrong types": {**state, "epoch": "one"},
        "another model": {**state, "model": {"conv.weight": torch.zeros(2)}},
    }


def _valid_checkpoint_bytes(model: torch.nn.Module) -> bytes:
    optimizer = build_optimizer(model, "sgd", 0.1)
    scheduler = build_scheduler(optimizer, "cosine", total_steps=4, warmup_steps=0)
    buffer = io.BytesIO()
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": 1,
            "best_top1": 0.5,
            "rng": torch.get_rng_state(),
            "history": [],
            "config": "{}",
        },
        buffer,
    )
    return buffer.getvalue()


@pytest.mark.parametrize(
    "case",
    ["truncated", "garbage", "dev_zero", "a list", "missing keys", "wrong types", "another model"],
)
def test_a_broken_checkpoint_under_resume_is_one_line(
    tiny_fashion: Path, tmp_path: Path, capsys, case: str
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    config = tiny_config(tiny_fashion, run, epochs=1)
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    model = create_model(
        "squeezenet1_1",
        num_classes=10,
        in_channels=1,
        small_input=True,
        batch_norm=True,
        dropout=0.3,
    )
    valid = _valid_checkpoint_bytes(model)
    content = _checkpoint_cases(valid)[case]
    path = run / "checkpoint.pt"
    if isinstance(content, Path):
        path.symlink_to(content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        if isinstance(content, dict) and "config" in content:  # a checkpoint of this run
            content = {**content, "config": json.dumps(config.to_dict())}
        torch.save(content, path)
    code, _, err = run_cli(capsys, "train", "--resume", "--out", run)
    assert code == 2, err
    assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err, err


def test_image_size_below_the_models_minimum_is_refused_before_any_file(
    tiny_fashion: Path, tmp_path: Path, capsys
) -> None:
    small = min_input_size(get_model_config("squeezenet1_1", small_input=True))
    large = min_input_size(get_model_config("squeezenet1_1"))
    out = tmp_path / "run"
    code, _, err = run_cli(
        capsys,
        "train",
        "--data",
        "fashion-mnist",
        "--data-dir",
        tiny_fashion,
        "--image-size",
        small - 1,
        "--out",
        out,
    )
    assert code == 2 and err.count("\n") == 1, err
    assert f"invalid image_size {small - 1}: squeezenet1_1 needs at least {small} pixels" in err
    assert not out.exists()
    # A large-input stem asked for explicitly has its own, larger minimum.
    with pytest.raises(ValueError, match=f"needs at least {large} pixels"):
        TrainConfig(image_size=large - 1, model_kwargs={"small_input": False})
    with pytest.raises(ValueError, match="invalid image_size: 0"):
        TrainConfig(image_size=0)
    TrainConfig(image_size=small)  # the minimum itself trains
    TrainConfig(image_size=large, model_kwargs={"small_input": False})
