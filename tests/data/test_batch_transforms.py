"""Batched transforms: shapes, dtypes, ranges, determinism and per-sample references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from squeezenet.data import (
    CenterCrop,
    Compose,
    Normalize,
    RandomCropWithPadding,
    RandomErasing,
    RandomHorizontalFlip,
    RandomResizedCrop,
    Resize,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def batch() -> torch.Tensor:
    return torch.randint(0, 256, (16, 3, 12, 10), dtype=torch.uint8, generator=gen(123))


def test_crop_with_padding_matches_per_sample_reference(batch):
    out = RandomCropWithPadding((8, 9), padding=2, fill=7)(batch, gen(5))
    assert out.shape == (16, 3, 8, 9) and out.dtype == torch.uint8
    # Reference: draw the offsets the same way, then crop each image with plain slicing.
    g = gen(5)
    top = torch.randint(0, 16 - 8 + 1, (16,), generator=g)
    left = torch.randint(0, 14 - 9 + 1, (16,), generator=g)
    for i in range(16):
        padded = torch.full((3, 16, 14), 7, dtype=torch.uint8)
        padded[:, 2:14, 2:12] = batch[i]
        t, s = int(top[i]), int(left[i])
        assert torch.equal(out[i], padded[:, t : t + 8, s : s + 9])


def test_crop_with_padding_fill_and_identity(batch):
    zeros = torch.zeros(16, 3, 12, 10, dtype=torch.uint8)
    out = RandomCropWithPadding((12, 10), padding=6, fill=200)(zeros, gen(0))
    assert set(out.unique().tolist()) == {0, 200}  # only image and fill pixels
    same = RandomCropWithPadding((12, 10), padding=0)(batch, gen(0))
    assert torch.equal(same, batch)
    with pytest.raises(ValueError, match="larger than the padded image"):
        RandomCropWithPadding(20, padding=1)(batch, gen(0))


def test_crop_determinism_and_seed_dependence(batch):
    crop = RandomCropWithPadding(10, padding=4)
    assert torch.equal(crop(batch, gen(1)), crop(batch, gen(1)))
    assert not torch.equal(crop(batch, gen(1)), crop(batch, gen(2)))


def test_flip(batch):
    assert torch.equal(RandomHorizontalFlip(1.0)(batch, gen(0)), batch.flip(-1))
    assert torch.equal(RandomHorizontalFlip(0.0)(batch, gen(0)), batch)
    out = RandomHorizontalFlip(0.5)(batch, gen(3))
    flipped = [torch.equal(o, b.flip(-1)) for o, b in zip(out, batch, strict=True)]
    kept = [torch.equal(o, b) for o, b in zip(out, batch, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True)) and any(flipped) and any(kept)
    assert out[0, 0, 0, 0] in (batch[0, 0, 0, 0], batch[0, 0, 0, -1])
    with pytest.raises(ValueError, match=r"\[0, 1\], got 1.5"):
        RandomHorizontalFlip(1.5)


def test_random_resized_crop_shapes_ranges_determinism(batch):
    rrc = RandomResizedCrop(7)
    out = rrc(batch, gen(0))
    assert out.shape == (16, 3, 7, 7) and out.dtype == torch.uint8
    assert torch.equal(out, rrc(batch, gen(0)))
    assert not torch.equal(out, rrc(batch, gen(1)))
    floats = rrc(batch.float() / 255, gen(0))
    assert floats.dtype == torch.float32 and floats.min() >= 0 and floats.max() <= 1
    assert (floats * 255 - out.float()).abs().max() <= 1.0  # same boxes whatever the dtype


def test_random_resized_crop_full_box_is_identity():
    square = torch.randint(0, 256, (4, 3, 9, 9), dtype=torch.uint8, generator=gen(0))
    out = RandomResizedCrop(9, scale=(1.0, 1.0), ratio=(1.0, 1.0))(square, gen(0))
    assert torch.equal(out, square)


def test_random_resized_crop_matches_slicing_for_unscaled_boxes():
    images = torch.randint(0, 256, (6, 3, 20, 20), dtype=torch.uint8, generator=gen(1))
    rrc = RandomResizedCrop(5, scale=(25 / 400, 25 / 400), ratio=(1.0, 1.0))
    out = rrc(images, gen(4))
    boxes = rrc.sample_boxes(6, 20, 20, gen(4))
    for i, (t, s, h, w) in enumerate(boxes.tolist()):
        assert (h, w) == (5, 5)
        assert torch.equal(out[i], images[i, :, t : t + 5, s : s + 5])


def test_boxes_respect_scale_ratio_and_bounds():
    rrc = RandomResizedCrop(8, scale=(0.2, 0.6), ratio=(0.5, 2.0))
    boxes = rrc.sample_boxes(2000, 30, 40, gen(0))
    top, left, h, w = boxes.unbind(1)
    assert (
        (top >= 0).all() and (left >= 0).all() and (top + h <= 30).all() and (left + w <= 40).all()
    )
    area = (h * w).float() / 1200
    assert area.min() > 0.15 and area.max() < 0.66  # rounding widens the range slightly
    assert ((w / h) > 0.4).all() and ((w / h) < 2.3).all()


def test_boxes_fall_back_to_center_crop():
    # A 1-pixel-high strip cannot fit any box with aspect ratio near 1.
    boxes = RandomResizedCrop(4, scale=(0.5, 1.0), ratio=(1.0, 1.0)).sample_boxes(3, 1, 50, gen(0))
    assert boxes.tolist() == [[0, 24, 1, 1]] * 3


def test_random_resized_crop_antialiases_downscaling():
    checker = (torch.arange(64).view(1, -1) + torch.arange(64).view(-1, 1)) % 2 * 255
    images = checker.to(torch.uint8).expand(2, 3, 64, 64).contiguous()
    out = RandomResizedCrop(8, scale=(1.0, 1.0), ratio=(1.0, 1.0))(images, gen(0))
    assert (out.float() - 127.5).abs().max() <= 1  # averaged, not aliased to 0 or 255


def test_resize():
    images = torch.full((2, 3, 10, 20), 77, dtype=torch.uint8)
    out = Resize(5)(images)
    assert out.shape == (2, 3, 5, 10) and out.dtype == torch.uint8 and (out == 77).all()
    assert Resize((7, 3))(images.float()).shape == (2, 3, 7, 3)
    assert Resize((10, 20))(images) is images
    ramp = torch.linspace(0, 1, 32).expand(1, 1, 32, 32)
    assert torch.allclose(
        Resize(16)(ramp), F.interpolate(ramp, size=16, mode="bilinear", antialias=True)
    )


def test_center_crop(batch):
    out = CenterCrop((4, 6))(batch)
    assert torch.equal(out, batch[:, :, 4:8, 2:8])
    with pytest.raises(ValueError, match="13x10 from 12x10"):
        CenterCrop((13, 10))(batch)


def test_normalize(batch):
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 0.125)
    out = Normalize(mean, std)(batch)
    expected = (batch.double() / 255 - torch.tensor(mean).view(3, 1, 1).double()) / torch.tensor(
        std
    ).view(3, 1, 1).double()
    assert out.dtype == torch.float32 and torch.allclose(out.double(), expected, atol=1e-5)
    floats = batch.float() / 255
    before = floats.clone()
    assert torch.allclose(Normalize(mean, std)(floats), out, atol=1e-5)
    assert torch.equal(floats, before)  # float input is not modified in place
    channels_last = batch.contiguous(memory_format=torch.channels_last)
    assert Normalize(mean, std)(channels_last).is_contiguous(memory_format=torch.channels_last)


def test_normalize_validation(batch):
    with pytest.raises(ValueError, match="2 channel statistics but images have 3"):
        Normalize((0.5,) * 2, (0.2,) * 2)(batch)
    assert Normalize((0.5,), (0.5,))(batch).shape == batch.shape  # one value for all channels
    with pytest.raises(ValueError, match="std values must be positive"):
        Normalize((0.5,), (0.0,))
    with pytest.raises(ValueError, match="same, non-zero length"):
        Normalize((0.5, 0.5), (0.2,))


def test_compose_threads_the_generator(batch):
    pipeline = Compose(
        [RandomCropWithPadding(10, 2), RandomHorizontalFlip(), Normalize((0.5,) * 3, (0.5,) * 3)]
    )
    a, b = pipeline(batch, gen(9)), pipeline(batch, gen(9))
    assert torch.equal(a, b) and a.dtype == torch.float32 and a.shape == (16, 3, 10, 10)
    assert a.min() >= -1.0 and a.max() <= 1.0
    assert not torch.equal(a, pipeline(batch, gen(10)))
    assert "RandomCropWithPadding" in repr(pipeline)


def test_transforms_reject_single_images():
    with pytest.raises(ValueError, match=r"batch \(N, C, H, W\)"):
        RandomHorizontalFlip()(torch.zeros(3, 4, 4))


def test_random_erasing_replaces_one_box_per_erased_image(batch):
    out = RandomErasing(p=0.5, scale=(0.1, 0.3))(batch, gen(3))
    assert out.shape == batch.shape and out.dtype == torch.uint8
    changed = (out != batch).any(dim=1)  # (N, H, W)
    n_erased = 0
    for i in range(batch.shape[0]):
        if not changed[i].any():
            continue
        n_erased += 1
        rows = changed[i].any(dim=1).nonzero().flatten()
        cols = changed[i].any(dim=0).nonzero().flatten()
        box = changed[i][rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        # Every changed pixel lies in one rectangle covering at most 30% (+ rounding) of the image.
        assert box.numel() <= 0.3 * 12 * 10 + 12 + 10 and box.float().mean() > 0.9
    assert 2 <= n_erased <= 14  # p = 0.5 of 16 images, not all and not none


def test_random_erasing_float_stays_in_range_and_is_deterministic():
    x = torch.rand(8, 1, 28, 28, generator=gen(1))
    a, b = RandomErasing(p=1.0)(x, gen(9)), RandomErasing(p=1.0)(x, gen(9))
    assert torch.equal(a, b) and a.dtype == x.dtype
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert all((a[i] != x[i]).any() for i in range(8))  # p = 1: every image erased
    assert torch.equal(RandomErasing(p=0.0)(x, gen(9)), x)


@pytest.mark.parametrize("kwargs", [{"p": 1.5}, {"scale": (0.5, 0.1)}, {"ratio": (0.0, 1.0)}])
def test_random_erasing_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError, match="erasing"):
        RandomErasing(**kwargs)
