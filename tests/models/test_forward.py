"""Every registered model runs forward and backward; the common interface works."""

from __future__ import annotations

import pytest
import torch

from squeezenet.models import create_model, list_models


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("small_input", [False, True])
@pytest.mark.parametrize("stem_pool", [True, False])
def test_forward_backward_at_min_size(name: str, small_input: bool, stem_pool: bool) -> None:
    model = create_model(name, num_classes=7, small_input=small_input, stem_pool=stem_pool)
    sizes = [model.min_input_size()] + ([224] if not small_input else [32])
    for size in sizes:
        x = torch.randn(2, 3, size, size, requires_grad=True)
        out = model(x)
        assert out.shape == (2, 7)
        out.sum().backward()
        assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
        assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
        model.zero_grad()
    with pytest.raises(RuntimeError):  # one pixel less does not reach the classifier
        s = model.min_input_size() - 1
        model(torch.randn(1, 3, s, s))


@pytest.mark.parametrize("name", ["squeezenet1_0", "squeezenet1_1_complex_bypass"])
def test_options_batch_norm_grayscale_dropout(name: str) -> None:
    model = create_model(
        name,
        num_classes=10,
        in_channels=1,
        batch_norm=True,
        dropout=0.2,
        small_input=True,
        classifier_relu=False,
    )
    out = model(torch.randn(4, 1, 28, 28))
    assert out.shape == (4, 10)
    assert (out < 0).any()  # without the paper's final ReLU, logits can be negative
    assert model.classifier[0].p == 0.2


def test_small_input_keeps_spatial_resolution() -> None:
    plain = create_model("squeezenet1_1", num_classes=10)
    small = create_model("squeezenet1_1", num_classes=10, small_input=True)
    x = torch.randn(1, 3, 32, 32)
    assert plain.forward_features(x).shape[-1] == 1
    assert small.forward_features(x).shape[-1] == 4
    assert small.features[0].kernel_size == (3, 3) and small.features[0].stride == (1, 1)


@pytest.mark.parametrize("size", [28, 32])
def test_strided_stem_without_pool_matches_the_pooled_resolution(size: int) -> None:
    pooled = create_model("squeezenet1_1", num_classes=10, small_input=True, batch_norm=True)
    strided = create_model(
        "squeezenet1_1", num_classes=10, small_input=True, batch_norm=True, stem_pool=False
    )
    x = torch.randn(2, 3, size, size)
    acts = {
        k: m.eval().forward_intermediates(x, ["conv1", "fire2", "fire9"])
        for k, m in (("pooled", pooled), ("strided", strided))
    }
    assert acts["strided"]["conv1"].shape[-1] == size // 2  # conv1 itself downsamples
    assert acts["pooled"]["conv1"].shape[-1] == size
    for layer in ("fire2", "fire9"):
        assert acts["strided"][layer].shape == acts["pooled"][layer].shape
    assert strided.features[0].stride == (2, 2)
    assert isinstance(strided.features[2], torch.nn.Identity)
    assert "maxpool1" not in strided.layer_names() and "maxpool1" in pooled.layer_names()
    # Same parameters under the same keys: only the stride and the pool differ.
    assert {k: v.shape for k, v in strided.state_dict().items()} == {
        k: v.shape for k, v in pooled.state_dict().items()
    }
    reductions = [[i["reduction"] for i in m.feature_info] for m in (strided, pooled)]
    assert reductions[0] == reductions[1]


def test_head_and_feature_interface() -> None:
    model = create_model("squeezenet1_1", num_classes=5).eval()
    x = torch.randn(2, 3, 96, 96)
    feats = model.forward_features(x)
    assert feats.shape[:2] == (2, 512)
    assert torch.equal(model.forward_head(feats), model(x))
    assert model.forward_head(feats, pre_logits=True).shape == (2, 512)
    model.meta = {"class_names": list("abcde"), "input_size": 96}
    model.reset_classifier(3)
    assert model(x).shape == (2, 3) and model.num_classes == 3 and model.config.num_classes == 3
    assert model.meta.class_names is None  # they named the old five outputs
    assert model.meta.preprocessing.input_size == 96  # the preprocessing still holds
    half = create_model("squeezenet1_1", num_classes=5).half()
    half.reset_classifier(3)
    assert half.get_classifier().weight.dtype == torch.float16
    info = model.feature_info
    assert [i["module"] for i in info][0] == "features.3" and info[-1]["num_chs"] == 512
    assert [i["reduction"] for i in info] == [4, 4, 8, 8, 16, 16, 16, 16]


def test_forward_intermediates_by_paper_name_and_path() -> None:
    model = create_model("squeezenet1_0").eval()
    x = torch.randn(1, 3, 224, 224)
    acts = model.forward_intermediates(x, ["conv1", "fire9", "features.3.expand3x3", "conv10"])
    assert acts["conv1"].shape == (1, 96, 109, 109)
    assert acts["fire9"].shape == (1, 512, 13, 13)
    assert acts["features.3.expand3x3"].shape == (1, 64, 54, 54)
    assert acts["conv10"].shape == (1, 1000, 13, 13)
    assert (acts["conv1"] < 0).any()  # captured before the in-place ReLU overwrote it
    with pytest.raises(ValueError, match="unknown layer 'fire42'"):
        model.forward_intermediates(x, ["fire42"])
