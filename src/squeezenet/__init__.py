"""squeezenet: every SqueezeNet of the paper, trained, compressed, exported and benchmarked.

>>> import squeezenet
>>> model = squeezenet.create_model("squeezenet1_1", num_classes=10)
>>> model = squeezenet.create_model("squeezenet1_0", weights="imagenet")  # shipped, offline
>>> squeezenet.list_models("*bypass*")
"""

from .checkpoint import CheckpointError, load_model, load_state_dict_checked, save_model
from .meta import ModelMeta, Preprocessing, Provenance
from .models import (
    FireConfig,
    SqueezeNet,
    SqueezeNetConfig,
    from_metaparameters,
    get_model_config,
    list_models,
    register_model,
)
from .pretrained import create_model  # models.create_model, plus weights="imagenet"
from .summary import ModelSummary, summarize

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "FireConfig",
    "ModelMeta",
    "ModelSummary",
    "Preprocessing",
    "Provenance",
    "SqueezeNet",
    "SqueezeNetConfig",
    "__version__",
    "create_model",
    "from_metaparameters",
    "get_model_config",
    "list_models",
    "load_model",
    "load_state_dict_checked",
    "register_model",
    "save_model",
    "summarize",
]
