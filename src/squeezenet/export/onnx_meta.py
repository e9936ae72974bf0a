"""The metadata an exported ONNX file carries (class names, preprocessing, architecture), and
reading ONNX files back: bounded, external data checked, one-line errors.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..files import FileLimitError, read_regular
from ..meta import MetaError, ModelMeta, Preprocessing, fallback_preprocessing, get_meta
from ..models import SqueezeNet, SqueezeNetConfig
from .external_data import check_external_data

if TYPE_CHECKING:  # onnx is the optional `export` extra: imported where used
    import onnx

FORMAT_KEY, FORMAT_VERSION = "squeezenet_format", "1"
CONFIG_KEY = "model_config"
MAX_ONNX_BYTES = 256 << 20  # checked from fstat before a file is read (ours are ~5 MB)


class ExportError(ValueError):
    """An export that cannot be made or does not match PyTorch."""


def onnx_metadata(model: SqueezeNet, preprocess: Preprocessing) -> dict[str, Any]:
    """The metadata an exported file carries: the model's `ModelMeta` with the resolved
    preprocessing and class names (numbered if it has none), plus its architecture."""
    meta = get_meta(model)
    names = meta.class_names or tuple(f"class_{i}" for i in range(model.num_classes))
    if len(names) != model.num_classes:
        raise ExportError(
            f"model meta lists {len(names)} class names but the model has "
            f"{model.num_classes} outputs"
        )
    out = replace(meta, class_names=names, preprocessing=preprocess).to_dict()
    out["model_name"] = model.config.name
    out[CONFIG_KEY] = model.config.to_dict()
    out[FORMAT_KEY] = FORMAT_VERSION
    return out


def set_metadata(proto: onnx.ModelProto, metadata: dict[str, Any]) -> None:
    """Replace the model's metadata_props with `metadata`, each value JSON-encoded."""
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)


def read_metadata(source: str | os.PathLike[str] | onnx.ModelProto) -> dict[str, Any]:
    """The decoded metadata_props of an ONNX file (values that are not JSON stay strings)."""
    import onnx

    proto = source if isinstance(source, onnx.ModelProto) else load_proto(source)
    out: dict[str, Any] = {}
    for entry in proto.metadata_props:
        try:
            out[entry.key] = json.loads(entry.value)
        except json.JSONDecodeError:
            out[entry.key] = entry.value
    return out


def onnx_model_meta(path: str | os.PathLike[str]) -> ModelMeta:
    """The `ModelMeta` an ONNX file carries. A foreign file's preprocessing is the fallback
    rule's at its graph's input channels and size (224 where the graph leaves it open)."""
    return meta_from_metadata(path, {**graph_input_meta(path), **read_metadata(path)})


def meta_from_metadata(path: str | os.PathLike[str], metadata: dict[str, Any]) -> ModelMeta:
    """The `ModelMeta` of an exported file's metadata (ONNX or OpenVINO IR), with the fallback
    preprocessing where the file has none."""
    try:
        meta = ModelMeta.from_dict(metadata)
    except MetaError as e:
        raise ExportError(f"{path}: bad model metadata: {e}") from None
    if meta.preprocessing is None:
        meta = replace(meta, preprocessing=fallback_preprocessing())
    return meta


def onnx_preprocessing(path: str | os.PathLike[str]) -> Preprocessing:
    """The preprocessing an ONNX file's inputs need (see `onnx_model_meta`)."""
    return onnx_model_meta(path).preprocessing or fallback_preprocessing()


def graph_input_meta(path: str | os.PathLike[str]) -> dict[str, int]:
    """``in_channels`` and ``input_size`` from an ONNX model's (N, C, H, W) input, where the
    graph fixes them: the preprocessing defaults of a file without our metadata."""
    dims = load_proto(path).graph.input[0].type.tensor_type.shape.dim
    return input_dims_meta([d.dim_value if d.HasField("dim_value") else None for d in dims])


def input_dims_meta(dims: list[int | None]) -> dict[str, int]:
    """``in_channels`` and ``input_size`` from an (N, C, H, W) input's dimensions (None where
    the graph leaves one open)."""
    meta: dict[str, int] = {}
    if len(dims) == 4 and dims[1] in (1, 3):
        meta["in_channels"] = dims[1]
    if len(dims) == 4 and dims[2] is not None and dims[2] == dims[3]:
        meta["input_size"] = dims[2]
    return meta


def load_proto(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """Parse an ONNX file, with a clear error for a missing or foreign file."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such ONNX file: {path}")
    try:
        proto = onnx.load_model_from_string(read_regular(path, MAX_ONNX_BYTES, "ONNX file"))
    except FileLimitError as e:
        raise ExportError(str(e)) from None
    except OSError:
        raise
    except Exception as e:  # protobuf's DecodeError and friends
        raise ExportError(f"{path}: not a readable ONNX file ({e})") from None
    check_external_data(proto, path)  # before anything reads a tensor of it
    return proto


def model_from_metadata(metadata: dict[str, Any]) -> SqueezeNet | None:
    """An (untrained) SqueezeNet of the exported architecture, e.g. to count its FLOPs."""
    config = metadata.get(CONFIG_KEY)
    if not isinstance(config, dict):
        return None
    try:
        return SqueezeNet(SqueezeNetConfig.from_dict(config))
    except ValueError:
        return None
