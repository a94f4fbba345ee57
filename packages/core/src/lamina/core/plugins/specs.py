"""What plugins hand the kernel: `DatasetSpec` (a downloadable dataset) and `ArchitectureSpec` (a model)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

__all__ = ["DatasetSpec", "ArchitectureSpec"]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_URL_SCHEMES = ("http", "https", "file")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset the kernel's `untar_data`/`URLs` can fetch, verify and extract.

    `name` is the `URLs` attribute (e.g. `"MNIST_TINY"`); `url` the archive's address;
    `size` its length in bytes and `sha256` its hex digest, each `None` when unknown (the
    download is then not verified against it); `sample` an optional local folder holding
    a small embedded copy that works offline.
    """

    name: str
    url: str
    size: int | None = None
    sha256: str | None = None
    sample: Path | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(
                f"DatasetSpec: name must be a Python identifier (it becomes URLs.<name>), got {self.name!r}"
            )
        scheme = urlparse(self.url).scheme if isinstance(self.url, str) else ""
        if scheme not in _URL_SCHEMES:
            raise ValueError(
                f"DatasetSpec {self.name}: url must be an {'/'.join(_URL_SCHEMES)} address, got {self.url!r}"
            )
        if self.size is not None and (
            isinstance(self.size, bool) or not isinstance(self.size, int) or self.size <= 0
        ):
            raise ValueError(
                f"DatasetSpec {self.name}: size must be a positive number of bytes or None, got {self.size!r}"
            )
        if self.sha256 is not None:
            digest = self.sha256.lower() if isinstance(self.sha256, str) else self.sha256
            if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
                raise ValueError(
                    f"DatasetSpec {self.name}: sha256 must be 64 hex digits or None, got {self.sha256!r}"
                )
            object.__setattr__(self, "sha256", digest)
        if self.sample is not None:
            object.__setattr__(self, "sample", Path(self.sample))

    @property
    def archive_name(self) -> str:
        """The file name the archive is saved under (the last part of `url`)."""
        return urlparse(self.url).path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ArchitectureSpec:
    """A model factory with what transfer learning needs to know about it.

    `factory(**kwargs)` builds the model; `cut` is where the body ends and the head
    starts (an index into the model's children, or a callable that picks it);
    `split(model)` returns the parameter groups for discriminative learning rates;
    `stats` is the `(mean, std)` per channel the pretrained weights expect.
    """

    factory: Callable[..., Any]
    cut: int | Callable[[Any], bool] | None = None
    split: Callable[[Any], Sequence[Any]] | None = None
    stats: tuple[Sequence[float], Sequence[float]] | None = None

    def __post_init__(self) -> None:
        if not callable(self.factory):
            raise TypeError(f"ArchitectureSpec: factory must be callable, got {type(self.factory).__name__}")
        if self.cut is not None and not (isinstance(self.cut, int) or callable(self.cut)):
            raise TypeError(f"ArchitectureSpec {_name(self.factory)}: cut must be an int, a callable or None")
        if self.split is not None and not callable(self.split):
            raise TypeError(f"ArchitectureSpec {_name(self.factory)}: split must be callable or None")
        if self.stats is not None and not _is_mean_std(self.stats):
            raise ValueError(
                f"ArchitectureSpec {_name(self.factory)}: stats must be (mean, std) with one value per "
                f"channel each, got {self.stats!r}"
            )


def _name(obj: Any) -> str:
    return getattr(obj, "__qualname__", type(obj).__name__)


def _is_mean_std(stats: Any) -> bool:
    try:
        mean, std = stats
        return len(mean) == len(std) > 0
    except (TypeError, ValueError):
        return False
