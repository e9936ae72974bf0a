"""`squeezenet compress` (Deep Compression into a .sqz file) and `squeezenet sqz-info`."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checkpoint import load_model
from ..compress import (
    PRESETS,
    CompressConfig,
    PruneConfig,
    build_report,
    compress_to_file,
    fold_batch_norm,
)
from ..compress.calibrate import CalibConfig, load_calibration_images
from ..compress.format import SqzFormatError, decode_model, read_sqz_bytes
from ..compress.layers import parse_rules
from ..compress.prune import SPARSITY_PRESETS
from ..compress.quantize import BITS_PRESETS
from ..data import load_dataset_for_model
from ..engine import load_run_config
from ..inference.compare import latency_change
from ..meta import preprocessing_for
from .app import console
from .options import JSON, REQUIRED, THREADS, Param, config_command, option
from .render import compression_table


def _default_out(source: Path) -> Path:
    """RUN/compressed.sqz for a run folder, else the weights file with a .sqz suffix."""
    return source / "compressed.sqz" if source.is_dir() else source.with_suffix(".sqz")


@dataclass
class CompressOptions:
    """The options of `squeezenet compress`: a preset, overridden by every option given."""

    data: str | None = option(
        None,
        "dataset spec for retraining and accuracy (fashion-mnist, cifar10:PATH, "
        "folder:PATH); omit to compress without data",
    )
    data_dir: str | None = option(None, "where to look for the dataset")
    out: str | None = option(None, "the .sqz file (default: beside SOURCE)", flags=("--out", "-o"))
    report: str | None = option(None, "report JSON (default: OUT with .json suffix)")
    preset: str = option("paper", f"recipe: {' | '.join(PRESETS)}")
    sparsity: str | None = option(
        None,
        "per-layer sparsity, e.g. 'conv10=0.8,*.expand3x3=0.67,*=0' or a preset "
        f"({', '.join(SPARSITY_PRESETS)})",
    )
    bits: str | None = option(
        None,
        "per-layer bits (1-8, 32 = unshared), e.g. 'conv1=8,*=6' or a preset "
        f"({', '.join(BITS_PRESETS)})",
    )
    channels: float | None = option(
        None,
        "first remove whole Fire channels down to this share of the MACs, e.g. 0.5 (a smaller "
        "dense network; default: none)",
    )
    channel_multiple: int | None = option(
        None,
        "with --channels: keep channel counts multiples of this (default: what this CPU's "
        "kernels favour, 16 with AVX-512, 8 with AVX2; 1: closest to the share)",
        min=1,
    )
    rounds: int | None = option(None, "iterative pruning rounds", min=1)
    prune_epochs: float | None = option(None, "masked retraining epochs per round")
    share_epochs: float | None = option(None, "centroid fine-tuning epochs")
    lr: float | None = option(None, "masked retraining learning rate")
    share_lr: float | None = option(None, "centroid fine-tuning learning rate")
    batch_size: int | None = option(None, "fine-tuning batch size", min=1)
    bias_dtype: str | None = option(None, "float16 | float32")
    amp: str | None = option(None, "fine-tuning precision: auto (bf16 where native) | bf16 | none")
    augment: str | None = option(
        None, "fine-tuning augmentation (default: a run folder's own, else crop-flip)"
    )
    calib_data: str | None = option(
        None,
        "unlabelled images (folder:PATH, any layout, labels ignored) to distil the "
        "codebooks toward the source model's logits on",
    )
    calib_steps: int | None = option(None, "codebook distillation steps", min=0)
    calib_lr: float | None = option(
        None, "distillation step size, relative to each layer's mean |centroid|"
    )
    codebook_digits: int | None = option(
        None, "round centroids to this many significant digits (smaller header; default exact)"
    )

    def __post_init__(self) -> None:
        self.to_config()  # a bad value fails here, before any model or data is loaded

    def to_config(self) -> CompressConfig:
        """The preset's CompressConfig with every option given (not None) applied."""
        config = CompressConfig.preset(self.preset)
        if self.sparsity is not None:
            rules = SPARSITY_PRESETS.get(self.sparsity) or parse_rules(
                self.sparsity, "sparsity", float
            )
            config = dataclasses.replace(config, prune=PruneConfig(rules))
        share = config.share
        if self.bits is not None:
            bits = BITS_PRESETS.get(self.bits) or parse_rules(self.bits, "bits", int)
            share = dataclasses.replace(share, bits=bits)
        share = dataclasses.replace(
            share, **_given(bias_dtype=self.bias_dtype, codebook_digits=self.codebook_digits)
        )
        config = dataclasses.replace(config, share=share, rounds=self.rounds or config.rounds)
        if self.channels is not None:
            config = dataclasses.replace(config, channels=self.channels)
        if self.channel_multiple is not None:
            config = dataclasses.replace(config, channel_multiple=self.channel_multiple)
        both = _given(batch_size=self.batch_size, amp=self.amp, augment=self.augment)
        prune = _given(epochs=self.prune_epochs, lr=self.lr)
        share = _given(epochs=self.share_epochs, lr=self.share_lr)
        # The shared options tune the phases that run; only a phase's own options switch on a
        # phase the preset leaves off (lossless has none: an inferred --augment must not).
        config = config.with_finetune(
            prune={**prune, **both} if prune or config.prune_finetune else None,
            share={**share, **both} if share or config.share_finetune else None,
        )
        calibration = _given(steps=self.calib_steps, lr=self.calib_lr)
        if calibration:  # a preset without calibration gets one
            calibration = dataclasses.replace(config.calibration or CalibConfig(), **calibration)
            config = dataclasses.replace(config, calibration=calibration)
        return config


