"""Deep Compression end to end: prune + retrain, fold BN, share + fine-tune, encode.

    >>> model, report = compress_model(model, train, test, CompressConfig.preset("aggressive"))
    >>> save_sqz(model, "model.sqz")

Without data, the model is pruned, shared and encoded with no retraining and no accuracy
(e.g. for ImageNet weights held without the dataset).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import hardware
from ..checkpoint import save_model
from ..data import InMemoryDataset
from ..engine import check_compatible, evaluate
from ..meta import preprocessing_for
from ..models import SqueezeNet
from .calibrate import CalibConfig, calibrate_codebooks_, distill_
from .channels import check_multiple, check_share, prune_channels
from .finetune import FinetuneConfig, Log, finetune_
from .fold import bn_scales, fold_batch_norm, fold_pruned, plain_copy
from .format import check_fits, decode_model, encode_model, save_sqz
from .layers import CompressError
from .prune import PruneConfig, prune_
from .quantize import ShareConfig, finalize_, round_codebooks_, share_weights_
from .report import CompressionReport, build_report

PRESETS = ("paper", "paper8", "aggressive", "lossless")
# Default fine-tuning phases: SGD masked retraining, then a gentle AdamW for the centroids.
PRUNE_FINETUNE = FinetuneConfig()
SHARE_FINETUNE = FinetuneConfig(lr=1e-4, optimizer="adamw", weight_decay=0.0)


@dataclass(frozen=True)
class CompressConfig:
    """A whole compression recipe.

    Attributes:
        prune: per-layer sparsity.
        share: per-layer bits and bias storage.
        rounds: iterative pruning rounds; round r prunes to sparsity 1 - (1 - s)^(r/rounds)
            and retrains (the paper's iterative pruning).
        prune_finetune: retraining after each pruning round (None: no retraining).
        share_finetune: centroid fine-tuning after sharing (None: none).
        eval_batch_size: batch size of the accuracy evaluations.
        calibration: codebook distillation toward the uncompressed model on unlabelled
            images, when `compress_model` is given `calib_images` (None: none).
        channels: keep this share of the MACs, such as 0.5, by first removing whole Fire
            channels (a smaller dense network that runs faster), then retrain as
            `prune_finetune` says; None: no channel pruning (see `channels.prune_channels`).
        channel_multiple: channel pruning keeps channel counts that are multiples of this,
            such as 8 for AVX2 kernels; 1 comes closest to the requested share; None: what
            this CPU's kernels favour (`hardware.channel_multiple`: 16 with AVX-512, 8 with
            AVX2), recorded in the report.
    """

    prune: PruneConfig = field(default_factory=PruneConfig)
    share: ShareConfig = field(default_factory=ShareConfig)
    rounds: int = 1
    prune_finetune: FinetuneConfig | None = PRUNE_FINETUNE
    share_finetune: FinetuneConfig | None = SHARE_FINETUNE
    eval_batch_size: int = 512
    calibration: CalibConfig | None = field(default_factory=CalibConfig)
    channels: float | None = None
    channel_multiple: int | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.rounds, int) and self.rounds >= 1):
            raise CompressError(f"rounds must be a positive integer, got {self.rounds!r}")
        if self.channels is not None:
            check_share(self.channels)
        if self.channel_multiple is not None:
            check_multiple(self.channel_multiple)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> CompressConfig:
        """'paper' (Table 1 sparsity, 6 bits), 'paper8' (8 bits), 'aggressive'
        (Fashion-MNIST-tuned: ~85% sparse, 4-6 bits, 2 pruning rounds) or 'lossless' (no
        pruning beyond the source's zeros, 8 bits: a model with <= 256 distinct non-zero values
        per layer, like the authors' 8-bit release, decodes to the very same tensors).
        An already-sparse source keeps its zeros under every preset."""
        if name not in PRESETS:
            raise CompressError(f"unknown compression preset {name!r}; valid: {', '.join(PRESETS)}")
        if name == "lossless":
            share = ShareConfig.preset("lossless", bias_dtype="float32")
            base = cls(
                PruneConfig.preset("none"),
                share,
                prune_finetune=None,
                share_finetune=None,
                calibration=None,
            )
        elif name == "aggressive":
            base = cls(PruneConfig.preset("aggressive"), ShareConfig.preset("aggressive"), rounds=2)
        else:
            base = cls(PruneConfig.preset("paper"), ShareConfig.preset(name))
        return dataclasses.replace(base, **overrides)

    def with_finetune(
        self, prune: Mapping[str, Any] | None = None, share: Mapping[str, Any] | None = None
    ) -> CompressConfig:
        """A copy with these `FinetuneConfig` fields changed in the masked-retraining (`prune`)
        and centroid fine-tuning (`share`) phases, e.g. `{"epochs": 0.5, "augment": "flip"}`;
        a phase that was off starts from its default."""
        changes = {}
        for phase, default, given in (
            ("prune_finetune", PRUNE_FINETUNE, prune),
            ("share_finetune", SHARE_FINETUNE, share),
        ):
            if given:
                changes[phase] = dataclasses.replace(getattr(self, phase) or default, **given)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _top1(model: SqueezeNet, data: InMemoryDataset | None, batch_size: int) -> float | None:
    return None if data is None else evaluate(model, data, batch_size=batch_size).top1


def _check_data(model: SqueezeNet, *datasets: InMemoryDataset | None) -> None:
    for data in datasets:
        if data is not None:
            try:
                check_compatible(model, data)
            except ValueError as e:
                raise CompressError(f"cannot compress with this data: {e}") from None


def safetensors_size(model: SqueezeNet) -> int:
    """Bytes of `model` saved as our fp32 safetensors file."""
    with tempfile.TemporaryDirectory() as tmp:
        return save_model(model, Path(tmp) / "model.safetensors").stat().st_size


def compress_model(
    model: SqueezeNet,
    train_data: InMemoryDataset | None = None,
    test_data: InMemoryDataset | None = None,
    config: CompressConfig | None = None,
    *,
    calib_images: torch.Tensor | None = None,
    log: Log | None = None,
) -> tuple[SqueezeNet, CompressionReport]:
    """Prune, share and entropy-code a copy of `model`; the input model is left untouched.

    With `config.channels`, whole channels go first (`channels.prune_channels`), retrained on
    `train_data` or, without it, distilled from `model` on `calib_images`; the report's
    `channels` gives MACs and parameters before and after.

    Args:
        model: a trained SqueezeNet. With BatchNorm and training data, pruning and masked
            retraining run with BatchNorm live, which is then folded into the convs before
            weight sharing; without data it is folded first.
        train_data: data for masked retraining and centroid fine-tuning (None: none).
        test_data: data for top-1 before/after (None: no accuracy in the report).
        config: the recipe; defaults to the paper's.
        calib_images: unlabelled uint8 images (`calibrate.load_calibration_images`) on which
            the codebooks are distilled toward the uncompressed model's logits
            (`config.calibration`); None: no calibration.
        log: called with progress lines.

    Returns:
        (the compressed model, exactly what the `.sqz` file decodes to; its report).

    Raises:
        CompressError: if the data does not fit the model or a setting is invalid.
    """
    config = config or CompressConfig()
    say = log or (lambda _msg: None)
    _check_data(model, train_data, test_data)
    try:
        check_fits(model.config)  # before any retraining, not when writing the file
    except ValueError as e:
        raise CompressError(str(e)) from None
    start = time.perf_counter()
    net = fold_batch_norm(model).eval()
    top1 = {"top1_before": _top1(net, test_data, config.eval_batch_size)}
    say(f"uncompressed top-1: {_fmt(top1['top1_before'])}")
    source, channels = model, None
    if config.channels is not None:  # prune channels, then weights, share, code
        model, channels = _prune_channels(model, train_data, config, log, calib_images)
        net = fold_batch_norm(model).eval()
        channels["top1"] = _top1(net, test_data, config.eval_batch_size)
        say(f"channel-pruned top-1: {_fmt(channels['top1'])}")
    if model.config.batch_norm and train_data is not None and config.prune_finetune is not None:
        # Retrain with BatchNorm live: it re-centres the activations as weights are removed,
        # which recovers far more accuracy than retraining the folded network. Weights are
        # ranked by their folded magnitude, and folding keeps the pruned ones at exactly zero.
        with_bn = plain_copy(model)
        _prune_and_retrain(with_bn, train_data, config, log)
        net = fold_pruned(with_bn).eval()
    else:
        _prune_and_retrain(net, train_data, config, log)
    top1["top1_pruned"] = _top1(net, test_data, config.eval_batch_size)
    say(f"pruned top-1: {_fmt(top1['top1_pruned'])}")
    teacher = fold_batch_norm(source).eval() if calib_images is not None else None
    _share_and_finetune(net, train_data, config, log, teacher, calib_images)
    sqz = encode_model(net)
    t0 = time.perf_counter()
    decoded = decode_model(sqz)
    decode_seconds = time.perf_counter() - t0
    _check_round_trip(net, decoded)
    top1["top1_after"] = _top1(decoded, test_data, config.eval_batch_size)
    say(f".sqz top-1: {_fmt(top1['top1_after'])}")
    report = build_report(
        decoded,
        sqz,
        safetensors_bytes=safetensors_size(source),
        decode_seconds=decode_seconds,
        config={**config.to_dict(), "seconds": time.perf_counter() - start},
        channels=channels,
        **top1,
    )
    return decoded, report


def _prune_channels(
    model: SqueezeNet,
    train: InMemoryDataset | None,
    config: CompressConfig,
    log: Log | None,
    calib_images: torch.Tensor | None = None,
) -> tuple[SqueezeNet, dict[str, Any]]:
    """A copy of `model` channel-pruned to `config.channels` of its MACs (counted at the
    model's input size, else the data's), retrained with BatchNorm live on labelled data, or
    without it distilled from `model` on unlabelled `calib_images`; its report."""
    size = None if train is None else train.images.shape[-1]
    size = preprocessing_for(model, default_size=size).input_size
    multiple, why = (
        (config.channel_multiple, "asked for")
        if config.channel_multiple is not None
        else hardware.channel_multiple()
    )
    pruned, report = prune_channels(model, config.channels, input_size=size, multiple=multiple)
    if log is not None:
        log(
            f"channel pruning: {report.macs_after:,} of {report.macs_before:,} MACs "
            f"({100 * report.macs_share:.1f}%), {report.params_after:,} of "
            f"{report.params_before:,} parameters, counts in multiples of {multiple} ({why})"
        )
    if train is not None and config.prune_finetune is not None:
        if log is not None:
            log("channel pruning: retraining")
        finetune_(pruned, train, config.prune_finetune, log=log)
    elif train is None and calib_images is not None and config.calibration is not None:
        if log is not None:
            log(f"channel pruning: distillation on {len(calib_images)} unlabelled images")
        teacher = fold_batch_norm(model).eval()  # a copy: the caller's model keeps its mode
        distill_(
            pruned,
            teacher,
            calib_images,
            preprocessing_for(teacher),
            list(pruned.parameters()),
            config.calibration,
            log=log,
        )
    return pruned.eval(), {**report.to_dict(), "multiple": multiple, "multiple_reason": why}


@dataclass
class CompressOutcome:
    """What `compress_to_file` wrote: the model the file decodes to, the report (its
    `sqz_bytes` the file's size), the `.sqz` file and the report's JSON file (or None)."""

    model: SqueezeNet
    report: CompressionReport
    sqz_path: Path
    report_path: Path | None


def compress_to_file(
    model: SqueezeNet,
    out: str | os.PathLike,
    *,
    train: InMemoryDataset | None = None,
    test: InMemoryDataset | None = None,
    config: CompressConfig | None = None,
    calib_images: torch.Tensor | None = None,
    report_path: str | os.PathLike | None = None,
    log: Log | None = None,
) -> CompressOutcome:
    """Compress -> save the `.sqz` -> save the report: `compress_model`, written down (what
    `squeezenet compress` and the demo run). See `compress_model` for the arguments."""
    compressed, report = compress_model(
        model, train, test, config, calib_images=calib_images, log=log
    )
    sqz_path = save_sqz(compressed, out)
    report.sqz_bytes = sqz_path.stat().st_size  # the size we report is the file's
    report.path = str(sqz_path)
    saved = report.save(report_path) if report_path is not None else None
    return CompressOutcome(compressed, report, sqz_path, saved)


def _prune_and_retrain(
    net: SqueezeNet, train: InMemoryDataset | None, config: CompressConfig, log: Log | None
) -> None:
    # Rules that prune nothing (the lossless preset) keep the source's zeros: no retraining.
    retrain = any(sparsity > 0 for _, sparsity in config.prune.sparsity)
    for r in range(1, config.rounds + 1):
        prune_(net, config.prune.scaled(r / config.rounds), channel_scale=bn_scales(net))
        if retrain and train is not None and config.prune_finetune is not None:
            if log is not None:
                log(f"pruning round {r}/{config.rounds}: masked retraining")
            finetune_(net, train, config.prune_finetune, log=log)


def _share_and_finetune(
    net: SqueezeNet,
    train: InMemoryDataset | None,
    config: CompressConfig,
    log: Log | None,
    teacher: SqueezeNet | None = None,
    calib_images: torch.Tensor | None = None,
) -> None:
    share_weights_(net, config.share)
    if train is not None and config.share_finetune is not None:
        if log is not None:
            log("weight sharing: centroid fine-tuning")
        finetune_(net, train, config.share_finetune, log=log)
    if teacher is not None and calib_images is not None and config.calibration is not None:
        if log is not None:
            log(f"weight sharing: codebook distillation on {len(calib_images)} unlabelled images")
        calibrate_codebooks_(
            net, teacher, calib_images, preprocessing_for(teacher), config.calibration, log=log
        )
    round_codebooks_(net, config.share.codebook_digits)
    finalize_(net, config.share.bias_dtype)


def _check_round_trip(model: SqueezeNet, decoded: SqueezeNet) -> None:
    """The decoded model must hold exactly the encoded tensors (a bug guard, cheap)."""
    ours, theirs = model.state_dict(), decoded.state_dict()
    for key, value in ours.items():
        if not torch.equal(value.cpu(), theirs[key]):
            raise RuntimeError(f".sqz round trip changed {key}; this is a bug, please report it")


def _fmt(top1: float | None) -> str:
    return "n/a (no data)" if top1 is None else f"{100 * top1:.2f}%"
