"""Readers of foreign weight files: the authors' Deep Compression `.net` and Caffe `.caffemodel`.

`FOREIGN_READERS` maps a file suffix to its reader (`path -> SqueezeNet`), for
`squeezenet.load_model` to dispatch to. Every reader bounds its reads before allocating and
raises `FormatError` (a `CheckpointError`, so a `ValueError`) with one line naming the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..models import SqueezeNet
from .caffe import MAX_CAFFEMODEL_BYTES, caffe_squeezenet, parse_caffemodel, read_caffemodel
from .common import CAFFE_PREPROCESSING
from .deepcompression import DEEP_COMPRESSION_CONFIG, decode_net, read_net

FOREIGN_READERS: dict[str, Callable[[Path], SqueezeNet]] = {
    ".net": read_net,
    ".caffemodel": read_caffemodel,
}

__all__ = [
    "CAFFE_PREPROCESSING",
    "DEEP_COMPRESSION_CONFIG",
    "FOREIGN_READERS",
    "MAX_CAFFEMODEL_BYTES",
    "caffe_squeezenet",
    "decode_net",
    "parse_caffemodel",
    "read_caffemodel",
    "read_net",
]
