"""The Fire module (paper Fig. 1), with the paper's optional bypass and optional BatchNorm."""

from __future__ import annotations

import torch
from torch import nn

from .config import FireConfig


class ConvAct(nn.Module):
    """The activation after a conv: ReLU, or BatchNorm then ReLU when `batch_norm`.

    Kept as one module in the conv's `*_activation` slot so that BatchNorm variants only *add*
    state_dict keys (`<slot>.bn.*`) and never shift torchvision's indices.
    """

    def __init__(self, channels: int, batch_norm: bool) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels) if batch_norm else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bn is not None:
            x = self.bn(x)
        return self.relu(x)


class Fire(nn.Module):
    """squeeze 1x1 -> (expand 1x1 || expand 3x3) -> concat, plus an optional bypass.

    Attribute names are torchvision's (`squeeze`, `expand1x1`, `expand3x3`, each followed by
    `<name>_activation`), so its checkpoints load unchanged. The output is
    `cat([expand1x1, expand3x3], dim=1)`; a bypass adds the input (simple) or a 1x1 conv of
    it (complex) to that output.
    """

    def __init__(self, in_channels: int, config: FireConfig, batch_norm: bool = False) -> None:
        super().__init__()
        self.config = config
        self.squeeze = nn.Conv2d(in_channels, config.squeeze, kernel_size=1)
        self.squeeze_activation = ConvAct(config.squeeze, batch_norm)
        self.expand1x1 = nn.Conv2d(config.squeeze, config.expand1x1, kernel_size=1)
        self.expand1x1_activation = ConvAct(config.expand1x1, batch_norm)
        self.expand3x3 = nn.Conv2d(config.squeeze, config.expand3x3, kernel_size=3, padding=1)
        self.expand3x3_activation = ConvAct(config.expand3x3, batch_norm)
        self.bypass: nn.Module | None = None
        if config.bypass == "simple":
            if in_channels != config.out_channels:
                raise ValueError(
                    f"simple bypass needs in_channels == out_channels, "
                    f"got {in_channels} != {config.out_channels}"
                )
            self.bypass = nn.Identity()
        elif config.bypass == "complex":
            layers: list[nn.Module] = [nn.Conv2d(in_channels, config.out_channels, kernel_size=1)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(config.out_channels))
            self.bypass = nn.Sequential(*layers)

    @property
    def out_channels(self) -> int:
        return self.config.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, Cin, H, W) -> (N, e1+e3, H, W)
        s = self.squeeze_activation(self.squeeze(x))
        out = torch.cat(
            [
                self.expand1x1_activation(self.expand1x1(s)),
                self.expand3x3_activation(self.expand3x3(s)),
            ],
            dim=1,
        )
        if self.bypass is not None:
            out = out + self.bypass(x)
        return out
