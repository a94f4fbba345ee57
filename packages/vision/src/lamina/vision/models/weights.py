"""Pretrained weights: the known weight files, their local cache, and verified, pickle-free loading.

A weight file is found by architecture name (`"resnet18"`) in `PRETRAINED_WEIGHTS` and cached in
`<LAMINA_HOME>/models/` (default `~/.lamina/models`) under the name at the end of its url. The first
use downloads it with the kernel's verified, atomic `fetch`; offline, the error says where to save
the file by hand. Every load checks the file against the sha256 registered for it: the full digest
when known, else the leading hex digits that torchvision puts in its file names
(`resnet18-f37072fd.pth`). Files are read with `torch.load(weights_only=True)`, so loading runs no
pickled code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from lamina.core.data.download import (
    DownloadError,
    VerificationError,
    check_sha256,
    fetch,
    file_digest,
    remove_path,
    url_file_name,
)
from lamina.core.data.external import lamina_home

__all__ = [
    "WeightsFile",
    "PRETRAINED_WEIGHTS",
    "register_weights",
    "models_path",
    "weights_path",
    "load_weights",
    "load_pretrained",
]

_HEX = re.compile(r"[0-9a-f]+")
_TORCHVISION = "https://download.pytorch.org/models/"


@dataclass(frozen=True)
class WeightsFile:
    """Where the pretrained weights of architecture `name` come from and how to check them.

    `sha256` is the file's full hex digest; `sha256_prefix` its leading hex digits (at least 8), for
    files known only by the prefix in their name. At least one of them is required.
    """

    name: str
    url: str
    sha256: str | None = None
    sha256_prefix: str | None = None

    def __post_init__(self) -> None:
        url_file_name(self.url)  # raises for an address that names no file
        object.__setattr__(self, "sha256", check_sha256(self.sha256, f"WeightsFile {self.name}: sha256"))
        prefix = self.sha256_prefix
        if prefix is not None:
            prefix = prefix.lower() if isinstance(prefix, str) else prefix
            if not isinstance(prefix, str) or len(prefix) < 8 or not _HEX.fullmatch(prefix):
                raise ValueError(
                    f"WeightsFile {self.name}: sha256_prefix must be at least 8 hex digits, "
                    f"got {self.sha256_prefix!r}"
                )
            object.__setattr__(self, "sha256_prefix", prefix)
        if self.sha256 is None and self.sha256_prefix is None:
            raise ValueError(
                f"WeightsFile {self.name}: give sha256 or sha256_prefix, so the file can be checked"
            )

    @property
    def file_name(self) -> str:
        """The name the file is cached under (the last part of `url`)."""
        return url_file_name(self.url)

    def matches(self, digest: str) -> bool:
        """Whether a file with sha256 `digest` is this one."""
        if self.sha256 is not None:
            return digest == self.sha256
        return digest.startswith(self.sha256_prefix or "")

    @property
    def expected(self) -> str:
        return self.sha256 if self.sha256 is not None else f"{self.sha256_prefix}..."


def _torchvision(name: str, file_name: str) -> WeightsFile:
    prefix = file_name.rsplit("-", 1)[1].removesuffix(".pth")
    return WeightsFile(name, _TORCHVISION + file_name, sha256_prefix=prefix)


PRETRAINED_WEIGHTS: dict[str, WeightsFile] = {
    w.name: w
    for w in (
        _torchvision("resnet18", "resnet18-f37072fd.pth"),
        _torchvision("resnet34", "resnet34-b627a593.pth"),
        _torchvision("resnet50", "resnet50-0676ba61.pth"),
        _torchvision("resnet101", "resnet101-63fe2227.pth"),
        _torchvision("resnet152", "resnet152-394f9c45.pth"),
        _torchvision("resnext50_32x4d", "resnext50_32x4d-7cdf4587.pth"),
        _torchvision("resnext101_32x8d", "resnext101_32x8d-8ba56ff5.pth"),
        _torchvision("wide_resnet50_2", "wide_resnet50_2-95faca4d.pth"),
        _torchvision("wide_resnet101_2", "wide_resnet101_2-32ee1156.pth"),
    )
}
"""Architecture name -> its ImageNet weight file (torchvision's IMAGENET1K_V1 files for the ResNets)."""


def register_weights(weights: WeightsFile, replace: bool = False) -> WeightsFile:
    """Make `weights` the pretrained weights of `weights.name` (`replace=True` to override a known one)."""
    if not isinstance(weights, WeightsFile):
        raise TypeError(f"register_weights: expected a WeightsFile, got {type(weights).__name__}")
    held = PRETRAINED_WEIGHTS.get(weights.name)
    if held is not None and held != weights and not replace:
        raise ValueError(
            f"register_weights: {weights.name!r} already has weights ({held.url}); "
            "pass replace=True to change them"
        )
    PRETRAINED_WEIGHTS[weights.name] = weights
    return weights


def models_path() -> Path:
    """The folder pretrained weight files are cached in: `<LAMINA_HOME>/models`."""
    return lamina_home() / "models"


def _spec(name: str) -> WeightsFile:
    spec = PRETRAINED_WEIGHTS.get(name)
    if spec is None:
        known = ", ".join(sorted(PRETRAINED_WEIGHTS)) or "none"
        raise KeyError(
            f"no pretrained weights are known for {name!r} (known: {known}); build it with "
            "pretrained=False, or register a weight file with lamina.vision.models.weights.register_weights"
        )
    return spec


def weights_path(name: str) -> Path:
    """Where the weight file of architecture `name` is (or will be) cached."""
    return models_path() / _spec(name).file_name


def _download(spec: WeightsFile, path: Path, progress: bool) -> None:
    try:
        _, digest = fetch(spec.url, path, sha256=spec.sha256, show_progress=progress)
    except VerificationError:
        raise
    except DownloadError as exc:
        raise type(exc)(
            f"the pretrained weights of {spec.name} are not in the cache and could not be downloaded: "
            f"{exc}. Download {spec.url} another way and save it as {path} (sha256 {spec.expected}); "
            "the next call checks and loads it.",
            url=spec.url,
        ) from exc
    if not spec.matches(digest):  # only a prefix was known, so fetch could not check it
        remove_path(path)
        raise VerificationError(
            f"download of {spec.url} failed verification: expected sha256 {spec.expected}, got {digest}; "
            "the file was deleted",
            url=spec.url,
            path=path,
            what="sha256",
            expected=spec.expected,
            actual=digest,
        )


def _check_cached(spec: WeightsFile, path: Path) -> None:
    digest = file_digest(path)
    if not spec.matches(digest):
        raise VerificationError(
            f"the cached weight file {path} is not the one registered for {spec.name} ({spec.url}): expected "
            f"sha256 {spec.expected}, got {digest}. Delete or replace it; the next call downloads it again.",
            url=spec.url,
            path=path,
            what="sha256",
            expected=spec.expected,
            actual=digest,
        )


def load_weights(name: str, progress: bool = True) -> dict[str, Tensor]:
    """The pretrained state dict of architecture `name`, from the cache (downloaded once), checked.

    Raises `KeyError` for an architecture without known weights, `DownloadUnreachableError` when
    the file is not cached and cannot be downloaded (the message says where to save it), and
    `VerificationError` when the file's sha256 is not the registered one.
    """
    spec = _spec(name)
    path = models_path() / spec.file_name
    if path.is_file():
        _check_cached(spec, path)
    else:
        _download(spec, path, progress)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"could not read the weight file {path} for {name}: {e}") from e
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"the weight file {path} for {name} does not hold a state dict of tensors")
    return state


def load_pretrained(model: nn.Module, name: str, progress: bool = True) -> nn.Module:
    """Load the pretrained weights of `name` into `model` (which must have the matching layout); return it."""
    state = load_weights(name, progress=progress)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [
        f"{k}: file {tuple(state[k].shape)}, model {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        details = "; ".join(
            f"{what}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
            for what, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong))
            if keys
        )
        raise ValueError(
            f"the pretrained weights of {name} do not fit this {type(model).__name__} ({details}). Build the "
            "model with its default arguments (e.g. num_classes=1000) and replace the head afterwards, or "
            "use create_vision_model"
        )
    model.load_state_dict(state)
    return model
