"""Canonical Huffman coding with a vectorised (numpy) encoder and decoder.

Deep Compression entropy-codes the cluster indices and the sparse positions with Huffman
codes. A code here is fully described by its code lengths (one per symbol, at most
`MAX_CODE_LENGTH` bits), so a file stores only those; codes are canonical (assigned in
(length, symbol) order, as in DEFLATE).

Decoding variable-length codes is sequential by nature, so a stream is cut into blocks of
`block_size` symbols whose starting bit offsets are stored (4 bytes per block, about 0.1% of
the stream). `decode_streams` then decodes every block of every stream in lock-step: one
numpy step decodes one symbol of *all* blocks through a 2^L-entry lookup table, so the
Python loop runs `block_size` times however large the model is.

A code with exactly one used symbol spends zero bits per symbol (its length is written as 1,
but nothing is emitted), so a constant stream costs only its header.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_CODE_LENGTH = 15  # DEFLATE's limit: a 32k-entry table at worst, one hex digit per length
DEFAULT_BLOCK_SIZE = 4096
MAX_ALPHABET = 1 << 16


class HuffmanError(ValueError):
    """An invalid code (bad lengths) or a stream that does not decode cleanly."""


@dataclass(frozen=True)
class EncodedStream:
    """One entropy-coded stream of symbols.

    Attributes:
        lengths: code length per symbol (0 = unused), uint8.
        count: number of symbols encoded.
        nbits: number of meaningful bits in `data`.
        data: the bitstream, most significant bit first, zero-padded to whole bytes.
        block_offsets: bit offset of blocks 1.. (block 0 starts at 0), uint32.
        block_size: symbols per block (the last block may be shorter).
    """

    lengths: np.ndarray
    count: int
    nbits: int
    data: bytes
    block_offsets: np.ndarray
    block_size: int

    @property
    def nbytes(self) -> int:
        """Bytes of the stored stream: block offsets plus bitstream."""
        return 4 * len(self.block_offsets) + len(self.data)


def num_blocks(count: int, block_size: int) -> int:
    """Blocks a stream of `count` symbols is cut into."""
    return -(-count // block_size) if count else 0


def code_lengths(counts: np.ndarray, max_length: int = MAX_CODE_LENGTH) -> np.ndarray:
    """Huffman code lengths for symbol frequencies, limited to `max_length` bits.

    Args:
        counts: non-negative frequency per symbol; zero-frequency symbols get length 0.
        max_length: longest code allowed. Longer trees are rebuilt on flattened counts
            (halving the counts, as zlib's heuristic does), which costs a tiny fraction
            of a bit per symbol and only for very skewed alphabets.

    Returns:
        uint8 lengths, one per symbol.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 1 or (counts < 0).any():
        raise HuffmanError("counts must be a 1-D array of non-negative integers")
    if len(counts) > MAX_ALPHABET:
        raise HuffmanError(f"alphabet of {len(counts)} symbols exceeds {MAX_ALPHABET}")
    used = np.flatnonzero(counts)
    lengths = np.zeros(len(counts), dtype=np.uint8)
    if len(used) <= 1:
        lengths[used] = 1
        return lengths
    if len(used) > (1 << max_length):
        raise HuffmanError(f"{len(used)} symbols cannot fit codes of at most {max_length} bits")
    weights = counts[used]
    while True:
        depth = _tree_depths(weights)
        if depth.max() <= max_length:
            lengths[used] = depth
            return lengths
        weights = np.maximum(weights // 2, 1)


def _tree_depths(weights: np.ndarray) -> np.ndarray:
    """Leaf depths of a Huffman tree over `weights` (at least two leaves)."""
    # Nodes are (weight, tiebreak, id); ids < n are leaves. The tiebreak keeps it deterministic.
    n = len(weights)
    heap = [(int(w), i, i) for i, w in enumerate(weights)]
    heapq.heapify(heap)
    parent = np.zeros(2 * n - 1, dtype=np.int64)
    next_id = n
    while len(heap) > 1:
        w1, _, a = heapq.heappop(heap)
        w2, _, b = heapq.heappop(heap)
        parent[a] = parent[b] = next_id
        heapq.heappush(heap, (w1 + w2, next_id, next_id))
        next_id += 1
    depth = np.zeros(2 * n - 1, dtype=np.int64)
    for node in range(2 * n - 3, -1, -1):  # parents have larger ids: walk root-down
        depth[node] = depth[parent[node]] + 1
    return depth[:n]


def check_lengths(lengths: np.ndarray) -> None:
    """Validate code lengths read from a file: a complete prefix code, or a single symbol.

    Raises:
        HuffmanError: if lengths exceed `MAX_CODE_LENGTH`, over- or under-subscribe the code
            space (Kraft sum != 1), or no symbol is used.
    """
    lengths = np.asarray(lengths)
    used = lengths[lengths > 0].astype(np.int64)
    if len(used) == 0:
        raise HuffmanError("code has no symbols")
    if used.max() > MAX_CODE_LENGTH:
        raise HuffmanError(f"code length {int(used.max())} exceeds {MAX_CODE_LENGTH}")
    if len(used) == 1:
        if used[0] != 1:
            raise HuffmanError("a single-symbol code must have length 1")
        return
    kraft = int(np.sum(1 << (MAX_CODE_LENGTH - used)))
    if kraft != 1 << MAX_CODE_LENGTH:
        state = "over-subscribed" if kraft > 1 << MAX_CODE_LENGTH else "incomplete"
        raise HuffmanError(f"code lengths form an {state} prefix code")


def canonical_codes(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical code values per symbol and the (length, symbol) order they were assigned in."""
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.lexsort((np.arange(len(lengths)), lengths))
    order = order[lengths[order] > 0]
    codes = np.zeros(len(lengths), dtype=np.int64)
    code, prev_len = 0, 0
    for sym in order:  # at most the alphabet size: a few hundred iterations
        length = lengths[sym]
        code <<= length - prev_len
        codes[sym] = code
        code, prev_len = code + 1, length
    return codes, order


def encode(
    symbols: np.ndarray, lengths: np.ndarray, *, block_size: int = DEFAULT_BLOCK_SIZE
) -> EncodedStream:
    """Encode symbols with the canonical code of `lengths`.

    Args:
        symbols: non-negative integers, each with a non-zero code length.
        lengths: code length per symbol, e.g. from `code_lengths`.
        block_size: symbols per independently decodable block.
    """
    symbols = np.asarray(symbols, dtype=np.int64).ravel()
    lengths = np.asarray(lengths, dtype=np.uint8)
    if block_size < 1:
        raise HuffmanError(f"block_size must be >= 1, got {block_size}")
    if len(symbols) and (symbols.min() < 0 or symbols.max() >= len(lengths)):
        raise HuffmanError("symbol outside the code's alphabet")
    if len(symbols) and (lengths[symbols] == 0).any():
        raise HuffmanError("symbol without a code (length 0)")
    if len(symbols):
        check_lengths(lengths)
    n_blocks = num_blocks(len(symbols), block_size)
    if len(symbols) == 0 or np.count_nonzero(lengths) == 1:  # zero bits per symbol
        offsets = np.zeros(max(n_blocks - 1, 0), dtype=np.uint32)
        return EncodedStream(lengths, len(symbols), 0, b"", offsets, block_size)
    codes, _ = canonical_codes(lengths)
    sym_len = lengths[symbols].astype(np.int64)
    sym_code = codes[symbols]
    ends = np.cumsum(sym_len)
    starts = ends - sym_len
    nbits = int(ends[-1])
    bits = np.zeros(nbits, dtype=np.uint8)
    # Bit j of each code (MSB first) lands at start + j: one vectorised pass per bit position.
    for j in range(int(sym_len.max())):
        has = sym_len > j
        bits[starts[has] + j] = (sym_code[has] >> (sym_len[has] - 1 - j)) & 1
    offsets = starts[block_size::block_size].astype(np.uint32)
    if nbits >= 1 << 32:
        raise HuffmanError("stream longer than 2^32 bits")
    return EncodedStream(
        lengths, len(symbols), nbits, np.packbits(bits).tobytes(), offsets, block_size
    )


def encoded_bits(counts: np.ndarray, lengths: np.ndarray) -> int:
    """Bits `encode` would emit for these symbol counts (0 for a single-symbol code)."""
    counts = np.asarray(counts, dtype=np.int64)
    if np.count_nonzero(lengths) <= 1:
        return 0
    return int(np.sum(counts * np.asarray(lengths, dtype=np.int64)))


def decode(stream: EncodedStream) -> np.ndarray:
    """Decode one stream; see `decode_streams`."""
    return decode_streams([stream])[0]


def decode_streams(streams: Sequence[EncodedStream]) -> list[np.ndarray]:
    """Decode many streams at once, all their blocks in lock-step.

    Returns:
        one int64 array of symbols per stream.

    Raises:
        HuffmanError: if a stream's code is invalid or a block does not end exactly where
            the next one starts (a corrupt or truncated stream).
    """
    out: list[np.ndarray | None] = [None] * len(streams)
    plan = _Plan()
    for i, s in enumerate(streams):
        _check_stream(s)
        if s.count == 0:
            out[i] = np.zeros(0, dtype=np.int64)
        elif s.nbits == 0:  # single-symbol code
            out[i] = np.full(s.count, int(np.flatnonzero(s.lengths)[0]), dtype=np.int64)
        else:
            plan.add(i, s)
    for i, symbols in plan.run().items():
        out[i] = symbols
    return out  # type: ignore[return-value]


def _check_stream(s: EncodedStream) -> None:
    if s.count < 0 or s.block_size < 1:
        raise HuffmanError("negative symbol count or block size")
    if s.count == 0:
        return
    check_lengths(s.lengths)
    single = np.count_nonzero(s.lengths) == 1
    if single != (s.nbits == 0):
        raise HuffmanError("bit count does not match the code (single-symbol codes use 0 bits)")
    if s.nbits > 8 * len(s.data) or len(s.data) != -(-s.nbits // 8):
        raise HuffmanError(f"stream of {s.nbits} bits does not fit its {len(s.data)} bytes")
    if not single and s.count > s.nbits:
        raise HuffmanError(f"{s.count} symbols cannot fit in {s.nbits} bits")
    if len(s.block_offsets) != num_blocks(s.count, s.block_size) - 1:
        raise HuffmanError("wrong number of block offsets")


class _Plan:
    """Collects the blocks of several streams into flat arrays for the lock-step decoder."""

    def __init__(self) -> None:
        self.buffers: list[np.ndarray] = []
        self.tables_sym: list[np.ndarray] = []
        self.tables_len: list[np.ndarray] = []
        self.streams: list[tuple[int, int, int]] = []  # (stream id, first block, n blocks)
        self.block_start: list[np.ndarray] = []  # absolute bit position
        self.block_end: list[np.ndarray] = []
        self.block_count: list[np.ndarray] = []
        self.block_table: list[np.ndarray] = []  # (table base, table bits) per block
        self._bytes = 0
        self._table_base = 0
        self._blocks = 0

    def add(self, stream_id: int, s: EncodedStream) -> None:
        sym, length = _lookup_table(s.lengths)
        bits = int(length.size).bit_length() - 1
        base_bit = 8 * self._bytes
        offsets = np.concatenate([[0], s.block_offsets.astype(np.int64)])
        ends = np.concatenate([offsets[1:], [s.nbits]])
        if (np.diff(offsets) < 0).any() or ends[-1] < offsets[-1]:
            raise HuffmanError("block offsets are not increasing")
        n_blocks = len(offsets)
        counts = np.full(n_blocks, s.block_size, dtype=np.int64)
        counts[-1] = s.count - s.block_size * (n_blocks - 1)
        self.streams.append((stream_id, self._blocks, n_blocks))
        self.block_start.append(base_bit + offsets)
        self.block_end.append(base_bit + ends)
        self.block_count.append(counts)
        self.block_table.append(np.tile([[self._table_base, bits]], (n_blocks, 1)))
        self.buffers.append(np.frombuffer(s.data, dtype=np.uint8))
        self.tables_sym.append(sym)
        self.tables_len.append(length)
        self._bytes += len(s.data)
        self._table_base += length.size
        self._blocks += n_blocks

    def run(self) -> dict[int, np.ndarray]:
        if not self.streams:
            return {}
        count = np.concatenate(self.block_count)
        out_start = np.concatenate([[0], np.cumsum(count)[:-1]])
        expected_end = np.concatenate(self.block_end)
        table = np.concatenate(self.block_table)
        # Longest blocks first: at step t the still-active blocks are a prefix of the arrays.
        order = np.argsort(-count, kind="stable")
        count, out_start, expected_end, table = (
            count[order],
            out_start[order],
            expected_end[order],
            table[order],
        )
        pos = np.concatenate(self.block_start)[order]
        steps = int(count[0])
        # A corrupt block may run past its data before the end check catches it: pad so
        # those reads stay in bounds (at most MAX_CODE_LENGTH bits per step).
        pad = np.zeros(steps * MAX_CODE_LENGTH // 8 + 4, dtype=np.uint8)
        buf = np.concatenate([*self.buffers, pad]).astype(np.uint32)
        window = (buf[:-2] << 16) | (buf[1:-1] << 8) | buf[2:]  # 24 bits from every byte
        base, shift, mask = table[:, 0], 24 - table[:, 1], (1 << table[:, 1]) - 1
        tsym, tlen = np.concatenate(self.tables_sym), np.concatenate(self.tables_len)
        out = np.empty(int(count.sum()), dtype=np.int64)
        end_pos = np.empty_like(pos)
        active = np.searchsorted(-count, -np.arange(1, steps + 1), side="right")  # count > t
        k = len(count)
        for t in range(steps):
            if active[t] != k:  # blocks [active[t]:k] hold exactly t symbols: record their end
                end_pos[active[t] : k] = pos[active[t] : k]
                k = int(active[t])
                pos, base, shift, mask, out_start = (
                    pos[:k],
                    base[:k],
                    shift[:k],
                    mask[:k],
                    out_start[:k],
                )
            entry = base + ((window[pos >> 3] >> (shift - (pos & 7))) & mask)
            out[out_start + t] = tsym[entry]
            pos = pos + tlen[entry]
        end_pos[:k] = pos
        bad = np.flatnonzero(end_pos != expected_end)
        if len(bad):
            first_block = int(order[bad[0]])
            stream_id = next(
                sid for sid, first, n in self.streams if first <= first_block < first + n
            )
            raise HuffmanError(
                f"entropy-coded stream {stream_id} is corrupt (block {first_block} overruns)"
            )
        return {
            sid: out[start : start + n]
            for (sid, _, _), start, n in zip(self.streams, *self._symbol_ranges())
        }

    def _symbol_ranges(self) -> tuple[list[int], list[int]]:
        totals = [int(c.sum()) for c in self.block_count]
        starts = np.concatenate([[0], np.cumsum(totals)[:-1]]).astype(int).tolist()
        return starts, totals


def _lookup_table(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(symbol, length) for every L-bit window, L = the longest code.

    Canonical codes in (length, symbol) order tile [0, 2^L) contiguously, so each symbol
    owns 2^(L - length) consecutive entries and the table is one `np.repeat`.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    max_len = int(lengths.max())
    _, order = canonical_codes(lengths)
    reps = 1 << (max_len - lengths[order])
    sym = np.repeat(order.astype(np.int32), reps)
    length = np.repeat(lengths[order].astype(np.int64), reps)
    return sym, length
