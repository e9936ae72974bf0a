"""Caffe `.caffemodel` files (a NetParameter protobuf) of SqueezeNet -> our SqueezeNet.

Reads the DeepScale releases (`squeezenet_v1.0.caffemodel`, `squeezenet_v1.1.caffemodel`) and
any Caffe SqueezeNet laid out the same way: the current `layer` field (LayerParameter) or the
legacy `layers` field (V1LayerParameter), blobs shaped by `shape` or by the legacy
num/channels/height/width. The architecture comes from the file: Fire sizes from the blob
shapes, max-pool positions from the layer order, conv10's padding from its parameters (1 in
v1.0). Every conv's and pool's geometry is checked against what our SqueezeNet computes, so a
file that would silently give other logits is refused. Layer names map onto our keys:
`conv1`, `fireN/squeeze1x1|expand1x1|expand3x3` (or the Deep Compression prototxt's
`fireN/conv1x1_1|conv1x1_2|conv3x3_2`), and the last conv (`conv10`) is the classifier.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import FormatError
from ..files import FileLimitError, read_regular
from ..meta import Provenance
from ..models import FireConfig, SqueezeNet, SqueezeNetConfig
from . import protowire as pw
from .common import caffe_imagenet_meta, load_exact

# SqueezeNet's caffemodels are about 5 MB; anything far larger is not one.
MAX_CAFFEMODEL_BYTES = 64 * 2**20
# Field numbers in caffe.proto: NetParameter, LayerParameter (V2), V1LayerParameter.
_NET_NAME, _NET_V1_LAYERS, _NET_LAYER = 1, 2, 100
_V2 = {"name": 1, "type": 2, "blobs": 7, "conv": 106, "pool": 121}
_V1 = {"name": 4, "type": 5, "blobs": 6, "conv": 10, "pool": 19}
_V1_TYPES = {4: "Convolution", 17: "Pooling"}  # V1LayerParameter.LayerType, the two we need
# ConvolutionParameter / PoolingParameter: (single, _h, _w) field numbers of each geometry.
_CONV_FIELDS = {"kernel": (4, 11, 12), "stride": (6, 13, 14), "pad": (3, 9, 10)}
_POOL_FIELDS = {"kernel": (2, 5, 6), "stride": (3, 7, 8), "pad": (4, 9, 10)}
_CONV_GROUP, _CONV_DILATION = 5, 18
_POOL_METHOD, _POOL_GLOBAL, _POOL_ROUND = 1, 12, 13  # method 0 = MAX; round 0 = CEIL
_FIRE = re.compile(
    r"^(?P<fire>.+)/(?P<role>squeeze1x1|expand1x1|expand3x3|conv1x1_[12]|conv3x3_2)$"
)
_FIRE_ROLES = ("squeeze", "expand1x1", "expand3x3")  # FireConfig's argument order
_ROLES = {
    "squeeze1x1": "squeeze",
    "conv1x1_1": "squeeze",
    "expand1x1": "expand1x1",
    "conv1x1_2": "expand1x1",
    "expand3x3": "expand3x3",
    "conv3x3_2": "expand3x3",
}


@dataclass(frozen=True)
class Geometry:
    """A conv's or pool's parameters, Caffe's defaults where the file gives none."""

    kernel: tuple[int, int] | None = None  # a conv's comes from its weight blob
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (0, 0)
    group: int = 1
    dilation: tuple[int, ...] = (1,)
    pool_method: int = 0  # 0 MAX, 1 AVE
    global_pool: bool = False
    round_mode: int = 0  # 0 CEIL (Caffe's default), 1 FLOOR


@dataclass
class CaffeLayer:
    """The parts of one Caffe layer that a SqueezeNet needs."""

    name: str
    kind: str  # Caffe's type name: "Convolution", "Pooling", ...; other V1 enums: "V1:<n>"
    blobs: list[np.ndarray] = field(default_factory=list)  # float32, shaped as stored
    geometry: Geometry = Geometry()


