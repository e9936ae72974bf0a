"""What a run trains on and with: its data splits and normalisation, augmentation, model.

A model trained from scratch is normalised with its training split's statistics; one
fine-tuned from `weights` (`transfer.py`) reads the data exactly as those weights were
trained to (size, resize mode, channel order, scale, mean/std).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from ..data import (
    BatchLoader,
    BatchTransform,
    Compose,
    InMemoryDataset,
    Normalize,
    RandomCropWithPadding,
    RandomErasing,
    RandomHorizontalFlip,
    RandomResizedCrop,
    compute_mean_std,
    load_dataset,
    parse_spec,
)
from ..data.folder import resolve_split
from ..data.preprocess import input_normalizer
from ..meta import ModelMeta, Preprocessing, preprocessing_for
from ..models import SqueezeNet, create_model
from .config import AUGMENTS, TrainConfig
from .transfer import adapt_to_classes_, freeze_


@dataclass
class TrainData:
    """The splits a run trains and validates on, and how their images become model inputs.

    Attributes:
        preprocessing: what the saved model's meta records (the data's size).
        normalize: uint8 batch -> model input (the loader's and evaluation's last step).
        skipped: undecodable files left out (`--skip-bad-images`).
    """

    train: InMemoryDataset
    val: InMemoryDataset
    preprocessing: Preprocessing
    normalize: BatchTransform
    skipped: list[str] = field(default_factory=list)

    def describe_skipped(self) -> str:
        return (
            f"skipped {len(self.skipped)} undecodable images (--skip-bad-images), "
            f"e.g. {self.skipped[0]}"
        )

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[-1])


def build_augment(kind: str, size: int) -> Compose | None:
    """Batch augmentation: random crop with padding (size/8) and/or flip, or random resized
    crop; "crop-flip-erase" adds random erasing (p=0.5) after crop and flip."""
    if kind not in AUGMENTS:  # a typo must not quietly train with flips only
        raise ValueError(f"invalid augment {kind!r}; choose one of {AUGMENTS}")
    if kind == "none":
        return None
    steps: list = []
    if kind.startswith("crop-flip"):
        steps.append(RandomCropWithPadding(size, padding=max(1, size // 8)))
    elif kind == "rrc-flip":
        steps.append(RandomResizedCrop(size, scale=(0.35, 1.0)))
    steps.append(RandomHorizontalFlip())
    if kind.endswith("-erase"):
        steps.append(RandomErasing())
    return Compose(steps)


def split_train_val(
    train: InMemoryDataset, fraction: float, seed: int
) -> tuple[InMemoryDataset, InMemoryDataset]:
    """Hold out a random `fraction` (> 0) of train for validation."""
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    n_val = max(1, int(len(train) * fraction))
    return train.subset(order[n_val:]), train.subset(order[:n_val])


def check_validation_is_held_out(config: TrainConfig) -> None:
    """A folder of class folders without train/ and val/ (or test/) serves every split: its
    "test" split would be the training images themselves, so ask for a held-out fraction."""
    kind, path = parse_spec(config.data)
    if kind != "folder" or not config.validates_on_test:
        return
    if resolve_split(path, "train")[0] == resolve_split(path, "test")[0]:
        raise ValueError(
            f"{config.data} has no train/ and val/ (or test/) folders, so validating on its test "
            "split would score the training images; pass --val-fraction (e.g. 0.1)"
        )


def load_train_data(config: TrainConfig, start: SqueezeNet | None = None) -> TrainData:
    """The training and validation splits, decoded as the model will read them: at the
    native or `image_size` for a fresh model, as `start`'s preprocessing says for weights."""
    check_validation_is_held_out(config)
    pre = preprocessing_for(start, input_size=config.image_size) if start is not None else None
    train = _load_split(config, "train", pre)
    # The test split is read only to validate on: an image folder may have only train/.
    val = _load_split(config, "test", pre) if config.validates_on_test else None
    skipped = [str(p) for d in (train, val) if d is not None for p in d.skipped_paths]
    if val is None:
        train, val = split_train_val(train, config.val_fraction, config.seed)
    size, channels = int(train.images.shape[-1]), int(train.images.shape[1])
    if pre is None:  # from scratch: the training split's own statistics
        mean, std = compute_mean_std(train.images)
        pre = Preprocessing(input_size=size, mean=mean, std=std, in_channels=channels)
        return TrainData(train, val, pre, Normalize(mean, std), skipped)
    if channels != pre.in_channels:
        raise ValueError(
            f"{config.data} has {channels}-channel images but the weights "
            f"{config.weights!r} take {pre.in_channels} channels"
        )
    pre = pre.at_size(size)
    return TrainData(train, val, pre, input_normalizer(pre), skipped)


def _load_split(config: TrainConfig, split: str, pre: Preprocessing | None) -> InMemoryDataset:
    options = {"data_dir": config.data_dir, "skip_bad_images": config.skip_bad_images}
    if pre is None:
        return load_dataset(config.data, split, image_size=config.image_size, **options)
    if parse_spec(config.data)[0] != "folder":  # fixed-size data: resized to the weights' size
        return load_dataset(config.data, split, image_size=pre.input_size, **options)
    return load_dataset(
        config.data,
        split,
        image_size=pre.input_size,
        resize_size=pre.resize_size,
        resize_mode=pre.resize_mode,
        mode=pre.image_mode,
        **options,
    )


def build_model(config: TrainConfig, data: InMemoryDataset) -> SqueezeNet:
    """The model for this data: its classes and channels, a small stem for small images."""
    kwargs = dict(config.model_kwargs)
    kwargs.setdefault("num_classes", len(data.class_names))
    kwargs.setdefault("in_channels", data.images.shape[1])
    kwargs.setdefault("small_input", data.images.shape[-1] < 64)
    return create_model(config.model, **kwargs)


def prepare_model(config: TrainConfig, data: TrainData, start: SqueezeNet | None) -> SqueezeNet:
    """A fresh model for `data`, or `start` with a new classifier for its classes and
    `config.freeze` frozen; its meta holds the class names and `data.preprocessing`."""
    if start is None:
        model = build_model(config, data.train)
        model.meta = ModelMeta(
            class_names=data.train.class_names,
            preprocessing=data.preprocessing,
            dataset=config.data,
        )
        return model
    adapt_to_classes_(start, data.train.class_names, config.data)
    start.meta = replace(start.meta, preprocessing=data.preprocessing)
    freeze_(start, config.freeze)
    return start


def build_loader(config: TrainConfig, data: TrainData) -> BatchLoader:
    """The training batches: shuffled, augmented and normalised as the run's config says."""
    return BatchLoader(
        data.train,
        config.batch_size,
        shuffle=True,
        augment=build_augment(config.augment, data.image_size),
        normalize=data.normalize,
        drop_last=True,
        seed=config.seed,
        channels_last=config.channels_last,
    )