def _given(**options: Any) -> dict[str, Any]:
    """The options that were set (not None)."""
    return {k: v for k, v in options.items() if v is not None}


def _trained_augment(source: Path) -> str | None:
    """The augmentation a run folder was trained with (its config.json), else None."""
    if not (source / "config.json").is_file():  # a weights file: no training record
        return None
    return load_run_config(source).augment


SOURCE = Param(
    "source",
    str,
    "run folder, .safetensors, or torchvision-layout .pth",
    default=REQUIRED,
    argument=True,
)


@config_command(
    "compress",
    CompressOptions,
    params=[SOURCE, THREADS, JSON.with_help("print the report as JSON")],
)
def compress_command(
    options: CompressOptions, source: str, threads: int | None, as_json: bool
) -> None:
    """Prune, share weights and Huffman-code a model into a .sqz file, with a size and
    accuracy report."""
    # Retraining a model with other augmentation than it learned with costs accuracy (the demo
    # model, trained with flips: 92.08% after compression with flips, 91.38% with crops).
    if options.augment is None:
        augment = _trained_augment(Path(source))
        if augment and not as_json:
            console.print(
                f"fine-tuning augmentation: {augment}, as {source} was trained", highlight=False
            )
        options = dataclasses.replace(options, augment=augment)
    out_path, report_path = _paths(source, options.out, options.report)
    model = load_model(source)
    pre = preprocessing_for(model)
    train = test = None
    if options.data is not None:
        train, test = (
            load_dataset_for_model(options.data, split, pre, data_dir=options.data_dir)
            for split in ("train", "test")
        )
    calib = None
    if options.calib_data is not None:
        calib = load_calibration_images(options.calib_data, pre)
    log = None if as_json else (lambda msg: console.print(msg, highlight=False))
    outcome = compress_to_file(
        model,
        out_path,
        train=train,
        test=test,
        config=options.to_config(),
        calib_images=calib,
        report_path=report_path,
        log=log,
    )
    result = outcome.report
    if result.channels is not None:  # channels go for speed: measure it, into the report
        result.channels["latency"] = latency_change(fold_batch_norm(model), outcome.model)
        result.save(outcome.report_path)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    console.print(compression_table(result))
    console.print(
        f"wrote {outcome.sqz_path} ({result.sqz_bytes:,} bytes) and {outcome.report_path}",
        highlight=False,
    )


def _paths(source: str, out: str | None, report: str | None) -> tuple[Path, Path]:
    """The .sqz file and the report JSON, refusing either overwriting the source or each other."""
    out_path = Path(out) if out else _default_out(Path(source))
    report_path = Path(report) if report else out_path.with_suffix(".json")
    if out_path.resolve() == Path(source).resolve():
        raise ValueError(f"compressing {source} would overwrite it; pass --out")
    for other in (out_path, Path(source)):
        if report_path.resolve() == other.resolve():
            raise ValueError(f"the report would overwrite {other}; pass another --report")
    return out_path, report_path


@config_command(
    "sqz-info",
    None,
    params=[Param("path", str, "a .sqz file", default=REQUIRED, argument=True), JSON],
)
def sqz_info_command(path: str, as_json: bool) -> None:
    """Per-layer sizes of a .sqz file: density, bits, codebook, index and position bytes."""
    start = time.perf_counter()
    data = read_sqz_bytes(path)  # explains a file that is missing, a folder or not .sqz
    try:
        model = decode_model(data)
    except SqzFormatError as e:
        raise SqzFormatError(f"{path}: {e}") from None
    result = build_report(model, data, decode_seconds=time.perf_counter() - start, path=str(path))
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        console.print(compression_table(result))
