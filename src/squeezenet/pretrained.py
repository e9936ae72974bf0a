"""Pretrained weights that ship inside the package (no network needed).

`imagenet`: the authors' ImageNet SqueezeNet 1.0 (Iandola et al., the 8-bit Deep Compression
release, BSD licence: `resources/LICENCE-squeezenet1_0_imagenet.txt`), re-quantized with this
package's `squeezenet compress` into a `.sqz` file under 470,000 bytes (see
`resources/README.md` for the exact recipe and its accuracy).

    >>> model = squeezenet.create_model("squeezenet1_0", weights="imagenet")
    >>> model = squeezenet.load_model("imagenet")            # the same
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from .formats import SqzFormatError, decode_model
from .models import SqueezeNet
from .models import create_model as _create_architecture

# weights name -> (architecture, package resource)
PRETRAINED: dict[str, tuple[str, str]] = {
    "imagenet": ("squeezenet1_0", "resources/squeezenet1_0_imagenet.sqz"),
}


def pretrained_bytes(weights: str) -> bytes:
    """The shipped file of `weights` ('imagenet')."""
    if weights not in PRETRAINED:
        raise ValueError(f"unknown pretrained weights {weights!r}; valid: {', '.join(PRETRAINED)}")
    resource = resources.files("squeezenet").joinpath(PRETRAINED[weights][1])
    try:
        return resource.read_bytes()
    except OSError as e:  # a broken install, not a user error
        raise RuntimeError(
            f"the package's {PRETRAINED[weights][1]} is missing ({e}); reinstall squeezenet"
        ) from None


def load_pretrained(weights: str = "imagenet") -> SqueezeNet:
    """The shipped pretrained model `weights`, decoded (eval mode, class names and
    preprocessing in its `meta`)."""
    try:
        return decode_model(pretrained_bytes(weights))
    except SqzFormatError as e:
        raise RuntimeError(
            f"the package's {weights} weights are corrupt ({e}); reinstall squeezenet"
        ) from None


def create_model(name: str, *, weights: str | None = None, **overrides: Any) -> SqueezeNet:
    """`models.create_model`, or with `weights="imagenet"` the shipped pretrained model.

    Raises:
        ValueError: for weights that do not exist, weights for another architecture, or
            config overrides with weights (the weights fix the architecture).
    """
    if weights is None:
        return _create_architecture(name, **overrides)
    if weights not in PRETRAINED:
        raise ValueError(f"unknown pretrained weights {weights!r}; valid: {', '.join(PRETRAINED)}")
    arch = PRETRAINED[weights][0]
    if name != arch:
        raise ValueError(f"weights {weights!r} are for {arch}, not {name!r}")
    if overrides:
        raise ValueError(
            f"config overrides {sorted(overrides)} do not apply to pretrained weights {weights!r}"
        )
    return load_pretrained(weights)
