"""SmoothGrad's options and integrated gradients on a tiny model: shapes, PNGs, what each
computes, and one-line errors for bad settings."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from squeezenet import SqueezeNet
from squeezenet.explain import (
    deletion,
    explain,
    integrated_gradients,
    saliency,
    save_png,
    smoothgrad,
)
from squeezenet.explain.attribution import aggregate_channels
from squeezenet.explain.core import baseline_image, load_input, staged_forward

from .util import assert_png

H = W = 32


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        (smoothgrad, {"samples": 4, "squared": True}),
        (smoothgrad, {"samples": 3, "aggregate": "l2", "noise": 0.2}),
        (integrated_gradients, {"steps": 8}),
        (integrated_gradients, {"steps": 5, "baseline": "mean", "sign": "absolute"}),
    ],
)
def test_maps_have_the_input_shape(
    tiny_model: SqueezeNet, image_file: Path, tmp_path: Path, method, kwargs
) -> None:
    result = method(tiny_model, image_file, **kwargs)
    assert result.map.shape == (H, W) and result.image.shape == (H, W, 1)
    assert np.isfinite(result.map).all() and result.map.min() >= 0 and result.map.max() > 0
    assert result.target == result.predicted
    assert all(result.params[k] == v for k, v in kwargs.items())
    assert_png(save_png(result, tmp_path / "map.png"))


def test_squared_smoothgrad_averages_squared_gradients(tiny_model: SqueezeNet) -> None:
    """Without noise every copy is the image: the mean squared gradient is the saliency's
    square; with noise it is the mean of the copies' squares, not the square of their mean."""
    x = torch.randn(1, H, W)
    plain = saliency(tiny_model, x, "dog").map
    still = smoothgrad(tiny_model, x, "dog", samples=3, noise=0.0, squared=True).map
    np.testing.assert_allclose(still, plain**2, rtol=1e-2, atol=1e-4 * plain.max() ** 2)
    mean = smoothgrad(tiny_model, x, "dog", samples=6, noise=0.3).map
    square = smoothgrad(tiny_model, x, "dog", samples=6, noise=0.3, squared=True).map
    assert (square >= mean**2 * (1 - 1e-4)).all() and (square > mean**2 * 1.01).any()


def test_channels_aggregate_by_max_or_norm() -> None:
    grad = torch.tensor([3.0, -4.0]).view(1, 2, 1, 1).expand(1, 2, 2, 2)
    np.testing.assert_allclose(aggregate_channels(grad, "max"), np.full((2, 2), 4.0))
    np.testing.assert_allclose(aggregate_channels(grad, "l2"), np.full((2, 2), 5.0))


@pytest.mark.parametrize("baseline", ["mean", "blur"])
def test_integrated_gradients_add_up_to_the_score_difference(
    tiny_model: SqueezeNet, image_file: Path, baseline: str
) -> None:
    """Completeness (the paper's axiom): the attributions sum to the class evidence of the
    image less that of the baseline, up to the Riemann sum's error."""
    # A strong blur: at 32 px a 5% blur hardly changes the class evidence.
    result = integrated_gradients(
        tiny_model, image_file, "bird", steps=64, baseline=baseline, blur=0.25
    )
    total, difference = result.params["attribution_sum"], result.params["score_difference"]
    assert abs(difference) > 0.1 and total == pytest.approx(difference, rel=0.05)
    x = load_input(tiny_model, image_file)
    start = torch.zeros_like(x) if baseline == "mean" else baseline_image(x, "blur", 0.25)
    with torch.no_grad():
        scores = staged_forward(tiny_model, torch.cat([x, start])).scores[:, 2]
    assert float(scores[0] - scores[1]) == pytest.approx(difference, abs=1e-4)


def test_positive_and_absolute_maps_differ_only_in_sign(
    tiny_model: SqueezeNet, image_file: Path
) -> None:
    positive = integrated_gradients(tiny_model, image_file, steps=6).map
    absolute = integrated_gradients(tiny_model, image_file, steps=6, sign="absolute").map
    assert ((positive == absolute) | (positive == 0)).all()
    assert (absolute > positive).any()  # some pixels speak against the class


def test_explain_and_deletion_run_integrated_gradients(
    tiny_model: SqueezeNet, image_file: Path
) -> None:
    result = explain(tiny_model, image_file, "integrated-gradients", steps=4)
    assert result.method == "integrated-gradients" and result.map.shape == (H, W)
    check = deletion(tiny_model, image_file, attribution="integrated-gradients", steps=4)
    assert check.attribution == "integrated-gradients" and len(check.salient) == 5


@pytest.mark.parametrize(
    ("method", "kwargs", "message"),
    [
        (smoothgrad, {"aggregate": "mean"}, "unknown aggregate 'mean'; valid: max, l2"),
        (smoothgrad, {"samples": 0}, "samples must be >= 1, got 0"),
        (integrated_gradients, {"steps": 0}, "steps must be >= 1, got 0"),
        (
            integrated_gradients,
            {"baseline": "black"},
            "unknown baseline 'black'; valid: blur, mean",
        ),
        (
            integrated_gradients,
            {"sign": "negative"},
            "unknown sign 'negative'; valid: positive, absolute",
        ),
        (integrated_gradients, {"blur": 0.0}, "blur must be > 0"),
    ],
)
def test_bad_settings_are_one_line_errors(
    tiny_model: SqueezeNet, image_file: Path, method, kwargs, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        method(tiny_model, image_file, **kwargs)
    assert "\n" not in str(error.value)
