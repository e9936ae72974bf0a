"""MNIST and Fashion-MNIST: find the four IDX files locally or download them.

Search order for a split's two files: ``data_dir`` (if given), the system folders
(Debian's ``dataset-fashion-mnist`` installs ``/usr/share/datasets/fashion-mnist``),
then the user cache ``$SQUEEZENET_DATA/<name>`` or ``~/.cache/squeezenet/<name>``.
Downloads go to ``data_dir`` if given, else to the user cache.

Neither dataset has a validation split; ``val`` returns the test set, which is how the
results for both are conventionally reported.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from squeezenet.data.base import InMemoryDataset
from squeezenet.data.download import default_cache_dir, download_file
from squeezenet.data.errors import DatasetError
from squeezenet.data.idx import read_idx_images, read_idx_labels
from squeezenet.data.splits import check_split

__all__ = [
    "FASHION_MNIST",
    "MNIST",
    "IdxDatasetSpec",
    "load_fashion_mnist",
    "load_idx_dataset",
    "load_mnist",
]


@dataclasses.dataclass(frozen=True)
class IdxDatasetSpec:
    """Everything needed to find, fetch and label an MNIST-format dataset.

    Attributes:
        name: Dataset name, also its cache subfolder.
        base_url: URL the file names are appended to (ends with ``/``).
        md5: Checksum of each published ``.gz`` file, by file stem.
        class_names: Label index -> human-readable name.
        system_dirs: Read-only folders populated by OS packages.
        apt_package: Debian package providing the files, if any (for the help message).
    """

    name: str
    base_url: str
    md5: dict[str, str]
    class_names: tuple[str, ...]
    system_dirs: tuple[Path, ...] = ()
    apt_package: str | None = None


_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

FASHION_MNIST = IdxDatasetSpec(
    name="fashion-mnist",
    base_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    md5={
        "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
    apt_package="dataset-fashion-mnist",
)

MNIST = IdxDatasetSpec(
    name="mnist",
    base_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
    md5={
        "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    class_names=tuple(str(d) for d in range(10)),
)


def load_fashion_mnist(
    split: str, data_dir: str | os.PathLike[str] | None = None, download: bool = True
) -> InMemoryDataset:
    """Load a Fashion-MNIST split as uint8 (N, 1, 28, 28) images.

    Args:
        split: ``train``, ``val`` or ``test`` (``val`` is the test set).
        data_dir: Folder searched first and used for downloads.
        download: Fetch missing files from the official mirror.

    Raises:
        DatasetError: If the files are missing and cannot be downloaded, or are corrupt.
    """
    return load_idx_dataset(FASHION_MNIST, split, data_dir=data_dir, download=download)


def load_mnist(
    split: str, data_dir: str | os.PathLike[str] | None = None, download: bool = True
) -> InMemoryDataset:
    """Load an MNIST split as uint8 (N, 1, 28, 28) images; see :func:`load_fashion_mnist`."""
    return load_idx_dataset(MNIST, split, data_dir=data_dir, download=download)


def load_idx_dataset(
    spec: IdxDatasetSpec,
    split: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> InMemoryDataset:
    """Load one split of an MNIST-format dataset described by ``spec``."""
    stems = _STEMS["train" if check_split(split) == "train" else "test"]
    data_dir = Path(data_dir).expanduser() if data_dir is not None else None
    paths = _find_files(spec, stems, data_dir)
    if paths is None:
        if not download:
            raise DatasetError(_missing_message(spec, stems, data_dir, "downloads are disabled"))
        paths = _download(spec, stems, data_dir)
    images = read_idx_images(paths[0])
    labels = read_idx_labels(paths[1])
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(
            f"{paths[0]} holds {images.shape[0]} images but {paths[1]} holds "
            f"{labels.shape[0]} labels; one of the files belongs to another split or dataset"
        )
    return InMemoryDataset(
        images=images, labels=labels, class_names=list(spec.class_names), name=spec.name
    )


def _search_dirs(spec: IdxDatasetSpec, data_dir: Path | None) -> list[Path]:
    dirs = [data_dir] if data_dir is not None else []
    return [*dirs, *spec.system_dirs, default_cache_dir(spec.name)]


def _find_in(folder: Path, stem: str) -> Path | None:
    # Either the raw or the gzipped file will do; the IDX reader sniffs the content.
    for name in (stem, f"{stem}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _find_files(
    spec: IdxDatasetSpec, stems: tuple[str, str], data_dir: Path | None
) -> tuple[Path, Path] | None:
    """Return the first folder's pair of files; both must come from the same folder."""
    for folder in _search_dirs(spec, data_dir):
        found = [_find_in(folder, stem) for stem in stems]
        if found[0] is not None and found[1] is not None:
            return found[0], found[1]
    return None


def _download(
    spec: IdxDatasetSpec, stems: tuple[str, str], data_dir: Path | None
) -> tuple[Path, Path]:
    target = data_dir if data_dir is not None else default_cache_dir(spec.name)
    paths = []
    for stem in stems:
        dest = target / f"{stem}.gz"
        if not dest.is_file():
            try:
                download_file(spec.base_url + dest.name, dest, spec.md5[stem])
            except DatasetError as exc:
                raise DatasetError(_missing_message(spec, stems, data_dir, str(exc))) from exc
        paths.append(dest)
    return paths[0], paths[1]


def _missing_message(
    spec: IdxDatasetSpec, stems: tuple[str, str], data_dir: Path | None, reason: str
) -> str:
    searched = ", ".join(str(d) for d in _search_dirs(spec, data_dir))
    target = data_dir if data_dir is not None else default_cache_dir(spec.name)
    files = ", ".join(f"{s}.gz" for s in stems)
    how = [f"download {files} from {spec.base_url} into {target}", "pass --data-dir"]
    if spec.apt_package:
        how.insert(0, f"apt-get install {spec.apt_package}")
    return (
        f"{spec.name} files {files} not found (searched {searched}) and {reason}. "
        f"To fix: {', or '.join(how)}."
    )
