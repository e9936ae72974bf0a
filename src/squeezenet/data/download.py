"""Where datasets live on disk and how they get there.

Downloads stream into a temporary file next to the destination, are checked against a
known MD5, and only then are renamed into place, so an interrupted or corrupted download
never leaves a file that a later run would mistake for a good one.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from squeezenet.data.errors import DatasetError
from squeezenet.files import atomic_path

__all__ = ["DATA_ENV_VAR", "data_root", "default_cache_dir", "download_file", "md5sum"]

DATA_ENV_VAR = "SQUEEZENET_DATA"

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0

# Indirection so tests can substitute a fake opener without touching the network.
_urlopen: Callable[..., BinaryIO] = urllib.request.urlopen


def data_root() -> Path:
    """Return the root of the user dataset cache.

    ``$SQUEEZENET_DATA`` if set, else ``~/.cache/squeezenet``. Each dataset gets a
    subfolder named after it.
    """
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "squeezenet"


def default_cache_dir(name: str) -> Path:
    """Return the cache folder of dataset ``name`` (not created)."""
    return data_root() / name


def md5sum(path: str | os.PathLike[str]) -> str:
    """Return the hex MD5 of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(url: str, dest: str | os.PathLike[str], md5: str | None) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying its MD5.

    Args:
        url: Source URL (http, https or file).
        dest: Final path; its folder is created if needed.
        md5: Expected hex digest, or None to skip the check.

    Returns:
        ``dest`` as a Path.

    Raises:
        DatasetError: On any network or file error, or on a checksum mismatch; the
            temporary file is deleted in every case.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create download folder {dest.parent}: {exc}") from exc
    try:
        # atomic_path deletes the temporary file on any error, a checksum mismatch included,
        # and gives the dataset a normal file's permissions (a shared cache stays readable).
        with atomic_path(dest) as tmp:
            digest = hashlib.md5(usedforsecurity=False)
            with open(tmp, "wb") as out, _urlopen(url, timeout=_TIMEOUT_S) as response:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
            got = digest.hexdigest()
            if md5 is not None and got != md5.lower():
                raise DatasetError(
                    f"checksum mismatch for {url}: MD5 {got}, expected {md5}; "
                    "the partial download was deleted. Retry, or download it by hand"
                )
    except DatasetError:  # a ValueError too, but its message already says what to do
        raise
    except (urllib.error.URLError, OSError, ValueError) as exc:
        # URLError covers DNS/connection failures, OSError timeouts and disk errors,
        # ValueError malformed URLs.
        reason = getattr(exc, "reason", None) or exc
        raise DatasetError(f"download of {url} failed: {reason}") from exc
    return dest
