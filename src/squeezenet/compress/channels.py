"""Channel pruning of Fire modules: a smaller dense network that does less work.

Weight pruning (prune.py) zeroes single weights: the file shrinks, the multiply-accumulates do
not. Here whole channels go, so every conv that writes or reads them gets smaller:

    pruned, report = prune_channels(model, 0.5)   # keep at most half of the MACs

Channels live in *spaces*, each a run of positions that some convs write (producers) and others
read as input channels (consumers). Removing position p of a space removes the producers'
filter p (and its BatchNorm entries) and the consumers' input channel p:

- conv1's output: written by conv1, read by fire2's squeeze (and a complex bypass conv);
- a Fire module's squeeze output: written by its squeeze, read by both expands;
- a Fire module's output `cat([expand1x1, expand3x3])`: expand1x1 writes positions [0, e1),
  expand3x3 the rest, a complex bypass conv all of them; the next Fire module (or conv10)
  reads them. A simple (identity) bypass adds the module's input to its output, so its output
  *is* its input's space: both modules' expands write it, and a position goes from all of them.

A position's importance is the sum over its producers of the filter's L2 (or L1) norm, or the
|gamma| of the BatchNorm after it, each divided by that producer's mean so that layers of
different scale weigh alike. A space is cut into runs at its producers' boundaries (expand1x1's
and expand3x3's parts of a Fire output), and each run keeps its most important positions, so
each expand keeps its own share. Every run keeps the same share of its channels (found by
bisection, in steps of `multiple`), then channels are added back while the MACs stay within
the target, so no one step more would fit. The result is a plain `SqueezeNet` whose config
lists its channels per Fire module, so safetensors, `.sqz` and ONNX files describe and reload
it; state_dict keys are unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

import torch
from torch import nn

from ..models import Fire, FireConfig, SqueezeNet
from ..summary import summarize
from .channel_graph import Space, channel_spaces
from .layers import CompressError, conv_layers

Criterion = Literal["l2", "l1"]
CRITERIA: tuple[str, ...] = ("l2", "l1")


@dataclass
class ChannelReport:
    """What channel pruning did, measured with `summary.summarize` at `input_size`.

    Attributes:
        share: the requested share of MACs to keep.
        input_size: the image size the MACs were counted at.
        macs_before / macs_after: multiply-accumulates of one image.
        params_before / params_after: all parameters (weights, biases, BatchNorm).
        channels: space name -> [kept, of] channels.
    """

    share: float
    input_size: int
    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    channels: dict[str, list[int]] = field(default_factory=dict)

    @property
    def macs_share(self) -> float:
        return self.macs_after / self.macs_before

    def to_dict(self) -> dict:
        return {**asdict(self), "macs_share": self.macs_share}


def _bn_path(model: SqueezeNet, conv: str) -> str | None:
    """The path of the BatchNorm right after `conv` (conv10 and plain models have none)."""
    parent, _, leaf = conv.rpartition(".")
    if conv == "features.0":
        path = "features.1.bn"
    elif leaf in ("squeeze", "expand1x1", "expand3x3"):
        path = f"{parent}.{leaf}_activation.bn"
    else:  # features.N.bypass.0 -> features.N.bypass.1
        path = f"{parent}.1"
    try:
        return path if isinstance(model.get_submodule(path), nn.BatchNorm2d) else None
    except AttributeError:  # no such module: a model without BatchNorm
        return None


def _filter_scores(model: SqueezeNet, conv: str, criterion: Criterion) -> torch.Tensor:
    bn = _bn_path(model, conv)
    if bn is not None:
        scores = model.get_submodule(bn).weight.detach().abs().double()
    else:
        weight = conv_layers(model)[conv].weight.detach().double().flatten(1)
        scores = weight.norm(p=2 if criterion == "l2" else 1, dim=1)
    return scores / scores.mean().clamp_min(1e-12)


def _rank(model: SqueezeNet, space: Space, criterion: Criterion) -> None:
    """Fill `space.runs`: the positions between producer boundaries, by importance."""
    importance = torch.zeros(space.size, dtype=torch.float64)
    for seg in space.producers:
        importance[seg.start : seg.start + seg.size] += _filter_scores(model, seg.conv, criterion)
    cuts = sorted(
        {0, space.size} | {b for g in space.producers for b in (g.start, g.start + g.size)}
    )
    space.runs = [
        sorted(range(a, b), key=lambda i: (-float(importance[i]), i))
        for a, b in zip(cuts, cuts[1:])
    ]


def _conv_costs(model: SqueezeNet, input_size: int) -> dict[str, int]:
    """MACs per (input channel x output channel) of every conv: kernel area x output pixels."""
    costs: dict[str, int] = {}

    def hook(path: str, conv: nn.Conv2d):
        area = conv.kernel_size[0] * conv.kernel_size[1] // conv.groups
        return lambda _m, _i, out: costs.__setitem__(path, area * out.shape[-2] * out.shape[-1])

    hooks = [c.register_forward_hook(hook(p, c)) for p, c in conv_layers(model).items()]
    weight = next(model.parameters())
    x = torch.zeros(
        1,
        model.config.in_channels,
        input_size,
        input_size,
        dtype=weight.dtype,
        device=weight.device,
    )
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return costs


class _Planner:
    """Exact MACs of a choice of kept channels per run (see `Space.runs`)."""

    def __init__(
        self, model: SqueezeNet, spaces: list[Space], input_size: int, multiple: int
    ) -> None:
        self.costs = _conv_costs(model, input_size)
        self.convs = conv_layers(model)
        self.runs = [run for s in spaces for run in s.runs]
        ids = iter(range(len(self.runs)))
        self.space_runs = [[next(ids) for _ in s.runs] for s in spaces]
        self.reads = {c: self.space_runs[i] for i, s in enumerate(spaces) for c in s.consumers}
        self.writes = {  # a producer's runs: those starting inside its segment
            g.conv: [r for r in self.space_runs[i] if g.start <= self.runs[r][0] < g.start + g.size]
            for i, s in enumerate(spaces)
            for g in s.producers
        }
        self.multiple = multiple
        self.lower = [min(multiple, len(run)) for run in self.runs]

    def macs(self, keep: list[int]) -> int:
        total = 0
        for conv, cost in self.costs.items():
            c = self.convs[conv]
            cin = sum(keep[r] for r in self.reads[conv]) if conv in self.reads else c.in_channels
            cout = (
                sum(keep[r] for r in self.writes[conv]) if conv in self.writes else c.out_channels
            )
            total += cost * cin * cout
        return total

    def at_ratio(self, r: float) -> list[int]:
        m = self.multiple
        return [
            min(len(run), max(lo, m * round(r * len(run) / m)))
            for run, lo in zip(self.runs, self.lower)
        ]

    def plan(self, share: float) -> list[int]:
        """Kept channels per run: the most MACs within `share` of the unpruned model's."""
        full = [len(run) for run in self.runs]
        target = share * self.macs(full)
        if self.macs(self.lower) > target:
            least = self.macs(self.lower) / self.macs(full)
            raise CompressError(
                f"channels share {share} is below the least this model can keep "
                f"({least:.4f} of its MACs, {self.multiple} channel(s) per "
                "layer)"
            )
        lo, hi = 0.0, 1.0
        for _ in range(30):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if self.macs(self.at_ratio(mid)) <= target else (lo, mid)
        keep = self.at_ratio(lo)
        grown = True
        while grown:  # add channels, the least-kept runs first, while they fit
            grown = False
            for i in sorted(range(len(keep)), key=lambda i: keep[i] / full[i]):
                before = keep[i]
                keep[i] = min(full[i], before + self.multiple)
                if keep[i] > before and self.macs(keep) <= target:
                    grown = True
                    break
                keep[i] = before
        return keep


