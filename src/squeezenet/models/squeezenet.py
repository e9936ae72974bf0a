"""The SqueezeNet network, built from a `SqueezeNetConfig`.

Layout and state_dict keys are torchvision's: `features` is a Sequential of
conv1, relu, maxpool, Fire..., and `classifier` is (Dropout, conv10, ReLU, AdaptiveAvgPool).
Every model exposes the same interface: `forward_features`, `forward_head`,
`reset_classifier`, `feature_info` and `forward_intermediates` (activations by layer name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from ..meta import MetaError, ModelMeta
from . import shapes
from .config import SqueezeNetConfig
from .fire import ConvAct, Fire


def conv_layers(model: nn.Module) -> dict[str, nn.Conv2d]:
    """Every Conv2d of the model by module path, in definition order (what compression and
    the `.sqz` format act on)."""
    return {name: m for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def _max_pool() -> nn.MaxPool2d:
    # ceil_mode as in the paper's Caffe model and torchvision: keeps the border column.
    return nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)


def _stem(config: SqueezeNetConfig) -> nn.Conv2d:
    kernel, stride, padding = config.stem_geometry
    return nn.Conv2d(config.in_channels, config.stem_channels, kernel, stride, padding)


class SqueezeNet(nn.Module):
    """SqueezeNet (Iandola et al., 2016) for any `SqueezeNetConfig`."""

    def __init__(self, config: SqueezeNetConfig) -> None:
        super().__init__()
        self.config = config
        # Class names and preprocessing travel with the weights.
        self.meta = ModelMeta()
        # Without the stem pool an Identity holds its index, so Fire modules keep
        # torchvision's indices (features.3 is fire2) and every state_dict key stays the same.
        layers: list[nn.Module] = [
            _stem(config),
            ConvAct(config.stem_channels, config.batch_norm),
            _max_pool() if config.stem_pool else nn.Identity(),
        ]
        # Human names (the paper's Table 1) for each features index.
        self._names = {"conv1": "features.0"}
        if config.stem_pool:
            self._names["maxpool1"] = "features.2"
        for i, (fire_cfg, cin) in enumerate(zip(config.fires, config.fire_in_channels())):
            self._names[f"fire{i + 2}"] = f"features.{len(layers)}"
            layers.append(Fire(cin, fire_cfg, config.batch_norm))
            if i in config.pool_after:
                self._names[f"maxpool{i + 2}"] = f"features.{len(layers)}"
                layers.append(_max_pool())
        self.features = nn.Sequential(*layers)
        self.classifier = self._make_classifier(config.num_classes)
        n_fires = len(config.fires)
        self._names[f"conv{n_fires + 2}"] = "classifier.1"
        self._init_weights()

    def _make_classifier(self, num_classes: int) -> nn.Sequential:
        head = nn.Conv2d(
            self.config.num_features, num_classes, 1, padding=self.config.classifier_padding
        )
        # The final ReLU is the paper's; it is optional because it clamps logits at zero.
        act: nn.Module = nn.ReLU(inplace=True) if self.config.classifier_relu else nn.Identity()
        return nn.Sequential(
            nn.Dropout(p=self.config.dropout), head, act, nn.AdaptiveAvgPool2d((1, 1))
        )

    def _init_weights(self) -> None:
        # torchvision's init: kaiming-uniform convs, N(0, 0.01) for the final conv, zero biases.
        final = self.classifier[1]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is final:
                    nn.init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)

    # ---- the common interface (timm's) -------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def num_features(self) -> int:
        return self.config.num_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) image -> (N, num_features, h, w) feature map before the classifier."""
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Feature map -> (N, num_classes) logits, or (N, num_features) pooled features."""
        if pre_logits:
            return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return torch.flatten(self.classifier(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Conv2d:
        return self.classifier[1]

    def reset_classifier(self, num_classes: int) -> None:
        """Replace conv10 by a freshly initialised one with `num_classes` outputs; the old
        class names (`meta.class_names`, `meta.wnids`) are dropped: they name the old outputs."""
        self.config = replace(self.config, num_classes=num_classes)  # validates num_classes
        head = nn.Conv2d(
            self.config.num_features, num_classes, 1, padding=self.config.classifier_padding
        )
        nn.init.normal_(head.weight, mean=0.0, std=0.01)
        nn.init.constant_(head.bias, 0)
        old = self.classifier[1].weight
        self.classifier[1] = head.to(device=old.device, dtype=old.dtype)
        self.meta = replace(self.meta, class_names=None, wnids=None)

    @property
    def meta(self) -> ModelMeta:
        """Class names, preprocessing and provenance (see `squeezenet.meta`)."""
        return self._meta

    @meta.setter
    def meta(self, value: ModelMeta | Mapping[str, Any]) -> None:
        # A legacy dict is validated into a ModelMeta; the weights decide the channels.
        if not isinstance(value, ModelMeta):
            value = ModelMeta.from_dict(value, in_channels=self.config.in_channels)
        pre = value.preprocessing
        if pre is not None and pre.in_channels != self.config.in_channels:
            raise MetaError(
                f"preprocessing is for {pre.in_channels}-channel images but "
                f"{self.config.name} takes {self.config.in_channels} channels"
            )
        self._meta = value

    @property
    def feature_info(self) -> list[dict]:
        """One entry per Fire module: module path, channels, total stride from the input."""
        info, reduction = [], self.config.stem_geometry[1]  # conv1's stride
        for name, module in self.features.named_children():
            if isinstance(module, nn.MaxPool2d):
                reduction *= 2
            elif isinstance(module, Fire):
                info.append(
                    {
                        "module": f"features.{name}",
                        "num_chs": module.out_channels,
                        "reduction": reduction,
                    }
                )
        return info

    def layer_names(self) -> dict[str, str]:
        """The paper's layer names (conv1, maxpool1, fire2, ..., conv10) -> module paths."""
        return dict(self._names)

    def forward_intermediates(
        self, x: torch.Tensor, layers: Sequence[str]
    ) -> dict[str, torch.Tensor]:
        """Run the model and return the outputs of `layers`, by paper name or module path."""
        modules = dict(self.named_modules())
        paths = {}
        for layer in layers:
            path = self._names.get(layer, layer)
            if path not in modules or path == "":
                valid = ", ".join(self._names)
                raise ValueError(
                    f"unknown layer {layer!r}; use a paper name ({valid}) or a module path "
                    f"such as 'features.3.expand3x3'"
                )
            paths[layer] = path
        out: dict[str, torch.Tensor] = {}
        hooks = [
            modules[path].register_forward_hook(
                lambda _m, _i, o, layer=layer: out.__setitem__(layer, o.clone())
            )
            for layer, path in paths.items()
        ]
        try:
            self(x)
        finally:
            for h in hooks:
                h.remove()
        return out

    def min_input_size(self) -> int:
        """The smallest square input that reaches the classifier with at least 1x1 pixels."""
        return shapes.min_input_size(self.config)
