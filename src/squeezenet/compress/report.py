"""What a compression achieved: per-layer sizes and totals, as data and JSON (the CLI renders
it: `squeezenet.cli.render.compression_table`)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..files import atomic_write_text
from ..models import SqueezeNet
from .format import LayerEncoding, header_size, layer_encodings
from .layers import paper_names


@dataclass
class LayerReport:
    """One conv layer of a `.sqz` file.

    Attributes:
        name: module path (`features.3.squeeze`).
        paper_name: the paper's name (`fire2.squeeze`).
        shape: weight shape.
        params: weights before pruning.
        nnz: weights kept.
        density: nnz / params.
        bits: index bits, ceil(log2(codebook size)); 32 for unshared float32 weights.
        codebook_size: distinct non-zero values (0 when unshared).
        position_mode: how positions are stored (dense, gaps, bitmask, empty).
        index_bytes: bytes of the entropy-coded cluster indices (or raw values).
        position_bytes: bytes of the entropy-coded positions.
        bias_bytes: bytes of the bias.
        bits_per_weight: 8 * (index + position bytes) / params.
    """

    name: str
    paper_name: str
    shape: list[int]
    params: int
    nnz: int
    density: float
    bits: int
    codebook_size: int
    position_mode: str
    index_bytes: int
    position_bytes: int
    bias_bytes: int
    bits_per_weight: float


@dataclass
class CompressionReport:
    """Sizes and accuracy of one compression; `to_dict`/`save` give its JSON form.

    Attributes:
        model: model config name.
        params: all parameters of the model (weights and biases).
        nnz: non-zero conv weights kept.
        fp32_bytes: 4 bytes per parameter.
        safetensors_bytes: size of the uncompressed model's fp32 safetensors file.
        sqz_bytes: size of the `.sqz` file (header and checksum included).
        header_bytes: fixed header plus compressed JSON header (codebooks, code tables).
        ratio: fp32_bytes / sqz_bytes.
        ratio_safetensors: safetensors_bytes / sqz_bytes.
        top1_before / top1_pruned / top1_after: test accuracy of the uncompressed, the
            pruned (before sharing) and the final model, as fractions; None without data.
        decode_seconds: time to decode the `.sqz` bytes into a model.
        layers: one `LayerReport` per conv.
        config: the compression settings.
        channels: what channel pruning did (`channels.ChannelReport.to_dict()`: MACs and
            parameters before/after, channels kept per layer) and the top-1 right after its
            retraining; None without channel pruning.
    """

    model: str
    params: int
    nnz: int
    fp32_bytes: int
    safetensors_bytes: int | None
    sqz_bytes: int
    header_bytes: int
    ratio: float
    ratio_safetensors: float | None
    top1_before: float | None = None
    top1_pruned: float | None = None
    top1_after: float | None = None
    decode_seconds: float | None = None
    path: str | None = None
    layers: list[LayerReport] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    channels: dict[str, Any] | None = None

    @property
    def top1_drop(self) -> float | None:
        """Accuracy lost, in percentage points (positive = worse)."""
        if self.top1_before is None or self.top1_after is None:
            return None
        return 100 * (self.top1_before - self.top1_after)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["top1_drop_points"] = self.top1_drop
        return out

    def save(self, path: str | os.PathLike) -> Path:
        """Write the report as JSON, atomically."""
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")


def _layer_report(enc: LayerEncoding, paper_name: str) -> LayerReport:
    numel = enc.numel
    if enc.value_mode == "codebook":
        bits = math.ceil(math.log2(enc.codebook_size)) if enc.codebook_size > 1 else 0
    else:
        bits = 32
    return LayerReport(
        name=enc.name,
        paper_name=paper_name,
        shape=list(enc.shape),
        params=numel,
        nnz=enc.nnz,
        density=enc.nnz / numel,
        bits=bits,
        codebook_size=enc.codebook_size,
        position_mode=enc.position_mode,
        index_bytes=enc.value_bytes,
        position_bytes=enc.position_bytes,
        bias_bytes=enc.bias_bytes,
        bits_per_weight=8 * (enc.value_bytes + enc.position_bytes) / numel,
    )


def build_report(
    model: SqueezeNet,
    sqz: bytes,
    *,
    safetensors_bytes: int | None = None,
    **fields: Any,
) -> CompressionReport:
    """A report for the `.sqz` bytes of `model` (extra fields: accuracies, timings, config)."""
    names = paper_names(model)
    layers = [_layer_report(e, names.get(e.name, e.name)) for e in layer_encodings(sqz)]
    params = sum(p.numel() for p in model.parameters())
    return CompressionReport(
        model=model.config.name,
        params=params,
        nnz=sum(l.nnz for l in layers),
        fp32_bytes=4 * params,
        safetensors_bytes=safetensors_bytes,
        sqz_bytes=len(sqz),
        header_bytes=header_size(sqz),
        ratio=4 * params / len(sqz),
        ratio_safetensors=safetensors_bytes / len(sqz) if safetensors_bytes else None,
        layers=layers,
        **fields,
    )
