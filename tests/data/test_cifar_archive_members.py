"""CIFAR-10 archives with members no genuine archive has are refused whole, naming the member:
`../` or absolute names, symlinks, hard links, devices, oversized or too many members."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

import squeezenet.data.cifar as cifar
from squeezenet.data import DatasetError, load_cifar10


def _archive(fake_cifar: Path, path: Path, extra: tarfile.TarInfo, data: bytes = b"") -> Path:
    """The fake CIFAR-10 archive with one hostile member added (before the batches)."""
    with tarfile.open(path, "w:gz") as tar:
        extra.size = len(data) if extra.isfile() else 0
        tar.addfile(extra, io.BytesIO(data) if extra.isfile() else None)
        tar.add(fake_cifar, arcname=fake_cifar.name)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


HOSTILE = {
    "dotdot": (_member("../../etc/cron.d/evil"), "outside the archive"),
    "dotdot inside": (_member("cifar-10-batches-bin/../../test_batch.bin"), "outside the archive"),
    "absolute": (_member("/etc/passwd"), "outside the archive"),
    "windows absolute": (_member("C:\\evil.bin"), "outside the archive"),
    "symlink": (_member("cifar-10-batches-bin/x.bin", tarfile.SYMTYPE, "/etc/shadow"), "a link"),
    "hardlink": (_member("cifar-10-batches-bin/y.bin", tarfile.LNKTYPE, "/etc/shadow"), "a link"),
    "fifo": (_member("cifar-10-batches-bin/pipe", tarfile.FIFOTYPE), "special file"),
    "device": (_member("cifar-10-batches-bin/zero", tarfile.CHRTYPE), "special file"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_members_refuse_the_archive(fake_cifar: Path, tmp_path: Path, case: str) -> None:
    member, problem = HOSTILE[case]
    archive = _archive(fake_cifar, tmp_path / "cifar-10-binary.tar.gz", member, b"x")
    with pytest.raises(DatasetError) as info:
        load_cifar10("test", archive, download=False)
    message = str(info.value)
    assert "not a genuine CIFAR-10 archive" in message and problem in message
    assert repr(member.name) in message and "\n" not in message
    assert not (tmp_path.parent / "etc").exists()


def test_an_oversized_member_is_refused_before_it_is_read(fake_cifar, tmp_path, monkeypatch):
    monkeypatch.setattr(cifar, "MAX_BATCH_BYTES", 3073 * 4)
    archive = _archive(fake_cifar, tmp_path / "c.tar.gz", _member("readme.html"), bytes(3073 * 5))
    with pytest.raises(DatasetError, match=r"'readme.html' is 15,365 bytes, over the 12,292"):
        load_cifar10("test", archive, download=False)


def test_too_many_members_are_refused(fake_cifar, tmp_path, monkeypatch):
    monkeypatch.setattr(cifar, "MAX_MEMBERS", 3)
    archive = tmp_path / "c.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(fake_cifar, arcname=fake_cifar.name)  # a folder and 7 files
    with pytest.raises(DatasetError, match="more than the 3 a CIFAR-10 archive has"):
        load_cifar10("test", archive, download=False)


def test_a_genuine_layout_still_loads(fake_cifar: Path, tmp_path: Path) -> None:
    archive = _archive(fake_cifar, tmp_path / "c.tar.gz", _member("readme.html"), b"<html/>")
    assert load_cifar10("test", archive, download=False).labels.tolist() == [3, 0, 9]


def test_a_batch_that_is_not_a_regular_file_is_never_read(fake_cifar: Path) -> None:
    (fake_cifar / "test_batch.bin").unlink()
    (fake_cifar / "test_batch.bin").symlink_to("/dev/zero")  # would never end
    with pytest.raises(DatasetError, match="lacks test_batch.bin"):
        load_cifar10("test", fake_cifar, download=False)
    with pytest.raises(DatasetError, match="is a character device, not a regular CIFAR-10 batch"):
        cifar._read_file(fake_cifar / "test_batch.bin")
