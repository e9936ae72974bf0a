"""The 1000 ImageNet-1k classes: short names and WordNet ids, shipped with the package.

`resources/imagenet_classes.tsv` (origin in `resources/README.md`) lists the classes in the
standard index order that every published ImageNet checkpoint uses: index, WordNet id, the
synset's names (the first is the usual short label, "tabby" for class 281).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

NUM_IMAGENET_CLASSES = 1000
_RESOURCE = "resources/imagenet_classes.tsv"


@dataclass(frozen=True)
class ImageNetClasses:
    """The ImageNet-1k classes in index order.

    Attributes:
        names: the short label of each class (the synset's first name).
        wnids: the WordNet id of each class ("n02123045").
        synonyms: every name of each class's synset, the short label first.
    """

    names: tuple[str, ...]
    wnids: tuple[str, ...]
    synonyms: tuple[tuple[str, ...], ...]


@functools.cache
def imagenet_classes() -> ImageNetClasses:
    """The 1000 ImageNet-1k classes, read once from the package's resource file."""
    text = resources.files("squeezenet").joinpath(_RESOURCE).read_text(encoding="utf-8")
    names, wnids, synonyms = [], [], []
    for line_no, line in enumerate(text.splitlines()[1:], start=2):
        index, wnid, words = line.split("\t")
        if int(index) != len(names):  # a broken install, not a user error
            raise RuntimeError(f"{_RESOURCE} line {line_no}: index {index}, expected {len(names)}")
        words_t = tuple(w.strip() for w in words.split(","))
        names.append(words_t[0])
        wnids.append(wnid)
        synonyms.append(words_t)
    if len(names) != NUM_IMAGENET_CLASSES:
        raise RuntimeError(f"{_RESOURCE} has {len(names)} classes, expected 1000")
    return ImageNetClasses(tuple(names), tuple(wnids), tuple(synonyms))


def imagenet_class_meta() -> dict[str, Any]:
    """`class_names` and `wnids` for a 1000-class ImageNet model's metadata."""
    classes = imagenet_classes()
    return {"class_names": list(classes.names), "wnids": list(classes.wnids)}
