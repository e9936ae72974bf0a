"""The `.sqz` file: a compressed SqueezeNet that loads back and runs.

Layout (all integers little-endian)::

    magic        8 bytes  b"\\x89SQZ\\r\\n\\x1a\\n"  (PNG-style: catches text-mode mangling)
    version      u16      FORMAT_VERSION
    flags        u16      0
    header_len   u32      bytes of the compressed header
    header_raw   u32      bytes of the header once decompressed (bounded before inflating)
    header       zlib-compressed UTF-8 JSON: model config, meta, and one entry per conv
                 layer (shape, nnz, codebook, code lengths, stream sizes, position mode)
    payload      per layer, in header order: weight stream, position stream, bias bytes
    crc32        u32      of every byte before it

Each conv's weights are stored as
  * positions of the non-zeros: "dense" (none pruned), "empty", "gaps" (Huffman-coded zero
    runs with an escape symbol for long runs, Deep Compression's relative indexing) or
    "bitmask" (Huffman-coded mask bytes), whichever is smallest for that layer;
  * values: "codebook" (sorted distinct values in the header, Huffman-coded indices) when a
    layer has at most 256 distinct non-zero values, else "raw" float32;
  * bias: float16 when every bias is exactly representable, else float32.
Encoding is lossless for any weights: a decoded model has the very same tensors. Nothing is
pickled; every count read from the file is checked against the file size and `MAX_PARAMS`
before anything is allocated, and every problem raises `SqzFormatError`.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..files import FileLimitError, atomic_path, open_regular, read_exactly
from ..meta import MetaError, ModelMeta
from ..models import SqueezeNet, SqueezeNetConfig, conv_layers
from . import huffman
from .sqz_reader import (
    CHECKSUM,
    FIXED_HEADER,
    FORMAT_NAME,
    FORMAT_VERSION,
    MAGIC,
    MAX_BLOCK_SIZE,
    MAX_FILE_BYTES,
    MAX_HEADER_BYTES,
    MAX_PARAMS,
    SqzFormatError,
    check_prefix,
    format_error,
    layer_weight,
    param_count,
    parse_layers,
    read_header,
)
from .sqz_writer import encode_layer

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
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


@dataclass(frozen=True)
class LayerEncoding:
    """Sizes of one encoded conv layer (for reports).

    Attributes:
        name: module path.
        shape: weight shape.
        nnz: non-zero weights.
        value_mode: "codebook" or "raw".
        codebook_size: distinct non-zero values (0 for raw).
        position_mode: "dense", "empty", "gaps" or "bitmask".
        value_bytes: payload bytes of the weight values (indices or raw floats).
        position_bytes: payload bytes of the positions.
        bias_bytes: payload bytes of the bias.
    """

    name: str
    shape: tuple[int, ...]
    nnz: int
    value_mode: str
    codebook_size: int
    position_mode: str
    value_bytes: int
    position_bytes: int
    bias_bytes: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


# ---- encoding ---------------------------------------------------------------------------------


def check_fits(config: SqueezeNetConfig) -> None:
    """Raise ValueError for a model too large for the reader to accept (`MAX_PARAMS`)."""
    total = param_count(config)
    if total > MAX_PARAMS:
        raise ValueError(
            f"a model of {total:,} parameters is over the {MAX_PARAMS:,} a .sqz file may hold"
        )


def encode_model(
    model: SqueezeNet,
    meta: ModelMeta | Mapping[str, Any] | None = None,
    *,
    block_size: int = huffman.DEFAULT_BLOCK_SIZE,
) -> bytes:
    """Serialise a (pruned, weight-shared) SqueezeNet to `.sqz` bytes, losslessly.

    The file describes a `batch_norm=False` model: `squeezenet.compress.encode_model` folds
    BatchNorm first (folding is a model transform, so it lives in `compress`).

    Args:
        model: a SqueezeNet without BatchNorm; pruned/shared parametrizations are read
            through `conv.weight`.
        meta: class names, preprocessing, provenance (a `ModelMeta` or its dict form);
            defaults to `model.meta`.
        block_size: symbols per independently decodable Huffman block.
    """
    if not 1 <= block_size <= MAX_BLOCK_SIZE:
        raise ValueError(f"block_size must be in 1..{MAX_BLOCK_SIZE}, got {block_size}")
    check_fits(model.config)
    if model.config.batch_norm:
        raise ValueError(
            f"{model.config.name} has BatchNorm; fold it first (squeezenet.compress.encode_model)"
        )
    if meta is None:
        meta = model.meta
    elif not isinstance(meta, ModelMeta):
        meta = ModelMeta.from_dict(meta, in_channels=model.config.in_channels)
    layers, chunks = [], []
    for name, conv in conv_layers(model).items():
        entry, data = encode_layer(name, conv, block_size)
        layers.append(entry)
        chunks.append(data)
    header = {
        "format": FORMAT_NAME,
        "model": model.config.to_dict(),
        "meta": meta.to_dict(),
        "block_size": block_size,
        "layers": layers,
    }
    try:
        raw = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise ValueError(f"model meta is not JSON-serialisable: {e}") from None
    if len(raw) > MAX_HEADER_BYTES:  # the reader would refuse it
        raise ValueError(
            f"the .sqz header would be {len(raw):,} bytes, over the "
            f"{MAX_HEADER_BYTES:,}-byte limit; is model meta that large?"
        )
    packed = zlib.compress(raw, 9)
    body = (
        FIXED_HEADER.pack(MAGIC, FORMAT_VERSION, 0, len(packed), len(raw))
        + packed
        + b"".join(chunks)
    )
    return body + CHECKSUM.pack(zlib.crc32(body))


def save_sqz(
    model: SqueezeNet,
    path: str | os.PathLike,
    meta: ModelMeta | Mapping[str, Any] | None = None,
    *,
    block_size: int = huffman.DEFAULT_BLOCK_SIZE,
) -> Path:
    """Write `model` as a `.sqz` file atomically; returns the path. See `encode_model`."""
    data = encode_model(model, meta, block_size=block_size)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


# ---- decoding ---------------------------------------------------------------------------------


def decode_model(data: bytes) -> SqueezeNet:
    """Rebuild the SqueezeNet stored in `.sqz` bytes (eval mode, `meta` set).

    Raises:
        SqzFormatError: for any truncated, corrupted, foreign or wrong-version input.
    """
    header, start = read_header(data)
    model, layers = parse_layers(header, data, start)
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        raise format_error("meta must be a JSON object")
    keys, streams = [], []
    for layer in layers:
        for suffix, stream in (
            ("/values", layer.value_stream),
            ("/positions", layer.position_stream),
        ):
            if stream is not None:
                keys.append(layer.name + suffix)
                streams.append(stream)
    try:
        symbols = dict(zip(keys, huffman.decode_streams(streams)))
    except huffman.HuffmanError as e:
        raise format_error(str(e)) from None
    state = {}
    for layer in layers:
        state[f"{layer.name}.weight"] = layer_weight(layer, symbols)
        state[f"{layer.name}.bias"] = torch.from_numpy(layer.bias)
    model.load_state_dict(state, strict=True)
    try:
        model.meta = ModelMeta.from_dict(meta, in_channels=model.config.in_channels)
    except MetaError as e:
        raise format_error(f"meta: {e}") from None
    return model.eval()


def read_sqz_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a `.sqz` file, read only once its size and fixed header check out.

    A FIFO, a device (a `.sqz` symlinked to /dev/zero) or a file over `MAX_FILE_BYTES` is
    refused from `fstat`, and a foreign file from its first bytes, before the rest is read.
    """
    try:
        with open_regular(path, MAX_FILE_BYTES, ".sqz file") as (f, size):
            prefix = f.read(FIXED_HEADER.size)
            try:
                check_prefix(prefix, size)
            except SqzFormatError as e:
                raise SqzFormatError(f"{path}: {e}") from None
            return prefix + read_exactly(f, size - len(prefix), path)
    except FileLimitError as e:
        raise SqzFormatError(str(e)) from None
    except OSError as e:
        raise SqzFormatError(f"{path}: cannot read ({e.strerror or e})") from None


def load_sqz(path: str | os.PathLike) -> SqueezeNet:
    """Load a `.sqz` file (also reachable as `squeezenet.load_model(path)`)."""
    data = read_sqz_bytes(path)
    try:
        return decode_model(data)
    except SqzFormatError as e:
        raise SqzFormatError(f"{path}: {e}") from None


def layer_encodings(data: bytes) -> list[LayerEncoding]:
    """Per-layer sizes of `.sqz` bytes, from the header and payload layout (no decoding)."""
    header, start = read_header(data)
    _, layers = parse_layers(header, data, start)
    return [
        LayerEncoding(
            name=l.name,
            shape=l.shape,
            nnz=l.nnz,
            value_mode=l.values["mode"],
            codebook_size=len(l.values.get("codebook", [])),
            position_mode=l.positions["mode"],
            value_bytes=l.value_bytes,
            position_bytes=l.position_bytes,
            bias_bytes=l.bias_bytes,
        )
        for l in layers
    ]


def header_size(data: bytes) -> int:
    """Bytes of the fixed header plus the compressed JSON header."""
    return FIXED_HEADER.size + FIXED_HEADER.unpack_from(data)[3]
