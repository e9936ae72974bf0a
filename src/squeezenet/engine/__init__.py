"""Training and evaluation."""

from .evaluate import EvalResult, evaluate
from .optim import build_optimizer, build_scheduler
from .train import (
    FitResult,
    NonFiniteLossError,
    TrainConfig,
    build_augment,
    fit,
    load_run_config,
    train_one_epoch,
)

__all__ = [
    "EvalResult",
    "FitResult",
    "NonFiniteLossError",
    "TrainConfig",
    "build_augment",
    "build_optimizer",
    "build_scheduler",
    "evaluate",
    "fit",
    "load_run_config",
    "train_one_epoch",
]
