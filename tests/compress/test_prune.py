"""Magnitude pruning: exact per-layer sparsity, deterministic ties, masks that stay put."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from squeezenet.compress import (
    CompressError,
    PruneConfig,
    conv_layers,
    fold_batch_norm,
    prune_,
    sparsity_of,
)
from squeezenet.compress.prune import keep_count, magnitude_mask, masks_of

from .conftest import tiny_model


def test_preset_reaches_exact_per_layer_sparsity(model) -> None:
    prune_(model, PruneConfig.preset("aggressive"))
    targets = {
        "features.0": 0.3,
        "features.3.expand3x3": 0.6,
        "features.6.expand3x3": 0.8,
        "features.9.squeeze": 0.75,
        "features.12.expand1x1": 0.9,
        "classifier.1": 0.7,
    }
    convs = conv_layers(model)
    for path, sparsity in targets.items():
        weight = convs[path].weight
        assert int(torch.count_nonzero(weight)) == keep_count(weight.numel(), sparsity)


@settings(max_examples=15, deadline=None)
@given(st.floats(0.0, 0.99), st.floats(0.0, 0.99))
def test_any_sparsity_is_exact(expand3x3: float, rest: float) -> None:
    net = tiny_model()
    prune_(net, PruneConfig({"fire*.expand3x3": expand3x3, "*": rest}))
    for path, conv in conv_layers(net).items():
        s = expand3x3 if path.endswith("expand3x3") else rest
        assert int(torch.count_nonzero(conv.weight)) == keep_count(conv.weight.numel(), s)


def test_ties_are_broken_by_position() -> None:
    weight = torch.tensor([0.5, -1.0, 0.5, 0.5, 0.1])
    assert magnitude_mask(weight, 3).tolist() == [1, 1, 1, 0, 0]


def test_masked_retraining_keeps_pruned_weights_at_zero(model, images) -> None:
    prune_(model, PruneConfig({"*": 0.5}))
    masks = {k: v.clone() for k, v in masks_of(model).items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    model.train()
    for _ in range(2):
        optimizer.zero_grad()
        model(images).sum().backward()
        optimizer.step()
    for path, conv in conv_layers(model).items():
        assert torch.all(conv.weight[masks[path] == 0] == 0)


def test_iterative_pruning_only_removes_more(model) -> None:
    config = PruneConfig({"conv10": 0.8, "*": 0.6})
    prune_(model, config.scaled(0.5))
    first = {k: v.clone() for k, v in masks_of(model).items()}
    prune_(model, config)
    for path, mask in masks_of(model).items():
        assert torch.all(mask <= first[path])
    assert sparsity_of(model)["classifier.1"] == pytest.approx(0.8, abs=1e-3)


def test_pruning_cannot_regrow(model) -> None:
    prune_(model, PruneConfig({"*": 0.8}))
    with pytest.raises(CompressError, match="cannot regrow"):
        prune_(model, PruneConfig({"*": 0.5}))


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"fire10.squeeze": 0.5, "*": 0.1}, "match no layer"),
        ({"conv10": 0.5}, "no sparsity rule matches"),
        ({"*": 1.0}, r"\[0, 1\)"),
        ({"*": -0.1}, r"\[0, 1\)"),
    ],
)
def test_bad_rules_are_named(model, rules, message: str) -> None:
    with pytest.raises(CompressError, match=message):
        prune_(model, PruneConfig(rules))


def test_unknown_preset_lists_valid_ones() -> None:
    with pytest.raises(CompressError, match="aggressive"):
        PruneConfig.preset("extreme")


@pytest.mark.parametrize("bypass", ["none", "complex"])
def test_batch_norm_folds_exactly(bypass: str) -> None:
    from squeezenet import SqueezeNet
    from squeezenet.models import with_bypass

    net = SqueezeNet(with_bypass(tiny_model(batch_norm=True).config, bypass)).eval()
    for m in net.modules():  # non-trivial running statistics and affine parameters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    folded = fold_batch_norm(net)
    assert not folded.config.batch_norm and folded.meta == net.meta
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x), rtol=1e-4, atol=1e-5)


def test_bf16_masked_retraining_keeps_masks_and_learns(model) -> None:
    from squeezenet.compress import FinetuneConfig, finetune_

    from .conftest import tiny_dataset

    prune_(model, PruneConfig({"*": 0.5}))
    masks = {k: v.clone() for k, v in masks_of(model).items()}
    before = {k: conv.weight.detach().clone() for k, conv in conv_layers(model).items()}
    stats = finetune_(
        model, tiny_dataset(32), FinetuneConfig(epochs=2, batch_size=8, lr=0.05, amp="bf16")
    )
    assert stats["train_loss"] == stats["train_loss"]  # finite, not NaN
    for path, conv in conv_layers(model).items():
        assert conv.weight.dtype == torch.float32  # autocast leaves the stored weights float32
        assert torch.all(conv.weight[masks[path] == 0] == 0)
    assert any(not torch.equal(before[k], c.weight) for k, c in conv_layers(model).items())


def test_bad_finetune_amp_is_named() -> None:
    from squeezenet.compress import FinetuneConfig

    with pytest.raises(CompressError, match="amp must be one of"):
        FinetuneConfig(amp="fp16")


def test_bad_finetune_augment_is_named_before_any_work() -> None:
    from squeezenet.compress import FinetuneConfig

    with pytest.raises(CompressError, match="augment must be one of .* got 'twirl'"):
        FinetuneConfig(augment="twirl")
    assert FinetuneConfig(augment="flip").augment == "flip"  # every training augmentation


def test_masked_weights_keep_the_layout_of_what_they_mask() -> None:
    """A single-channel conv1 (grayscale input) must stay channels_last once masked: else
    every layer after it runs in NCHW during retraining."""
    from squeezenet.compress import FinetuneConfig, finetune_

    from .conftest import tiny_dataset

    net = tiny_model(in_channels=1)
    prune_(net, PruneConfig({"*": 0.5}))
    net.to(memory_format=torch.channels_last)
    conv1 = conv_layers(net)["features.0"]
    assert conv1.weight.shape[1] == 1
    assert conv1.weight.stride() == conv1.parametrizations.weight.original.stride()
    out = conv1(torch.randn(2, 1, 16, 16))
    assert out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()
    # Retraining runs channels_last and hands the model back in the default layout.
    finetune_(
        net.to(memory_format=torch.contiguous_format),
        tiny_dataset(16, channels=1),
        FinetuneConfig(epochs=1, batch_size=8, augment="none"),
    )
    assert all(p.is_contiguous() for p in net.parameters())
