"""Batched augmentation on image tensors.

Every transform takes a whole batch (N, C, H, W) and an optional ``torch.Generator``
and draws all of its randomness from that generator, so a loader that seeds one
generator per epoch reproduces its batches exactly on resume.

Ranges: the random transforms and :class:`Resize` / :class:`CenterCrop` keep the input
dtype (uint8 0..255 in, uint8 out; float in, float out). :class:`Normalize` is the step
that turns uint8 0..255 into normalised float32, and usually comes last.
Nothing here loops over images in Python: per-sample parameters are drawn as tensors
and applied with indexing, ``torch.where`` or one ``grid_sample`` call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import torch
import torch.nn.functional as F

__all__ = [
    "BatchTransform",
    "CenterCrop",
    "Compose",
    "Normalize",
    "RandomCropWithPadding",
    "RandomErasing",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "Resize",
]

_MAX_SUPERSAMPLE = 8
_RESAMPLE_BUDGET = 1 << 25  # float elements per grid_sample call (128 MB), bounds memory


class BatchTransform(Protocol):
    """A callable ``(images (N, C, H, W), generator) -> images``."""

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor: ...


def _pair(size: int | Sequence[int], what: str) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or any(not isinstance(s, int) or s <= 0 for s in pair):
        raise ValueError(f"{what} must be a positive int or (height, width), got {size!r}")
    return pair[0], pair[1]


def _check_batch(images: torch.Tensor, who: str) -> None:
    if images.dim() != 4:
        raise ValueError(f"{who} expects a batch (N, C, H, W), got shape {tuple(images.shape)}")


def _to_input_dtype(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Cast a float result back to the input dtype, rounding and clamping for uint8."""
    if dtype == torch.uint8:
        return x.round_().clamp_(0, 255).to(torch.uint8)
    return x.to(dtype)


class Compose:
    """Apply transforms in order, passing the same generator to each."""

    def __init__(self, transforms: Sequence[BatchTransform]) -> None:
        self.transforms = list(transforms)

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        for transform in self.transforms:
            images = transform(images, generator)
        return images

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class RandomCropWithPadding:
    """Pad every side by ``padding`` pixels of ``fill``, then take a random ``size`` crop.

    The CIFAR-style augmentation. The batch is padded once and each sample's crop is
    gathered from an ``unfold`` view, so there is no per-image loop.
    """

    def __init__(self, size: int | Sequence[int], padding: int = 0, fill: float = 0) -> None:
        self.size = _pair(size, "RandomCropWithPadding size")
        if padding < 0:
            raise ValueError(f"padding must be >= 0, got {padding}")
        self.padding, self.fill = padding, fill

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        _check_batch(images, "RandomCropWithPadding")
        n, p = images.shape[0], self.padding
        padded = F.pad(images, (p, p, p, p), value=self.fill) if p else images
        (th, tw), (h, w) = self.size, padded.shape[-2:]
        if th > h or tw > w:
            raise ValueError(f"crop {th}x{tw} is larger than the padded image {h}x{w}")
        top = torch.randint(0, h - th + 1, (n,), generator=generator)
        left = torch.randint(0, w - tw + 1, (n,), generator=generator)
        windows = padded.unfold(2, th, 1).unfold(3, tw, 1)  # (N, C, h-th+1, w-tw+1, th, tw)
        # Advanced indices split by the channel slice move to the front: (N, C, th, tw).
        return windows[torch.arange(n), :, top, left]

    def __repr__(self) -> str:
        return f"RandomCropWithPadding(size={self.size}, padding={self.padding}, fill={self.fill})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"flip probability must be in [0, 1], got {p}")
        self.p = p

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        _check_batch(images, "RandomHorizontalFlip")
        flip = torch.rand(images.shape[0], generator=generator) < self.p  # (N,)
        return torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomErasing:
    """Replace one random box per image with noise, with probability ``p`` (Zhong et al., 2017).

    The box covers a fraction ``scale`` of the image at aspect ratio ``ratio`` (log-uniform),
    clipped to the image; its pixels get uniform noise over the value range (0..255 for
    uint8, 0..1 for float), the paper's best fill. Boxes are built as one batched mask.
    """

    def __init__(
        self,
        p: float = 0.5,
        scale: tuple[float, float] = (0.02, 0.33),
        ratio: tuple[float, float] = (0.3, 3.3),
    ) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"erasing probability must be in [0, 1], got {p}")
        if not 0.0 < scale[0] <= scale[1] <= 1.0:
            raise ValueError(f"erasing scale must satisfy 0 < min <= max <= 1, got {scale}")
        if not 0.0 < ratio[0] <= ratio[1]:
            raise ValueError(f"erasing ratio must satisfy 0 < min <= max, got {ratio}")
        self.p, self.scale, self.ratio = p, scale, ratio

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        _check_batch(images, "RandomErasing")
        n, _, h, w = images.shape
        area = h * w * torch.empty(n).uniform_(*self.scale, generator=generator)
        log_r = torch.empty(n).uniform_(
            math.log(self.ratio[0]), math.log(self.ratio[1]), generator=generator
        )
        aspect = torch.exp(log_r)
        eh = torch.sqrt(area * aspect).round().clamp(1, h).long()
        ew = torch.sqrt(area / aspect).round().clamp(1, w).long()
        top = (torch.rand(n, generator=generator) * (h - eh + 1)).long()
        left = (torch.rand(n, generator=generator) * (w - ew + 1)).long()
        erase = torch.rand(n, generator=generator) < self.p
        rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
        box = (
            (rows >= top.view(-1, 1, 1))
            & (rows < (top + eh).view(-1, 1, 1))
            & (cols >= left.view(-1, 1, 1))
            & (cols < (left + ew).view(-1, 1, 1))
        )
        mask = (box & erase.view(-1, 1, 1)).unsqueeze(1)  # (N, 1, H, W), shared by channels
        high = 255.0 if images.dtype == torch.uint8 else 1.0
        noise = torch.rand(images.shape, generator=generator) * high
        return torch.where(mask, _to_input_dtype(noise, images.dtype), images)

    def __repr__(self) -> str:
        return f"RandomErasing(p={self.p}, scale={self.scale}, ratio={self.ratio})"


