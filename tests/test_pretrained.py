"""The ImageNet SqueezeNet 1.0 that ships inside the package: loads offline, fits the paper's
0.47 MB, and names two ImageNet sample photos (tests/fixtures/imagenet/README.md)."""

from __future__ import annotations

from importlib import resources

import pytest
import torch

import squeezenet
from squeezenet.inference.predictor import Predictor
from squeezenet.pretrained import PRETRAINED, pretrained_bytes

from .conftest import FIXTURES
from .helpers import run_cli

PHOTOS = {
    "n02002724_black_stork.JPEG": "black stork",
    "n02457408_three-toed_sloth.JPEG": "three-toed sloth",
}


@pytest.fixture(scope="module")
def imagenet_model() -> squeezenet.SqueezeNet:
    return squeezenet.create_model("squeezenet1_0", weights="imagenet")


def test_the_shipped_file_fits_the_papers_size_with_its_licence() -> None:
    assert len(pretrained_bytes("imagenet")) <= 470_000
    licence = resources.files("squeezenet").joinpath("resources/LICENCE-squeezenet1_0_imagenet.txt")
    assert "BSD" in licence.read_text(encoding="utf-8")


def test_weights_imagenet_is_squeezenet_1_0_with_the_authors_pruning(imagenet_model) -> None:
    assert imagenet_model.config.name == "squeezenet1_0"
    assert imagenet_model.config.classifier_padding == 1  # Caffe's conv10
    assert imagenet_model.meta.class_names[281] == "tabby"
    assert imagenet_model.meta.preprocessing.channel_order == "BGR"
    nnz = sum(
        int(torch.count_nonzero(m.weight))
        for m in imagenet_model.modules()
        if isinstance(m, torch.nn.Conv2d)
    )
    assert nnz == 415_921
    assert not imagenet_model.training


def test_load_model_imagenet_is_the_same_model(imagenet_model) -> None:
    loaded = squeezenet.load_model("imagenet")
    for key, value in imagenet_model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


@pytest.mark.parametrize("photo", sorted(PHOTOS))
def test_the_shipped_model_names_imagenet_photos(imagenet_model, photo: str) -> None:
    [result] = Predictor.load(imagenet_model).predict_paths([FIXTURES / "imagenet" / photo], topk=1)
    assert result.labels == [PHOTOS[photo]]


def test_predict_imagenet_on_the_command_line(capsys) -> None:
    photo = FIXTURES / "imagenet" / "n02002724_black_stork.JPEG"
    code, out, err = run_cli(capsys, "predict", "imagenet", photo, "--json", "--topk", "1")
    assert code == 0, err
    assert "black stork" in out


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "squeezenet1_0", "weights": "cifar"}, "valid: imagenet"),
        ({"name": "squeezenet1_1", "weights": "imagenet"}, "squeezenet1_0"),
        ({"name": "squeezenet1_0", "weights": "imagenet", "num_classes": 10}, "num_classes"),
    ],
)
def test_bad_pretrained_requests_are_one_line_errors(kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        squeezenet.create_model(**kwargs)


def test_create_model_without_weights_is_unchanged() -> None:
    model = squeezenet.create_model("squeezenet1_1", num_classes=10)
    assert model.config.num_classes == 10 and set(PRETRAINED) == {"imagenet"}
