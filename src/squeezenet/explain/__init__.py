"""What the network sees: saliency, SmoothGrad, integrated gradients, Grad-CAM, activations,
class visualisation, fooling images and the deletion check of an attribution map.

Every function takes a SqueezeNet (or a file / run folder `load_model` reads) and an image
file or normalised input tensor, and returns a dataclass of numpy maps, classes and
probabilities; `save_png` draws any of them.

    >>> from squeezenet import explain
    >>> cam = explain.gradcam("runs/fmnist", "shoe.png", layer="fire9")
    >>> explain.save_png(cam, "shoe_gradcam.png")
"""

from .activations import ActivationGrid, activations
from .attribution import AttributionMap, gradcam, saliency, smoothgrad
from .core import BASELINES, ClassScore, class_names, layer_names, resolve_class, resolve_layer
from .deletion import ATTRIBUTIONS, DeletionResult, auc, deletion, deletion_check
from .integrated import integrated_gradients
from .methods import METHODS, explain
from .render import Explanation, save_png
from .synthesis import SynthesizedImage, class_visualization, fooling

__all__ = [
    "ATTRIBUTIONS",
    "BASELINES",
    "METHODS",
    "ActivationGrid",
    "AttributionMap",
    "ClassScore",
    "DeletionResult",
    "Explanation",
    "SynthesizedImage",
    "activations",
    "auc",
    "class_names",
    "class_visualization",
    "deletion",
    "deletion_check",
    "explain",
    "fooling",
    "gradcam",
    "integrated_gradients",
    "layer_names",
    "resolve_class",
    "resolve_layer",
    "saliency",
    "save_png",
    "smoothgrad",
]