def _check_kept(spaces: list[Space], kept: Mapping[str, Sequence[int]]) -> list[list[int]]:
    """The kept positions of every space, sorted, after checking them against the model."""
    names = [s.name for s in spaces]
    if set(kept) != set(names):
        raise CompressError(
            f"a channel plan must name every space of this model: "
            f"{', '.join(names)}; got {', '.join(kept)}"
        )
    out = []
    for space in spaces:
        positions = sorted(int(p) for p in kept[space.name])  # ascending keeps the order
        if len(set(positions)) != len(positions) or not all(0 <= p < space.size for p in positions):
            raise CompressError(
                f"{space.name}: kept channels must be distinct, in "
                f"0..{space.size - 1}, got {kept[space.name]!r}"
            )
        for g in space.producers:
            if not any(g.start <= p < g.start + g.size for p in positions):
                raise CompressError(f"{space.name}: {g.conv} must keep at least one channel")
        out.append(positions)
    return out


def _pruned_model(model: SqueezeNet, spaces: list[Space], kept: list[list[int]]) -> SqueezeNet:
    counts = {
        g.conv: sum(g.start <= p < g.start + g.size for p in k)
        for s, k in zip(spaces, kept)
        for g in s.producers
    }
    fires = []
    for path, fire in model.features.named_children():
        if isinstance(fire, Fire):
            p = f"features.{path}"
            fires.append(
                FireConfig(
                    counts[f"{p}.squeeze"],
                    counts[f"{p}.expand1x1"],
                    counts[f"{p}.expand3x3"],
                    fire.config.bypass,
                )
            )
    config = replace(model.config, stem_channels=counts["features.0"], fires=tuple(fires))
    return SqueezeNet(config)


def _sliced_state(model: SqueezeNet, spaces: list[Space], kept: list[list[int]]) -> dict:
    index = [torch.tensor(k, dtype=torch.long) for k in kept]
    rows = {
        g.conv: index[i][(index[i] >= g.start) & (index[i] < g.start + g.size)] - g.start
        for i, s in enumerate(spaces)
        for g in s.producers
    }
    cols = {c: index[i] for i, s in enumerate(spaces) for c in s.consumers}
    # Everything but the convs and their BatchNorms (e.g. num_batches_tracked) is copied.
    state = {k: v for k, v in model.state_dict().items() if ".parametrizations." not in k}
    for path, conv in conv_layers(model).items():
        weight, bias = conv.weight.detach(), conv.bias  # the effective (masked) weight
        out = rows.get(path, torch.arange(weight.shape[0]))
        weight = weight[out][:, cols.get(path, torch.arange(weight.shape[1]))]
        state[f"{path}.weight"] = weight.clone()
        if bias is not None:
            state[f"{path}.bias"] = bias.detach()[out].clone()
        bn = _bn_path(model, path)
        if bn is not None:
            for name in ("weight", "bias", "running_mean", "running_var"):
                tensor = getattr(model.get_submodule(bn), name)
                state[f"{bn}.{name}"] = tensor.detach()[out].clone()
    return state


