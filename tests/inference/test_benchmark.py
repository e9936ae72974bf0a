"""bench: every available backend runs, unavailable ones are reported, JSON is well formed."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from squeezenet import FireConfig, SqueezeNet, SqueezeNetConfig
from squeezenet.cli import main
from squeezenet.export import export_onnx
from squeezenet.inference import benchmark as bench_mod
from squeezenet.inference import run_benchmark
from squeezenet.inference.backends import BACKENDS, OPENVINO_BACKENDS, openvino_available
from squeezenet.inference.benchmark import BenchReport, BenchResult

from .conftest import tiny_model

ROW_KEYS = {
    "backend",
    "batch",
    "input_size",
    "threads",
    "p50_ms",
    "p90_ms",
    "images_per_s",
    "gflops",
}
QUICK = {"rounds": 2, "round_time": 0.005, "warmup_time": 0.01, "sgemm_size": 128}


def _check_rows(data: dict, backends: list[str], batches: list[int]) -> None:
    assert {(r["backend"], r["batch"]) for r in data["results"]} == {
        (b, n) for b in backends for n in batches
    }
    for row in data["results"]:
        assert set(row) == ROW_KEYS
        assert 0 < row["p50_ms"] <= row["p90_ms"] and row["images_per_s"] > 0 and row["gflops"] > 0
    assert data["machine"]["sgemm_gflops"] > 0


def test_every_available_backend_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("no C++ compiler: torch.compile's availability is covered below")
    fast = [b for b in BACKENDS if b != "compile"]
    if not openvino_available():  # its report without the package is tested below
        fast = [b for b in fast if b not in OPENVINO_BACKENDS]
    report = run_benchmark(tiny_model(1, input_size=16), fast, [1, 3], threads=1, **QUICK)
    data = json.loads(json.dumps(report.to_dict()))
    _check_rows(data, fast, [1, 3])
    assert data["unavailable"] == []
    assert data["best_peer"]["1"] == report.best_peer(1).backend
    agreement = data["agreement"]
    assert all(agreement[b]["max_abs_diff"] < 1e-4 for b in fast if not b.endswith("int8"))
    assert report.fastest(1) is not None and report.ratio("onnxruntime", 1) > 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # inductor's own internals
def test_compile_backend_runs_or_says_why() -> None:
    # Inductor needs a working C++ toolchain; either outcome must be a report, not a crash.
    # Two Fire modules: inductor's compile time grows with the layer count.
    config = SqueezeNetConfig(
        name="tiny",
        stem_channels=8,
        stem_kernel=3,
        small_input=True,
        num_classes=3,
        fires=(FireConfig(2, 4, 4), FireConfig(2, 4, 4)),
        pool_after=(0,),
    )
    report = run_benchmark(SqueezeNet(config), ["compile"], [1], 8, threads=1, **QUICK)
    assert report.get("compile", 1) is not None or "compile" in report.unavailable


def _row(backend: str, batch: int, p50: float) -> BenchResult:
    return BenchResult(backend, batch, 16, 1, p50, p50, batch / p50, None)


def test_ratios_are_against_the_faster_peer_at_each_batch() -> None:
    report = BenchReport(
        {},
        {},
        [
            _row("onnxruntime-plain", 1, 6.0),
            _row("openvino-plain", 1, 12.0),
            _row("eager", 1, 3.0),
            _row("onnxruntime-plain", 32, 200.0),
            _row("openvino-plain", 32, 100.0),
            _row("eager", 32, 50.0),
        ],
    )
    assert report.best_peer(1).backend == "onnxruntime-plain"
    assert report.best_peer(32).backend == "openvino-plain"
    assert report.ratio("eager", 1) == 0.5 and report.ratio("eager", 32) == 0.5
    assert report.ratio("eager", 32, peer="onnxruntime-plain") == 0.25
    assert report.fastest(32).backend == "eager"  # peers are not ours
    assert report.to_dict()["best_peer"] == {"1": "onnxruntime-plain", "32": "openvino-plain"}


def test_missing_openvino_is_reported_by_the_benchmark(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now fails
    backends = ["onnxruntime-plain", "openvino-plain", "openvino", "eager"]
    report = run_benchmark(tiny_model(), backends, [1], threads=1, **QUICK)
    assert {r.backend for r in report.results} == {"onnxruntime-plain", "eager"}
    assert set(report.unavailable) == {"openvino-plain", "openvino"}
    assert all("pip install 'squeezenet[openvino]'" in r for r in report.unavailable.values())
    assert report.best_peer(1).backend == "onnxruntime-plain" and report.ratio("eager", 1) > 0


def test_unavailable_backends_are_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("squeezenet.inference.backends.shutil.which", lambda _name: None)
    report = run_benchmark(tiny_model(), ["eager", "compile"], [1], threads=1, **QUICK)
    assert [r.backend for r in report.results] == ["eager"]
    assert "C++ compiler" in report.unavailable["compile"]
    # An ONNX file has no PyTorch model behind it.
    path = export_onnx(tiny_model(), tmp_path / "m.onnx", check=False).path
    report = run_benchmark(None, ["eager", "onnxruntime"], [2], onnx_path=path, threads=1, **QUICK)
    assert report.get("onnxruntime", 2) is not None and report.model["name"] == "squeezenet1_1"
    assert "PyTorch model" in report.unavailable["eager"]


def test_an_onnx_file_of_unknown_flops_gets_no_gflops(tmp_path: Path) -> None:
    """A foreign ONNX file (no model config in its metadata) has no FLOP count: its GFLOP/s
    and sgemm fraction are blank, not 0."""
    import onnx

    from squeezenet.cli.bench import bench_table
    from squeezenet.export.onnx import set_metadata

    path = export_onnx(tiny_model(), tmp_path / "m.onnx", check=False).path
    proto = onnx.load(str(path))
    set_metadata(proto, {})  # no metadata at all: the graph's input gives the size
    onnx.save(proto, str(path))
    report = run_benchmark(None, ["onnxruntime"], [1], onnx_path=path, threads=1, **QUICK)
    row = report.get("onnxruntime", 1)
    assert report.model["flops_per_image"] is None and row is not None and row.p50_ms > 0
    assert row.gflops is None and report.sgemm_fraction(row) is None
    assert json.loads(json.dumps(report.to_dict()))["results"][0]["gflops"] is None
    cells = [next(iter(c.cells)) for c in bench_table(report).columns]
    assert cells[5] == "" and cells[6] == ""  # GFLOP/s, % of sgemm


def test_backend_failing_at_run_time_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    real = bench_mod.make_runner

    def broken(name, **kwargs):
        runner = real(name, **kwargs)
        if name == "channels_last":
            runner.fn = lambda _x: (_ for _ in ()).throw(RuntimeError("kernel exploded"))
        return runner

    monkeypatch.setattr(bench_mod, "make_runner", broken)
    report = run_benchmark(tiny_model(), ["eager", "channels_last"], [1], threads=1, **QUICK)
    assert "kernel exploded" in report.unavailable["channels_last"]
    assert report.get("eager", 1) is not None


def test_cli_bench_json_and_file(capsys, tmp_path: Path) -> None:
    out_file = tmp_path / "bench.json"
    try:
        main(
            [
                "bench",
                "squeezenet1_1",
                "--input-size",
                "17",
                "--backend",
                "eager,onnxruntime",
                "--batch",
                "1,2",
                "--threads",
                "1",
                "--rounds",
                "1",
                "--json",
                "--output",
                str(out_file),
            ]
        )
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    _check_rows(data, ["eager", "onnxruntime"], [1, 2])
    assert json.loads(out_file.read_text()) == data
    assert data["machine"]["threads"] == 1 and data["model"]["flops_per_image"] > 0


def test_cli_bench_calibrates_int8_on_the_train_split_only(capsys, tmp_path: Path) -> None:
    from PIL import Image

    from squeezenet import save_model

    for i, name in enumerate(("a", "b")):  # train/ only: the test split is not needed
        folder = tmp_path / "data" / "train" / name
        folder.mkdir(parents=True)
        Image.new("RGB", (30, 30), (40 * i, 90, 200)).save(folder / "0.png")
    weights = save_model(tiny_model(), tmp_path / "w.safetensors")
    try:
        main(
            [
                "bench",
                str(weights),
                "--backend",
                "onnxruntime-int8",
                "--batch",
                "1",
                "--threads",
                "1",
                "--rounds",
                "1",
                "--calib-data",
                f"folder:{tmp_path / 'data'}",
                "--json",
            ]
        )
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert [r["backend"] for r in json.loads(captured.out)["results"]] == ["onnxruntime-int8"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--backend", "tensorrt"], "unknown backend"),
        (["--batch", "0"], ">= 1"),
        (["--batch", "x"], "positive integers"),
    ],
)
def test_cli_bench_rejects_bad_options(capsys, args: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "squeezenet1_1", *args])
    assert exc.value.code == 2 and message in capsys.readouterr().err
