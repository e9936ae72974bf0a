"""A tiny protobuf writer of Caffe NetParameter files, for tests only.

It writes a SqueezeNet the way Caffe lays one out (data layer, conv1, relu, pool1, the Fire
modules' convs, relus and concats, pools, dropout, conv10, relu, global average pool, softmax),
in the current `layer` form or the legacy V1 `layers` form, with blobs shaped by `shape` or by
num/channels/height/width, their data packed or not.
"""

from __future__ import annotations

import struct

import numpy as np

from squeezenet.models import SqueezeNet

_V1_TYPE = {
    "Convolution": 4,
    "Pooling": 17,
    "ReLU": 18,
    "Concat": 3,
    "Dropout": 6,
    "Softmax": 20,
    "Data": 5,
}


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative ints as protobuf writes them: 10 bytes of two's complement
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def field_int(number: int, value: int) -> bytes:
    return key(number, 0) + varint(value)


def field_bytes(number: int, payload: bytes) -> bytes:
    return key(number, 2) + varint(len(payload)) + payload


def blob(array: np.ndarray, *, legacy: bool = False, packed: bool = True) -> bytes:
    """A BlobProto holding `array` as float32."""
    if legacy:  # num, channels, height, width, a 1-D bias as (1, 1, 1, n)
        dims = (1,) * (4 - array.ndim) + array.shape
        out = b"".join(field_int(i + 1, d) for i, d in enumerate(dims))
    else:
        out = field_bytes(7, field_bytes(1, b"".join(varint(d) for d in array.shape)))
    values = np.ascontiguousarray(array, dtype="<f4").reshape(-1)
    if packed:
        return out + field_bytes(5, values.tobytes())
    return out + b"".join(key(5, 5) + struct.pack("<f", v) for v in values.tolist())


def conv_param(num_output: int, kernel: int, stride: int, pad: int) -> bytes:
    out = field_int(1, num_output) + field_int(4, kernel)
    if stride != 1:
        out += field_int(6, stride)
    if pad:
        out += field_int(3, pad)
    return out + field_bytes(7, field_bytes(1, b"xavier"))  # a weight_filler, to be skipped


def pool_param(*, average: bool = False) -> bytes:
    if average:
        return field_int(1, 1) + field_int(12, 1)  # AVE, global_pooling
    return field_int(1, 0) + field_int(2, 3) + field_int(3, 2)


def layer(
    name: str,
    kind: str,
    *,
    v1: bool = False,
    blobs: tuple[bytes, ...] = (),
    conv: bytes | None = None,
    pool: bytes | None = None,
) -> bytes:
    """One LayerParameter (or V1LayerParameter) message, with its NetParameter field tag."""
    if v1:
        body = field_bytes(4, name.encode()) + field_int(5, _V1_TYPE[kind])
        body += b"".join(field_bytes(6, b) for b in blobs)
        body += field_bytes(10, conv) if conv is not None else b""
        body += field_bytes(19, pool) if pool is not None else b""
        return field_bytes(2, body)
    body = field_bytes(1, name.encode()) + field_bytes(2, kind.encode())
    body += field_bytes(3, b"bottom") + field_bytes(4, name.encode())  # bottom/top: skipped
    body += b"".join(field_bytes(7, b) for b in blobs)
    body += field_bytes(106, conv) if conv is not None else b""
    body += field_bytes(121, pool) if pool is not None else b""
    return field_bytes(100, body)


def squeezenet_caffemodel(
    model: SqueezeNet,
    *,
    v1: bool = False,
    legacy_blobs: bool = False,
    packed: bool = True,
    deep_compression_names: bool = False,
    name: str = "SqueezeNet",
) -> bytes:
    """`model` as a Caffe NetParameter's bytes, its layers named as DeepScale's release names
    them (or as the Deep Compression prototxt does)."""
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    opts = {"v1": v1}

    def conv(caffe_name: str, path: str, kernel: int, stride: int, pad: int) -> bytes:
        w, b = sd[f"{path}.weight"], sd[f"{path}.bias"]
        blobs = tuple(blob(x, legacy=legacy_blobs, packed=packed) for x in (w, b))
        return layer(
            caffe_name,
            "Convolution",
            blobs=blobs,
            conv=conv_param(w.shape[0], kernel, stride, pad),
            **opts,
        )

    roles = (
        ("conv1x1_1", "conv1x1_2", "conv3x3_2")
        if deep_compression_names
        else ("squeeze1x1", "expand1x1", "expand3x3")
    )
    paths = model.layer_names()
    kernel, stride, pad = model.config.stem_geometry
    out = field_bytes(1, name.encode()) + layer("data", "Data", **opts)
    out += conv("conv1", "features.0", kernel, stride, pad) + layer("relu_conv1", "ReLU", **opts)
    out += layer("pool1", "Pooling", pool=pool_param(), **opts)
    for i in range(len(model.config.fires)):
        fire = f"fire{i + 2}"
        for role, ours, (k, p) in zip(
            roles, ("squeeze", "expand1x1", "expand3x3"), ((1, 0), (1, 0), (3, 1))
        ):
            out += conv(f"{fire}/{role}", f"{paths[fire]}.{ours}", k, 1, p)
            out += layer(f"{fire}/relu_{role}", "ReLU", **opts)
        out += layer(f"{fire}/concat", "Concat", **opts)
        if i in model.config.pool_after:
            out += layer(f"pool{i + 2}", "Pooling", pool=pool_param(), **opts)
    out += layer("drop9", "Dropout", **opts)
    head = f"conv{len(model.config.fires) + 2}"
    out += conv(head, "classifier.1", 1, 1, model.config.classifier_padding)
    out += layer(f"relu_{head}", "ReLU", **opts)
    average = pool_param(average=True)
    out += layer(f"pool{len(model.config.fires) + 2}", "Pooling", pool=average, **opts)
    return out + layer("prob", "Softmax", **opts)
