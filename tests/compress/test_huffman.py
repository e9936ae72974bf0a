"""The canonical Huffman coder: lossless on any stream, bounded lengths, corrupt input refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squeezenet.formats import huffman
from squeezenet.formats.huffman import HuffmanError


def _round_trip(symbols: np.ndarray, alphabet: int, block_size: int) -> huffman.EncodedStream:
    lengths = huffman.code_lengths(np.bincount(symbols, minlength=alphabet))
    stream = huffman.encode(symbols, lengths, block_size=block_size)
    assert np.array_equal(huffman.decode(stream), symbols)
    return stream


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 299), max_size=3000),
    st.integers(1, 700),
)
def test_any_symbol_stream_round_trips(values: list[int], block_size: int) -> None:
    symbols = np.asarray(values, dtype=np.int64)
    _round_trip(symbols, 300, block_size)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.lists(st.integers(0, 40), max_size=600), st.integers(1, 64)), max_size=6)
)
def test_many_streams_decode_together(specs: list[tuple[list[int], int]]) -> None:
    streams, expected = [], []
    for values, block in specs:
        symbols = np.asarray(values, dtype=np.int64)
        lengths = huffman.code_lengths(np.bincount(symbols, minlength=41))
        streams.append(huffman.encode(symbols, lengths, block_size=block))
        expected.append(symbols)
    for got, want in zip(huffman.decode_streams(streams), expected):
        assert np.array_equal(got, want)


def test_skewed_counts_are_length_limited_and_complete() -> None:
    fib = [1, 1]
    while len(fib) < 40:
        fib.append(fib[-1] + fib[-2])
    lengths = huffman.code_lengths(np.array(fib))
    assert lengths.max() == huffman.MAX_CODE_LENGTH
    huffman.check_lengths(lengths)  # still a complete prefix code
    symbols = np.repeat(np.arange(40), np.minimum(fib, 50))
    _round_trip(symbols, 40, 128)


def test_code_is_optimal_on_a_textbook_example() -> None:
    lengths = huffman.code_lengths(np.array([45, 13, 12, 16, 9, 5]))
    assert lengths.tolist() == [1, 3, 3, 3, 4, 4]


def test_single_symbol_stream_costs_no_bits() -> None:
    stream = _round_trip(np.full(1000, 7), 10, 64)
    assert stream.nbits == 0 and stream.data == b""


@pytest.mark.parametrize(
    ("lengths", "message"),
    [
        ([1, 1, 1], "over-subscribed"),
        ([1, 2], "incomplete"),
        ([0, 0], "no symbols"),
        ([16, 1] + [0] * 3, "exceeds"),
        ([2], "single-symbol"),
    ],
)
def test_invalid_code_lengths_are_refused(lengths: list[int], message: str) -> None:
    with pytest.raises(HuffmanError, match=message):
        huffman.check_lengths(np.array(lengths, dtype=np.uint8))


def test_corrupt_bits_are_detected_not_decoded_silently() -> None:
    rng = np.random.default_rng(0)
    symbols = rng.geometric(0.2, 5000).clip(max=30) - 1
    stream = _round_trip(symbols, 30, 512)
    detected = 0
    for i in range(0, len(stream.data), 37):
        data = bytearray(stream.data)
        data[i] ^= 0xFF
        bad = huffman.EncodedStream(
            stream.lengths,
            stream.count,
            stream.nbits,
            bytes(data),
            stream.block_offsets,
            stream.block_size,
        )
        try:
            out = huffman.decode(bad)
        except HuffmanError:
            detected += 1
        else:  # a flip that keeps every block boundary intact must still decode to the right size
            assert len(out) == len(symbols)
    assert detected > 0


def test_inconsistent_stream_fields_are_refused() -> None:
    stream = _round_trip(np.arange(100) % 7, 7, 16)
    with pytest.raises(HuffmanError, match="block offsets"):
        huffman.decode(
            huffman.EncodedStream(
                stream.lengths,
                stream.count,
                stream.nbits,
                stream.data,
                stream.block_offsets[:-1],
                16,
            )
        )
    with pytest.raises(HuffmanError, match="does not fit"):
        huffman.decode(
            huffman.EncodedStream(
                stream.lengths,
                stream.count,
                stream.nbits + 64,
                stream.data,
                stream.block_offsets,
                16,
            )
        )
    with pytest.raises(HuffmanError, match="cannot fit"):
        huffman.decode(
            huffman.EncodedStream(
                stream.lengths, 10**9, stream.nbits, stream.data, stream.block_offsets, 16
            )
        )
