"""ImageNet class names ship with the package, reach every 1000-class import, and let
`eval --data folder:PATH` score a folder of some ImageNet classes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

import squeezenet
from squeezenet.data import DatasetError, InMemoryDataset
from squeezenet.data.classes import class_indices, relabel_to_model_classes
from squeezenet.imagenet import imagenet_class_meta, imagenet_classes
from squeezenet.models import SqueezeNet, get_model_config

from ..conftest import FIXTURES
from ..helpers import run_cli

REAL_NET = FIXTURES / "imagenet" / "compressed_SqueezeNet.net"


def test_the_shipped_classes_are_imagenet_1k_in_index_order() -> None:
    classes = imagenet_classes()
    assert len(classes.names) == len(set(classes.wnids)) == 1000
    assert list(classes.wnids) == sorted(classes.wnids)  # ILSVRC's order: sorted WordNet ids
    assert (classes.names[0], classes.wnids[0]) == ("tench", "n01440764")
    assert classes.names[281] == "tabby" and classes.synonyms[281] == ("tabby", "tabby cat")
    meta = imagenet_class_meta()
    assert meta["class_names"][999] == classes.names[999] and len(meta["wnids"]) == 1000


def test_a_torchvision_pth_with_1000_classes_gets_imagenet_names(tmp_path: Path) -> None:
    path = tmp_path / "squeezenet1_1.pth"
    torch.save(SqueezeNet(get_model_config("squeezenet1_1")).state_dict(), path)
    meta = squeezenet.load_model(path).meta
    assert meta.class_names[281] == "tabby" and meta.wnids[281] == "n02123045"


def test_class_folders_match_by_wnid_leading_wnid_or_name() -> None:
    names, wnids = imagenet_classes().names, imagenet_classes().wnids
    folders = ["n02123045", "n01440764_tench", "Great_White_Shark", "tiger-shark", "goldfish"]
    assert class_indices(folders, names, wnids) == [281, 0, 2, 3, 1]
    assert class_indices(["n02012849"], names, wnids) == [134]  # a "crane", by its wnid


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("kitten", "folder 'kitten' of the dataset matches none of the model's 1000 classes"),
        (
            "crane",
            "folder 'crane' of the dataset names 2 of the model's classes "
            "\\(134 n02012849, 517 n03126707\\); name the folder by its WordNet id",
        ),
    ],
)
def test_unmatched_or_ambiguous_folders_are_named(folder: str, message: str) -> None:
    classes = imagenet_classes()
    with pytest.raises(DatasetError, match=message):
        class_indices(["tabby", folder], classes.names, classes.wnids)


def test_relabel_without_wnids_matches_names_only() -> None:
    data = InMemoryDataset(
        torch.zeros(3, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1, 1]), ["b", "a"], "tiny"
    )
    relabelled = relabel_to_model_classes(data, ["a", "b", "c"])
    assert relabelled.labels.tolist() == [1, 0, 0] and relabelled.class_names == ["a", "b", "c"]
    assert relabel_to_model_classes(data, ["b", "a"]) is data
    with pytest.raises(DatasetError, match="'b' of tiny matches none .* by name \\(e.g. 'x'\\)"):
        relabel_to_model_classes(data, ["x", "a"])


def _folder(root: Path, classes: dict[str, int]) -> Path:
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (64 + i, 48), (40 * i, 100, 150)).save(root / name / f"{i}.jpg")
    return root


def test_cli_eval_scores_a_folder_of_some_imagenet_classes(tmp_path: Path, capsys) -> None:
    root = _folder(tmp_path / "val", {"n02123045": 2, "great_white_shark": 1})
    code, out, err = run_cli(capsys, "eval", REAL_NET, "--data", f"folder:{root}", "--json")
    assert code == 0, err
    assert json.loads(out)["n"] == 3
    code, out, err = run_cli(capsys, "eval", REAL_NET, "--data", f"folder:{root}")
    assert code == 0, err
    assert "tabby" in out and "great white shark" in out and "tench" not in out
    _folder(root, {"kitten": 1})
    code, out, err = run_cli(capsys, "eval", REAL_NET, "--data", f"folder:{root}", "--json")
    assert code == 2 and "class folder 'kitten'" in err and "\n" not in err.strip()
