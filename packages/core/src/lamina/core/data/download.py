"""Verified, atomic downloads: `download_url`, its errors, and the staging files it writes beside `dest`.

A download streams into a temporary file in the destination's folder and is renamed onto
`dest` only once it is complete and matches the expected size and sha256, so `dest` never
holds a half-written file. Staging names carry the host and process id of their writer, so a
later call can tell the debris of a killed run (`remove_stale_staging`) from a live download.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import socket
import tempfile
import time
import urllib.error
import urllib.request
import urllib.response
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from tqdm.auto import tqdm

from lamina.core import __version__

__all__ = [
    "DownloadError",
    "DownloadUnreachableError",
    "VerificationError",
    "download_url",
    "fetch",
    "file_digest",
    "url_file_name",
    "staging_path",
    "remove_stale_staging",
    "remove_path",
    "check_sha256",
    "check_size",
]

_CHUNK = 1 << 20
_Response = http.client.HTTPResponse | urllib.response.addinfourl  # what urlopen gives for http(s) / file
_SCHEMES = ("http", "https", "file")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_STAGING_MARK = ".lamina-partial."
_FOREIGN_STALE_AFTER_S = 24 * 3600  # staging left by another host: only its age tells it is dead


class DownloadError(OSError):
    """A download that failed: the server answered with an error or the transfer broke off."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class DownloadUnreachableError(DownloadError, ConnectionError):
    """The server could not be reached at all (refused, unknown host, timed out): probably offline."""


class VerificationError(DownloadError):
    """A file whose size or sha256 differs from the expected value; `what` says which one."""

    def __init__(
        self, message: str, *, url: str, path: Path, what: str, expected: object, actual: object
    ) -> None:
        super().__init__(message, url=url)
        self.path, self.what, self.expected, self.actual = path, what, expected, actual


def check_sha256(sha256: str | None, argument: str = "sha256") -> str | None:
    """`sha256` lower-cased, after checking it is 64 hex digits (or None)."""
    if sha256 is None:
        return None
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError(
            f"{argument} must be 64 hexadecimal digits (a sha256 hex digest) or None, got {sha256!r}"
        )
    return sha256.lower()


def check_size(size: int | None, argument: str = "size") -> int | None:
    """`size` after checking it is a positive number of bytes (or None)."""
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
        raise ValueError(f"{argument} must be a positive number of bytes or None, got {size!r}")
    return size


def url_file_name(url: str) -> str:
    """The file name a download of `url` is saved under: the last part of its path, percent-decoded.

    Raises `ValueError` when `url` is not an http(s)/file address or its path names no plain file
    (empty, `.`/`..`, or a decoded name holding a path separator).
    """
    parsed = urlparse(url) if isinstance(url, str) else None
    if parsed is None or parsed.scheme not in _SCHEMES:
        raise ValueError(f"expected an {'/'.join(_SCHEMES)} url, got {url!r}")
    name = unquote(parsed.path.rsplit("/", 1)[-1])
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"the url {url!r} does not end in a file name, so there is no name to save it under")
    return name


def file_digest(path: Path) -> str:
    """The sha256 hex digest of the file at `path`."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------- staging


@dataclass(frozen=True)
class _Owner:
    host: str
    pid: int


def _this_host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def _staging_prefix(target: Path) -> str:
    return f".{target.name}{_STAGING_MARK}"


def staging_path(target: Path, *, directory: bool = False) -> Path:
    """Create and return a new, uniquely named staging file (or folder) beside `target`.

    Its name, `.<target name>.lamina-partial.<host>.<pid>.<random>`, records who writes it,
    so `remove_stale_staging` only removes the leftovers of processes that are gone.
    """
    target = Path(target)
    prefix = f"{_staging_prefix(target)}{_this_host()}.{os.getpid()}."
    if directory:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    fd, name = tempfile.mkstemp(prefix=prefix, dir=target.parent)
    os.close(fd)
    return Path(name)


def _owner(path: Path, prefix: str) -> _Owner | None:
    parts = path.name[len(prefix) :].split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return _Owner(parts[0], int(parts[1]))


def _process_alive(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _is_stale(path: Path, owner: _Owner) -> bool:
    if owner.host == _this_host() and os.name == "posix":
        return not _process_alive(owner.pid)
    try:
        return time.time() - path.lstat().st_mtime > _FOREIGN_STALE_AFTER_S
    except FileNotFoundError:
        return False


def remove_stale_staging(target: Path) -> list[Path]:
    """Delete the staging files and folders of `target` left by runs that were killed; return them.

    Staging written by a live process (a concurrent download or extraction) is kept; staging
    from another host is removed once it is a day old.
    """
    target = Path(target)
    prefix = _staging_prefix(target)
    if not target.parent.is_dir():
        return []
    removed = []
    for path in target.parent.iterdir():
        if not path.name.startswith(prefix):
            continue
        owner = _owner(path, prefix)
        if owner is None or not _is_stale(path, owner):
            continue
        remove_path(path)
        removed.append(path)
    return removed


def remove_path(path: Path) -> None:
    """Delete a file, a symlink or a whole folder; no error if it is already gone."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


