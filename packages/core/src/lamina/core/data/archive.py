"""Safe, atomic extraction of tar (plain, gz, bz2, xz) and zip archives: `extract_archive`.

Members are extracted one by one into a staging folder beside the target and checked as
they come: a member that would land outside it (an absolute path, a `..` part, a symlink or
hardlink pointing out, directly or through links extracted before it) or a device file, fifo
or other special file is refused with `UnsafeArchiveError` naming it. Only a complete,
checked extraction is renamed onto the target, so the target never holds half an archive; a
failure (or an interrupt) deletes the staging folder, and one left by a killed run is removed
by the next call.
"""

from __future__ import annotations

import lzma
import os
import re
import stat
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

from lamina.core.data.download import remove_path, remove_stale_staging, staging_path

__all__ = [
    "ARCHIVE_SUFFIXES",
    "ArchiveError",
    "CorruptArchiveError",
    "UnsafeArchiveError",
    "archive_stem",
    "extract_archive",
]

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz", ".tar", ".zip")
_CHUNK = 1 << 20
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_ABSOLUTE = re.compile(r"^([\\/]|[A-Za-z]:)")
_SEPARATORS = re.compile(r"[\\/]+")
# What reading a damaged archive raises (never what writing the extracted files raises).
_READ_ERRORS = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,  # gzip.BadGzipFile, bz2's "Invalid data stream", an unreadable archive file
    ValueError,  # tarfile/zipfile on malformed headers and fields
)


class ArchiveError(Exception):
    """An archive that cannot be extracted; `archive` is its path."""

    def __init__(self, message: str, *, archive: Path) -> None:
        super().__init__(message)
        self.archive = archive


class CorruptArchiveError(ArchiveError):
    """A file that is not a tar/zip archive, or one that is damaged or truncated."""


class UnsafeArchiveError(ArchiveError):
    """An archive member that would be written outside the target folder, or a special file."""

    def __init__(self, message: str, *, archive: Path, member: str) -> None:
        super().__init__(message, archive=archive)
        self.member = member


