"""Training and evaluation: `fit(TrainConfig(...))`, one epoch, evaluation, transfer learning."""

from .config import AUGMENTS, TrainConfig
from .evaluate import EvalResult, check_compatible, evaluate
from .loop import NonFiniteLossError, train_one_epoch, train_steps
from .optim import build_optimizer, build_scheduler
from .progress import EpochProgress
from .setup import build_augment
from .train import FitResult, fit, load_run_config
from .transfer import adapt_to_classes_, freeze_, start_model

__all__ = [
    "AUGMENTS",
    "EpochProgress",
    "EvalResult",
    "FitResult",
    "NonFiniteLossError",
    "TrainConfig",
    "adapt_to_classes_",
    "build_augment",
    "build_optimizer",
    "build_scheduler",
    "check_compatible",
    "evaluate",
    "fit",
    "freeze_",
    "load_run_config",
    "start_model",
    "train_one_epoch",
    "train_steps",
]
