"""What this machine runs fast: native bfloat16 or not, the channel counts its vector
kernels favour, and a faster allocator setting.

Bottom layer: imports nothing of the package. Training, compression retraining and the demo
ask `resolve_amp("auto", device)` instead of hard-coding a precision, because the same
setting is ~1.7x faster on a CPU with native bf16 (AVX512-BF16, AMX) and ~7x *slower* on one
without (AVX2: bf16 is emulated by converting every tensor).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

AMP_CHOICES = ("auto", "bf16", "none")  # "none": plain float32
# CPU flags (Linux /proc/cpuinfo names) of instructions that compute in bf16 natively.
_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "avx_ne_convert", "bf16")  # "bf16": Arm (FEAT_BF16)


class SlowPrecisionWarning(UserWarning):
    """bf16 was asked for on a device that only emulates it."""


@dataclass(frozen=True)
class Precision:
    """The precision a run uses and why.

    Attributes:
        amp: the autocast choice, bf16 (autocast to bfloat16) or none (float32).
        reason: one line for the log and config.json, e.g. "auto: CPU has avx512_bf16".
    """

    amp: str
    reason: str

    @property
    def autocast(self) -> bool:
        return self.amp == "bf16"

    def to_dict(self) -> dict[str, str]:
        return {"amp": self.amp, "reason": self.reason}


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    return _cpu_flags()


@cache
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86, Arm
            return frozenset(value.split())
    return frozenset()


def native_bf16(device: torch.device | str = "cpu") -> tuple[bool, str]:
    """Whether `device` computes bf16 natively, and the evidence in a few words.

    On CPU both must hold: oneDNN offers bf16 kernels (it honours ONEDNN_MAX_CPU_ISA, so a
    capped ISA counts as the CPU it emulates) and the CPU has a bf16 instruction; oneDNN
    alone also says yes on AVX-512 CPUs that only emulate bf16.
    """
    device = torch.device(device)
    if device.type == "cuda":
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
        return ok, f"CUDA device {'has' if ok else 'lacks'} native bf16"
    if device.type != "cpu":
        return False, f"{device.type}: bf16 support not probed"
    isa = torch.backends.cpu.get_cpu_capability()
    if not _onednn_bf16():
        return False, f"CPU ({isa}) has no native bf16"
    found = sorted(set(_BF16_FLAGS) & cpu_flags())
    if not found:
        return False, f"CPU ({isa}) has no native bf16 instruction (avx512_bf16, amx_bf16)"
    return True, f"CPU ({isa}) has {', '.join(found)}"


def _onednn_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN, or a renamed probe
        return False


def resolve_amp(amp: str, device: torch.device | str = "cpu") -> Precision:
    """The precision to run `amp` ("auto" | "bf16" | "none") at on `device`.

    "auto" picks bf16 only where the device runs it natively, float32 otherwise. An explicit
    "bf16" is honoured, with a `SlowPrecisionWarning` where it is only emulated.
    """
    if amp not in AMP_CHOICES:
        raise ValueError(f"invalid amp {amp!r}; choose one of {AMP_CHOICES}")
    if amp == "none":
        return Precision("none", "float32 (--amp none)")
    native, why = native_bf16(device)
    if amp == "bf16":
        if not native:
            warnings.warn(
                f"bf16 autocast asked for, but {why}: it will run several times slower "
                "than float32 (use --amp auto)",
                SlowPrecisionWarning,
                stacklevel=2,
            )
        return Precision("bf16", f"bf16 (--amp bf16; {why})")
    return Precision("bf16" if native else "none", f"auto: {why}")


def channel_multiple() -> tuple[int, str]:
    """The channel-count granularity this CPU's float32 kernels run fastest at, and why.

    GEMM and convolution kernels (onnxruntime's MLAS, oneDNN) work in whole vector registers
    of output channels, so a count that is not a multiple of the register width pays for the
    full one. Measured on the channel-pruned demo model with onnxruntime (Zen 4, batch 32):
    any counts 0.98x the dense model's latency, multiples of 8 0.64x, of 16 0.50x.
    """
    flags = cpu_flags()
    if "avx512f" in flags:
        return 16, "CPU has avx512f (16 float32 lanes)"
    if "avx2" in flags or "avx" in flags:
        return 8, "CPU has avx2 (8 float32 lanes)"
    if "asimd" in flags:  # not measured on Arm: the register width is the safe granularity
        return 4, "CPU has asimd (Arm NEON, 4 float32 lanes)"
    return 1, "no known vector width: channel counts closest to the requested share"


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks instead of returning them to the kernel.

    By default every tensor over ~128 KB is mmap'ed on allocation and unmapped when freed, so
    each training step page-faults its activations in again: a step of the demo model ran
    1.28x faster (CPU time, 1 thread) with this. The heap then stays at its peak size, the
    usual trade of jemalloc/tcmalloc set-ups. Returns False where malloc is not glibc's.
    """
    if platform.system() != "Linux":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    ok = mallopt(m_mmap_threshold, 1 << 30) == 1  # glibc caps this at 32 MiB on 64-bit
    if not ok:
        ok = mallopt(m_mmap_threshold, 32 << 20) == 1
    return ok and mallopt(m_trim_threshold, 1 << 30) == 1 and mallopt(m_top_pad, 64 << 20) == 1
