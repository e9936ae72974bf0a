"""Matching a dataset's classes onto a model's, by WordNet id or by name.

An ImageNet model has 1000 classes; a folder of ImageNet images holds some of them, named by
WordNet id (torchvision's val layout: `n02123045/`), by a leading WordNet id
(`n02123045_tabby/`) or by the class name (`tabby/`, `great_white_shark/`: case, underscores
and hyphens do not matter). `relabel_to_model_classes` turns such a dataset's labels into the
model's class indices so it can be evaluated against the model's outputs.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import torch

from squeezenet.data.base import InMemoryDataset
from squeezenet.data.errors import DatasetError

__all__ = ["class_indices", "relabel_to_model_classes"]

_WNID = re.compile(r"^(n\d{8})(?:[_\- ].*)?$")


def _normal(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def class_indices(
    names: Sequence[str],
    class_names: Sequence[str],
    wnids: Sequence[str] | None = None,
    *,
    source: str = "the dataset",
) -> list[int]:
    """The model class index of each of `names` (class folder names).

    Args:
        names: the dataset's class names.
        class_names: the model's class names, in output order.
        wnids: the model's WordNet ids, when its classes are ImageNet's.
        source: how to name the dataset in errors.

    Raises:
        DatasetError: a name matches no model class, or its name matches several (ImageNet
            has two "crane"s and two "maillot"s: such folders must be named by WordNet id).
    """
    by_wnid = {w: i for i, w in enumerate(wnids or ())}
    by_name: dict[str, list[int]] = {}
    for i, name in enumerate(class_names):
        by_name.setdefault(_normal(name), []).append(i)
    out = []
    for name in names:
        wnid = _WNID.match(name)
        if wnid and wnid[1] in by_wnid:
            out.append(by_wnid[wnid[1]])
            continue
        hits = by_name.get(_normal(name), [])
        if len(hits) > 1:
            which = ", ".join(f"{i} {wnids[i]}" if wnids else str(i) for i in hits)
            raise DatasetError(
                f"class folder {name!r} of {source} names {len(hits)} of the model's classes "
                f"({which}); name the folder by its WordNet id"
            )
        if not hits:
            ways = "WordNet id (e.g. 'n01440764') or name" if wnids else "name"
            example = f" (e.g. {class_names[0]!r})" if not wnids else ""
            raise DatasetError(
                f"class folder {name!r} of {source} matches none of the model's "
                f"{len(class_names)} classes by {ways}{example}"
            )
        out.append(hits[0])
    return out


def relabel_to_model_classes(
    dataset: InMemoryDataset, class_names: Sequence[str], wnids: Sequence[str] | None = None
) -> InMemoryDataset:
    """`dataset` labelled with the model's class indices and names (see `class_indices`)."""
    if list(dataset.class_names) == list(class_names):
        return dataset
    indices = class_indices(dataset.class_names, class_names, wnids, source=dataset.name)
    index = torch.tensor(indices)
    return dataclasses.replace(dataset, labels=index[dataset.labels], class_names=list(class_names))