def archive_stem(name: str) -> str:
    """`name` without its archive suffix (`mnist_tiny.tgz` -> `mnist_tiny`); unchanged if it has none."""
    lowered = name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def extract_archive(
    archive: str | os.PathLike[str], dest: str | os.PathLike[str], *, replace: bool = False
) -> Path:
    """Extract `archive` (tar, tar.gz/tgz, tar.bz2, tar.xz or zip) into the new folder `dest`; return `dest`.

    When the archive holds one top-level folder, that folder becomes `dest` (as fastai does:
    `mnist_tiny.tgz` holding `mnist_tiny/train/...` gives `dest/train/...`). The format is
    read from the file's content, not its name. `dest` must not exist unless `replace=True`,
    which swaps the old folder for the new one only once the new one is complete. Raises
    `CorruptArchiveError` and `UnsafeArchiveError`; on any failure nothing is left behind.
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise FileNotFoundError(f"extract_archive: no archive file at {archive}")
    if (dest.exists() or dest.is_symlink()) and not replace:
        raise FileExistsError(f"extract_archive: {dest} already exists; pass replace=True to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(dest)
    staging = staging_path(dest, directory=True)
    try:
        links = _extract_into(archive, staging)
        _install(_content_root(archive, staging, links), staging, dest, replace)
    finally:
        remove_path(staging)
    return dest


# ------------------------------------------------------------------------------------- member checks


def _unsafe(archive: Path, member: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"refusing to extract {archive}: member {member!r} {why}; nothing was extracted",
        archive=archive,
        member=member,
    )


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def _member_path(archive: Path, root: Path, name: str) -> Path | None:
    """Where member `name` goes under `root`, or None for the root itself; refuses escapes."""
    if not name or "\0" in name:
        raise _unsafe(archive, name, "has an empty or invalid name")
    if _ABSOLUTE.match(name):
        raise _unsafe(archive, name, "has an absolute path")
    parts = [part for part in _SEPARATORS.split(name) if part not in ("", ".")]
    if ".." in parts:
        raise _unsafe(archive, name, "has a '..' part that climbs out of the target folder")
    if not parts:
        return None
    path = root.joinpath(*parts)
    # Earlier members may be symlinks: resolve the folder this member goes into as it is now.
    if not _inside(os.path.realpath(root), os.path.realpath(path.parent)):
        raise _unsafe(
            archive, name, "would be written through a symlink that points outside the target folder"
        )
    return path


def _check_symlink(archive: Path, root: Path, name: str, path: Path, target: str) -> None:
    if not target or "\0" in target:
        raise _unsafe(archive, name, "is a symlink with an empty or invalid target")
    if _ABSOLUTE.match(target):
        raise _unsafe(archive, name, f"is a symlink to the absolute path {target!r}")
    resolved = os.path.realpath(path.parent / target)
    if not _inside(os.path.realpath(root), resolved):
        raise _unsafe(archive, name, f"is a symlink to {target!r}, outside the target folder")


def _clear_leaf(path: Path) -> None:
    """Make room for a file or link at `path` (as tar does): remove a file or symlink already there."""
    if path.is_symlink() or path.is_file():
        path.unlink()


# ---------------------------------------------------------------------------------------- extraction


def _format(archive: Path) -> str:
    try:
        with open(archive, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise CorruptArchiveError(f"cannot read the archive {archive}: {exc}", archive=archive) from exc
    return "zip" if head in _ZIP_MAGIC else "tar"


def _corrupt(archive: Path, exc: BaseException, member: str | None = None) -> CorruptArchiveError:
    where = f" (while reading member {member!r})" if member else ""
    return CorruptArchiveError(
        f"{archive} is not a valid tar or zip archive, or it is damaged or truncated{where}: "
        f"{type(exc).__name__}: {exc}; nothing was extracted",
        archive=archive,
    )


def _extract_into(archive: Path, root: Path) -> list[tuple[str, Path]]:
    """Extract every member of `archive` under `root`; return the symlinks made, as (member, path)."""
    if _format(archive) == "zip":
        return _extract_zip(archive, root)
    return _extract_tar(archive, root)


def _copy(read: Callable[[int], bytes], path: Path, archive: Path, member: str) -> None:
    with open(path, "wb") as out:
        while True:
            try:
                chunk = read(_CHUNK)
            except _READ_ERRORS as exc:
                raise _corrupt(archive, exc, member) from exc
            if not chunk:
                return
            out.write(chunk)


def _finish_file(path: Path, mode: int, mtime: float | None) -> None:
    if mode & 0o777:
        os.chmod(path, (mode & 0o755) | 0o600)  # no setuid/sticky bits, no group/other write
    if mtime is not None:
        try:
            os.utime(path, (mtime, mtime))
        except (OverflowError, OSError, ValueError):
            pass  # an out-of-range timestamp is not worth failing the extraction for


def _extract_tar(archive: Path, root: Path) -> list[tuple[str, Path]]:
    links: list[tuple[str, Path]] = []
    try:
        tar = tarfile.open(archive, "r:*")
    except _READ_ERRORS as exc:
        raise _corrupt(archive, exc) from exc
    with tar:
        while True:
            try:
                member = tar.next()
            except _READ_ERRORS as exc:
                raise _corrupt(archive, exc) from exc
            if member is None:
                break
            _extract_tar_member(tar, member, archive, root, links)
        try:  # read the compressed stream to its end, so a truncated trailer or checksum is caught
            while tar.fileobj.read(_CHUNK):
                pass
        except _READ_ERRORS as exc:
            raise _corrupt(archive, exc) from exc
    return links


def _extract_tar_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, archive: Path, root: Path, links: list[tuple[str, Path]]
) -> None:
    name = member.name
    if member.ischr() or member.isblk() or member.isfifo():
        raise _unsafe(archive, name, "is a device file or fifo")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise _unsafe(archive, name, f"has the unsupported tar type {member.type!r}")
    path = _member_path(archive, root, name)
    if member.isdir():
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
        return
    if path is None:
        raise _unsafe(archive, name, "is not a folder but would replace the target folder itself")
    path.parent.mkdir(parents=True, exist_ok=True)
    _clear_leaf(path)
    if member.issym():
        _check_symlink(archive, root, name, path, member.linkname)
        os.symlink(member.linkname, path)
        links.append((name, path))
    elif member.islnk():
        _make_hardlink(archive, root, name, path, member.linkname)
    else:
        try:
            source = tar.extractfile(member)
        except _READ_ERRORS as exc:
            raise _corrupt(archive, exc, name) from exc
        assert source is not None  # a regular member always has a file object
        with source:
            _copy(source.read, path, archive, name)
        _finish_file(path, member.mode, member.mtime)


def _make_hardlink(archive: Path, root: Path, name: str, path: Path, linkname: str) -> None:
    try:
        source = _member_path(archive, root, linkname)
    except UnsafeArchiveError:
        raise _unsafe(archive, name, f"is a hardlink to {linkname!r}, outside the target folder") from None
    real = os.path.realpath(source) if source is not None else ""
    if source is None or not _inside(os.path.realpath(root), real):
        raise _unsafe(archive, name, f"is a hardlink to {linkname!r}, outside the target folder")
    if not os.path.isfile(real):
        raise CorruptArchiveError(
            f"{archive}: member {name!r} is a hardlink to {linkname!r}, "
            "which is not a file extracted before it",
            archive=archive,
        )
    try:
        os.link(real, path)
    except OSError:  # a file system without hardlinks: a copy holds the same bytes
        with open(real, "rb") as src:
            _copy(src.read, path, archive, name)


def _extract_zip(archive: Path, root: Path) -> list[tuple[str, Path]]:
    links: list[tuple[str, Path]] = []
    try:
        zf = zipfile.ZipFile(archive)
    except _READ_ERRORS as exc:
        raise _corrupt(archive, exc) from exc
    with zf:
        for info in zf.infolist():
            _extract_zip_member(zf, info, archive, root, links)
    return links


def _open_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive: Path) -> IO[bytes]:
    try:
        return zf.open(info)
    except (RuntimeError, NotImplementedError) as exc:  # encrypted, or an unsupported compression method
        raise ArchiveError(
            f"cannot extract member {info.filename!r} of {archive}: {exc}", archive=archive
        ) from exc
    except _READ_ERRORS as exc:
        raise _corrupt(archive, exc, info.filename) from exc


def _extract_zip_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive: Path, root: Path, links: list[tuple[str, Path]]
) -> None:
    name = info.filename
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):
        raise _unsafe(archive, name, "is a device file, fifo or socket")
    path = _member_path(archive, root, name)
    if info.is_dir() or kind == stat.S_IFDIR:
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
        return
    if path is None:
        raise _unsafe(archive, name, "is not a folder but would replace the target folder itself")
    path.parent.mkdir(parents=True, exist_ok=True)
    _clear_leaf(path)
    with _open_zip_member(zf, info, archive) as source:
        if kind == stat.S_IFLNK:
            try:
                target = source.read().decode("utf-8")
            except _READ_ERRORS as exc:  # includes UnicodeDecodeError (a ValueError)
                raise _corrupt(archive, exc, name) from exc
            _check_symlink(archive, root, name, path, target)
            os.symlink(target, path)
            links.append((name, path))
            return
        _copy(source.read, path, archive, name)
    try:
        mtime = time.mktime((*info.date_time, 0, 0, -1))
    except (OverflowError, ValueError):
        mtime = None
    _finish_file(path, mode, mtime)


# ------------------------------------------------------------------------------------------ install


def _content_root(archive: Path, staging: Path, links: list[tuple[str, Path]]) -> Path:
    """The folder that becomes the target: the archive's single top-level folder, else all of it.

    Symlinks are checked again now that every member is in place (a link to a path that did
    not exist yet may resolve differently once later members were extracted).
    """
    entries = list(staging.iterdir())
    single = entries[0] if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink() else None
    staging_real = os.path.realpath(staging)
    single_real = os.path.realpath(single) if single is not None else None
    for member, path in links:
        resolved = os.path.realpath(path)
        if not _inside(staging_real, resolved):
            raise _unsafe(archive, member, "is a symlink that resolves outside the target folder")
        if single_real is not None and not _inside(single_real, resolved):
            single = None  # the link leaves the top folder: keep the archive's layout as it is
    return single if single is not None else staging


def _install(content: Path, staging: Path, dest: Path, replace: bool) -> None:
    """Rename `content` onto `dest` (atomic); with `replace`, the old `dest` goes only once it is swapped."""
    old = None
    if replace and (dest.exists() or dest.is_symlink()):
        old = staging_path(dest, directory=True)
        old.rmdir()
        os.rename(dest, old)
    try:
        os.rename(content, dest)
    except OSError:
        if old is not None:
            os.rename(old, dest)
            raise
        if dest.is_dir():  # another process extracted the same archive first: keep its copy
            return
        raise
    if old is not None:
        remove_path(old)
