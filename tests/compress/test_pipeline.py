"""compress_model end to end, clear errors for wrong data, and the CLI."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import squeezenet
from squeezenet.cli import app
from squeezenet.compress import (
    CompressConfig,
    CompressError,
    FinetuneConfig,
    PruneConfig,
    bn_scales,
    compress_model,
    conv_layers,
    fold_batch_norm,
    prune_,
    save_sqz,
)
from squeezenet.compress.fold import plain_copy
from squeezenet.compress.prune import keep_count

from .conftest import CLASSES, tiny_dataset, tiny_model

QUICK = {
    "prune_finetune": FinetuneConfig(epochs=1, batch_size=8),
    "share_finetune": FinetuneConfig(epochs=1, batch_size=8, optimizer="adamw", lr=1e-4),
}


def test_compress_model_reports_and_round_trips(tmp_path: Path) -> None:
    model = tiny_model(batch_norm=True)
    train, test = tiny_dataset(32), tiny_dataset(16, seed=1)
    config = CompressConfig.preset("aggressive", **QUICK)
    lines: list[str] = []
    compressed, report = compress_model(model, train, test, config, log=lines.append)
    assert model.config.batch_norm  # the input model is untouched
    assert any("masked retraining" in line for line in lines)
    conv10 = compressed.classifier[1].weight
    assert int(torch.count_nonzero(conv10)) == keep_count(conv10.numel(), 0.7)
    for value in (report.top1_before, report.top1_pruned, report.top1_after):
        assert 0.0 <= value <= 1.0
    assert report.sqz_bytes == len(squeezenet.compress.encode_model(compressed))
    assert report.ratio == pytest.approx(report.fp32_bytes / report.sqz_bytes)
    assert report.safetensors_bytes > report.fp32_bytes and report.ratio > 10
    layer = report.layers[-1]
    assert layer.paper_name == "conv10" and layer.bits <= 5 and layer.codebook_size <= 32
    saved = json.loads(report.save(tmp_path / "r.json").read_text())
    assert saved["sqz_bytes"] == report.sqz_bytes and len(saved["layers"]) == len(report.layers)
    x = torch.randn(2, 3, 16, 16)
    path = squeezenet.compress.save_sqz(compressed, tmp_path / "m.sqz")
    with torch.no_grad():
        assert torch.equal(squeezenet.load_model(path)(x), compressed(x))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (tiny_dataset(8, classes=CLASSES[:5]), "10 classes but dataset 'tiny' has 5"),
        (tiny_dataset(8, channels=1), "3-channel images but dataset 'tiny' has 1"),
        (tiny_dataset(8, classes=[f"x{i}" for i in range(10)]), "class names differ"),
    ],
)
def test_wrong_data_fails_clearly(data, message: str) -> None:
    with pytest.raises(CompressError, match=message):
        compress_model(tiny_model(), data, None, CompressConfig(**QUICK))
    with pytest.raises(CompressError, match=message):
        compress_model(tiny_model(), None, data, CompressConfig(**QUICK))


def _tiny_mnist(root: Path, n: int = 24) -> Path:
    """Raw IDX files in MNIST's names: the loader reads them like the real ones."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g).numpy().tobytes()
    labels = (torch.arange(n) % 10).to(torch.uint8).numpy().tobytes()
    root.mkdir()
    for prefix in ("train", "t10k"):
        (root / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 0x803, n, 28, 28) + images
        )
        (root / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels)
    return root


def test_cli_compress_with_data_then_info_and_eval(tmp_path: Path) -> None:
    from squeezenet.data import MNIST

    model = tiny_model(in_channels=1)
    model.meta = {
        **model.meta.to_dict(),
        "class_names": list(MNIST.class_names),
        "input_size": 28,
        "dataset": "mnist",
    }
    weights = squeezenet.save_model(model, tmp_path / "w.safetensors")
    data_dir = str(_tiny_mnist(tmp_path / "mnist"))
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "compress",
            str(weights),
            "--data",
            "mnist",
            "--data-dir",
            data_dir,
            "--preset",
            "aggressive",
            "--prune-epochs",
            "1",
            "--share-epochs",
            "1",
            "--batch-size",
            "8",
            "--rounds",
            "1",
            "--bits",
            "conv10=5,*=4",
            "--augment",
            "flip",
        ],
    )
    assert result.exit_code == 0, result.output
    sqz, report = tmp_path / "w.sqz", tmp_path / "w.json"
    saved = json.loads(report.read_text())
    assert saved["config"]["prune_finetune"]["augment"] == "flip"
    assert saved["config"]["share_finetune"]["augment"] == "flip"
    assert saved["sqz_bytes"] == sqz.stat().st_size and saved["top1_after"] is not None
    assert "bits/weight" in result.output and "conv10" in result.output
    info = runner.invoke(app, ["sqz-info", str(sqz), "--json"])
    assert info.exit_code == 0, info.output
    assert json.loads(info.output)["sqz_bytes"] == sqz.stat().st_size
    # `squeezenet eval` reads the dataset name and preprocessing from the .sqz file itself.
    evaluated = runner.invoke(app, ["eval", str(sqz), "--data-dir", data_dir, "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["top1"] == pytest.approx(saved["top1_after"])


def test_cli_compresses_a_torchvision_checkpoint_without_data(tmp_path: Path) -> None:
    pth = tmp_path / "tv.pth"
    torch.save(squeezenet.create_model("squeezenet1_1").state_dict(), pth)
    out = tmp_path / "out" / "tv.sqz"
    result = CliRunner().invoke(
        app, ["compress", str(pth), "--out", str(out), "--preset", "paper", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["sqz_bytes"] == out.stat().st_size and report["top1_before"] is None
    assert squeezenet.load_model(out).num_classes == 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "extreme"], "unknown compression preset 'extreme'"),
        (["--sparsity", "conv10=2"], "must be in \\[0, 1\\)"),
        (["--bits", "*=x"], "bad bits value 'x'"),
        (["--sparsity", "fire10.squeeze=0.5,*=0"], "match no layer"),
        (["--augment", "twirl"], "augment must be one of .* got 'twirl'"),
        (["--rounds", "0"], "--rounds"),
    ],
)
def test_cli_bad_options_are_one_line_errors(
    tmp_path: Path, args: list[str], message: str, capsys
) -> None:
    weights = squeezenet.save_model(tiny_model(), tmp_path / "w.safetensors")
    with pytest.raises(SystemExit) as exit_info:
        squeezenet.cli.main(["compress", str(weights), *args])
    assert exit_info.value.code == 2
    assert pytest.importorskip("re").search(message, capsys.readouterr().err)