def parse_caffemodel(data: bytes) -> tuple[str, list[CaffeLayer]]:
    """The net's name and its layers, in file order, from a NetParameter's bytes."""
    buf = memoryview(data)
    name, v2, v1 = "", [], []
    for number, wire, value in pw.fields(buf):
        if number == _NET_NAME and wire == pw.LENGTH:
            name = pw.to_text(value, wire)
        elif number == _NET_LAYER and wire == pw.LENGTH:
            v2.append(_parse_layer(pw.message(value, wire), _V2))
        elif number == _NET_V1_LAYERS and wire == pw.LENGTH:
            v1.append(_parse_layer(pw.message(value, wire), _V1))
    if v1 and v2:
        raise FormatError("both 'layer' and legacy 'layers' fields: Caffe itself refuses that")
    if not (v1 or v2):
        raise FormatError("no layers: not a Caffe NetParameter")
    return name, v2 or v1


def _parse_layer(buf: memoryview, numbers: dict[str, int]) -> CaffeLayer:
    layer = CaffeLayer(name="", kind="")
    for number, wire, value in pw.fields(buf):
        if number == numbers["name"]:
            layer.name = pw.to_text(value, wire)
        elif number == numbers["type"]:
            if numbers is _V1:
                code = pw.to_int(value, wire)
                layer.kind = _V1_TYPES.get(code, f"V1:{code}")
            else:
                layer.kind = pw.to_text(value, wire)
        elif number == numbers["blobs"] and wire == pw.LENGTH:
            layer.blobs.append(_parse_blob(pw.message(value, wire)))
        elif number == numbers["conv"] and wire == pw.LENGTH:
            layer.geometry = _geometry(pw.message(value, wire), _CONV_FIELDS)
        elif number == numbers["pool"] and wire == pw.LENGTH:
            layer.geometry = _geometry(pw.message(value, wire), _POOL_FIELDS, pool=True)
    return layer


def _parse_blob(buf: memoryview) -> np.ndarray:
    """A BlobProto's float values, shaped; the count is checked against the shape first."""
    legacy: dict[int, int] = {}
    dims: list[int] = []
    chunks: list[np.ndarray] = []
    for number, wire, value in pw.fields(buf):
        if number in (1, 2, 3, 4) and wire != pw.LENGTH:  # num, channels, height, width
            legacy[number] = pw.to_int(value, wire)
        elif number == 5:  # data (packed float)
            chunks.append(pw.floats(value, wire, "<f4"))
        elif number == 8:  # double_data
            chunks.append(pw.floats(value, wire, "<f8"))
        elif number == 7 and wire == pw.LENGTH:  # shape: BlobShape { repeated int64 dim = 1 }
            for n, w, v in pw.fields(pw.message(value, wire)):
                if n == 1:
                    dims.extend(pw.packed_varints(v, w))
    if not dims and legacy:
        dims = [legacy.get(i, 0) for i in (1, 2, 3, 4)]
    count = sum(len(c) for c in chunks)
    expected = 1
    for d in dims:
        expected *= d  # Python ints: a corrupt huge dim cannot overflow
        if expected > count:  # and a long list of them costs nothing more
            break
    if not dims or count != expected:
        raise FormatError(f"a blob of shape {tuple(dims)} holds {count} values")
    values = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    if not np.isfinite(values).all():
        raise FormatError("a blob holds non-finite values: corrupt file")
    return values.astype(np.float32).reshape(dims)


