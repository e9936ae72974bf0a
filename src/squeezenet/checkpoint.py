"""Save and load models: our safetensors files, torchvision `.pth` files, run folders, `.sqz`.

Our weights file is a single safetensors file whose metadata holds the model config and the
model's `meta` (class names, preprocessing), so it describes its own architecture. Loading
never unpickles arbitrary objects: `.pth` files go through `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import safe_open
from safetensors.torch import save as st_save

from .errors import CheckpointError
from .files import FileLimitError, atomic_write_bytes, open_regular, read_regular
from .formats import READERS
from .imagenet import imagenet_class_meta
from .meta import IMAGENET_PREPROCESSING, MetaError, ModelMeta
from .models import FireConfig, SqueezeNet, SqueezeNetConfig, get_model_config
from .pretrained import PRETRAINED, load_pretrained
from .torchfile import MAX_TORCH_FILE_BYTES, load_torch_file

FORMAT_NAME = "squeezenet"
FORMAT_VERSION = "1"
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "model_state", "weights")
_PREFIXES = ("module.", "_orig_mod.")  # DDP and torch.compile wrappers


def save_model(
    model: SqueezeNet, path: str | os.PathLike, meta: ModelMeta | Mapping[str, Any] | None = None
) -> Path:
    """Write `model` as safetensors with its config and `meta` in the header, atomically.

    Args:
        model: the model to save.
        path: destination, conventionally `*.safetensors`.
        meta: class names, preprocessing, provenance (a `ModelMeta`, or its dict form);
            defaults to `model.meta`.
    """
    if meta is None:
        meta = model.meta
    elif not isinstance(meta, ModelMeta):
        meta = ModelMeta.from_dict(meta, in_channels=model.config.in_channels)
    tensors = {
        k: v.detach().cpu().contiguous() for k, v in strip_prefixes(model.state_dict()).items()
    }
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(model.config.to_dict()),
        "meta": json.dumps(meta.to_dict()),
    }
    return atomic_write_bytes(path, st_save(tensors, metadata=header))


def strip_prefixes(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove DDP (`module.`) and torch.compile (`_orig_mod.`) prefixes from every key."""
    out = {}
    for key, value in state_dict.items():
        changed = True
        while changed:
            changed = False
            for prefix in _PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix) :], True
        out[key] = value
    return out