class RandomResizedCrop:
    """Crop a random box per image (area fraction ``scale``, aspect ``ratio``), resize to ``size``.

    Boxes follow torchvision's rule (10 tries per image, then a centre crop with the
    aspect ratio clamped), drawn for the whole batch at once. Resampling is one bilinear
    ``grid_sample`` per group of images; a box shrunk by a factor r is sampled ceil(r)
    times per output pixel along each axis and averaged (like ``roi_align``'s
    ``sampling_ratio``), which antialiases downscaling.
    """

    def __init__(
        self,
        size: int | Sequence[int],
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
    ) -> None:
        self.size = _pair(size, "RandomResizedCrop size")
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"scale must satisfy 0 < min <= max <= 1, got {scale}")
        if not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"ratio must satisfy 0 < min <= max, got {ratio}")
        self.scale, self.ratio = scale, ratio

    def sample_boxes(
        self, n: int, height: int, width: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Draw one integer box per image.

        Returns:
            int64 (n, 4) of ``top, left, box_height, box_width``.
        """
        tries = 10
        area = torch.empty(n, tries).uniform_(*self.scale, generator=generator) * height * width
        log_r = torch.empty(n, tries).uniform_(
            math.log(self.ratio[0]), math.log(self.ratio[1]), generator=generator
        )
        aspect = log_r.exp()
        bw = (area * aspect).sqrt().round().long()  # (n, tries)
        bh = (area / aspect).sqrt().round().long()
        valid = (bw > 0) & (bh > 0) & (bw <= width) & (bh <= height)
        first = valid.to(torch.uint8).argmax(dim=1)  # index of the first valid try
        rows = torch.arange(n)
        fh, fw = self._fallback(height, width)
        ok = valid.any(dim=1)
        bh = torch.where(ok, bh[rows, first], fh)
        bw = torch.where(ok, bw[rows, first], fw)
        u = torch.rand(n, 2, generator=generator)
        top = torch.where(ok, (u[:, 0] * (height - bh + 1)).long(), (height - bh) // 2)
        left = torch.where(ok, (u[:, 1] * (width - bw + 1)).long(), (width - bw) // 2)
        return torch.stack([top, left, bh, bw], dim=1)

    def _fallback(self, height: int, width: int) -> tuple[int, int]:
        """Centre box used when no try fits: the whole image, aspect clamped to ``ratio``."""
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            return max(1, min(height, round(width / self.ratio[0]))), width
        if in_ratio > self.ratio[1]:
            return height, max(1, min(width, round(height * self.ratio[1])))
        return height, width

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        _check_batch(images, "RandomResizedCrop")
        n, c, h, w = images.shape
        boxes = self.sample_boxes(n, h, w, generator)
        return crop_and_resize(images, boxes, self.size)

    def __repr__(self) -> str:
        return f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio})"


def crop_and_resize(
    images: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """Resample box ``i`` of ``images[i]`` to ``size`` (bilinear, antialiased when shrinking).

    Args:
        images: (N, C, H, W), uint8 or float.
        boxes: (N, 4) ``top, left, height, width`` in pixels.
        size: Output (height, width).

    Returns:
        (N, C, *size) in the input dtype.
    """
    n, c, h, w = images.shape
    oh, ow = size
    top, left, bh, bw = boxes.to(torch.float64).unbind(1)
    # affine_grid maps output coords in [-1, 1] (pixel edges, align_corners=False) into
    # the input; the box edges top..top+bh become -1..1 after this scale and shift.
    theta = torch.zeros(n, 2, 3, dtype=torch.float32)
    theta[:, 0, 0] = (bw / w).float()
    theta[:, 0, 2] = ((2 * left + bw) / w - 1).float()
    theta[:, 1, 1] = (bh / h).float()
    theta[:, 1, 2] = ((2 * top + bh) / h - 1).float()
    shrink = torch.maximum(bh / oh, bw / ow).ceil().clamp(1, _MAX_SUPERSAMPLE).long()
    out = torch.empty((n, c, oh, ow), dtype=torch.float32)
    # Images needing the same supersampling factor share one grid_sample call.
    for k in sorted(set(shrink.tolist())):
        idx = (shrink == k).nonzero().flatten()
        step = max(1, _RESAMPLE_BUDGET // (c * oh * ow * k * k))
        for start in range(0, idx.numel(), step):
            part = idx[start : start + step]
            grid = F.affine_grid(
                theta[part], [part.numel(), c, oh * k, ow * k], align_corners=False
            )
            sampled = F.grid_sample(
                images[part].float(),  # convert only the rows being resampled
                grid,
                mode="bilinear",
                padding_mode="border",
                align_corners=False,
            )
            out[part] = F.avg_pool2d(sampled, k) if k > 1 else sampled
    return _to_input_dtype(out, images.dtype)


class Resize:
    """Resize a batch (bilinear, antialiased), e.g. to evaluate at another input size.

    ``size`` as an int sets the shorter side and keeps the aspect ratio; a pair sets
    (height, width) exactly.
    """

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = size if isinstance(size, int) else _pair(size, "Resize size")
        if isinstance(self.size, int) and self.size <= 0:
            raise ValueError(f"Resize size must be positive, got {size}")

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Return the (height, width) an input of this size is resized to."""
        if not isinstance(self.size, int):
            return self.size
        if height <= width:
            return self.size, max(1, round(width * self.size / height))
        return max(1, round(height * self.size / width)), self.size

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        _check_batch(images, "Resize")
        out_size = self.output_size(*images.shape[-2:])
        if out_size == tuple(images.shape[-2:]):
            return images
        # uint8 has a native antialiased bilinear kernel on CPU; other dtypes go via float.
        x = (
            images
            if images.dtype in (torch.uint8, torch.float32, torch.float64)
            else images.float()
        )
        out = F.interpolate(x, size=out_size, mode="bilinear", antialias=True, align_corners=False)
        return out.to(images.dtype)

    def __repr__(self) -> str:
        return f"Resize(size={self.size})"


class CenterCrop:
    """Keep the central ``size`` region of every image."""

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = _pair(size, "CenterCrop size")

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        _check_batch(images, "CenterCrop")
        (th, tw), (h, w) = self.size, images.shape[-2:]
        if th > h or tw > w:
            raise ValueError(f"cannot center-crop {th}x{tw} from {h}x{w} images")
        top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
        return images[..., top : top + th, left : left + tw]

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size})"


