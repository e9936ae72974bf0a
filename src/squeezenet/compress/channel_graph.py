"""The channel spaces of a SqueezeNet: which convs write and which read each run of channels.

Channel pruning (channels.py) removes positions of these spaces; see its docstring.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..models import Fire, SqueezeNet


@dataclass(frozen=True)
class Segment:
    """A conv whose output channels are positions [start, start + size) of a space."""

    conv: str
    start: int
    size: int


@dataclass
class Space:
    """A run of channel positions with the convs that write and read them."""

    name: str
    size: int
    producers: list[Segment] = field(default_factory=list)
    consumers: list[str] = field(default_factory=list)
    # The runs between producer boundaries, each in pruning order (most important first):
    # pruning keeps a prefix of each, so every producer keeps a prefix of each of its runs.
    runs: list[list[int]] = field(default_factory=list)


def channel_spaces(model: SqueezeNet) -> list[Space]:
    """The model's channel spaces, in network order (see the module docstring)."""
    names = {path: name for name, path in model.layer_names().items()}
    current = Space(
        "conv1", model.config.stem_channels, [Segment("features.0", 0, model.config.stem_channels)]
    )
    spaces = [current]
    for path, fire in model.features.named_children():
        if not isinstance(fire, Fire):
            continue
        p, cfg, name = f"features.{path}", fire.config, names[f"features.{path}"]
        current.consumers.append(f"{p}.squeeze")
        squeeze = Space(
            f"{name}.squeeze",
            cfg.squeeze,
            [Segment(f"{p}.squeeze", 0, cfg.squeeze)],
            [f"{p}.expand1x1", f"{p}.expand3x3"],
        )
        expands = [
            Segment(f"{p}.expand1x1", 0, cfg.expand1x1),
            Segment(f"{p}.expand3x3", cfg.expand1x1, cfg.expand3x3),
        ]
        if cfg.bypass == "simple":  # the output is the input's space
            current.name += f"+{name}"
            current.producers += expands
            spaces.append(squeeze)
            continue
        out = Space(name, cfg.out_channels, expands)
        if cfg.bypass == "complex":
            current.consumers.append(f"{p}.bypass.0")
            out.producers.append(Segment(f"{p}.bypass.0", 0, cfg.out_channels))
        spaces += [squeeze, out]
        current = out
    current.consumers.append("classifier.1")
    return spaces
