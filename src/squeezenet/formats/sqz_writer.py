"""Encoding one conv layer for a `.sqz` file: positions, values and bias (see sqz.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from . import huffman

MAX_CODEBOOK = 256  # more distinct values than this: stored raw (float32)
GAP_ESCAPES = (1, 3, 7, 15, 31, 63, 127, 255)  # candidate escape symbols for zero-run coding


def _stream_json(s: huffman.EncodedStream) -> dict[str, Any]:
    lengths = "".join(f"{v:x}" for v in np.trim_zeros(s.lengths, "b"))
    return {"n": s.count, "nbits": s.nbits, "lengths": lengths, "nbytes": s.nbytes}


def _stream_bytes(s: huffman.EncodedStream) -> bytes:
    return s.block_offsets.astype("<u4").tobytes() + s.data


def _huffman(symbols: np.ndarray, alphabet: int, block_size: int) -> huffman.EncodedStream:
    lengths = huffman.code_lengths(np.bincount(symbols, minlength=alphabet))
    return huffman.encode(symbols, lengths, block_size=block_size)


def _gap_symbols(positions: np.ndarray, escape: int) -> np.ndarray:
    """Zero-run lengths before each non-zero; a run >= escape emits escape symbols first."""
    runs = np.diff(positions, prepend=-1) - 1
    n_escapes = runs // escape
    out = np.full(int(np.sum(n_escapes + 1)), escape, dtype=np.int64)
    out[np.cumsum(n_escapes + 1) - 1] = runs - n_escapes * escape
    return out


def _estimated_bytes(symbols: np.ndarray, alphabet: int, block_size: int) -> int:
    counts = np.bincount(symbols, minlength=alphabet)
    bits = huffman.encoded_bits(counts, huffman.code_lengths(counts))
    blocks = huffman.num_blocks(len(symbols), block_size)
    # payload + block offsets + ~half a byte per code length in the (compressed) header
    return -(-bits // 8) + 4 * max(blocks - 1, 0) + (alphabet + 1) // 2


def _encode_positions(mask: np.ndarray, block_size: int) -> tuple[dict[str, Any], bytes]:
    nnz, numel = int(mask.sum()), mask.size
    if nnz == numel:
        return {"mode": "dense"}, b""
    if nnz == 0:
        return {"mode": "empty"}, b""
    positions = np.flatnonzero(mask)
    candidates = {("bitmask", 0): _estimated_bytes(np.packbits(mask), 256, block_size)}
    for escape in GAP_ESCAPES:
        gaps = _gap_symbols(positions, escape)
        candidates[("gaps", escape)] = _estimated_bytes(gaps, escape + 1, block_size)
    mode, escape = min(candidates, key=candidates.get)
    if mode == "bitmask":
        stream = _huffman(np.packbits(mask).astype(np.int64), 256, block_size)
        return {"mode": "bitmask", "code": _stream_json(stream)}, _stream_bytes(stream)
    stream = _huffman(_gap_symbols(positions, escape), escape + 1, block_size)
    return {"mode": "gaps", "escape": escape, "code": _stream_json(stream)}, _stream_bytes(stream)


def _encode_values(values: np.ndarray, block_size: int) -> tuple[dict[str, Any], bytes]:
    if not np.isfinite(values).all():
        raise ValueError("cannot encode non-finite weights (NaN or inf)")
    codebook = np.unique(values)
    if codebook.size > MAX_CODEBOOK or codebook.size == 0:  # unshared, or nothing to store
        data = values.astype("<f4").tobytes()
        return {"mode": "raw", "dtype": "float32", "nbytes": len(data)}, data
    index = np.searchsorted(codebook, values)
    stream = _huffman(index, codebook.size, block_size)
    # str(np.float32) is the shortest decimal that reads back as the same float32.
    book = [float(str(v)) for v in codebook.astype(np.float32)]
    return {"mode": "codebook", "codebook": book, "code": _stream_json(stream)}, _stream_bytes(
        stream
    )


def _encode_bias(bias: torch.Tensor | None) -> tuple[dict[str, Any], bytes]:
    if bias is None:
        raise ValueError("every SqueezeNet conv has a bias; got a conv without one")
    b = bias.detach().cpu().float().numpy()
    if not np.isfinite(b).all():
        raise ValueError("cannot encode non-finite biases (NaN or inf)")
    half = b.astype(np.float16)
    if np.array_equal(half.astype(np.float32), b):
        data = half.astype("<f2").tobytes()
        return {"dtype": "float16", "nbytes": len(data)}, data
    data = b.astype("<f4").tobytes()
    return {"dtype": "float32", "nbytes": len(data)}, data


def encode_layer(name: str, conv: torch.nn.Conv2d, block_size: int) -> tuple[dict[str, Any], bytes]:
    flat = conv.weight.detach().cpu().float().numpy().ravel()
    mask = flat != 0
    positions, pos_bytes = _encode_positions(mask, block_size)
    values, val_bytes = _encode_values(flat[mask], block_size)
    bias, bias_bytes = _encode_bias(conv.bias)
    entry = {
        "name": name,
        "shape": list(conv.weight.shape),
        "nnz": int(mask.sum()),
        "values": values,
        "positions": positions,
        "bias": bias,
    }
    return entry, val_bytes + pos_bytes + bias_bytes