def test_cli_corrupt_sqz_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.sqz"
    bad.write_bytes(b"\x89SQZ\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(SystemExit) as exit_info:
        squeezenet.cli.main(["sqz-info", str(bad)])
    assert exit_info.value.code == 2 and "invalid .sqz file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        squeezenet.cli.main(["sqz-info", str(tmp_path)])  # a folder
    assert exit_info.value.code == 2
    assert "is a folder, not a regular .sqz file" in capsys.readouterr().err


def test_cli_compress_refuses_to_overwrite_its_source(tmp_path: Path, capsys) -> None:
    source = save_sqz(tiny_model(), tmp_path / "m.sqz")  # the default output is m.sqz itself
    before = source.read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        squeezenet.cli.main(["compress", str(source)])
    assert exit_info.value.code == 2 and "would overwrite it" in capsys.readouterr().err
    assert source.read_bytes() == before and sorted(tmp_path.iterdir()) == [source]
    weights = squeezenet.save_model(tiny_model(), tmp_path / "w.safetensors")
    with pytest.raises(SystemExit):  # --out m.json: the report (m.json) would replace the .sqz
        squeezenet.cli.main(["compress", str(weights), "--out", str(tmp_path / "m.json")])
    assert "pass another --report" in " ".join(capsys.readouterr().err.split())
    assert sorted(tmp_path.iterdir()) == [source, weights]


def test_batch_norm_model_is_retrained_with_bn_then_folded_exactly() -> None:
    model = tiny_model(batch_norm=True)
    config = CompressConfig(PruneConfig({"conv10": 0.5, "*": 0.7}), rounds=2, **QUICK)
    compressed, report = compress_model(model, tiny_dataset(64), tiny_dataset(32, seed=1), config)
    assert not compressed.config.batch_norm  # folded before sharing
    for path, conv in conv_layers(compressed).items():
        target = 0.5 if path == "classifier.1" else 0.7
        assert int(torch.count_nonzero(conv.weight)) <= keep_count(conv.weight.numel(), target)
    assert report.top1_after is not None


def test_bn_scaled_pruning_ranks_by_folded_magnitude() -> None:
    model = tiny_model(batch_norm=True)
    with torch.no_grad():  # very different per-channel BatchNorm scales
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(
                    torch.rand(m.num_features, generator=torch.Generator().manual_seed(0)) * 4
                )
    folded = fold_batch_norm(model)  # the weights that will run, before pruning
    raw_masks = prune_(plain_copy(model), PruneConfig({"*": 0.6}))
    masks = prune_(model, PruneConfig({"*": 0.6}), channel_scale=bn_scales(model))
    for path, mask in masks.items():
        w = conv_layers(folded)[path].weight.detach().abs()
        assert w[mask > 0].min() >= w[mask == 0].max() - 1e-6
    assert any(not torch.equal(masks[p], raw_masks[p]) for p in masks)  # the scales mattered


def test_cli_compress_retrains_a_run_folder_with_its_own_augmentation(tmp_path: Path) -> None:
    run = tmp_path / "run"
    squeezenet.save_model(tiny_model(), run / "weights" / "best.safetensors")
    from squeezenet.engine import TrainConfig

    (run / "config.json").write_text(json.dumps(TrainConfig(augment="flip").to_dict()))
    runner = CliRunner()
    result = runner.invoke(app, ["compress", str(run), "--preset", "paper"])
    assert result.exit_code == 0, result.output
    assert "fine-tuning augmentation: flip" in result.output
    saved = json.loads((run / "compressed.json").read_text())
    assert saved["config"]["prune_finetune"]["augment"] == "flip"
    assert saved["config"]["share_finetune"]["augment"] == "flip"
    # The option still wins over the run's record.
    result = runner.invoke(app, ["compress", str(run), "--preset", "paper", "--augment", "none"])
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "compressed.json").read_text())
    assert saved["config"]["prune_finetune"]["augment"] == "none"


def test_cli_channel_pruning_reports_latency_before_and_after(tmp_path: Path) -> None:
    weights = tmp_path / "m.safetensors"
    squeezenet.save_model(tiny_model(batch_norm=True), weights)
    out = tmp_path / "m.sqz"
    args = ["compress", str(weights), "--out", str(out), "--preset", "lossless"]
    result = CliRunner().invoke(app, [*args, "--channels", "0.5", "--channel-multiple", "1"])
    assert result.exit_code == 0, result.output
    assert "of the MACs" in result.output and "latency batch 1" in result.output
    latency = json.loads(out.with_suffix(".json").read_text())["channels"]["latency"]
    assert latency["backend"] in ("onnxruntime", "channels_last")
    for batch in ("batch_1", "batch_32"):
        row = latency[batch]
        assert row["before_ms"] > 0 and row["after_ms"] > 0
        assert row["ratio"] == pytest.approx(row["after_ms"] / row["before_ms"])
