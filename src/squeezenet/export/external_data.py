"""Our own check of an ONNX file's external data, before onnxruntime (or onnx) reads any.

A tensor may keep its bytes in another file (`data_location = EXTERNAL`, `location` relative
to the model's folder). A hostile model can point that at `../../etc/shadow`, an absolute
path, a symlink out of the folder or a device such as /dev/zero. onnxruntime has checks of
its own, but which ones depends on its version; we refuse every such tensor ourselves, in
the model's graph, its subgraphs (If/Loop bodies) and its functions. Our own exports never
use external data.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

import onnx

from ..errors import FormatError

__all__ = ["UnsafeExternalDataError", "check_external_data", "external_tensors"]


class UnsafeExternalDataError(FormatError):
    """An ONNX tensor whose external data lies outside the model's folder."""


def check_external_data(proto: onnx.ModelProto, path: str | os.PathLike[str]) -> None:
    """Refuse `proto` (read from `path`) if a tensor's external data leaves `path`'s folder.

    Raises:
        UnsafeExternalDataError: an absolute or `..` location, one that resolves (through
            symlinks) outside the folder, or one that is not a regular file.
    """
    folder = Path(path).resolve().parent
    for tensor in external_tensors(proto):
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        problem = _location_problem(location, folder)
        if problem:
            raise UnsafeExternalDataError(
                f"{path}: tensor {tensor.name!r} keeps its data in {location!r}, {problem}; "
                "refusing to load it (external data must be a file in the model's folder)"
            )


def _location_problem(location: str, folder: Path) -> str | None:
    if not location or "\x00" in location:
        return "which is no file name"
    posix, windows = PurePosixPath(location), PureWindowsPath(location)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or location.startswith("\\"):
        return "an absolute path"
    if ".." in posix.parts or ".." in windows.parts:
        return "outside the model's folder"
    target = (folder / location).resolve()
    if not target.is_relative_to(folder):
        return "a link leading outside the model's folder"
    try:
        mode = target.stat().st_mode
    except OSError:
        return None  # missing: onnxruntime says so itself
    return None if stat.S_ISREG(mode) else "which is not a regular file"


def external_tensors(proto: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every tensor of the model that keeps its data in an external file."""
    for tensor in _graph_tensors(proto.graph):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            yield tensor
    for function in proto.functions:
        for node in function.node:
            for tensor in _node_tensors(node):
                if tensor.data_location == onnx.TensorProto.EXTERNAL:
                    yield tensor


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    for node in graph.node:
        yield from _node_tensors(node)


def _node_tensors(node: onnx.NodeProto) -> Iterator[onnx.TensorProto]:
    for attr in node.attribute:
        if attr.HasField("t"):
            yield attr.t
        yield from attr.tensors
        if attr.HasField("sparse_tensor"):
            yield from (attr.sparse_tensor.values, attr.sparse_tensor.indices)
        for sparse in attr.sparse_tensors:
            yield from (sparse.values, sparse.indices)
        if attr.HasField("g"):
            yield from _graph_tensors(attr.g)
        for graph in attr.graphs:
            yield from _graph_tensors(graph)
