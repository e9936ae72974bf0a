"""Deep Compression for SqueezeNet: pruning, k-means weight sharing, Huffman coding, `.sqz`.

torchao style: a compression step is a frozen config plus an in-place transform::

    model, _ = prune_channels(model, 0.5)             # whole channels: half the MACs
    prune_(model, PruneConfig.preset("paper"))        # masks, exact per-layer sparsity
    share_weights_(model, ShareConfig(bits=(("*", 6),)))  # codebooks, trainable centroids
    finalize_(model)                                   # a plain SqueezeNet again
    save_sqz(model, "model.sqz")                       # entropy-coded file
    squeezenet.load_model("model.sqz")                 # decodes it

or all of it, with retraining and a report: `compress_model(model, train, test, config)`.
"""

from .channels import ChannelReport, apply_channels, plan_channels, prune_channels
from .finetune import FinetuneConfig, finetune_
from .fold import bn_scales, fold_batch_norm, fold_pruned
from .format import (
    FORMAT_VERSION,
    LayerEncoding,
    SqzFormatError,
    decode_model,
    encode_model,
    layer_encodings,
    load_sqz,
    save_sqz,
)
from .layers import CompressError, conv_layers, paper_names
from .pipeline import PRESETS, CompressConfig, CompressOutcome, compress_model, compress_to_file
from .prune import (
    SPARSITY_PRESETS,
    PruneConfig,
    apply_masks_,
    magnitude_mask,
    masks_of,
    prune_,
    sparsity_of,
)
from .quantize import BITS_PRESETS, ShareConfig, codebooks_of, finalize_, kmeans_1d, share_weights_
from .report import CompressionReport, LayerReport, build_report

__all__ = [
    "BITS_PRESETS",
    "FORMAT_VERSION",
    "PRESETS",
    "SPARSITY_PRESETS",
    "ChannelReport",
    "CompressConfig",
    "CompressError",
    "CompressOutcome",
    "CompressionReport",
    "FinetuneConfig",
    "LayerEncoding",
    "LayerReport",
    "PruneConfig",
    "ShareConfig",
    "SqzFormatError",
    "apply_channels",
    "apply_masks_",
    "bn_scales",
    "build_report",
    "codebooks_of",
    "compress_model",
    "compress_to_file",
    "conv_layers",
    "decode_model",
    "encode_model",
    "finalize_",
    "finetune_",
    "fold_batch_norm",
    "fold_pruned",
    "kmeans_1d",
    "layer_encodings",
    "load_sqz",
    "magnitude_mask",
    "masks_of",
    "paper_names",
    "plan_channels",
    "prune_",
    "prune_channels",
    "save_sqz",
    "share_weights_",
    "sparsity_of",
]
