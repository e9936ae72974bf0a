"""Reading `.sqz` bytes: framing, checksum, and a header validated field by field.

Every count read from the file is bounded by the bytes that are actually left and by
`MAX_PARAMS` before anything is allocated; every problem raises `SqzFormatError`. The layout
is described in `sqz.py`.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import FormatError
from ..models import SqueezeNet, SqueezeNetConfig, conv_layers
from . import huffman
from .sqz_writer import MAX_CODEBOOK

MAGIC = b"\x89SQZ\r\n\x1a\n"
FORMAT_VERSION = 1
FORMAT_NAME = "squeezenet.sqz"
FIXED_HEADER = struct.Struct("<8sHHII")
CHECKSUM = struct.Struct("<I")
MAX_HEADER_BYTES = 16 << 20  # a 1000-class model with class names needs well under 1 MiB
MAX_PARAMS = 1 << 25  # 33.5M parameters (134 MB float32): 27x SqueezeNet 1.0 at 1000 classes
MAX_BLOCK_SIZE = 1 << 16  # bounds the decoder's padding and per-step work
# The largest file MAX_PARAMS can need: raw float32 values (4 bytes each), a bitmask (1/8),
# float32 biases and block offsets (well under 1 byte each) and the header. Checked from the
# file's size before it is read, so /dev/zero or a huge file is refused without reading it.
MAX_FILE_BYTES = 6 * MAX_PARAMS + MAX_HEADER_BYTES
_HEX = frozenset("0123456789abcdef")


class SqzFormatError(FormatError):
    """A `.sqz` file that is truncated, corrupted, of another version or not a .sqz file."""


def format_error(msg: str) -> SqzFormatError:
    """The error for a bad file, with the common prefix."""
    return SqzFormatError(f"invalid .sqz file: {msg}")


def check_prefix(prefix: bytes, size: int) -> tuple[int, int]:
    """Check the fixed header (the file's first `FIXED_HEADER.size` bytes) against the file's
    `size` before the rest is read; returns (compressed, raw) header lengths."""
    if size > MAX_FILE_BYTES:
        raise format_error(f"{size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit of a .sqz file")
    if size < FIXED_HEADER.size + CHECKSUM.size or len(prefix) < FIXED_HEADER.size:
        raise format_error(f"truncated ({size} bytes)")
    magic, version, flags, header_len, raw_len = FIXED_HEADER.unpack_from(prefix)
    if magic != MAGIC:
        raise format_error("not a .sqz file (bad magic bytes)")
    if version != FORMAT_VERSION:
        raise format_error(
            f"unsupported format version {version}; this build reads version {FORMAT_VERSION}"
        )
    if flags != 0:
        raise format_error(f"unknown flags {flags:#x}")
    if header_len > size - FIXED_HEADER.size - CHECKSUM.size:
        raise format_error(
            f"truncated: header of {header_len} bytes does not fit a {size}-byte file"
        )
    if raw_len > MAX_HEADER_BYTES:
        raise format_error(f"header of {raw_len} bytes exceeds the {MAX_HEADER_BYTES}-byte limit")
    return header_len, raw_len


def read_header(data: bytes) -> tuple[dict[str, Any], int]:
    """Check framing, version and checksum; return (header dict, payload start offset)."""
    header_len, raw_len = check_prefix(data[: FIXED_HEADER.size], len(data))
    (crc,) = CHECKSUM.unpack_from(data, len(data) - CHECKSUM.size)
    if zlib.crc32(memoryview(data)[: -CHECKSUM.size]) != crc:
        raise format_error("checksum mismatch (the file is corrupted or truncated)")
    start = FIXED_HEADER.size
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(data[start : start + header_len], raw_len + 1)
        complete = inflater.eof and not inflater.unused_data
    except zlib.error as e:
        raise format_error(f"corrupt header ({e})") from None
    if len(raw) != raw_len or not complete:
        raise format_error("corrupt header (wrong decompressed length)")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise format_error(f"header is not valid JSON ({e})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise format_error("header is not a squeezenet.sqz header")
    return header, start + header_len


def _field(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise format_error(f"{where}: missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise format_error(f"{where}: field {key!r} has the wrong type ({type(value).__name__})")
    return value


def _count(obj: Any, key: str, limit: int, where: str) -> int:
    value = _field(obj, key, int, where)
    if not 0 <= value <= limit:
        raise format_error(f"{where}: {key}={value} out of range 0..{limit}")
    return value


class _Reader:
    """Walks the payload, bounding every size by the bytes actually left."""

    def __init__(self, data: bytes, start: int, block_size: int) -> None:
        self.data, self.pos, self.end = data, start, len(data) - CHECKSUM.size
        self.block_size = block_size

    def take(self, n: int, where: str) -> bytes:
        if n > self.end - self.pos:
            raise format_error(f"{where}: needs {n} bytes but only {self.end - self.pos} remain")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def stream(self, spec: Any, alphabet: int, max_count: int, where: str) -> huffman.EncodedStream:
        count = _count(spec, "n", max_count, where)
        nbits = _count(spec, "nbits", 8 * (self.end - self.pos), where)
        text = _field(spec, "lengths", str, where)
        if not 0 < len(text) <= alphabet:
            raise format_error(f"{where}: {len(text)} code lengths for an alphabet of {alphabet}")
        if not set(text) <= _HEX:
            raise format_error(f"{where}: code lengths are not lower-case hex digits")
        lengths = np.array([int(c, 16) for c in text], dtype=np.uint8)
        n_offsets = max(huffman.num_blocks(count, self.block_size) - 1, 0)
        nbytes = _count(spec, "nbytes", self.end - self.pos, where)
        if nbytes != 4 * n_offsets + -(-nbits // 8):
            raise format_error(
                f"{where}: stream size {nbytes} does not match {nbits} bits "
                f"in {n_offsets + 1} blocks"
            )
        raw = self.take(nbytes, where)
        offsets = np.frombuffer(raw[: 4 * n_offsets], dtype="<u4").astype(np.int64)
        return huffman.EncodedStream(
            lengths, count, nbits, raw[4 * n_offsets :], offsets, self.block_size
        )


@dataclass
class ParsedLayer:
    """One conv layer's header entry and payload slices, validated but not yet decoded."""

    name: str
    shape: tuple[int, ...]
    nnz: int
    values: dict[str, Any]
    positions: dict[str, Any]
    value_stream: huffman.EncodedStream | None = None
    raw_values: bytes = b""
    position_stream: huffman.EncodedStream | None = None
    bias: np.ndarray | None = None
    value_bytes: int = 0
    position_bytes: int = 0
    bias_bytes: int = 0


def _is_float32(value: Any) -> bool:
    """A JSON number that stays finite as float32 (1e300 would decode to inf weights)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        number = float(value)
    except OverflowError:  # an int beyond float64
        return False
    with np.errstate(over="ignore"):
        return bool(np.isfinite(np.float32(number)))


def _parse_values(layer: ParsedLayer, reader: _Reader, where: str) -> None:
    mode = _field(layer.values, "mode", str, where)
    start = reader.pos
    if mode == "codebook":
        book = _field(layer.values, "codebook", list, where)
        if not 1 <= len(book) <= MAX_CODEBOOK or not all(map(_is_float32, book)):
            raise format_error(
                f"{where}: codebook must hold 1..{MAX_CODEBOOK} finite float32 numbers"
            )
        spec = _field(layer.values, "code", dict, where)
        layer.value_stream = reader.stream(spec, len(book), layer.nnz, f"{where} values")
        if layer.value_stream.count != layer.nnz:
            raise format_error(
                f"{where}: {layer.value_stream.count} indices for {layer.nnz} non-zeros"
            )
    elif mode == "raw":
        if layer.values.get("dtype") != "float32":
            raise format_error(f"{where}: raw values must be float32")
        nbytes = _count(layer.values, "nbytes", reader.end - reader.pos, where)
        if nbytes != 4 * layer.nnz:
            raise format_error(f"{where}: {nbytes} raw bytes for {layer.nnz} non-zeros")
        layer.raw_values = reader.take(nbytes, where)
    else:
        raise format_error(f"{where}: unknown value mode {mode!r}")
    layer.value_bytes = reader.pos - start


def _parse_positions(layer: ParsedLayer, reader: _Reader, where: str) -> None:
    mode = _field(layer.positions, "mode", str, where)
    numel = math.prod(layer.shape)
    start = reader.pos
    if mode == "dense" and layer.nnz != numel or mode == "empty" and layer.nnz != 0:
        raise format_error(f"{where}: position mode {mode!r} with {layer.nnz} of {numel} non-zeros")
    if mode == "gaps":
        escape = _count(layer.positions, "escape", 1 << 15, where)
        if escape < 1:
            raise format_error(f"{where}: gap escape must be >= 1")
        limit = layer.nnz + numel // escape + 1
        spec = _field(layer.positions, "code", dict, where)
        layer.position_stream = reader.stream(spec, escape + 1, limit, f"{where} positions")
    elif mode == "bitmask":
        spec = _field(layer.positions, "code", dict, where)
        layer.position_stream = reader.stream(spec, 256, -(-numel // 8), f"{where} positions")
        if layer.position_stream.count != -(-numel // 8):
            raise format_error(
                f"{where}: bitmask of {layer.position_stream.count} bytes for {numel} weights"
            )
    elif mode not in ("dense", "empty"):
        raise format_error(f"{where}: unknown position mode {mode!r}")
    layer.position_bytes = reader.pos - start


def _parse_bias(layer: ParsedLayer, spec: Any, reader: _Reader, where: str) -> None:
    dtype = _field(spec, "dtype", str, where)
    out_channels = layer.shape[0]
    sizes = {"float16": 2, "float32": 4}
    if dtype not in sizes:
        raise format_error(f"{where}: unknown bias dtype {dtype!r}")
    nbytes = _count(spec, "nbytes", reader.end - reader.pos, where)
    if nbytes != sizes[dtype] * out_channels:
        raise format_error(f"{where}: {nbytes} bias bytes for {out_channels} {dtype} values")
    raw = reader.take(nbytes, where)
    bias = np.frombuffer(raw, dtype="<f2" if dtype == "float16" else "<f4").astype(np.float32)
    if not np.isfinite(bias).all():
        raise format_error(f"{where}: non-finite bias")
    layer.bias, layer.bias_bytes = bias, nbytes


def param_count(config: SqueezeNetConfig) -> int:
    """Parameters of a plain SqueezeNet of this config, by arithmetic (nothing allocated)."""
    k = config.stem_geometry[0]
    total = config.stem_channels * (config.in_channels * k * k + 1)
    for fire, cin in zip(config.fires, config.fire_in_channels()):
        total += fire.squeeze * (cin + 1) + fire.expand1x1 * (fire.squeeze + 1)
        total += fire.expand3x3 * (fire.squeeze * 9 + 1)
        if fire.bypass == "complex":
            total += fire.out_channels * (cin + 1)
    return total + config.num_classes * (config.num_features + 1)


def _model(header: dict[str, Any]) -> tuple[SqueezeNet, dict[str, tuple[int, ...]]]:
    """The (untrained) model the header describes, its size checked before it is built."""
    try:
        config = SqueezeNetConfig.from_dict(_field(header, "model", dict, "header"))
    except (ValueError, TypeError) as e:
        raise format_error(f"bad model config ({e})") from None
    if config.batch_norm:
        raise format_error("model config has batch_norm=True; .sqz files hold folded models")
    total = param_count(config)
    if total > MAX_PARAMS:
        raise format_error(f"model of {total} parameters exceeds the {MAX_PARAMS} limit")
    try:
        model = SqueezeNet(config)
    except (ValueError, RuntimeError, TypeError) as e:
        raise format_error(f"bad model config ({e})") from None
    return model, {name: tuple(c.weight.shape) for name, c in conv_layers(model).items()}


def parse_layers(
    header: dict[str, Any], data: bytes, start: int
) -> tuple[SqueezeNet, list[ParsedLayer]]:
    """The untrained model the header describes and every layer's validated entry."""
    model, shapes = _model(header)
    block_size = _count(header, "block_size", MAX_BLOCK_SIZE, "header")
    if block_size < 1:
        raise format_error("block_size must be >= 1")
    entries = _field(header, "layers", list, "header")
    if [e.get("name") if isinstance(e, dict) else None for e in entries] != list(shapes):
        raise format_error("layer list does not match the model's conv layers")
    reader, layers = _Reader(data, start, block_size), []
    for entry in entries:
        name = entry["name"]
        shape = _field(entry, "shape", list, name)
        if not all(type(d) is int for d in shape) or tuple(shape) != shapes[name]:
            raise format_error(
                f"{name}: shape {shape} but the model config gives {list(shapes[name])}"
            )
        shape = shapes[name]
        nnz = _count(entry, "nnz", math.prod(shape), name)
        layer = ParsedLayer(
            name,
            shape,
            nnz,
            _field(entry, "values", dict, name),
            _field(entry, "positions", dict, name),
        )
        _parse_values(layer, reader, name)
        _parse_positions(layer, reader, name)
        _parse_bias(layer, _field(entry, "bias", dict, name), reader, name)
        layers.append(layer)
    if reader.pos != reader.end:
        raise format_error(f"{reader.end - reader.pos} unexpected bytes after the last layer")
    return model, layers


def positions_of(layer: ParsedLayer, symbols: np.ndarray | None) -> np.ndarray:
    """Flat indices of the layer's non-zeros from its decoded position symbols."""
    numel, mode = math.prod(layer.shape), layer.positions["mode"]
    if mode == "dense":
        return np.arange(numel)
    if mode == "empty":
        return np.zeros(0, dtype=np.int64)
    if mode == "bitmask":
        bits = np.unpackbits(symbols.astype(np.uint8))
        if bits[numel:].any():
            raise format_error(f"{layer.name}: bitmask padding bits are set")
        positions = np.flatnonzero(bits[:numel])
    else:
        escape = layer.positions["escape"]
        is_escape = symbols == escape
        ends = np.cumsum(np.where(is_escape, escape, symbols + 1))
        positions = ends[~is_escape] - 1
    if len(positions) != layer.nnz or (len(positions) and positions[-1] >= numel):
        raise format_error(
            f"{layer.name}: positions do not match {layer.nnz} non-zeros in {numel} weights"
        )
    return positions


def layer_weight(layer: ParsedLayer, symbols: dict[str, np.ndarray]) -> torch.Tensor:
    """The layer's dense float32 weight from its decoded streams (keyed 'name/values', ...)."""
    flat = np.zeros(math.prod(layer.shape), dtype=np.float32)
    positions = positions_of(layer, symbols.get(layer.name + "/positions"))
    if layer.values["mode"] == "codebook":
        book = np.asarray(layer.values["codebook"], dtype=np.float64).astype(np.float32)
        flat[positions] = book[symbols[layer.name + "/values"]]
    else:
        flat[positions] = np.frombuffer(layer.raw_values, dtype="<f4")
    return torch.from_numpy(flat.reshape(layer.shape))
