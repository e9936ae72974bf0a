"""bench with variants: a smaller model of the same task timed in the same rounds as the base
model, its rows named "variant/backend", its ratios against the base model's best peer."""

from __future__ import annotations

import json
import sys

import pytest

from squeezenet.compress import prune_channels
from squeezenet.inference import run_benchmark
from squeezenet.inference.benchmark import BenchReport, BenchResult
from squeezenet.summary import summarize

from .conftest import tiny_model
from .test_benchmark import QUICK

SIZE = 16


@pytest.fixture(scope="module")
def pair():
    base = tiny_model(1, input_size=SIZE)
    pruned, _ = prune_channels(base, 0.5, input_size=SIZE)
    return base, pruned


def test_variant_rows_have_their_own_names_flops_and_files(pair) -> None:
    base, pruned = pair
    report = run_benchmark(
        base,
        ["onnxruntime-plain", "onnxruntime"],
        [1, 2],
        threads=1,
        variants={"pruned": pruned},
        variant_backends=["onnxruntime", "onnxruntime-int8", "eager"],
        **QUICK,
    )
    mine = {"pruned/onnxruntime", "pruned/onnxruntime-int8", "pruned/eager"}
    assert {r.backend for r in report.results} == {"onnxruntime-plain", "onnxruntime"} | mine
    assert report.unavailable == {}
    info = report.model["variants"]["pruned"]
    flops = summarize(pruned, SIZE).total_flops
    assert info["flops_per_image"] == flops < report.model["flops_per_image"]
    assert info["params"] == summarize(pruned, SIZE).total_params
    assert info["flops_share"] == pytest.approx(flops / report.model["flops_per_image"])
    for name in mine:
        row = report.get(name, 2)
        assert row.gflops == pytest.approx(flops * 2 / (row.p50_ms / 1e3) / 1e9)
    base_row = report.get("onnxruntime", 2)
    base_flops = report.model["flops_per_image"]
    assert base_row.gflops == pytest.approx(base_flops * 2 / (base_row.p50_ms / 1e3) / 1e9)
    # Agreement is with the dense model. Its own export, not the base model's file: the
    # variant's onnxruntime logits are the variant's PyTorch logits, not the base model's.
    agree = report.agreement
    assert agree["pruned/onnxruntime"]["reference"] == "onnxruntime-plain"
    assert agree["onnxruntime"]["max_abs_diff"] < 1e-4
    assert agree["pruned/onnxruntime"]["max_abs_diff"] > 1e-3
    assert agree["pruned/onnxruntime"]["max_abs_diff"] == pytest.approx(
        agree["pruned/eager"]["max_abs_diff"], abs=1e-4
    )
    assert report.fastest(1).backend == "onnxruntime"  # the base model's, unless asked
    assert report.fastest(1, variant="pruned").backend in {"pruned/onnxruntime", "pruned/eager"}
    data = json.loads(json.dumps(report.to_dict()))
    assert data["model"]["variants"]["pruned"]["flops_per_image"] == flops


def _row(backend: str, batch: int, p50: float) -> BenchResult:
    return BenchResult(backend, batch, 16, 1, p50, p50, batch / p50, None)


def test_variant_ratios_are_against_the_base_models_best_peer() -> None:
    report = BenchReport(
        {},
        {"flops_per_image": 100, "variants": {"pruned": {"flops_per_image": 40}}},
        [
            _row("onnxruntime-plain", 1, 6.0),
            _row("openvino-plain", 1, 12.0),
            _row("onnxruntime", 1, 5.0),
            _row("pruned/onnxruntime-plain", 1, 2.0),  # not a peer: a peer runs the original
            _row("pruned/onnxruntime", 1, 3.0),
        ],
    )
    assert report.best_peer(1).backend == "onnxruntime-plain"
    assert report.ratio("pruned/onnxruntime", 1) == 0.5
    assert report.ratio("pruned/onnxruntime-plain", 1) == pytest.approx(1 / 3)
    assert report.fastest(1).backend == "onnxruntime"
    assert report.fastest(1, variant="pruned").backend == "pruned/onnxruntime-plain"
    assert report.flops_of("pruned/onnxruntime") == 40 and report.flops_of("onnxruntime") == 100
    assert report.to_dict()["best_peer"] == {"1": "onnxruntime-plain"}


def test_unknown_variant_backend_is_rejected_like_any_backend(pair) -> None:
    base, pruned = pair
    with pytest.raises(ValueError, match="unknown backend") as plain:
        run_benchmark(base, ["tensorrt"], [1], threads=1, **QUICK)
    with pytest.raises(ValueError, match="unknown backend") as variant:
        run_benchmark(
            base,
            ["eager"],
            [1],
            threads=1,
            variants={"pruned": pruned},
            variant_backends=["tensorrt"],
            **QUICK,
        )
    assert str(variant.value) == str(plain.value)


def test_unavailable_variant_backend_is_reported_like_any_backend(
    pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now fails
    base, pruned = pair
    report = run_benchmark(
        base,
        ["openvino", "eager"],
        [1],
        threads=1,
        variants={"pruned": pruned},
        variant_backends=["openvino", "eager"],
        **QUICK,
    )
    assert {r.backend for r in report.results} == {"eager", "pruned/eager"}
    assert report.unavailable["pruned/openvino"] == report.unavailable["openvino"]
    assert "pip install 'squeezenet[openvino]'" in report.unavailable["pruned/openvino"]


@pytest.mark.parametrize("name", ["", "a/b"])
def test_variant_names_are_checked(pair, name: str) -> None:
    base, pruned = pair
    with pytest.raises(ValueError, match="invalid variant name"):
        run_benchmark(base, ["eager"], [1], threads=1, variants={name: pruned}, **QUICK)
