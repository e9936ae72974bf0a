"""Help for TrainConfig fields whose docstring does not describe them yet.

Temporary: the texts belong in TrainConfig's `Attributes:` docstring (engine/config.py, where
the CLI reads them first); each entry here is used only while that docstring lacks its field.
"""

PENDING_HELP = {
    "model": "registered model name (see `squeezenet list`)",
    "weights": "start from these weights (any model file, a run folder, or imagenet); the "
    "classifier is reset to the data's classes",
    "freeze": "features: train the classifier only (needs --weights)",
    "data": "fashion-mnist | mnist | cifar10:PATH | folder:PATH",
    "data_dir": "where to look for / download the data",
    "image_size": "resize images to this side (default: the dataset's own)",
    "skip_bad_images": "skip undecodable images (counted) instead of failing",
    "val_fraction": "hold out this much of train for validation (0: validate on the test split)",
    "out": "run folder; taken as is only if new or empty, else <out>2, ...",
    "exist_ok": "write into the run folder even if it holds a run (its files are replaced)",
    "epochs": "training epochs",
    "time": "minutes for the whole run: the schedule spans them (overrides epochs)",
    "batch_size": "global batch size",
    "optimizer": "sgd | adamw",
    "lr": "peak learning rate",
    "momentum": "SGD momentum",
    "nesterov": "Nesterov momentum",
    "weight_decay": "decay on conv weights",
    "schedule": "cosine | onecycle | constant",
    "warmup_epochs": "linear warmup length in epochs",
    "label_smoothing": "cross-entropy label smoothing",
    "grad_clip": "clip the gradient norm to this (default: no clipping)",
    "augment": "none | flip | crop-flip | crop-flip-erase | rrc-flip",
    "channels_last": "channels-last memory format",
    "amp": "auto (bf16 where native, else fp32) | bf16 | none",
    "compile": "torch.compile the model",
    "seed": "random seed",
    "device": "auto | cpu | cuda | cuda:N",
    "eval_batch_size": "evaluation batch size",
    "progress": "print per-epoch progress",
    "logger": "tensorboard: event files in the run folder (pip install 'squeezenet[tensorboard]')",
}
