"""Every file kind a model is read from and written to, below everything that uses them.

`READERS` maps a file suffix to its reader (`path -> SqueezeNet`): our `.sqz` (`sqz.py`,
with its entropy coder `huffman.py`), the authors' Deep Compression `.net` and Caffe's
`.caffemodel`. `squeezenet.load_model` dispatches to it, and `compress` writes `.sqz` through
`sqz.py`, so neither `checkpoint` nor `compress` imports the other. Every reader bounds its
reads before allocating and raises `FormatError` (a `CheckpointError`, so a `ValueError`)
with one line naming the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..models import SqueezeNet
from .caffe import MAX_CAFFEMODEL_BYTES, caffe_squeezenet, parse_caffemodel, read_caffemodel
from .common import CAFFE_PREPROCESSING
from .deepcompression import DEEP_COMPRESSION_CONFIG, decode_net, read_net
from .sqz import SqzFormatError, decode_model, load_sqz

READERS: dict[str, Callable[[Path], SqueezeNet]] = {
    ".sqz": load_sqz,
    ".net": read_net,
    ".caffemodel": read_caffemodel,
}

__all__ = [
    "CAFFE_PREPROCESSING",
    "DEEP_COMPRESSION_CONFIG",
    "MAX_CAFFEMODEL_BYTES",
    "READERS",
    "SqzFormatError",
    "caffe_squeezenet",
    "decode_model",
    "decode_net",
    "load_sqz",
    "parse_caffemodel",
    "read_caffemodel",
    "read_net",
]