def load_state_dict_checked(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Load `state_dict` into `model` strictly, naming the first key that does not fit."""
    state_dict = strip_prefixes(state_dict)
    expected = model.state_dict()
    name = getattr(getattr(model, "config", None), "name", type(model).__name__)
    for key, tensor in expected.items():
        if key not in state_dict:
            raise CheckpointError(f"checkpoint does not fit {name}: key {key!r} is missing")
        got = state_dict[key]
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(tensor.shape):
            got_shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise CheckpointError(
                f"checkpoint does not fit {name}: key {key!r} has shape {got_shape} in the "
                f"checkpoint but {tuple(tensor.shape)} in the model"
            )
    extra = [k for k in state_dict if k not in expected]
    if extra:
        raise CheckpointError(f"checkpoint does not fit {name}: unexpected key {extra[0]!r}")
    model.load_state_dict(state_dict, strict=True)


def load_model(
    path: str | os.PathLike,
    *,
    model: str | None = None,
    map_location: str = "cpu",
    **overrides: Any,
) -> SqueezeNet:
    """Load a model from a file or run folder; the architecture comes from the file itself.

    Accepts our `.safetensors` weights, a run folder (its `weights/best.safetensors`), its
    training `checkpoint.pt`, a `.sqz` compressed model, the authors' Deep Compression `.net`
    or a Caffe `.caffemodel` (`squeezenet.formats`), or a torchvision-layout `.pth`/`.pt`
    checkpoint (architecture inferred from its tensor shapes, or given as `model=` with
    config `overrides`).
    A name of `pretrained.PRETRAINED` ("imagenet") that is not a file loads the weights that
    ship with the package.
    The returned model is in eval mode and has its `meta` (a `ModelMeta`: class names,
    preprocessing); a 1000-class torchvision file gets ImageNet's preprocessing and classes.
    """
    path = Path(path)
    if not path.exists() and str(path) in PRETRAINED:  # "imagenet": the weights we ship
        _refuse_overrides(path, model, overrides)
        return load_pretrained(str(path)).to(map_location)
    if not path.exists():
        raise FileNotFoundError(f"no such model file or run folder: {path}")
    if path.is_dir():
        return load_model(_run_weights(path), model=model, map_location=map_location, **overrides)
    suffix = path.suffix.lower()
    if suffix in READERS:  # .sqz, the authors' .net, Caffe's .caffemodel
        _refuse_overrides(path, model, overrides)
        net = READERS[suffix](path)
    elif suffix in (".pth", ".pt", ".bin", ".ckpt"):
        net = _load_torch_file(path, model, overrides)
    else:
        net = _load_safetensors(path, model, overrides)
    return net.to(map_location).eval()


def _refuse_overrides(path: Path, model: str | None, overrides: dict[str, Any]) -> None:
    """A file that stores its architecture is built from it: config overrides would be
    ignored, so refuse them instead (they are for files whose architecture is inferred)."""
    if model is None and overrides:
        raise CheckpointError(
            f"{path} stores its architecture; config overrides {sorted(overrides)} do not apply"
        )


def _run_weights(run_dir: Path) -> Path:
    for name in ("best.safetensors", "last.safetensors"):
        candidate = run_dir / "weights" / name
        if candidate.is_file():
            return candidate
    raise CheckpointError(
        f"{run_dir} is not a run folder: no weights/best.safetensors or weights/last.safetensors"
    )


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The config and meta (JSON objects, not yet validated) stored in one of our safetensors
    files."""
    try:
        with open_regular(path, MAX_TORCH_FILE_BYTES, "safetensors file"):
            pass  # a FIFO or /dev/zero would hang safe_open or never end
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except FileLimitError as e:
        raise CheckpointError(str(e)) from None
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
    if metadata.get("format") != FORMAT_NAME:
        return {"config": None, "meta": {}}
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: weights format version {version!r}, expected {FORMAT_VERSION}"
        )
    try:
        return {
            "config": json.loads(metadata["config"]),
            "meta": json.loads(metadata.get("meta", "{}")),
        }
    except (KeyError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt header ({e})") from None


def _load_safetensors(path: Path, model: str | None, overrides: dict[str, Any]) -> SqueezeNet:
    header = read_header(path)
    try:
        state = st_load(read_regular(path, MAX_TORCH_FILE_BYTES, "safetensors file"))
    except FileLimitError as e:
        raise CheckpointError(str(e)) from None
    except (SafetensorError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
    if model is not None:
        config = get_model_config(model, **overrides)
    elif header["config"] is not None:
        _refuse_overrides(path, model, overrides)
        try:
            config = SqueezeNetConfig.from_dict(header["config"])
        except ValueError as e:
            raise CheckpointError(f"{path}: {e}") from None
    else:
        config = config_from_state_dict(state, **overrides)
    net = SqueezeNet(config)
    load_state_dict_checked(net, state)
    net.meta = _checked_meta(header["meta"], net, path)
    return net


def _checked_meta(data: Any, net: SqueezeNet, path: Path) -> ModelMeta:
    try:
        return ModelMeta.from_dict(data, in_channels=net.config.in_channels)
    except MetaError as e:
        raise CheckpointError(f"{path}: bad model meta: {e}") from None


def _load_torch_file(path: Path, model: str | None, overrides: dict[str, Any]) -> SqueezeNet:
    obj = load_torch_file(path)  # bounded: refuses zip bombs before torch allocates
    if model is None and _is_training_checkpoint(obj):
        _refuse_overrides(path, model, overrides)
        return _from_training_checkpoint(obj, path)
    state = _unwrap_state_dict(obj, path)
    config = (
        get_model_config(model, **overrides)
        if model
        else config_from_state_dict(state, **overrides)
    )
    net = SqueezeNet(config)
    load_state_dict_checked(net, state)
    if config.num_classes == 1000 and config.in_channels == 3:
        net.meta = ModelMeta(preprocessing=IMAGENET_PREPROCESSING, **imagenet_class_meta())
    return net


def _is_training_checkpoint(obj: Any) -> bool:
    """A `squeezenet train` checkpoint.pt (not a torchvision-style one)."""
    return isinstance(obj, Mapping) and {"model", "optimizer", "history", "config"} <= obj.keys()


def _from_training_checkpoint(obj: Mapping[str, Any], path: Path) -> SqueezeNet:
    """The model of a `squeezenet train` checkpoint, built from the config stored in it: its
    tensor shapes alone would guess a different network for a small-input model."""
    if "model_config" not in obj:
        raise CheckpointError(
            f"{path} is a training checkpoint written before it stored the model's config; "
            f"load its run folder ({path.parent}) or weights/last.safetensors instead"
        )
    try:
        config = SqueezeNetConfig.from_dict(json.loads(obj["model_config"]))
        meta = json.loads(obj.get("meta", "{}"))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt model config ({e})") from None
    net = SqueezeNet(config)
    load_state_dict_checked(net, strip_prefixes(obj["model"]))
    net.meta = _checked_meta(meta, net, path)
    return net


def _unwrap_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), Mapping):
                return _unwrap_state_dict(obj[key], path)
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return strip_prefixes(obj)
    raise CheckpointError(f"{path}: no state_dict of tensors found in the checkpoint")


