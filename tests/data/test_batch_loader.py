"""BatchLoader: coverage per epoch, batch counts, (seed, epoch) reproducibility."""

from __future__ import annotations

import pytest
import torch

from squeezenet.data import (
    BatchLoader,
    Compose,
    InMemoryDataset,
    Normalize,
    RandomCropWithPadding,
    RandomHorizontalFlip,
)
from squeezenet.data.loader import derive_seed

IDENTITY = Normalize((0.0,), (1 / 255,))  # float32 output equal to the uint8 input


def _dataset(n: int = 30) -> InMemoryDataset:
    # Every pixel of image i holds i, so a batch tells which samples it contains.
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 4, 4).contiguous()
    return InMemoryDataset(images, torch.arange(n) % 3, ["a", "b", "c"], "toy")


def _indices(images: torch.Tensor) -> list[int]:
    return images[:, 0, 0, 0].round().long().tolist()


def _epoch(loader: BatchLoader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(loader)


@pytest.mark.parametrize(("batch_size", "expected_len"), [(7, 5), (10, 3), (64, 1)])
def test_every_sample_exactly_once(batch_size, expected_len):
    ds = _dataset()
    loader = BatchLoader(ds, batch_size, shuffle=True, augment=None, normalize=IDENTITY, seed=3)
    batches = _epoch(loader)
    assert len(loader) == len(batches) == expected_len
    seen = [i for images, _ in batches for i in _indices(images)]
    assert sorted(seen) == list(range(30)) and seen != list(range(30))
    labels = torch.cat([labels for _, labels in batches])
    assert labels.tolist() == [i % 3 for i in seen] and labels.dtype == torch.int64
    assert all(images.dtype == torch.float32 for images, _ in batches)


def test_drop_last():
    loader = BatchLoader(
        _dataset(), 7, shuffle=True, augment=None, normalize=IDENTITY, drop_last=True
    )
    batches = _epoch(loader)
    assert len(loader) == len(batches) == 4 and all(len(labels) == 7 for _, labels in batches)
    with pytest.raises(ValueError, match="batch_size 64 exceeds the 30 samples"):
        BatchLoader(_dataset(), 64, shuffle=True, augment=None, normalize=IDENTITY, drop_last=True)


def test_no_shuffle_keeps_order():
    loader = BatchLoader(_dataset(), 8, shuffle=False, augment=None, normalize=IDENTITY)
    assert [i for images, _ in loader for i in _indices(images)] == list(range(30))


def _augmenting_loader(seed: int = 0) -> BatchLoader:
    images = torch.randint(
        0, 256, (30, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    ds = InMemoryDataset(images, torch.arange(30) % 3, ["a", "b", "c"], "toy")
    augment = Compose([RandomCropWithPadding(8, 2), RandomHorizontalFlip()])
    norm = Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    return BatchLoader(ds, 8, shuffle=True, augment=augment, normalize=norm, seed=seed)


def _same(a, b) -> bool:
    return len(a) == len(b) and all(
        torch.equal(x, y) and torch.equal(i, j) for (x, i), (y, j) in zip(a, b, strict=True)
    )


def test_set_epoch_reproduces_shuffle_and_augmentation():
    original = _augmenting_loader()
    epochs = []
    for epoch in range(3):
        original.set_epoch(epoch)
        epochs.append(_epoch(original))
    resumed = _augmenting_loader()
    resumed.set_epoch(2)  # a run resumed at epoch 2 sees exactly the same batches
    assert _same(_epoch(resumed), epochs[2])
    assert _same(_epoch(resumed), epochs[2])  # iterating again without set_epoch repeats it
    assert not _same(epochs[0], epochs[1])
    assert not _same(epochs[0], _epoch(_augmenting_loader(seed=1)))


def test_augmentation_stream_independent_of_shuffling():
    # With identical images, only the augmentation draws decide the pixels, so turning
    # shuffling off must not change them (the two streams have separate generators).
    a, b = _augmenting_loader(), _augmenting_loader()
    a.dataset.images[:] = a.dataset.images[0]
    b.dataset = a.dataset
    b.shuffle = False
    pixels_a = [images for images, _ in a]
    pixels_b = [images for images, _ in b]
    assert all(torch.equal(x, y) for x, y in zip(pixels_a, pixels_b, strict=True))
    assert [y.tolist() for _, y in a] != [y.tolist() for _, y in b]


def test_channels_last():
    loader = _augmenting_loader()
    loader.channels_last = True
    images, _ = next(iter(loader))
    assert images.is_contiguous(memory_format=torch.channels_last)


def test_derive_seed_mixes_inputs():
    assert derive_seed(1, 0, "shuffle") != derive_seed(0, 1, "shuffle")
    assert derive_seed(0, 0, "shuffle") != derive_seed(0, 0, "augment")
    assert derive_seed(5, 7, "x") == derive_seed(5, 7, "x") < 2**63


def test_bad_batch_size():
    with pytest.raises(ValueError, match="positive integer, got 0"):
        BatchLoader(_dataset(), 0, shuffle=False, augment=None, normalize=IDENTITY)
