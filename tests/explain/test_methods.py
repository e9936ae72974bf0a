"""Explanation methods on a tiny model: shapes, PNGs, errors, and that each does its job."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from squeezenet import SqueezeNet
from squeezenet.explain import (
    ActivationGrid,
    activations,
    class_visualization,
    deletion,
    explain,
    fooling,
    gradcam,
    saliency,
    save_png,
    smoothgrad,
)
from squeezenet.explain.core import load_input, staged_forward

from .util import assert_png

H = W = 32


def test_staged_forward_is_the_model(tiny_model: SqueezeNet) -> None:
    x = torch.randn(2, 1, H, W)
    out = staged_forward(tiny_model, x, "features.3", layer_grad=True)
    torch.testing.assert_close(out.logits, tiny_model(x))
    conv10 = tiny_model.forward_intermediates(x, ["conv10", "fire2"])
    torch.testing.assert_close(out.scores, conv10["conv10"].mean((2, 3)))  # before the ReLU
    torch.testing.assert_close(out.activation, conv10["fire2"])
    assert out.activation.requires_grad and out.activation.is_leaf


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        (saliency, {}),
        (smoothgrad, {"samples": 4}),
        (gradcam, {}),
        (gradcam, {"layer": "conv1"}),
        (gradcam, {"layer": "fire5"}),
        (gradcam, {"layer": "conv10"}),
    ],
)
def test_attribution_maps_have_the_input_shape(
    tiny_model: SqueezeNet, image_file: Path, tmp_path: Path, method, kwargs
) -> None:
    result = method(tiny_model, image_file, **kwargs)
    assert result.map.shape == (H, W) and result.image.shape == (H, W, 1)
    assert np.isfinite(result.map).all() and result.map.min() >= 0 and result.map.max() > 0
    assert result.image.min() >= 0 and result.image.max() <= 1
    assert result.target == result.predicted  # no target: the predicted class is explained
    assert result.target.name in ("cat", "dog", "bird")
    assert_png(save_png(result, tmp_path / "out" / "map.png"))


def test_saliency_is_the_input_gradient_of_the_target(tiny_model: SqueezeNet) -> None:
    x = torch.randn(1, H, W)
    result = saliency(tiny_model, x, target="bird")
    xg = x[None].clone().requires_grad_(True)
    tiny_model.forward_intermediates(xg, ["conv10"])["conv10"][0, 2].mean().backward()
    np.testing.assert_allclose(result.map, xg.grad.abs()[0, 0].numpy(), rtol=1e-5, atol=1e-8)
    assert result.target.index == 2 and result.target.name == "bird"


def test_the_log_probability_gradient_is_that_of_log_softmax(tiny_model: SqueezeNet) -> None:
    from squeezenet.explain.attribution import input_gradient

    x = torch.randn(2, 1, H, W)
    xg = x.clone().requires_grad_(True)
    tiny_model(xg).log_softmax(1)[:, 2].sum().backward()
    got = input_gradient(tiny_model, x, 2, "log-probability")
    torch.testing.assert_close(got, xg.grad, rtol=1e-4, atol=1e-7)
    assert not torch.allclose(got, input_gradient(tiny_model, x, 2))  # not the score's
    with pytest.raises(ValueError, match="unknown objective 'logit'; valid: score, log-prob"):
        input_gradient(tiny_model, x, 2, "logit")


def test_saliency_and_smoothgrad_take_the_objective(tiny_model: SqueezeNet) -> None:
    x = torch.randn(1, H, W)
    xg = x[None].clone().requires_grad_(True)
    tiny_model(xg).log_softmax(1)[0, 2].backward()
    lp = saliency(tiny_model, x, target=2, objective="log-probability")
    np.testing.assert_allclose(lp.map, xg.grad.abs()[0, 0].numpy(), rtol=1e-4, atol=1e-7)
    assert lp.params["objective"] == "log-probability"
    assert not np.allclose(lp.map, saliency(tiny_model, x, target=2).map)
    # SmoothGrad without noise is the saliency of the same objective.
    still = smoothgrad(tiny_model, x, 2, samples=2, noise=0.0, objective="log-probability")
    np.testing.assert_allclose(still.map, lp.map, rtol=1e-4, atol=1e-7)
    for run in (
        lambda: saliency(tiny_model, x, 2, objective="logit"),
        lambda: smoothgrad(tiny_model, x, 2, objective="logit"),
        lambda: deletion(tiny_model, x, 2, attribution="saliency", objective="logit"),
    ):
        with pytest.raises(ValueError, match="unknown objective 'logit'; valid: score, log-prob"):
            run()


def test_a_class_by_index_or_name(tiny_model: SqueezeNet, image_file: Path) -> None:
    assert gradcam(tiny_model, image_file, "dog").target.index == 1
    assert gradcam(tiny_model, image_file, "DOG").target.index == 1  # case does not matter
    assert gradcam(tiny_model, image_file, 2).target.name == "bird"
    assert gradcam(tiny_model, image_file, "2").target.name == "bird"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("zebra", "unknown class 'zebra'; valid: 0..2 or a name (cat, dog, bird)"),
        ("dgo", "did you mean dog?"),
        (3, "class index 3 is out of range; valid: 0..2"),
    ],
)
def test_an_unknown_class_names_the_valid_ones(
    tiny_model: SqueezeNet, image_file: Path, target, message: str
) -> None:
    for run in (
        lambda: saliency(tiny_model, image_file, target),
        lambda: fooling(tiny_model, image_file, target),
        lambda: class_visualization(tiny_model, target),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            run()


def test_an_unknown_layer_names_the_valid_ones(tiny_model: SqueezeNet, image_file: Path) -> None:
    message = r"unknown layer 'fire12'; valid: conv1, maxpool1, fire2, fire3, maxpool3, .*conv10"
    with pytest.raises(ValueError, match=message):
        gradcam(tiny_model, image_file, layer="fire12")
    with pytest.raises(ValueError, match=message):
        activations(tiny_model, image_file, "fire12")
    with pytest.raises(ValueError, match=message):
        deletion(tiny_model, image_file, layer="fire12")


def test_activations_are_the_strongest_channels(
    tiny_model: SqueezeNet, image_file: Path, tmp_path: Path
) -> None:
    grid = activations(tiny_model, image_file, "fire3", channels=6)
    assert isinstance(grid, ActivationGrid) and grid.layer == "fire3"
    x = load_input(tiny_model, image_file)
    with torch.no_grad():
        act = tiny_model.forward_intermediates(x, ["fire3"])["fire3"][0]  # (C, h, w)
    means = act.mean((1, 2))
    assert grid.layer_shape == tuple(act.shape)
    assert grid.channels == means.topk(6).indices.tolist()
    np.testing.assert_allclose(grid.means, means.topk(6).values.numpy(), rtol=1e-5)
    np.testing.assert_allclose(grid.native, act[grid.channels].numpy(), rtol=1e-5, atol=1e-6)
    assert grid.maps.shape == (6, H, W) and grid.native.shape == (6, *act.shape[1:])
    assert_png(save_png(grid, tmp_path / "grid.png"))
    assert activations(tiny_model, image_file, "conv10").channels[0] in (0, 1, 2)


def test_class_visualization_raises_the_target_probability(
    tiny_model: SqueezeNet, tmp_path: Path
) -> None:
    # A random tiny model plateaus near 0.8 for a while (159 steps to 0.9 on one CPU, under
    # 150 on another: float summation order), so the ascent gets room to finish.
    result = class_visualization(tiny_model, "bird", steps=400, input_size=H)
    assert result.reached and result.target.probability >= 0.9 > result.start_probability
    assert result.steps < 400 and len(result.history) == result.steps + 1
    assert result.image.shape == (H, W, 1) and 0 <= result.image.min() <= result.image.max() <= 1
    with torch.no_grad():  # the returned input is what was measured
        p = tiny_model(result.input).softmax(1)[0, 2]
    assert float(p) == pytest.approx(result.target.probability, abs=1e-5)
    assert_png(save_png(result, tmp_path / "vis.png"))


def test_class_visualization_under_a_relu_head(relu_head_model: SqueezeNet) -> None:
    """The head's ReLU zeroes the gradient of a class whose map is negative everywhere; the
    ascent follows the class evidence before it, so the probability still rises."""
    result = class_visualization(relu_head_model, "cat", steps=40, input_size=H)
    assert max(result.history[1:]) > result.start_probability + 0.03


def test_fooling_reaches_the_target_with_a_small_change(
    tiny_model: SqueezeNet, image_file: Path, tmp_path: Path
) -> None:
    x = load_input(tiny_model, image_file)
    before = int(tiny_model(x).argmax())
    target = (before + 1) % 3
    result = fooling(tiny_model, image_file, target)
    assert result.reached and result.steps > 0 and result.predicted.index == target
    assert int(tiny_model(result.input).argmax()) == target != before
    delta = result.input - x
    assert result.l2_norm == pytest.approx(float(delta.norm()), rel=1e-5) and result.l2_norm > 0
    assert result.l2_norm_pixels == pytest.approx(0.5 * result.l2_norm, rel=1e-5)  # std 0.5
    assert result.perturbation.shape == (H, W) and result.original.shape == (H, W, 1)
    assert_png(save_png(result, tmp_path / "fool.png"))
    # Already predicted: nothing to change.
    assert fooling(tiny_model, image_file, before).l2_norm == 0


def test_methods_keep_the_model_mode(tiny_model: SqueezeNet, image_file: Path) -> None:
    tiny_model.train()
    saliency(tiny_model, image_file)
    assert tiny_model.training
    assert all(p.grad is None for p in tiny_model.parameters())  # gradients of the input only


def test_explain_refuses_settings_a_method_does_not_take(
    tiny_model: SqueezeNet, image_file: Path
) -> None:
    with pytest.raises(ValueError, match="saliency takes no layer; layers are for gradcam"):
        explain(tiny_model, image_file, "saliency", layer="fire9")
    with pytest.raises(ValueError, match="fooling needs a target class"):
        explain(tiny_model, image_file, "fooling")
    with pytest.raises(ValueError, match="unknown method 'lime'; valid: saliency, smoothgrad"):
        explain(tiny_model, image_file, "lime")
    with pytest.raises(ValueError, match="class-visualization starts from noise"):
        explain(tiny_model, image_file, "class-visualization", target=0)
    with pytest.raises(ValueError, match="a layer .* is a Grad-CAM setting"):
        deletion(tiny_model, image_file, attribution="saliency", layer="fire9")


def test_class_visualization_can_take_every_step(tiny_model: SqueezeNet) -> None:
    result = class_visualization(tiny_model, "bird", steps=12, input_size=H, stop_early=False)
    assert result.steps == 12 and len(result.history) == 13
    assert result.reached == (result.target.probability >= 0.9)
