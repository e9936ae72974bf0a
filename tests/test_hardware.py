"""Precision chosen by the hardware: `amp="auto"` is bf16 only where it runs natively."""

from __future__ import annotations

import pytest
import torch

from squeezenet import hardware
from squeezenet.hardware import SlowPrecisionWarning, native_bf16, resolve_amp


def _cpu(monkeypatch, *, onednn: bool, flags: set[str]) -> None:
    monkeypatch.setattr(hardware, "_onednn_bf16", lambda: onednn)
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset(flags))


def test_auto_is_fp32_without_native_bf16(monkeypatch) -> None:
    _cpu(monkeypatch, onednn=False, flags={"avx2", "fma"})
    precision = resolve_amp("auto", "cpu")
    assert precision.amp == "none" and not precision.autocast
    assert precision.reason.startswith("auto:") and "no native bf16" in precision.reason


def test_auto_is_bf16_with_native_bf16(monkeypatch) -> None:
    _cpu(monkeypatch, onednn=True, flags={"avx2", "avx512f", "avx512_bf16"})
    precision = resolve_amp("auto", "cpu")
    assert precision.amp == "bf16" and precision.autocast
    assert "avx512_bf16" in precision.reason


def test_onednn_alone_is_not_native(monkeypatch) -> None:
    # oneDNN also offers bf16 kernels on AVX-512 CPUs that only emulate bf16 (Skylake).
    _cpu(monkeypatch, onednn=True, flags={"avx2", "avx512f", "avx512bw"})
    assert native_bf16("cpu")[0] is False
    assert resolve_amp("auto", "cpu").amp == "none"


def test_explicit_bf16_runs_but_warns_where_emulated(monkeypatch) -> None:
    _cpu(monkeypatch, onednn=False, flags={"avx2"})
    with pytest.warns(SlowPrecisionWarning, match="several times slower"):
        assert resolve_amp("bf16", "cpu").amp == "bf16"


def test_explicit_choices_are_kept_and_typos_refused(monkeypatch) -> None:
    _cpu(monkeypatch, onednn=True, flags={"amx_bf16"})
    assert resolve_amp("none", "cpu").amp == "none"
    assert resolve_amp("bf16", "cpu").amp == "bf16"
    with pytest.raises(ValueError, match="invalid amp 'fp16'; choose one of"):
        resolve_amp("fp16", "cpu")


def test_keep_freed_memory_is_harmless_to_call_twice() -> None:
    first, second = hardware.keep_freed_memory(), hardware.keep_freed_memory()
    assert first == second
    assert torch.ones(1 << 20).sum().item() == 1 << 20  # allocation still works


@pytest.mark.parametrize(
    ("flags", "multiple"),
    [
        ({"avx2", "avx512f", "avx512_vnni"}, 16),
        ({"avx", "avx2", "fma"}, 8),
        ({"fp", "asimd", "bf16"}, 4),
        (set(), 1),
    ],
)
def test_channel_multiple_follows_the_vector_width(monkeypatch, flags, multiple) -> None:
    _cpu(monkeypatch, onednn=False, flags=flags)
    chosen, why = hardware.channel_multiple()
    assert chosen == multiple and why