# --------------------------------------------------------------------------------------------- download


def download_url(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | None = None,
    size: int | None = None,
    show_progress: bool = True,
    timeout: float = 30,
) -> Path:
    """Download `url` to the file `dest` (or into `dest` if it is a folder) and return its path.

    The bytes go to a temporary file beside `dest`, renamed onto `dest` once complete; `size`
    (bytes) and `sha256` (hex digest) are checked when given, and a mismatch deletes the
    temporary file and raises `VerificationError` naming the url, the expected and the actual
    value. `DownloadUnreachableError` means the server could not be reached (offline);
    `DownloadError` an HTTP error or a broken transfer. `timeout` is in seconds, per socket
    operation. A tqdm bar shows progress unless `show_progress=False`.
    """
    path, _ = fetch(url, dest, sha256=sha256, size=size, show_progress=show_progress, timeout=timeout)
    return path


def fetch(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    size: int | None = None,
    show_progress: bool = True,
    timeout: float = 30,
) -> tuple[Path, str]:
    """`download_url`, also returning the sha256 of what was downloaded (to report or pin it)."""
    name = url_file_name(url)
    sha256 = check_sha256(sha256)
    size = check_size(size)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"download_url: timeout must be a positive number of seconds, got {timeout!r}")
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(dest)
    with _open(url, timeout) as response:
        partial = staging_path(dest)
        try:
            announced = _content_length(response)
            received, digest = _stream(response, partial, url, total=size or announced, show=show_progress)
            if announced is not None and received != announced:
                raise DownloadError(
                    f"download of {url} was cut short: "
                    f"the server announced {announced} bytes but sent {received}",
                    url=url,
                )
            _verify(url, dest, "size", size, received)
            _verify(url, dest, "sha256", sha256, digest)
            os.replace(partial, dest)
        except BaseException:
            remove_path(partial)
            raise
    return dest, digest


def _open(url: str, timeout: float) -> _Response:
    request = urllib.request.Request(url, headers={"User-Agent": f"lamina/{__version__}"})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise DownloadError(
            f"download of {url} failed: the server answered HTTP {exc.code} {exc.reason}", url=url
        ) from exc
    except urllib.error.URLError as exc:
        raise DownloadUnreachableError(f"could not reach {url}: {_reason(exc.reason)}", url=url) from exc
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise DownloadUnreachableError(f"could not reach {url}: {_reason(exc)}", url=url) from exc


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "the connection timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(reason, socket.gaierror):
        return f"the host name could not be resolved ({reason})"
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}"
    return str(reason)


def _content_length(response: _Response) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _stream(response: _Response, partial: Path, url: str, total: int | None, show: bool) -> tuple[int, str]:
    digest = hashlib.sha256()
    received = 0
    bar = tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=url_file_name(url),
        disable=not show,
        leave=False,
    )
    read = getattr(response, "read1", response.read)  # read1: whatever has arrived, up to _CHUNK bytes
    with bar, open(partial, "wb") as out:
        while True:
            try:
                chunk = read(_CHUNK)
            except (OSError, http.client.HTTPException) as exc:
                raise DownloadError(
                    f"download of {url} broke off after {received} bytes: {_reason(exc)}", url=url
                ) from exc
            if not chunk:
                break
            out.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            bar.update(len(chunk))
        out.flush()
        os.fsync(out.fileno())
    return received, digest.hexdigest()


def _verify(url: str, path: Path, what: str, expected: object, actual: object) -> None:
    if expected is None or expected == actual:
        return
    unit = " bytes" if what == "size" else ""
    raise VerificationError(
        f"download of {url} failed verification: expected {what} {expected}{unit}, got {actual}{unit}; "
        "the file was deleted",
        url=url,
        path=path,
        what=what,
        expected=expected,
        actual=actual,
    )
