"""Per-layer summary of any SqueezeNet: the paper's Table 1, measured on the real module.

Output shapes come from forward hooks, parameters from the modules, and multiply-accumulates
from `torch.utils.flop_counter` (which counts conv/matmul FLOPs; MACs = FLOPs / 2, and
ReLU, pooling and concatenation are not counted, as in the paper).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .models import Fire, SqueezeNet


@dataclass
class LayerRow:
    """One row of the table (a paper layer: conv1, maxpool1, fire2, ..., conv10, avgpool10)."""

    name: str
    module: str
    output_shape: tuple[int, int, int]  # (C, H, W) for one image
    squeeze: int | None = None
    expand1x1: int | None = None
    expand3x3: int | None = None
    bypass: str | None = None
    params: int = 0
    macs: int = 0
    fp32_bytes: int = 0


@dataclass
class ModelSummary:
    """The whole table plus totals; `to_dict` gives a JSON-ready form."""

    model: str
    input_size: int
    in_channels: int
    num_classes: int
    rows: list[LayerRow] = field(default_factory=list)
    total_params: int = 0
    total_macs: int = 0
    total_flops: int = 0
    fp32_bytes: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _paper_layers(model: SqueezeNet) -> list[tuple[str, str]]:
    """(paper name, module path) for every row, in order, including the final avg-pool."""
    rows = sorted(model.layer_names().items(), key=lambda kv: _order(kv[1]))
    rows.append((f"avgpool{len(model.config.fires) + 2}", "classifier.3"))
    return rows


def _order(path: str) -> tuple[int, int]:
    group, idx = path.split(".")[:2]
    return (0 if group == "features" else 1, int(idx))


def summarize(model: SqueezeNet, input_size: int = 224) -> ModelSummary:
    """Measure `model` on one `input_size` x `input_size` image."""
    minimum = model.min_input_size()
    if input_size < minimum:
        raise ValueError(
            f"input size {input_size} is too small for {model.config.name}: "
            f"the minimum is {minimum}"
        )
    modules = dict(model.named_modules())
    layers = _paper_layers(model)
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        modules[path].register_forward_hook(
            lambda _m, _i, o, path=path: shapes.__setitem__(path, tuple(o.shape[1:]))
        )
        for _, path in layers
    ]
    was_training = model.training
    model.eval()
    try:
        weight = next(model.parameters())  # the model's own device and dtype
        x = torch.zeros(
            1,
            model.config.in_channels,
            input_size,
            input_size,
            device=weight.device,
            dtype=weight.dtype,
        )
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    flops = {
        name.split(".", 1)[1] if "." in name else "": sum(ops.values())
        for name, ops in counter.get_flop_counts().items()
    }
    summary = ModelSummary(
        model=model.config.name,
        input_size=input_size,
        in_channels=model.config.in_channels,
        num_classes=model.config.num_classes,
    )
    for name, path in layers:
        row = _row(name, path, modules[path], shapes[path], flops.get(path, 0))
        if path == "features.0":  # conv1's BatchNorm sits in the next module, features.1
            row.params += sum(p.numel() for p in modules["features.1"].parameters())
            row.fp32_bytes = 4 * row.params
        summary.rows.append(row)
    summary.total_params = sum(p.numel() for p in model.parameters())
    summary.total_flops = int(counter.get_total_flops())
    summary.total_macs = summary.total_flops // 2
    summary.fp32_bytes = 4 * summary.total_params
    return summary


def _row(name: str, path: str, module: nn.Module, shape: tuple[int, ...], flops: int) -> LayerRow:
    params = sum(p.numel() for p in module.parameters())
    row = LayerRow(
        name=name,
        module=path,
        output_shape=tuple(shape),  # type: ignore[arg-type]
        params=params,
        macs=int(flops) // 2,
        fp32_bytes=4 * params,
    )
    if isinstance(module, Fire):
        row.squeeze = module.config.squeeze
        row.expand1x1 = module.config.expand1x1
        row.expand3x3 = module.config.expand3x3
        row.bypass = module.config.bypass
    return row


def format_count(n: float) -> str:
    """1234567 -> '1.23M' (for tables)."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}" if n / scale < 100 else f"{n / scale:.0f}{unit}"
    return str(int(n))
