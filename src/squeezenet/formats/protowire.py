"""A small, bounded reader of the protobuf wire format (enough for Caffe's NetParameter).

No schema and no generated code: a message is a sequence of (field number, wire type, value)
triples, and the Caffe reader picks the few fields it needs by number. Every length is checked
against the bytes that remain before it is used, so a truncated or corrupt file raises
`FormatError` instead of reading past its end or allocating what a length claims.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..errors import FormatError

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
_MAX_VARINT_BYTES = 10

Value = int | memoryview


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """The varint at `buf[pos:]` and the position after it."""
    result, shift = 0, 0
    for i in range(pos, min(pos + _MAX_VARINT_BYTES, len(buf))):
        byte = buf[i]
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i + 1
        shift += 7
    raise FormatError(f"truncated or overlong varint at byte {pos}")


def fields(buf: memoryview) -> Iterator[tuple[int, int, Value]]:
    """(field number, wire type, value) of each field of the message in `buf`: an int for
    varints, the raw bytes (a view) for fixed32/fixed64 and length-delimited fields."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise FormatError(f"field number 0 at byte {pos}: not a protobuf message")
        if wire == VARINT:
            value, pos = _varint(buf, pos)
            yield number, wire, value
            continue
        if wire == LENGTH:
            size, pos = _varint(buf, pos)
        elif wire in (FIXED32, FIXED64):
            size = 4 if wire == FIXED32 else 8
        else:  # 3 and 4 are proto1 groups, which Caffe never writes
            raise FormatError(f"field {number} has unsupported wire type {wire}")
        if size > end - pos:
            raise FormatError(
                f"field {number} needs {size} bytes at byte {pos}, {end - pos} remain"
            )
        yield number, wire, buf[pos : pos + size]
        pos += size


def message(value: Value, wire: int) -> memoryview:
    """An embedded message field's bytes."""
    if not isinstance(value, memoryview) or wire != LENGTH:
        raise FormatError(f"expected an embedded message, got wire type {wire}")
    return value


def to_int(value: Value, wire: int) -> int:
    """A scalar integer field's value (varint or fixed)."""
    if isinstance(value, int):
        return value
    if wire in (FIXED32, FIXED64):
        return int.from_bytes(value, "little")
    raise FormatError(f"expected an integer, got wire type {wire}")


def packed_varints(value: Value, wire: int) -> list[int]:
    """A repeated integer field's values: one unpacked varint, or a packed run of them."""
    if not isinstance(value, memoryview) or wire != LENGTH:
        return [to_int(value, wire)]
    pos, out = 0, []
    while pos < len(value):
        item, pos = _varint(value, pos)
        out.append(item)
    return out


def to_text(value: Value, wire: int) -> str:
    """A string field."""
    if not isinstance(value, memoryview) or wire != LENGTH:
        raise FormatError(f"expected a string, got wire type {wire}")
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("a string field is not UTF-8") from None


def floats(value: Value, wire: int, dtype: str) -> np.ndarray:
    """A repeated float (`dtype` "<f4") or double ("<f8") field: one unpacked value or a packed
    run, as a read-only array over the file's bytes (no copy)."""
    width = np.dtype(dtype).itemsize
    fixed = FIXED32 if width == 4 else FIXED64
    if not isinstance(value, memoryview) or wire not in (LENGTH, fixed):
        raise FormatError(f"expected floats of {width} bytes, got wire type {wire}")
    if len(value) % width:
        raise FormatError(f"{len(value)} bytes of floats is not a multiple of {width}")
    return np.frombuffer(value, dtype=dtype)
