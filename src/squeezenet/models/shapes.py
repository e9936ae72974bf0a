"""Spatial size arithmetic of a SqueezeNet, without running it."""

from __future__ import annotations

from .config import SqueezeNetConfig


def _pool_out(size: int) -> int:
    """3x3 stride-2 ceil-mode max-pool output size (PyTorch's rule); 0 if it cannot run."""
    out = -(-(size - 3) // 2) + 1  # ceil((size - 3) / 2) + 1; windows may overhang the edge
    if (out - 1) * 2 >= size:  # the last window must start inside the input
        out -= 1
    return max(out, 0)


def feature_size(config: SqueezeNetConfig, input_size: int) -> int:
    """Side of the feature map that reaches the classifier; 0 if the input is too small."""
    kernel, stride, padding = config.stem_geometry
    padded = input_size + 2 * padding
    size = (padded - kernel) // stride + 1 if padded >= kernel else 0
    for _ in range(int(config.stem_pool) + len(config.pool_after)):
        size = _pool_out(size)
    return size


def min_input_size(config: SqueezeNetConfig) -> int:
    """The smallest square input size that gives at least a 1x1 feature map."""
    size = 1
    while feature_size(config, size) < 1:
        size += 1
    return size
