"""Zero-preserving sharing, an already-sparse source's pruning, the lossless preset and codebook
distillation on unlabelled images (tiny models; the authors' real file for lossless)."""

from __future__ import annotations

import copy

import pytest
import torch
from PIL import Image

import squeezenet
from squeezenet.compress import (
    CompressConfig,
    CompressError,
    PruneConfig,
    ShareConfig,
    codebooks_of,
    compress_model,
    conv_layers,
    finalize_,
    prune_,
    share_weights_,
)
from squeezenet.compress.calibrate import (
    CalibConfig,
    calibrate_codebooks_,
    distill_loss,
    load_calibration_images,
)
from squeezenet.compress.quantize import round_codebooks_
from squeezenet.data.preprocess import input_normalizer
from squeezenet.meta import preprocessing_for

from ..conftest import FIXTURES
from .conftest import tiny_model

REAL_NET = FIXTURES / "imagenet" / "compressed_SqueezeNet.net"
ORIGINAL_BYTES = 675_763


def _sparse_source():
    """A tiny model pruned 'elsewhere': plain tensors with exact zeros, no masks."""
    model = tiny_model()
    prune_(model, PruneConfig({"conv10": 0.8, "*": 0.6}))
    return finalize_(model)


def _zeros(model) -> dict[str, torch.Tensor]:
    return {p: c.weight.detach() == 0 for p, c in conv_layers(model).items()}


@pytest.mark.parametrize("sparsity", [{"*": 0.0}, {"conv10": 0.5, "*": 0.3}])
def test_a_sparse_source_keeps_its_zeros_through_pruning_and_sharing(sparsity) -> None:
    source = _sparse_source()
    before = _zeros(source)
    model = copy.deepcopy(source)
    prune_(model, PruneConfig(sparsity))  # targets the source already exceeds: nothing more
    share_weights_(model, ShareConfig({"*": 3}))
    finalize_(model)
    for p, zero in _zeros(model).items():
        assert torch.equal(zero, before[p]), p  # no pruned weight came back as a centroid


def test_pruning_a_sparse_source_further_only_adds_zeros() -> None:
    source = _sparse_source()
    before = _zeros(source)
    prune_(source, PruneConfig({"*": 0.8}))
    for p, zero in _zeros(source).items():
        assert torch.all(zero[before[p]]) and zero.sum() >= before[p].sum()


def test_sharing_never_turns_a_kept_exact_zero_into_a_centroid(model) -> None:
    conv = conv_layers(model)["features.0"]
    with torch.no_grad():
        conv.weight[0].zero_()
    share_weights_(model, ShareConfig({"*": 2}))
    finalize_(model)
    assert torch.all(conv_layers(model)["features.0"].weight[0] == 0)


def test_lossless_preset_on_the_authors_file_is_bit_identical_and_smaller() -> None:
    source = squeezenet.load_model(REAL_NET)
    compressed, report = compress_model(source, config=CompressConfig.preset("lossless"))
    for key, value in source.state_dict().items():
        assert torch.equal(value, compressed.state_dict()[key]), key
    x = torch.randn(1, 3, 227, 227, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(source(x), compressed(x))
    assert report.sqz_bytes < ORIGINAL_BYTES and report.nnz == 415_921


def test_paper_preset_keeps_the_authors_pruning() -> None:
    source = squeezenet.load_model(REAL_NET)
    compressed, _ = compress_model(source, config=CompressConfig.preset("paper"))
    for path, zero in _zeros(source).items():
        assert torch.equal(_zeros(compressed)[path], zero), path
        values = torch.unique(conv_layers(compressed)[path].weight)
        assert len(values) <= 2**6 + 1


def test_round_codebooks_keeps_digits_and_never_makes_a_zero(model) -> None:
    share_weights_(model, ShareConfig({"*": 4}))
    round_codebooks_(model, 3)
    for book in codebooks_of(model).values():
        for v in book.tolist():
            assert v != 0 and float(f"{v:.3g}") == pytest.approx(v, rel=1e-6)
    with pytest.raises(CompressError, match="codebook_digits"):
        ShareConfig(codebook_digits=0)


def _calib_images(n: int = 6, size: int = 20) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)


def test_calibration_moves_only_codebooks_and_lowers_the_distillation_loss() -> None:
    torch.manual_seed(0)
    model = tiny_model()
    teacher = copy.deepcopy(model)
    pre = preprocessing_for(model)
    share_weights_(model, ShareConfig({"*": 2}))
    books = {p: b.clone() for p, b in codebooks_of(model).items()}
    biases = {p: c.bias.detach().clone() for p, c in conv_layers(model).items()}
    zeros = {p: c.weight.detach() == 0 for p, c in conv_layers(model).items()}
    images = _calib_images()
    x = input_normalizer(pre)(torch.stack([img[:, 2:18, 2:18] for img in images]))

    def loss() -> float:
        with torch.no_grad():
            return float(distill_loss(model(x), teacher(x), "kl"))

    before = loss()
    config = CalibConfig(steps=30, batch_size=6, lr=0.01)
    losses = calibrate_codebooks_(model, teacher, images, pre, config)
    assert len(losses) == 30 and loss() < before / 2
    assert any(not torch.equal(books[p], b) for p, b in codebooks_of(model).items())
    for p, conv in conv_layers(model).items():
        assert torch.equal(conv.bias.detach(), biases[p])
        assert torch.all(conv.weight.detach()[zeros[p]] == 0)
    assert all(p.requires_grad for p in model.parameters())  # frozen tensors restored


def test_compress_model_calibrates_when_given_images(model) -> None:
    config = CompressConfig(
        PruneConfig({"*": 0.5}),
        ShareConfig({"*": 2}),
        prune_finetune=None,
        share_finetune=None,
        calibration=CalibConfig(steps=3, batch_size=2),
    )
    plain, _ = compress_model(model, config=config)
    calibrated, _ = compress_model(model, config=config, calib_images=_calib_images())
    assert any(
        not torch.equal(a, b)
        for a, b in zip(plain.state_dict().values(), calibrated.state_dict().values())
    )


def test_calibration_images_from_a_flat_folder_ignore_layout(tmp_path, model) -> None:
    (tmp_path / "deep" / "er").mkdir(parents=True)
    Image.new("RGB", (40, 30), "red").save(tmp_path / "a.jpg")
    Image.new("RGB", (25, 50), "blue").save(tmp_path / "deep" / "er" / "b.png")
    (tmp_path / "notes.txt").write_text("not an image")
    images = load_calibration_images(f"folder:{tmp_path}", preprocessing_for(model))
    assert images.shape == (2, 3, 16, 16) and images.dtype == torch.uint8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": -1}, "steps"),
        ({"lr": 0.0}, "lr"),
        ({"loss": "ce"}, "kl"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_calibration_settings_are_named(kwargs, message: str) -> None:
    with pytest.raises(CompressError, match=message):
        CalibConfig(**kwargs)


def test_calibration_data_without_images_is_a_clear_error(tmp_path, model) -> None:
    with pytest.raises(CompressError, match="no image files"):
        load_calibration_images(f"folder:{tmp_path}", preprocessing_for(model))
    with pytest.raises(CompressError, match="not a folder"):
        load_calibration_images(tmp_path / "missing", preprocessing_for(model))
