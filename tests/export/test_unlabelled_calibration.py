"""INT8 calibration needs no labels: a flat folder of photos calibrates the ImageNet model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")

from squeezenet import load_model
from squeezenet.data import load_dataset_for_model
from squeezenet.data.preprocess import load_model_input
from squeezenet.export import export_pipeline, ort_session, run_session
from squeezenet.meta import preprocessing_for

PHOTOS = sorted((Path(__file__).parents[1] / "fixtures" / "imagenet").glob("*.JPEG"))


def test_a_flat_photo_folder_calibrates_int8_for_the_imagenet_model(tmp_path: Path) -> None:
    flat = tmp_path / "photos"  # no class folders, nothing that could be a label
    flat.mkdir()
    for photo in PHOTOS:
        shutil.copy(photo, flat / photo.name)
    model = load_model("imagenet")
    pre = preprocessing_for(model)
    calib = load_dataset_for_model(f"folder:{flat}", "train", pre, labels=False)
    assert len(calib) == len(PHOTOS) and not calib.labelled

    done = export_pipeline(model, tmp_path / "m.onnx", calib=calib)
    assert done.int8_path is not None and done.int8_path.is_file()
    assert done.calib_inputs is not None and done.calib_inputs.shape[0] == len(PHOTOS)
    assert done.to_dict()["int8"]["calibration_images"] == len(PHOTOS)
    fp32, int8 = ort_session(done.onnx.path), ort_session(done.int8_path)
    for photo in PHOTOS:  # the INT8 model still names each photo as the float model does
        x = load_model_input(photo, pre)[None].numpy()
        assert run_session(int8, x).argmax() == run_session(fp32, x).argmax()
