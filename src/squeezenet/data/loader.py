"""The fast path from an in-memory uint8 dataset to normalised float batches.

Per batch: index the uint8 tensor (a cheap gather), augment the whole batch at once,
convert to float32 once in :class:`Normalize`. No worker processes, no collation.

Reproducibility: the shuffle order and the augmentation randomness of an epoch are
pure functions of ``(seed, epoch)``, each from its own generator, so a run resumed at
epoch e (after ``set_epoch(e)``) sees exactly the batches the original run saw, and
turning shuffling on or off does not shift the augmentation draws.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import torch

from squeezenet.data.base import InMemoryDataset
from squeezenet.data.transforms import BatchTransform

__all__ = ["BatchLoader", "derive_seed"]


def derive_seed(seed: int, epoch: int, stream: str) -> int:
    """Return a 63-bit seed that depends on all of ``seed``, ``epoch`` and ``stream``.

    Hashing (rather than e.g. ``seed + epoch``) keeps (seed=1, epoch=0) and
    (seed=0, epoch=1) from producing the same batches.
    """
    digest = hashlib.blake2b(f"{seed}:{epoch}:{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class BatchLoader:
    """Iterate over an :class:`InMemoryDataset` in batches of ``(images, labels)``.

    Yields float32 (N, C, H, W) images (normalised, after ``augment``) and int64 (N,)
    labels. Call :meth:`set_epoch` before each epoch; iterating again without it repeats
    the same epoch.

    Args:
        dataset: Source of uint8 images and labels.
        batch_size: Samples per batch.
        shuffle: Draw a new permutation every epoch (else dataset order).
        augment: Batch transform applied to uint8 images before normalisation, called
            as ``augment(images, generator)``.
        normalize: Converts uint8 to the model's float32 input (a `Normalize`, or
            `data.preprocess.input_normalizer` for a model's own preprocessing).
        drop_last: Drop the final incomplete batch.
        seed: Base seed for shuffling and augmentation.
        channels_last: Return images in ``torch.channels_last`` memory format.
    """

    def __init__(
        self,
        dataset: InMemoryDataset,
        batch_size: int,
        *,
        shuffle: bool,
        augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None,
        normalize: BatchTransform,
        drop_last: bool = False,
        seed: int = 0,
        channels_last: bool = False,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if drop_last and len(dataset) < batch_size:
            raise ValueError(
                f"batch_size {batch_size} exceeds the {len(dataset)} samples of "
                f"{dataset.name!r} and drop_last=True would yield no batch; lower batch_size"
            )
        self.dataset, self.batch_size = dataset, batch_size
        self.shuffle, self.augment, self.normalize = shuffle, augment, normalize
        self.drop_last, self.seed, self.channels_last = drop_last, seed, channels_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose shuffle order and augmentations the next iteration uses."""
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _generator(self, stream: str) -> torch.Generator:
        return torch.Generator().manual_seed(derive_seed(self.seed, self.epoch, stream))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.dataset)
        if self.shuffle:
            order = torch.randperm(n, generator=self._generator("shuffle"))
        else:
            order = torch.arange(n)
        augment_gen = self._generator("augment")
        images, labels = self.dataset.images, self.dataset.labels
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            batch = images[idx]  # (B, C, H, W) uint8
            if self.augment is not None:
                batch = self.augment(batch, augment_gen)
            batch = self.normalize(batch)  # (B, C, H', W') float32
            if self.channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
            yield batch, labels[idx]
