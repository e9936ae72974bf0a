"""Datasets, image decoding, batched augmentation and the in-memory batch loader.

Typical use::

    train = load_dataset("fashion-mnist", "train")
    mean, std = compute_mean_std(train.images)
    augment = Compose([RandomCropWithPadding(28, 2), RandomHorizontalFlip()])
    loader = BatchLoader(train, 128, shuffle=True, augment=augment, normalize=Normalize(mean, std))
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for images, labels in loader: ...
"""

from squeezenet.data.cifar import CIFAR10_CLASSES, load_cifar10
from squeezenet.data.dataset import (
    DATASET_FORMS,
    UNLABELLED,
    InMemoryDataset,
    compute_mean_std,
    load_dataset,
    load_dataset_for_model,
    parse_spec,
)
from squeezenet.data.download import data_root, default_cache_dir
from squeezenet.data.errors import BadImageError, DatasetError
from squeezenet.data.folder import (
    IMAGE_EXTENSIONS,
    ImageFolderDataset,
    find_classes,
    load_image_folder,
    resolve_split,
    scan_image_folder,
)
from squeezenet.data.idx import read_idx, read_idx_images, read_idx_labels
from squeezenet.data.images import (
    center_crop,
    image_to_tensor,
    load_image,
    resize_center_crop,
    resize_shorter_side,
)
from squeezenet.data.loader import BatchLoader
from squeezenet.data.mnist import FASHION_MNIST, MNIST, load_fashion_mnist, load_mnist
from squeezenet.data.preprocess import (
    input_normalizer,
    load_model_input,
    resize_to_input,
    to_model_input,
)
from squeezenet.data.transforms import (
    BatchTransform,
    CenterCrop,
    Compose,
    Normalize,
    RandomCropWithPadding,
    RandomErasing,
    RandomHorizontalFlip,
    RandomResizedCrop,
    Resize,
)

__all__ = [
    "BadImageError",
    "BatchLoader",
    "BatchTransform",
    "CIFAR10_CLASSES",
    "CenterCrop",
    "Compose",
    "DATASET_FORMS",
    "UNLABELLED",
    "DatasetError",
    "FASHION_MNIST",
    "IMAGE_EXTENSIONS",
    "ImageFolderDataset",
    "InMemoryDataset",
    "MNIST",
    "Normalize",
    "RandomCropWithPadding",
    "RandomErasing",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "Resize",
    "center_crop",
    "compute_mean_std",
    "data_root",
    "default_cache_dir",
    "find_classes",
    "image_to_tensor",
    "input_normalizer",
    "load_cifar10",
    "load_dataset",
    "load_dataset_for_model",
    "load_fashion_mnist",
    "load_image",
    "load_image_folder",
    "load_mnist",
    "load_model_input",
    "parse_spec",
    "read_idx",
    "read_idx_images",
    "read_idx_labels",
    "resize_center_crop",
    "resize_shorter_side",
    "resize_to_input",
    "resolve_split",
    "scan_image_folder",
    "to_model_input",
]
