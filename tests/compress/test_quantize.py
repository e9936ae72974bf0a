"""k-means weight sharing: at most 2^bits values, summed centroid gradients, finalize."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from squeezenet.compress import (
    CompressError,
    PruneConfig,
    ShareConfig,
    codebooks_of,
    conv_layers,
    finalize_,
    kmeans_1d,
    prune_,
    share_weights_,
)
from squeezenet.compress.prune import masks_of


@pytest.mark.parametrize("bits", [1, 3, 6])
def test_at_most_two_to_the_bits_values_per_layer(model, bits: int) -> None:
    prune_(model, PruneConfig({"conv10": 0.8, "*": 0.5}))
    share_weights_(model, ShareConfig({"conv1": 8, "*": bits}))
    finalize_(model)
    for path, conv in conv_layers(model).items():
        values = torch.unique(conv.weight[conv.weight != 0])
        assert len(values) <= 2 ** (8 if path == "features.0" else bits)


def test_kmeans_linear_init_keeps_extremes_and_is_lossless_on_few_values() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0, 0.01, 5000), [0.5, -0.4]])
    centroids, assign = kmeans_1d(values, 16)
    assert centroids.max() == pytest.approx(0.5) and centroids.min() == pytest.approx(-0.4)
    assert np.all(np.diff(centroids) >= 0) and assign.max() < 16
    few = np.array([0.25, -1.0, 0.25, 3.0])
    centroids, assign = kmeans_1d(few, 4)
    assert np.array_equal(centroids[assign], few.astype(np.float32))


def test_centroid_gradient_is_the_sum_of_its_weights_gradients(model) -> None:
    prune_(model, PruneConfig({"*": 0.5}))
    share_weights_(model, ShareConfig({"*": 3}))
    conv = conv_layers(model)["features.3.expand3x3"]
    codebook = conv.parametrizations.weight.original
    shared = conv.parametrizations.weight[0]
    x = torch.randn(1, conv.in_channels, 8, 8)
    # The same loss through a free copy of the weights gives per-weight gradients to sum.
    free = conv.weight.detach().clone().requires_grad_(True)
    torch.nn.functional.conv2d(x, free, conv.bias, padding=1).square().sum().backward()
    expected = torch.zeros_like(codebook).index_add_(
        0, shared.index.flatten(), (free.grad * shared.mask).flatten()
    )
    torch.nn.functional.conv2d(x, conv.weight, conv.bias, padding=1).square().sum().backward()
    torch.testing.assert_close(codebook.grad, expected, rtol=1e-5, atol=1e-6)


def test_fine_tuning_moves_centroids_but_not_masks_or_assignments(model, images) -> None:
    prune_(model, PruneConfig({"*": 0.6}))
    share_weights_(model, ShareConfig({"*": 4}))
    masks = {k: v.clone() for k, v in masks_of(model).items()}
    books = {k: v.clone() for k, v in codebooks_of(model).items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    model.train()
    model(images).logsumexp(1).sum().backward()
    optimizer.step()
    assert any(not torch.equal(books[k], v) for k, v in codebooks_of(model).items())
    finalize_(model)
    for path, conv in conv_layers(model).items():
        assert torch.all(conv.weight[masks[path] == 0] == 0)
        assert len(torch.unique(conv.weight[masks[path] > 0])) <= 16


def test_finalize_restores_canonical_keys_and_rounds_biases(model) -> None:
    keys = set(model.state_dict())
    prune_(model, PruneConfig.preset("paper"))
    share_weights_(model, ShareConfig.preset("paper"))
    assert set(model.state_dict()) != keys
    finalize_(model, "float16")
    assert set(model.state_dict()) == keys
    for conv in conv_layers(model).values():
        assert torch.equal(conv.bias, conv.bias.half().float())


def test_finalize_keeps_the_bias_dtype_chosen_when_sharing(model) -> None:
    with torch.no_grad():
        for conv in conv_layers(model).values():
            conv.bias.normal_()  # most are not float16 values
    share_weights_(model, ShareConfig(bits=(("*", 4),), bias_dtype="float32"))
    biases = {name: conv.bias.clone() for name, conv in conv_layers(model).items()}
    assert any(not torch.equal(b, b.half().float()) for b in biases.values())
    finalize_(model)  # no dtype given: the biases stay exactly as they are
    assert all(torch.equal(conv.bias, biases[n]) for n, conv in conv_layers(model).items())


def test_unshared_layers_and_bad_bits(model) -> None:
    share_weights_(model, ShareConfig({"conv10": 32, "*": 2}))
    finalize_(model)
    assert len(torch.unique(conv_layers(model)["classifier.1"].weight)) > 256
    with pytest.raises(CompressError, match="1..8 or 32"):
        ShareConfig({"*": 9})
    with pytest.raises(CompressError, match="bias_dtype"):
        ShareConfig(bias_dtype="int8")


def test_sharing_a_finalized_pruned_model_keeps_its_zeros(model) -> None:
    prune_(model, PruneConfig({"*": 0.7}))
    finalize_(model)
    zeros = {p: c.weight == 0 for p, c in conv_layers(model).items()}
    share_weights_(model, ShareConfig({"*": 2}))
    finalize_(model)
    for path, conv in conv_layers(model).items():
        assert torch.equal(conv.weight == 0, zeros[path]), path


def test_plain_copy_leaves_the_parametrized_original_working(model, images) -> None:
    from squeezenet.compress.fold import plain_copy

    prune_(model, PruneConfig({"*": 0.5}))
    copy = plain_copy(model)
    share_weights_(copy, ShareConfig({"*": 3}))
    finalize_(copy)  # must not strip the original's parametrized `weight`
    with torch.no_grad():
        assert model(images).shape == (2, 10)
    assert set(masks_of(model)) == set(conv_layers(model))


def test_sharing_needs_batch_norm_folded_first() -> None:
    from .conftest import tiny_model

    with pytest.raises(CompressError, match="fold BatchNorm first"):
        share_weights_(tiny_model(batch_norm=True), ShareConfig())
