"""compress -> .sqz -> report as one library call, and the report rendered by the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from squeezenet import load_model
from squeezenet.cli.render import compression_table
from squeezenet.compress import CompressConfig, compress_to_file

from .conftest import tiny_model


def test_compress_to_file_writes_the_sqz_and_a_report_of_its_size(tmp_path: Path) -> None:
    model = tiny_model()
    done = compress_to_file(
        model,
        tmp_path / "m.sqz",
        config=CompressConfig.preset("paper"),
        report_path=tmp_path / "m.json",
    )
    assert done.sqz_path == tmp_path / "m.sqz"
    assert done.report.sqz_bytes == done.sqz_path.stat().st_size
    saved = json.loads(done.report_path.read_text())
    assert saved["sqz_bytes"] == done.report.sqz_bytes and saved["path"] == str(done.sqz_path)
    reloaded = load_model(done.sqz_path)
    for key, value in done.model.state_dict().items():
        assert torch.equal(value, reloaded.state_dict()[key]), key
    table = compression_table(done.report)  # the CLI's rendering of the library's data
    assert table.row_count == len(done.report.layers) + 1  # one row per conv, then totals
    assert f"{done.report.sqz_bytes:,} bytes" in str(table.title)


def test_without_a_report_path_nothing_but_the_sqz_is_written(tmp_path: Path) -> None:
    done = compress_to_file(tiny_model(), tmp_path / "m.sqz", config=CompressConfig.preset("paper"))
    assert done.report_path is None and sorted(p.name for p in tmp_path.iterdir()) == ["m.sqz"]
