"""Compression's side of the `.sqz` file: fold BatchNorm, then encode.

The file format itself (layout, encoder, bounded reader) lives in `squeezenet.formats.sqz`,
below both `checkpoint.load_model` and this package: compress changes the model, formats
write it down. The reading side is re-exported here for convenience.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..files import atomic_write_bytes
from ..formats import sqz
from ..formats.huffman import DEFAULT_BLOCK_SIZE
from ..formats.sqz import (
    FORMAT_VERSION,
    MAX_FILE_BYTES,
    MAX_HEADER_BYTES,
    MAX_PARAMS,
    LayerEncoding,
    SqzFormatError,
    check_fits,
    decode_model,
    header_size,
    layer_encodings,
    load_sqz,
    read_header,
    read_sqz_bytes,
)
from ..meta import ModelMeta
from ..models import SqueezeNet
from .fold import fold_batch_norm

__all__ = [
    "FORMAT_VERSION",
    "MAX_FILE_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_PARAMS",
    "LayerEncoding",
    "SqzFormatError",
    "check_fits",
    "decode_model",
    "encode_model",
    "header_size",
    "layer_encodings",
    "load_sqz",
    "read_header",
    "read_sqz_bytes",
    "save_sqz",
]


def encode_model(
    model: SqueezeNet,
    meta: ModelMeta | Mapping[str, Any] | None = None,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> bytes:
    """`.sqz` bytes of any SqueezeNet, BatchNorm folded first (see `formats.sqz.encode_model`)."""
    if model.config.batch_norm:
        model = fold_batch_norm(model)
    return sqz.encode_model(model, meta, block_size=block_size)


def save_sqz(
    model: SqueezeNet,
    path: str | os.PathLike,
    meta: ModelMeta | Mapping[str, Any] | None = None,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Path:
    """Write `model` as a `.sqz` file atomically; returns the path. See `encode_model`."""
    return atomic_write_bytes(path, encode_model(model, meta, block_size=block_size))
