"""Every hostile file fails with its one-line error within a fixed memory budget (peak RSS
under 500 MB, measured in a subprocess), where a naive reader would take 0.5-1 GB or read
forever.

The peak is the child's VmHWM (/proc/self/status), its own high-water mark since exec.
`resource.getrusage(...).ru_maxrss` cannot be used for it: Linux carries the parent's RSS at
the fork into the child's ru_maxrss across exec, and pytest's own process can be past 600 MB
after the torch.compile tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import squeezenet
from squeezenet.compress.format import encode_model

from .hostile import gzip_bomb_idx, huge_member_cifar, png_bomb, sparse_file, zip_bomb_pth

BUDGET_MB = 500

# Each case: how the child loads the file, and the error it must end in.
LOADERS = {
    "sqz_dev_zero": ("squeezenet.load_model", "SqzFormatError"),
    "sqz_sparse_1tb": ("squeezenet.load_model", "SqzFormatError"),
    "pth_zip_bomb_512mb": ("squeezenet.load_model", "FormatError"),
    "safetensors_dev_zero": ("squeezenet.load_model", "CheckpointError"),
    "net_dev_zero": ("squeezenet.load_model", "FormatError"),
    "caffemodel_dev_zero": ("squeezenet.load_model", "FormatError"),
    "caffemodel_fifo": ("squeezenet.load_model", "FormatError"),
    "png_bomb_144mp": ("squeezenet.data.load_image", "ImageBombError"),
    "idx_gzip_bomb_800mb": ("squeezenet.data.read_idx_labels", "DatasetError"),
    "cifar_member_1gb": ("squeezenet.data.load_cifar10_test", "DatasetError"),
}

CHILD = textwrap.dedent("""
    import json, sys
    import squeezenet, squeezenet.data
    from squeezenet.data import load_cifar10
    squeezenet.data.load_cifar10_test = lambda path: load_cifar10("test", path, download=False)
    for name, loader, path in json.loads(sys.argv[1]):
        module, func = loader.rsplit(".", 1)
        try:
            getattr(sys.modules[module], func)(path)
            error, message = None, ""
        except Exception as e:
            error, message = type(e).__name__, str(e)
        with open("/proc/self/status") as status:  # VmHWM: this process's peak RSS, in kB
            peak = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024
        print(json.dumps({"name": name, "error": error, "message": message, "peak_mb": peak}))
        sys.stdout.flush()
""")


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    files = {
        "sqz_dev_zero": root / "zero.sqz",
        "safetensors_dev_zero": root / "zero.safetensors",
        "net_dev_zero": root / "zero.net",
        "caffemodel_dev_zero": root / "zero.caffemodel",
    }
    for link in files.values():
        link.symlink_to("/dev/zero")
    files["caffemodel_fifo"] = root / "fifo.caffemodel"  # no writer: a blocking read hangs
    os.mkfifo(files["caffemodel_fifo"])
    valid = encode_model(squeezenet.create_model("squeezenet1_1", num_classes=2, small_input=True))
    files["sqz_sparse_1tb"] = sparse_file(root / "huge.sqz", 1 << 40, valid[:20])
    files["pth_zip_bomb_512mb"] = zip_bomb_pth(root / "bomb.pth", 512)
    files["png_bomb_144mp"] = png_bomb(root / "bomb.png")
    files["idx_gzip_bomb_800mb"] = gzip_bomb_idx(root / "labels-idx1-ubyte.gz", 800)
    files["cifar_member_1gb"] = huge_member_cifar(root / "cifar-10-binary.tar.gz", 1024)
    return files


@pytest.mark.skipif(sys.platform != "linux", reason="/proc/self/status and /dev/zero: Linux")
def test_hostile_files_fail_within_the_memory_budget(hostile_files: dict[str, Path]) -> None:
    sizes = {name: os.lstat(path).st_size for name, path in hostile_files.items()}
    assert sizes["pth_zip_bomb_512mb"] < 600_000 and sizes["png_bomb_144mp"] < 200_000
    jobs = [(name, LOADERS[name][0], str(path)) for name, path in hostile_files.items()]
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(jobs)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["name"] for r in results] == list(hostile_files)
    for r in results:
        assert r["error"] == LOADERS[r["name"]][1], r
        assert r["message"] and "\n" not in r["message"], r
        # the high-water mark only grows: each peak bounds every file loaded so far
        assert r["peak_mb"] < BUDGET_MB, r
