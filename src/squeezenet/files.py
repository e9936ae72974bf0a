"""Files in and out: atomic writes, and reads bounded before anything is allocated.

Writes: every file we produce appears whole or not at all, a failed write (disk full, no
permission) is one `WriteError` naming the file, and the temp file a killed writer left
behind is removed by the next write of the same file.

Reads: `open_regular` / `read_regular` refuse what is not a regular file (`/dev/zero`, a
FIFO, a folder) and a file over the reader's size cap, from `fstat`, before reading a byte.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_TMP_SUFFIX = ".tmp"


class FileLimitError(ValueError):
    """A file a reader refuses before reading it: not a regular file, or over its size cap."""


class WriteError(OSError):
    """A file that could not be written (disk full, no permission); nothing partial is left."""


# ---- writing ----------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it over `path`.

    The temp file lives in the same directory so the final `os.replace` is atomic; on any
    error (including KeyboardInterrupt) it is removed and `path` is left untouched. The file
    gets the permissions of the one it replaces, or of a new file (0o666 less the umask):
    `mkstemp`'s 0o600 would hide a model from a server running as another user. The temp
    name holds our pid, so a later write can tell the leftovers of a killed writer (whose
    pid is gone) from a live one's and remove them. An `OSError` becomes a `WriteError`
    naming `path`.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path)
        fd, tmp = tempfile.mkstemp(
            prefix=f"{_tmp_prefix(path)}{os.getpid()}.", suffix=_TMP_SUFFIX, dir=path.parent
        )
    except OSError as e:
        raise _write_error(path, e) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:  # flush to disk before the rename makes it visible
            os.fsync(f.fileno())
        os.chmod(tmp_path, _target_mode(path))
        os.replace(tmp_path, path)
    except OSError as e:
        tmp_path.unlink(missing_ok=True)
        if isinstance(e, WriteError):
            raise
        raise _write_error(path, e) from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}."


def _write_error(path: Path, error: OSError) -> WriteError:
    """One line naming the file we meant to write, not the temp file that failed."""
    reason = error.strerror or str(error) or type(error).__name__
    out = WriteError(f"cannot write {path}: {reason}")
    out.errno = error.errno
    return out


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temp files of `path` left by writers that no longer run; returns them.

    Temp names are `.NAME.PID.RANDOM.tmp`; a file whose PID is not a live process on this
    machine belongs to a killed writer. Names without a PID are left alone.
    """
    path = Path(path)
    prefix = _tmp_prefix(path)
    removed = []
    with contextlib.suppress(OSError):  # an unreadable folder: the write itself will say why
        for entry in os.scandir(path.parent):
            if not (entry.name.startswith(prefix) and entry.name.endswith(_TMP_SUFFIX)):
                continue
            pid = entry.name[len(prefix) :].split(".", 1)[0]
            if pid.isdigit() and not _pid_alive(int(pid)):
                with contextlib.suppress(FileNotFoundError):  # another writer was quicker
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except (OverflowError, ValueError):  # beyond any pid: not a process
        return False
    return True


def _target_mode(path: Path) -> int:
    """The permission bits `path` has, or those `open()` would give a new file."""
    with contextlib.suppress(FileNotFoundError):
        return stat.S_IMODE(path.stat().st_mode)
    umask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 `text` to `path` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


# ---- reading ----------------------------------------------------------------------------------


@contextlib.contextmanager
def open_regular(
    path: str | os.PathLike, max_bytes: int, what: str = "file"
) -> Iterator[tuple[BinaryIO, int]]:
    """Open a regular file of at most `max_bytes` bytes; yields (binary file, size).

    Opened non-blocking, so a FIFO cannot hang us before `fstat` shows what it is; a
    symlink is followed, and what it points at is checked.

    Raises:
        FileLimitError: not a regular file, or larger than `max_bytes`.
        OSError: the file is missing or unreadable.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileLimitError(f"{path} is {_kind(info.st_mode)}, not a regular {what}")
        if info.st_size > max_bytes:
            raise FileLimitError(
                f"{path} is {info.st_size:,} bytes, over the {max_bytes:,}-byte limit for a {what}"
            )
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        yield f, info.st_size


def read_regular(path: str | os.PathLike, max_bytes: int, what: str = "file") -> bytes:
    """The whole content of a regular file of at most `max_bytes` bytes (see `open_regular`).

    A file that grows while it is read is refused too: never more than `max_bytes` are read.
    """
    with open_regular(path, max_bytes, what) as (f, size):
        return read_exactly(f, size, path)


def read_exactly(f: BinaryIO, size: int, path: str | os.PathLike) -> bytes:
    """The (at most) `size` bytes left in `f`, refusing a file that turns out longer."""
    data = f.read(size)
    if f.read(1):
        raise FileLimitError(f"{path} grew while it was read; read it again once it is written")
    return data


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")
