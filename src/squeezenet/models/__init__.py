"""SqueezeNet models: configs (data), modules, and the name registry."""

from .config import (
    SQUEEZENET1_0,
    SQUEEZENET1_1,
    FireConfig,
    Metaparameters,
    SqueezeNetConfig,
    from_metaparameters,
    with_bypass,
)
from .fire import Fire
from .registry import create_model, get_model_config, list_models, register_model
from .squeezenet import SqueezeNet, conv_layers

__all__ = [
    "SQUEEZENET1_0",
    "SQUEEZENET1_1",
    "Fire",
    "FireConfig",
    "Metaparameters",
    "SqueezeNet",
    "SqueezeNetConfig",
    "conv_layers",
    "create_model",
    "from_metaparameters",
    "get_model_config",
    "list_models",
    "register_model",
    "with_bypass",
]
