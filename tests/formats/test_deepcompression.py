"""The authors' Deep Compression `.net` decoder: generated files, the real file, broken files."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import squeezenet
from squeezenet.errors import CheckpointError, FormatError
from squeezenet.formats import DEEP_COMPRESSION_CONFIG, decode_net, read_net
from squeezenet.formats.deepcompression import conv_layers
from squeezenet.models import from_metaparameters

from ..conftest import FIXTURES
from ..helpers import run_cli

REAL_NET = FIXTURES / "imagenet" / "compressed_SqueezeNet.net"
# sha256 over the decoded state_dict: for each key in sorted order, the key's UTF-8 bytes then
# the tensor's float32 little-endian bytes (`_state_sha256`). Computed once from this decoder
# and checked bit for bit against an independent pure-Python decoder of the README's layout.
REAL_SHA256 = "b910a94911c01a416d781baa6c0c4fd094e2f8e87f53a12d9ae76c51841f261a"
TINY = from_metaparameters(base_e=16, incr_e=16, sr=0.25, num_classes=10, classifier_padding=1)


def _state_sha256(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].numpy().astype("<f4").tobytes())
    return h.hexdigest()


def encode_net(layers: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> bytes:
    """A `.net` file of (weight, bias, 256-entry codebook) per conv, every weight a codebook
    value; runs of more than 15 zeros bridged by filler entries (code 0), as the authors do."""
    counts, body = [], b""
    for weight, bias, codebook in layers:
        code_of = {float(v): i for i, v in enumerate(codebook)}
        gaps, codes, prev = [], [], -1
        flat = weight.reshape(-1)
        for pos in np.flatnonzero(flat).tolist():
            gap = pos - prev - 1
            while gap > 15:
                gaps.append(15)
                codes.append(0)
                gap -= 16
            gaps.append(gap)
            codes.append(code_of[float(flat[pos])])
            prev = pos
        nibbles = gaps + [0] * (len(gaps) % 2)
        packed = bytes(lo | hi << 4 for lo, hi in zip(nibbles[0::2], nibbles[1::2]))
        counts.append(len(codes))
        body += codebook.astype("<f4").tobytes() + bias.astype("<f4").tobytes()
        body += bytes(codes) + packed
    return struct.pack(f"<{len(counts)}I", *counts) + body


def _random_layers(config, density: float = 0.3, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    layers = []
    for _, shape in conv_layers(config):
        codebook = np.concatenate([[0.0], rng.normal(0, 0.1, 255)]).astype(np.float32)
        codes = rng.integers(1, 256, size=shape)
        weight = np.where(rng.random(shape) < density, codebook[codes], 0).astype(np.float32)
        weight.reshape(-1)[-1] = codebook[7]  # the last position is reachable
        layers.append((weight, rng.normal(0, 0.1, shape[0]).astype(np.float32), codebook))
    return layers


def test_generated_file_decodes_exactly_with_fillers() -> None:
    layers = _random_layers(TINY, density=0.03)  # sparse enough for many gaps over 15
    data = encode_net(layers)
    state = decode_net(data, TINY)
    names = [name for name, _ in conv_layers(TINY)]
    for name, (weight, bias, _) in zip(names, layers):
        assert torch.equal(state[f"{name}.weight"], torch.from_numpy(weight))
        assert torch.equal(state[f"{name}.bias"], torch.from_numpy(bias))
    stored = struct.unpack(f"<{len(names)}I", data[: 4 * len(names)])
    nonzero = sum(int(np.count_nonzero(w)) for w, _, _ in layers)
    assert sum(stored) > nonzero  # fillers were needed and decoded as zeros


def test_real_file_is_bit_exact_squeezenet_1_0_with_imagenet_meta() -> None:
    model = squeezenet.load_model(REAL_NET)
    state = model.state_dict()
    assert model.config == DEEP_COMPRESSION_CONFIG and model.config.classifier_padding == 1
    assert sum(t.numel() for t in state.values()) == 1_248_424
    nonzero = sum(int(t.count_nonzero()) for k, t in state.items() if k.endswith(".weight"))
    assert nonzero == 415_921
    assert _state_sha256(state) == REAL_SHA256
    meta = model.meta
    assert meta.class_names[281] == "tabby" and meta.wnids[281] == "n02123045"
    pre = meta.preprocessing
    assert (pre.channel_order, pre.scale) == ("BGR", "0-255")
    assert (pre.mean, pre.std) == ((104, 117, 123), (1, 1, 1))
    assert (pre.input_size, pre.resize_size, pre.resize_mode) == (227, 256, "warp")
    assert meta.provenance.source == "compressed_SqueezeNet.net"
    assert "BSD" in meta.provenance.license


def test_load_model_refuses_overrides_for_a_net_file() -> None:
    with pytest.raises(CheckpointError, match="stores its architecture"):
        squeezenet.load_model(REAL_NET, num_classes=10)


def _broken(data: bytes) -> list[tuple[str, bytes, str]]:
    huge_count = struct.pack("<I", 0xFFFFFFFF) + data[4:]
    n0 = struct.unpack("<I", data[:4])[0]
    nan_codebook = bytearray(data)
    nan_codebook[4 * 26 : 4 * 26 + 4] = struct.pack("<f", float("nan"))
    # conv1's last gap byte set to 15|15: its positions now run past its 14,112 weights.
    past_end = bytearray(data)
    conv1_gaps_end = 4 * 26 + 4 * (256 + 96) + n0 + (n0 + 1) // 2
    past_end[conv1_gaps_end - 200 : conv1_gaps_end] = b"\xff" * 200
    return [
        ("truncated", data[:-1], "truncated or corrupt"),
        ("extra byte", data + b"\0", "truncated or corrupt"),
        ("header only", data[:10], "shorter than the 104-byte header"),
        ("empty", b"", "shorter than the 104-byte header"),
        ("huge count", huge_count, "more than its 14112"),
        ("nan codebook", bytes(nan_codebook), "non-finite"),
        ("positions past the end", bytes(past_end), "past its 14112 weights"),
    ]


@pytest.mark.parametrize("case", range(7))
def test_broken_files_give_a_one_line_format_error(tmp_path: Path, case: int) -> None:
    name, data, message = _broken(REAL_NET.read_bytes())[case]
    path = tmp_path / "broken.net"
    path.write_bytes(data)
    with pytest.raises(FormatError, match=message) as info:
        squeezenet.load_model(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value), name


def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.net"
    with path.open("wb") as f:
        f.truncate(2**31)  # sparse: costs no disk, and must not be read
    with pytest.raises(FormatError, match="over the .*-byte limit for a .net file"):
        read_net(path)


def test_cli_predict_names_imagenet_classes(tmp_path: Path, capsys) -> None:
    image = tmp_path / "grey.png"
    Image.new("RGB", (300, 240), (120, 110, 100)).save(image)
    code, out, err = run_cli(capsys, "predict", REAL_NET, image, "--json", "--topk", "3")
    assert code == 0, err
    labels = [p["label"] for p in json.loads(out)["results"][0]["predictions"]]
    names = set(squeezenet.imagenet.imagenet_classes().names)
    assert len(labels) == 3 and set(labels) <= names
