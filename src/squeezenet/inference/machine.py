"""What a benchmark ran on: CPU, versions, thread settings, and the machine's sgemm rate."""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..hardware import cpu_flags


def machine_info(threads: int) -> dict[str, Any]:
    """What the numbers were measured on."""

    def version(dist: str) -> str | None:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "cpu": _cpu_name(),
        # The vector and matrix extensions: what decides the fast INT8 format (VNNI or not).
        "cpu_flags": sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma"))),
        "logical_cpus": os.cpu_count(),
        "threads": threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": version("onnxruntime"),
        "openvino": version("openvino"),
        "load_average_1m_at_start": load,
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure_sgemm(threads: int | None = None, size: int = 2048, repeats: int = 5) -> float:
    """The median GFLOP/s of a `size` x `size` float32 matmul at `threads` threads."""
    with torch_threads(threads or torch.get_num_threads()):
        fn, flops = sgemm_task(size)
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return flops / statistics.median(times) / 1e9


def sgemm_task(size: int) -> tuple[Callable[[], object], float]:
    """A `size` x `size` float32 matmul in PyTorch (into a preallocated output), and its FLOPs."""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(size, size, generator=gen), torch.randn(size, size, generator=gen)
    out = torch.empty(size, size)
    return (lambda: torch.mm(a, b, out=out)), 2.0 * size**3


def mlas_sgemm_task(size: int, threads: int) -> Callable[[], object] | None:
    """The same matmul in onnxruntime (its MLAS kernels), or None without onnxruntime.

    PyTorch's sgemm is Intel MKL's, which may not use a CPU's widest vector units on other
    vendors' chips; onnxruntime's own sgemm shows how much of the gap that explains.
    """
    try:
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return None
    rng = np.random.default_rng(0)
    b = numpy_helper.from_array(rng.standard_normal((size, size), dtype=np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["y"])],
        "sgemm",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [size, size])],
        [b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(
        onnx.shape_inference.infer_shapes(model).SerializeToString(),
        options,
        providers=["CPUExecutionProvider"],
    )
    a = rng.standard_normal((size, size), dtype=np.float32)
    return lambda: session.run(None, {"a": a})


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Set PyTorch's intra-op thread count for a block, restoring it afterwards."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)
