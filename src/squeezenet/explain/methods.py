"""One entry point for every method by name, as the CLI calls them."""

from __future__ import annotations

from typing import Any

from .activations import activations
from .attribution import gradcam, saliency, smoothgrad
from .core import ImageInput, ModelInput, as_model
from .deletion import deletion
from .integrated import integrated_gradients
from .render import Explanation
from .synthesis import class_visualization, fooling

METHODS = (
    "saliency",
    "smoothgrad",
    "integrated-gradients",
    "gradcam",
    "activations",
    "class-visualization",
    "fooling",
    "deletion",
)
# Methods that read a layer (deletion: through its Grad-CAM map), and those that need a class.
TAKES_LAYER = ("gradcam", "activations", "deletion")
NEEDS_TARGET = ("class-visualization", "fooling")


def explain(
    model: ModelInput,
    image: ImageInput | None,
    method: str,
    *,
    target: int | str | None = None,
    layer: str | None = None,
    **options: Any,
) -> Explanation:
    """Run `method` on `image` (None for class-visualization, which starts from noise).

    Args:
        target: class index or name; required by class-visualization and fooling, else
            default the predicted class (activations shows no class and refuses one).
        layer: paper layer name for gradcam, activations and deletion's Grad-CAM map.
        **options: the method's own keyword settings (samples, noise, steps, ...).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    if layer is not None and method not in TAKES_LAYER:
        raise ValueError(f"{method} takes no layer; layers are for {', '.join(TAKES_LAYER)}")
    if target is None and method in NEEDS_TARGET:
        raise ValueError(f"{method} needs a target class (index or name)")
    if target is not None and method == "activations":
        raise ValueError("activations show a layer, not a class; drop the target")
    if method == "class-visualization":
        if image is not None:
            raise ValueError("class-visualization starts from noise; it takes no image")
        return class_visualization(model, target, **options)
    if image is None:
        raise ValueError(f"{method} needs an image")
    net = as_model(model)
    if method == "activations":
        return activations(net, image, layer, **options)
    if method == "fooling":
        return fooling(net, image, target, **options)
    if method == "gradcam":
        return gradcam(net, image, target, layer=layer, **options)
    if method == "deletion":
        return deletion(net, image, target, layer=layer, **options)
    attribute = {
        "saliency": saliency,
        "smoothgrad": smoothgrad,
        "integrated-gradients": integrated_gradients,
    }[method]
    return attribute(net, image, target, **options)
