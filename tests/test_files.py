"""files.py: atomic writes (stale temps of killed writers, one-line write errors) and reads
bounded from fstat (FIFOs, devices, folders and oversized files refused before reading)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from squeezenet.files import (
    FileLimitError,
    WriteError,
    atomic_path,
    atomic_write_bytes,
    read_regular,
    remove_stale_temps,
)


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)


def test_temp_name_holds_the_writers_pid(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(f".model.bin.{os.getpid()}.") and tmp.name.endswith(".tmp")
        tmp.write_bytes(b"x")
    assert target.read_bytes() == b"x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]


def test_next_write_removes_temps_of_dead_writers_only(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint.pt"
    dead = tmp_path / f".checkpoint.pt.{_dead_pid()}.abc123.tmp"
    live = tmp_path / f".checkpoint.pt.{os.getppid()}.def456.tmp"  # our parent runs
    no_pid = tmp_path / ".checkpoint.pt.k3j4h5.tmp"  # an older name: cannot tell, kept
    other = tmp_path / f".other.pt.{_dead_pid()}.abc123.tmp"  # another file's temp
    for path in (dead, live, no_pid, other):
        path.write_bytes(b"partial")
    atomic_write_bytes(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert not dead.exists()
    assert live.exists() and no_pid.exists() and other.exists()


def test_remove_stale_temps_reports_what_it_removed(tmp_path: Path) -> None:
    stale = tmp_path / f".w.safetensors.{_dead_pid()}.zz.tmp"
    stale.write_bytes(b"")
    assert remove_stale_temps(tmp_path / "w.safetensors") == [stale]
    assert remove_stale_temps(tmp_path / "w.safetensors") == []


def test_a_full_disk_is_one_error_naming_the_file_and_leaves_nothing(tmp_path: Path) -> None:
    # RLIMIT_FSIZE makes writes past 1000 bytes fail with EFBIG, as a full disk fails with
    # ENOSPC; in a subprocess, so that pytest's own files are not limited.
    target = tmp_path / "out" / "weights.safetensors"
    target.parent.mkdir()
    target.write_bytes(b"old contents")
    script = textwrap.dedent(f"""
        import resource, signal
        from squeezenet.files import WriteError, atomic_write_bytes
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))
        try:
            atomic_write_bytes({str(target)!r}, bytes(5000))
        except WriteError as e:
            print(type(e).__name__, e.errno, e)
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip()
    assert line.startswith("WriteError 27 ") and f"cannot write {target}: " in line
    assert "\n" not in line and ".tmp" not in line
    assert target.read_bytes() == b"old contents"
    assert sorted(p.name for p in target.parent.iterdir()) == ["weights.safetensors"]


def test_write_into_a_file_as_folder_is_a_write_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match=r"cannot write .*file/out\.json"):
        atomic_write_bytes(tmp_path / "file" / "out.json", b"{}")
    assert isinstance(WriteError("x"), OSError)  # callers catching OSError still catch it


def test_body_errors_pass_through_and_remove_the_temp(tmp_path: Path) -> None:
    with pytest.raises(KeyError), atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_bytes(b"partial")
        raise KeyError("boom")
    assert list(tmp_path.iterdir()) == []


def test_read_regular_refuses_fifo_device_folder_and_oversize(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(FileLimitError, match="is a FIFO, not a regular"):
        read_regular(fifo, 100)  # must not block waiting for a writer
    with pytest.raises(FileLimitError, match="is a character device"):
        read_regular("/dev/zero", 100)
    link = tmp_path / "zero.bin"
    link.symlink_to("/dev/zero")
    with pytest.raises(FileLimitError, match="is a character device"):
        read_regular(link, 100)
    with pytest.raises(FileLimitError, match="is a folder"):
        read_regular(tmp_path, 100)
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(1 << 40)  # sparse: a terabyte that takes no disk space
    with pytest.raises(FileLimitError, match=r"1,099,511,627,776 bytes, over the 100-byte limit"):
        read_regular(big, 100)
    small = tmp_path / "small.bin"
    small.write_bytes(b"abc")
    assert read_regular(small, 3) == b"abc"
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "missing", 100)