def _geometry(buf: memoryview, numbers: dict, pool: bool = False) -> Geometry:
    """A ConvolutionParameter's or PoolingParameter's geometry."""
    packable = () if pool else (3, 4, 6, _CONV_DILATION)  # a conv's repeated geometry fields
    ints: dict[int, list[int]] = {}
    for number, wire, value in pw.fields(buf):
        if wire == pw.VARINT or (wire == pw.LENGTH and number in packable):
            ints.setdefault(number, []).extend(pw.packed_varints(value, wire))
    pairs: dict[str, tuple[int, int]] = {}
    for name, (single, h, w) in numbers.items():
        if h in ints or w in ints:  # kernel_h/kernel_w, ...: a missing one is 0, as in Caffe
            pairs[name] = (ints.get(h, [0])[-1], ints.get(w, [0])[-1])
        elif single in ints:
            values = ints[single]
            if len(values) > 2:
                raise FormatError(f"{name} {values}: only 2-D layers are supported")
            pairs[name] = (values[0], values[-1])
    last = {number: values[-1] for number, values in ints.items() if values}
    if pool:
        return Geometry(
            **pairs,
            pool_method=last.get(_POOL_METHOD, 0),
            global_pool=bool(last.get(_POOL_GLOBAL, 0)),
            round_mode=last.get(_POOL_ROUND, 0),
        )
    return Geometry(
        **pairs, group=last.get(_CONV_GROUP, 1), dilation=tuple(ints.get(_CONV_DILATION, [1]))
    )


def read_caffemodel(path: str | os.PathLike) -> SqueezeNet:
    """Load a Caffe SqueezeNet `.caffemodel` as an eval-mode SqueezeNet carrying its metadata
    (Caffe preprocessing, ImageNet class names for 1000 classes, provenance).

    Raises:
        FormatError: the file is too large, truncated, corrupt, or not a SqueezeNet whose
            layers our network reproduces (named in the message).
    """
    path = Path(path)
    try:  # from fstat, before a byte is read: /dev/zero or a FIFO must not hang us
        data = read_regular(path, MAX_CAFFEMODEL_BYTES, "Caffe SqueezeNet .caffemodel")
    except FileLimitError as e:
        raise FormatError(str(e)) from None
    try:
        net_name, layers = parse_caffemodel(data)
        config, convs = caffe_squeezenet(layers)
    except FormatError as e:
        raise FormatError(f"{path}: not a readable Caffe SqueezeNet: {e}") from None
    model = SqueezeNet(config)
    paths = model.layer_names()
    state = {}
    for (paper_name, role), layer in convs.items():
        key = paths[paper_name] + (f".{role}" if role else "")
        state[f"{key}.weight"] = torch.from_numpy(layer.blobs[0])
        state[f"{key}.bias"] = torch.from_numpy(layer.blobs[1].reshape(-1))
    load_exact(model, state, path)
    source = f"Caffe model {net_name!r}" if net_name else "Caffe model"
    provenance = Provenance(source=path.name, notes=f"imported from {source}")
    model.meta = caffe_imagenet_meta(config, provenance)
    return model.eval()


def caffe_squeezenet(
    layers: list[CaffeLayer],
) -> tuple[SqueezeNetConfig, dict[tuple[str, str | None], CaffeLayer]]:
    """The SqueezeNet config a Caffe net's layers describe, and its convs keyed by
    (paper layer name, Fire role or None): ("conv1", None), ("fire2", "squeeze"), ..."""
    stem, fires, head, pools = _structure(layers)
    for layer in [stem, head, *(conv for fire in fires for conv in fire.values())]:
        _check_blobs(layer)
    if pools[:1] != [0]:
        raise FormatError("no max-pool right after conv1, which every SqueezeNet has")
    if any(p >= len(fires) for p in pools):
        raise FormatError("a max-pool after the last Fire module, which SqueezeNet does not have")
    head_pad = _check_conv(head, 1, 1, None)
    try:
        config = SqueezeNetConfig(
            name="squeezenet1_0" if stem.blobs[0].shape[-1] == 7 else "squeezenet1_1",
            stem_channels=stem.blobs[0].shape[0],
            stem_kernel=stem.blobs[0].shape[-1],
            fires=tuple(FireConfig(*(f[r].blobs[0].shape[0] for r in _FIRE_ROLES)) for f in fires),
            pool_after=tuple(p - 1 for p in pools[1:]),
            num_classes=head.blobs[0].shape[0],
            in_channels=stem.blobs[0].shape[1],
            classifier_padding=head_pad,
        )
    except ValueError as e:
        raise FormatError(f"its layers make no SqueezeNet: {e}") from None
    kernel, stride, pad = config.stem_geometry
    _check_conv(stem, kernel, stride, pad)
    convs = {("conv1", None): stem, (f"conv{len(fires) + 2}", None): head}
    for i, fire in enumerate(fires):
        for role, conv in fire.items():
            _check_conv(conv, *((3, 1, 1) if role == "expand3x3" else (1, 1, 0)))
            convs[(f"fire{i + 2}", role)] = conv
    return config, convs


