"""The deletion check: what it deletes, with what, in what order, and that it can fail."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from squeezenet import SqueezeNet
from squeezenet.explain import deletion, deletion_check, gradcam, save_png
from squeezenet.explain.core import baseline_image, gaussian_blur, load_input
from squeezenet.explain.deletion import cell_labels, cell_scores, deletion_curves

from .util import assert_png

H = W = 32


def _probability(model: SqueezeNet, x: torch.Tensor, index: int) -> float:
    with torch.no_grad():
        return float(model(x).softmax(1)[0, index])


def test_cells_are_near_equal_and_row_major() -> None:
    labels = cell_labels(227, 227, 14)
    sizes = np.bincount(labels.reshape(-1).numpy())
    assert len(sizes) == 196 and set(sizes) <= {16 * 16, 16 * 17, 17 * 17}
    assert labels[0, 0] == 0 and labels[0, -1] == 13 and labels[-1, 0] == 182
    assert cell_labels(4, 4, 14).max() == 15  # no more cells than pixels a side
    heat = np.zeros((4, 4))
    heat[0, 0] = 4.0
    np.testing.assert_allclose(cell_scores(heat, cell_labels(4, 4, 2)), [1, 0, 0, 0])


def test_blur_keeps_flat_images_and_spreads_a_dot() -> None:
    flat = torch.full((1, 3, 20, 20), 0.7)
    torch.testing.assert_close(gaussian_blur(flat, 3.0), flat)
    dot = torch.zeros(1, 1, 21, 21)
    dot[0, 0, 10, 10] = 1
    out = gaussian_blur(dot, 2.0)[0, 0]
    assert out.sum() == pytest.approx(1, abs=1e-5) and 0 < out[10, 10] < 0.1
    torch.testing.assert_close(out, out.T)
    assert out[10, 6] == pytest.approx(float(out[6, 10])) and out[10, 6] > 0
    torch.testing.assert_close(baseline_image(dot, "mean"), torch.zeros_like(dot))


def test_curves_delete_cells_in_the_given_order(tiny_model: SqueezeNet) -> None:
    torch.manual_seed(0)
    x, removed = torch.randn(1, 1, H, W), torch.randn(1, 1, H, W)
    labels = cell_labels(H, W, 4)  # 8 x 8 px cells
    orders = [np.random.default_rng(s).permutation(16) for s in (0, 1)]
    fractions, curves = deletion_curves(tiny_model, x, removed, labels, orders, 1, steps=4)
    assert fractions == [0, 0.25, 0.5, 0.75, 1]
    for order, curve in zip(orders, curves):
        for fraction, p in zip(fractions, curve):
            gone = torch.isin(labels, torch.as_tensor(order[: round(fraction * 16)]))
            expected = torch.where(gone, removed, x)
            assert p == pytest.approx(_probability(tiny_model, expected, 1), abs=1e-5)


@pytest.mark.parametrize(
    "attribution", ["gradcam", "saliency", "smoothgrad", "integrated-gradients"]
)
def test_deletion_goes_from_the_image_to_its_blurred_copy(
    tiny_model: SqueezeNet, image_file: Path, tmp_path: Path, attribution: str
) -> None:
    result = deletion(
        tiny_model, image_file, attribution=attribution, steps=8, random_orders=2, grid=8, samples=3
    )
    assert 0 <= result.salient_auc <= 1 and 0 <= result.random_auc <= 1
    assert len(result.salient) == len(result.random) == len(result.fractions) == 9
    assert result.fractions[0] == 0 and result.fractions[-1] == 1
    x = load_input(tiny_model, image_file)
    index = result.target.index
    intact = _probability(tiny_model, x, index)
    blurred = _probability(tiny_model, gaussian_blur(x, 0.05 * W), index)
    assert result.salient[0] == pytest.approx(intact, abs=1e-5)
    assert result.random[0] == pytest.approx(intact, abs=1e-5)
    assert result.salient[-1] == pytest.approx(blurred, abs=1e-5)
    assert result.random[-1] == pytest.approx(blurred, abs=1e-5)
    assert result.map.shape == (H, W) and result.passed == (result.salient_auc < result.random_auc)
    record = result.to_dict()
    assert record["grid"] == 8 and record["baseline"] == "blur" and record["blur"] == 0.05
    assert_png(save_png(result, tmp_path / "deletion.png"))


def test_mean_baseline_ends_at_the_mean_colour(tiny_model: SqueezeNet, image_file: Path) -> None:
    result = deletion(tiny_model, image_file, baseline="mean", steps=2, random_orders=1)
    x = load_input(tiny_model, image_file)
    gone = _probability(tiny_model, torch.zeros_like(x), result.target.index)
    assert result.salient[-1] == pytest.approx(gone, abs=1e-5)
    assert result.to_dict()["blur"] is None


def test_maps_share_one_random_baseline(tiny_model: SqueezeNet, image_file: Path) -> None:
    cam = gradcam(tiny_model, image_file, 2)
    both = deletion_check(tiny_model, image_file, 2, attributions=[cam, "saliency"], grid=8)
    assert [r.attribution for r in both] == ["gradcam", "saliency"]
    assert both[0].random == both[1].random and both[0].map is cam.map
    alone = deletion(tiny_model, image_file, 2, attribution="gradcam", grid=8)
    assert alone.salient == pytest.approx(both[0].salient, abs=1e-6)


def test_the_check_can_fail(tiny_model: SqueezeNet, image_file: Path) -> None:
    """A map ordering the cells by how much deleting each alone lowers the class passes; the
    same map upside down (least important first) fails."""
    x = load_input(tiny_model, image_file)
    cam = gradcam(tiny_model, x, 0)
    labels = cell_labels(H, W, 4)
    removed = baseline_image(x)
    drops = np.zeros((H, W))
    for cell in range(16):
        alone = torch.where(labels == cell, removed, x)
        drops[(labels == cell).numpy()] = cam.target.probability - _probability(
            tiny_model, alone, 0
        )
    faithful = dataclasses.replace(cam, map=drops)
    upside_down = dataclasses.replace(cam, map=-drops)
    good, bad = deletion_check(
        tiny_model, x, 0, attributions=[faithful, upside_down], grid=4, steps=16, random_orders=5
    )
    assert good.passed and not bad.passed
    assert good.salient_auc < good.random_auc < bad.salient_auc


def test_bad_settings_are_one_line_errors(tiny_model: SqueezeNet, image_file: Path) -> None:
    with pytest.raises(ValueError, match="unknown baseline 'black'; valid: blur, mean"):
        deletion(tiny_model, image_file, baseline="black")
    with pytest.raises(ValueError, match="blur must be > 0"):
        deletion(tiny_model, image_file, blur=0)
    with pytest.raises(ValueError, match="steps, random_orders and grid must be >= 1"):
        deletion(tiny_model, image_file, grid=0)
    with pytest.raises(ValueError, match="unknown attribution 'lime'; valid: saliency"):
        deletion_check(tiny_model, image_file, attributions=["gradcam", "lime"])
    cam = gradcam(tiny_model, image_file, 0)
    with pytest.raises(ValueError, match="maps given must all be of this image and one class"):
        deletion_check(tiny_model, image_file, 1, attributions=[cam])