class Normalize:
    """Convert to float32 and standardise per channel: ``(x - mean) / std``.

    uint8 input is first scaled to [0, 1] (divided by 255); float input is assumed to be
    in [0, 1] already. ``mean`` and ``std`` are in [0, 1] units, as returned by
    :func:`compute_mean_std`.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        if len(mean) != len(std) or not mean:
            raise ValueError(
                f"mean {tuple(mean)} and std {tuple(std)} need the same, non-zero length"
            )
        if any(s <= 0 for s in std):
            raise ValueError(f"std values must be positive, got {tuple(std)}")
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        mean_t = torch.tensor(self.mean, dtype=torch.float32).view(-1, 1, 1)
        std_t = torch.tensor(self.std, dtype=torch.float32).view(-1, 1, 1)
        self._scale_float, self._shift = 1.0 / std_t, mean_t / std_t
        self._scale_uint8 = self._scale_float / 255.0  # folds the /255 into one multiply

    def __call__(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        _check_batch(images, "Normalize")
        if images.shape[1] != len(self.mean) and len(self.mean) != 1:
            raise ValueError(
                f"Normalize has {len(self.mean)} channel statistics but images have "
                f"{images.shape[1]} channels; compute them on this dataset"
            )
        if images.dtype == torch.uint8:
            return images.to(torch.float32).mul_(self._scale_uint8).sub_(self._shift)
        return images.to(torch.float32) * self._scale_float - self._shift

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"