_FIRE_KEY = re.compile(r"^features\.(\d+)\.squeeze\.weight$")


def config_from_state_dict(state: Mapping[str, torch.Tensor], **overrides: Any) -> SqueezeNetConfig:
    """Infer a SqueezeNet config from a torchvision-layout state_dict's keys and shapes.

    The stem kernel, Fire sizes, pool positions (gaps between Fire indices), complex
    bypasses, BatchNorm and class count are all visible in the weights. Identity (simple)
    bypasses leave no trace: pass `model=` to `load_model` for those.
    """
    state = strip_prefixes(state)
    try:
        stem = state["features.0.weight"]
        head = state["classifier.1.weight"]
    except KeyError as e:
        raise CheckpointError(
            f"not a SqueezeNet state_dict: key {e.args[0]!r} is missing"
        ) from None
    indices = sorted(int(m.group(1)) for k in state if (m := _FIRE_KEY.match(k)))
    if not indices or indices[0] != 3:
        raise CheckpointError("not a SqueezeNet state_dict: no Fire modules at features.3...")
    fires, pool_after = [], []
    for n, idx in enumerate(indices):
        p = f"features.{idx}."
        fires.append(
            FireConfig(
                squeeze=state[p + "squeeze.weight"].shape[0],
                expand1x1=state[p + "expand1x1.weight"].shape[0],
                expand3x3=state[p + "expand3x3.weight"].shape[0],
                bypass="complex" if p + "bypass.0.weight" in state else "none",
            )
        )
        if n + 1 < len(indices) and indices[n + 1] == idx + 2:
            pool_after.append(n)
    fields: dict[str, Any] = {
        "name": "squeezenet1_0" if stem.shape[-1] == 7 else "squeezenet1_1",
        "stem_channels": stem.shape[0],
        "stem_kernel": stem.shape[-1],
        "fires": tuple(fires),
        "pool_after": tuple(pool_after),
        "num_classes": head.shape[0],
        "in_channels": stem.shape[1],
        "batch_norm": "features.1.bn.weight" in state,
    }
    fields.update(overrides)
    return SqueezeNetConfig(**fields)