def _input_size(model: SqueezeNet, input_size: int | None) -> int:
    if input_size is not None:
        return input_size
    pre = model.meta.preprocessing
    return max(pre.input_size if pre is not None else 224, model.min_input_size())


def check_share(share: float) -> None:
    """Raise CompressError unless `share` (of the MACs to keep) is a number in (0, 1]."""
    number = isinstance(share, (int, float)) and not isinstance(share, bool)
    if not number or not 0 < share <= 1:
        raise CompressError(
            f"channels share must be in (0, 1] (the share of MACs to keep), got {share!r}"
        )


def check_multiple(multiple: int) -> None:
    """Raise CompressError unless `multiple` (the channel-count granularity) is an int >= 1."""
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
        raise CompressError(f"channel multiple must be an integer >= 1, got {multiple!r}")


def plan_channels(
    model: SqueezeNet,
    share: float,
    *,
    input_size: int | None = None,
    criterion: Criterion = "l2",
    multiple: int = 1,
) -> dict[str, list[int]]:
    """The channels to keep for at most `share` of the model's MACs (see `prune_channels`).

    Returns:
        space name (`conv1`, `fire2.squeeze`, `fire2`, `fire2+fire3` for a simple bypass)
        -> the kept channel positions, ascending.
    """
    check_share(share)
    check_multiple(multiple)
    if criterion not in CRITERIA:
        raise CompressError(
            f"unknown channel criterion {criterion!r}; valid: {', '.join(CRITERIA)}"
        )
    spaces = channel_spaces(model)
    for space in spaces:
        _rank(model, space, criterion)
    planner = _Planner(model, spaces, _input_size(model, input_size), multiple)
    keep = iter(planner.plan(float(share)))
    return {s.name: sorted(p for run in s.runs for p in run[: next(keep)]) for s in spaces}


def apply_channels(model: SqueezeNet, kept: Mapping[str, Sequence[int]]) -> SqueezeNet:
    """A copy of `model` with only the `kept` channel positions of every space.

    The copy is a plain SqueezeNet (masks baked in) with the model's meta, device, dtype and
    train/eval mode; its config lists the new channel counts.

    Raises:
        CompressError: a space missing or unknown, a position out of range or repeated, or a
            Fire expand left without channels.
    """
    spaces = channel_spaces(model)
    positions = _check_kept(spaces, kept)
    pruned = _pruned_model(model, spaces, positions)
    pruned.meta = model.meta
    pruned.load_state_dict(_sliced_state(model, spaces, positions), strict=True)
    weight = next(model.parameters())
    return pruned.to(device=weight.device, dtype=weight.dtype).train(model.training)


def prune_channels(
    model: SqueezeNet,
    share: float,
    *,
    input_size: int | None = None,
    criterion: Criterion = "l2",
    multiple: int = 1,
) -> tuple[SqueezeNet, ChannelReport]:
    """A copy of `model` with whole channels removed, keeping at most `share` of its MACs.

    Args:
        model: any SqueezeNet (BatchNorm, bypasses and weight-pruning masks allowed; masked
            weights are taken as they run). Not modified.
        share: the share of multiply-accumulates to keep, in (0, 1]; 1 keeps every channel.
        input_size: the image size MACs are counted at (default the model's preprocessing
            size, else 224); the share hardly depends on it.
        criterion: filter norm ranking channels without BatchNorm, "l2" or "l1" (with
            BatchNorm, |gamma| ranks them).
        multiple: keep channel counts (of every conv and every expand's part of a space)
            multiples of this where the layer has that many, e.g. 8 for AVX2's 8 floats;
            1 hits the share most closely.

    Returns:
        (the pruned model, as `apply_channels` makes it; a `ChannelReport`).

    Raises:
        CompressError: for a share outside (0, 1], below what `multiple` channels per layer
            cost, a multiple below 1 or an unknown criterion.
    """
    size = _input_size(model, input_size)
    kept = plan_channels(model, share, input_size=size, criterion=criterion, multiple=multiple)
    pruned = apply_channels(model, kept)
    before, after = summarize(model, size), summarize(pruned, size)
    sizes = {s.name: s.size for s in channel_spaces(model)}
    report = ChannelReport(
        share=float(share),
        input_size=size,
        macs_before=before.total_macs,
        macs_after=after.total_macs,
        params_before=before.total_params,
        params_after=after.total_params,
        channels={name: [len(k), sizes[name]] for name, k in kept.items()},
    )
    return pruned, report
