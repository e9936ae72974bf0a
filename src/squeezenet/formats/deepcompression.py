"""The authors' Deep Compression `.net` file (songhan/SqueezeNet_compressed) -> SqueezeNet 1.0.

Layout (little-endian, no header beyond the counts, no Huffman coding): one uint32 count `n`
of stored entries per conv layer, then per conv layer in Caffe order (conv1; each Fire's
squeeze, expand1x1, expand3x3; conv10): 256 float32 codebook entries, `out_channels` float32
biases, `n` uint8 codebook indices, and `(n + 1) // 2` bytes of 4-bit gaps, low nibble first.
The k-th entry sits at flat position `cumsum(gap + 1)[k] - 1` of the (out, in, kh, kw) weight;
a run of zeros longer than 15 is bridged by filler entries coded as codebook entry 0 (0.0).
The shapes are not stored: they come from the model config, and the file size must equal
what the counts imply exactly, which is checked before anything is allocated.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import FormatError
from ..files import FileLimitError, read_regular
from ..meta import Provenance
from ..models import SQUEEZENET1_0, SqueezeNet, SqueezeNetConfig
from .common import caffe_imagenet_meta, load_exact

CODEBOOK_SIZE = 256
# The published network: Caffe's SqueezeNet 1.0, whose conv10 is padded by 1.
DEEP_COMPRESSION_CONFIG = replace(SQUEEZENET1_0, classifier_padding=1)
_LICENSE = "BSD (songhan/SqueezeNet_compressed, the paper's authors)"
_NOTES = "Deep Compression SqueezeNet 1.0 (pruned, 8-bit codebooks), imported from its .net file"


def conv_layers(config: SqueezeNetConfig) -> list[tuple[str, tuple[int, ...]]]:
    """(module path, weight shape) of every conv of `config`, in the file's (Caffe's) order."""
    if config.batch_norm or any(f.bypass == "complex" for f in config.fires):
        raise ValueError(f"{config.name}: the .net format holds no BatchNorm or bypass convs")
    model = SqueezeNet(config)
    return [
        (name, tuple(m.weight.shape))
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d)
    ]


def _expected_size(layers: list[tuple[str, tuple[int, ...]]], counts: np.ndarray) -> int:
    size = 4 * len(layers)
    for (_, shape), n in zip(layers, counts.tolist()):
        size += 4 * (CODEBOOK_SIZE + shape[0]) + n + (n + 1) // 2
    return size


def decode_net(
    data: bytes, config: SqueezeNetConfig = DEEP_COMPRESSION_CONFIG
) -> dict[str, torch.Tensor]:
    """Decode a `.net` file's bytes into a state_dict for `config`, bit-exactly.

    Raises:
        FormatError: the bytes do not fit the layout (truncated, extra bytes, a count larger
            than its layer, a position past the end of its weight, a non-finite value).
    """
    layers = conv_layers(config)
    header = 4 * len(layers)
    if len(data) < header:
        raise FormatError(f"{len(data)} bytes, shorter than the {header}-byte header of counts")
    counts = np.frombuffer(data, dtype="<u4", count=len(layers))
    for (name, shape), n in zip(layers, counts.tolist()):
        if n > np.prod(shape):  # every entry advances at least one position
            raise FormatError(f"{name}: {n} stored weights, more than its {np.prod(shape)}")
    expected = _expected_size(layers, counts)
    if len(data) != expected:
        raise FormatError(
            f"{len(data)} bytes, but its counts imply {expected}: truncated or corrupt"
        )
    state, offset = {}, header
    for (name, shape), n in zip(layers, counts.tolist()):
        weight, bias, offset = _decode_layer(data, offset, name, shape, n)
        state[f"{name}.weight"], state[f"{name}.bias"] = weight, bias
    return state


def _decode_layer(
    data: bytes, offset: int, name: str, shape: tuple[int, ...], n: int
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One layer's weight and bias from `data[offset:]`, and the offset after it."""
    codebook = np.frombuffer(data, "<f4", CODEBOOK_SIZE, offset)
    offset += 4 * CODEBOOK_SIZE
    bias = np.frombuffer(data, "<f4", shape[0], offset)
    offset += 4 * shape[0]
    codes = np.frombuffer(data, np.uint8, n, offset)
    offset += n
    packed = np.frombuffer(data, np.uint8, (n + 1) // 2, offset)
    offset += (n + 1) // 2
    if not (np.isfinite(codebook).all() and np.isfinite(bias).all()):
        raise FormatError(f"{name}: non-finite codebook entry or bias: corrupt file")
    gaps = np.stack([packed & 0xF, packed >> 4], axis=1).reshape(-1)[:n]  # low nibble first
    positions = np.cumsum(gaps.astype(np.int64) + 1) - 1
    numel = int(np.prod(shape))
    if n and positions[-1] >= numel:
        raise FormatError(f"{name}: weight position {positions[-1]} past its {numel} weights")
    weight = np.zeros(numel, dtype=np.float32)
    weight[positions] = codebook[codes]
    return torch.from_numpy(weight.reshape(shape)), torch.from_numpy(bias.copy()), offset


def read_net(
    path: str | os.PathLike, config: SqueezeNetConfig = DEEP_COMPRESSION_CONFIG
) -> SqueezeNet:
    """Load a Deep Compression `.net` file as an eval-mode SqueezeNet carrying its metadata
    (Caffe preprocessing, ImageNet class names for 1000 classes, provenance)."""
    path = Path(path)
    layers = conv_layers(config)
    # The largest file any counts can describe: bounds the read before it happens.
    largest = _expected_size(layers, np.array([np.prod(s) for _, s in layers]))
    try:  # from fstat, before a byte is read: /dev/zero or a FIFO must not hang us
        data = read_regular(path, largest, f".net file of {config.name}")
    except FileLimitError as e:
        raise FormatError(str(e)) from None
    try:
        state = decode_net(data, config)
    except FormatError as e:
        raise FormatError(
            f"{path}: not a Deep Compression .net file of {config.name}: {e}"
        ) from None
    model = SqueezeNet(config)
    load_exact(model, state, path)
    provenance = Provenance(source=path.name, license=_LICENSE, notes=_NOTES)
    model.meta = caffe_imagenet_meta(config, provenance)
    return model.eval()