def _structure(
    layers: list[CaffeLayer],
) -> tuple[CaffeLayer, list[dict[str, CaffeLayer]], CaffeLayer, list[int]]:
    """conv1, the Fire modules' convs by role, the classifier conv, and the number of Fire
    modules before each max-pool, from the layers in file order."""
    stem = head = None
    fires: list[dict[str, CaffeLayer]] = []
    fire_names: list[str] = []
    pools: list[int] = []
    for layer in layers:
        match = _FIRE.match(layer.name)
        if layer.kind == "Convolution" and match:
            if head is not None:
                raise FormatError(f"Fire layer {layer.name!r} after the classifier conv")
            if fire_names[-1:] != [match["fire"]]:
                fire_names.append(match["fire"])
                fires.append({})
            role = _ROLES[match["role"]]
            if role in fires[-1]:
                raise FormatError(f"two {role} convs in {match['fire']!r}")
            fires[-1][role] = layer
        elif layer.kind == "Convolution":
            if stem is None and not fires:
                stem = layer
            elif head is None and fires:
                head = layer
            else:
                raise FormatError(f"unexpected convolution layer {layer.name!r}")
        elif layer.kind == "Pooling" and not _is_global_average(layer):
            _check_max_pool(layer)
            pools.append(len(fires))
    if stem is None or head is None or not fires:
        raise FormatError("no conv1, Fire modules and classifier conv: not a SqueezeNet")
    for name, fire in zip(fire_names, fires):
        if len(fire) != 3:
            missing = sorted(set(_FIRE_ROLES) - set(fire))
            raise FormatError(f"{name!r} lacks {missing}")
    return stem, fires, head, pools


def _is_global_average(layer: CaffeLayer) -> bool:
    return layer.geometry.pool_method == 1 and layer.geometry.global_pool


def _check_max_pool(layer: CaffeLayer) -> None:
    g = layer.geometry
    got = (g.pool_method, g.kernel, g.stride, g.pad)
    if got != (0, (3, 3), (2, 2), (0, 0)) or g.global_pool or g.round_mode != 0:
        raise FormatError(
            f"pooling layer {layer.name!r} is not SqueezeNet's 3x3 stride-2 unpadded max-pool "
            f"rounding up (method, kernel, stride, pad: {got})"
        )


def _check_blobs(layer: CaffeLayer) -> None:
    if len(layer.blobs) != 2:
        raise FormatError(
            f"conv {layer.name!r} has {len(layer.blobs)} blobs, expected weight and bias"
        )
    weight, bias = layer.blobs
    if weight.ndim != 4 or weight.shape[2] != weight.shape[3] or bias.size != weight.shape[0]:
        raise FormatError(
            f"conv {layer.name!r}: weight {weight.shape} and bias {bias.shape} are not a square "
            "conv's (out, in, k, k) and (out,)"
        )


def _check_conv(layer: CaffeLayer, kernel: int, stride: int, pad: int | None) -> int:
    """Check a conv's geometry against ours; returns its padding (any square one if `pad`
    is None)."""
    g = layer.geometry
    if g.group != 1 or any(d != 1 for d in g.dilation):
        raise FormatError(f"conv {layer.name!r} is grouped or dilated; SqueezeNet's are not")
    pad = g.pad[0] if pad is None else pad
    got = {"kernel": tuple(layer.blobs[0].shape[-2:]), "stride": g.stride, "pad": g.pad}
    want = {"kernel": (kernel, kernel), "stride": (stride, stride), "pad": (pad, pad)}
    for name, value in want.items():
        if got[name] != value:
            raise FormatError(
                f"conv {layer.name!r} has {name} {got[name]}, SqueezeNet's has {value}"
            )
    return pad
