"""Pretrained language-model weights: named entries, a local cache checked by sha256, download when online.

    path = pretrained_file("wt103_fwd")           # the cache copy, downloaded (and verified) on first use
    state, vocab = load_lm_weights(path)          # a language model's state_dict and its vocabulary
    state = match_embeds(state, vocab, new_vocab) # re-index the embeddings for another vocabulary

Two formats:
- `"lamina"`: one `.pth` file, `{"model": state_dict, "vocab": [tokens], "arch": name, "config": {...}}`,
  written by `save_lm_weights` (or `LMLearner.save_pretrained`) and read with `torch.load(weights_only=True)`:
  tensors and plain data only, never pickled code.
- `"fastai"`: a fastai model-zoo archive (`.tgz` holding a `.pth` state dict and a `.pkl` vocabulary list).
  The vocabulary pickle is read by an unpickler that accepts only a list of strings (no classes, no code), and
  the state dict's keys are converted to Lamina's layout (`convert_fastai_weights`).

The cache is `pretrained_dir()` (`$LAMINA_HOME/models`). A cached file is checked against the entry's sha256
before use; a download is verified before it is moved into place. Offline, a missing file raises
`PretrainedUnavailableError` saying where to put it.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lamina.core.data.download import (
    DownloadError,
    DownloadUnreachableError,
    VerificationError,
    check_sha256,
    download_url,
    file_digest,
)
from lamina.core.data.external import UnverifiedDownloadWarning, lamina_home, untar_data

__all__ = [
    "PretrainedWeights",
    "PretrainedUnavailableError",
    "PRETRAINED",
    "ARCH_PRETRAINED",
    "register_pretrained",
    "pretrained_dir",
    "pretrained_file",
    "default_pretrained",
    "read_vocab",
    "load_lm_weights",
    "save_lm_weights",
    "convert_fastai_weights",
    "match_embeds",
    "encoder_state",
]

_FORMATS = ("lamina", "fastai")
_EMBED_KEYS = ("0.encoder.weight", "0.encoder_dp.emb.weight")
_AWD_DEFAULT_SIZES = {"emb_sz": 400, "n_hid": 1152, "n_layers": 3}


class PretrainedUnavailableError(FileNotFoundError):
    """Pretrained weights that are neither in the local cache nor downloadable now (offline)."""


@dataclass(frozen=True)
class PretrainedWeights:
    """A named set of pretrained language-model weights.

    `url`: where to download them (None: only from the cache); `sha256`: the digest of the file (lamina
    format) or archive (fastai format), None when unknown (the download then warns that it is unverified);
    `fmt`: `"lamina"` or `"fastai"`; `arch`: the encoder's name; `sizes`: the config values the weights need
    (`emb_sz`, `n_hid`, `n_layers`), checked before anything is downloaded.
    """

    name: str
    url: str | None = None
    sha256: str | None = None
    fmt: str = "lamina"
    arch: str = "AWD_LSTM"
    sizes: Mapping[str, int] = field(default_factory=dict)
    size: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name or "\\" in self.name:
            raise ValueError(
                f"PretrainedWeights: name must be a plain file-name-like string, got {self.name!r}"
            )
        if self.fmt not in _FORMATS:
            raise ValueError(
                f"PretrainedWeights {self.name}: fmt must be one of {_FORMATS}, got {self.fmt!r}"
            )
        if self.fmt == "fastai" and self.url is None:
            raise ValueError(f"PretrainedWeights {self.name}: a fastai archive needs its url")
        object.__setattr__(self, "sha256", check_sha256(self.sha256))

    @property
    def cache_path(self) -> Path:
        """Where the weights live in the cache: `<name>.pth`, or the folder the fastai archive extracts to."""
        if self.fmt == "lamina":
            return pretrained_dir() / f"{self.name}.pth"
        return pretrained_dir() / _archive_stem(self.url)


def _archive_stem(url: str) -> str:
    name = url.rsplit("/", 1)[-1]
    for suffix in (".tar.gz", ".tgz", ".tar", ".zip"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


_MODELZOO = "https://s3.amazonaws.com/fast-ai-modelzoo/"
PRETRAINED: dict[str, PretrainedWeights] = {}
"""The known pretrained weights by name (add with `register_pretrained`)."""

ARCH_PRETRAINED: dict[str, dict[str, str]] = {"AWD_LSTM": {"fwd": "wt103_fwd", "bwd": "wt103_bwd"}}
"""The default weights of each encoder (by class name) for a forward and a backwards language model."""


def register_pretrained(spec: PretrainedWeights, replace: bool = False) -> PretrainedWeights:
    """Make `spec` known by its name (`replace=True` to change an existing entry)."""
    if not isinstance(spec, PretrainedWeights):
        raise TypeError(f"register_pretrained: expected a PretrainedWeights, got {type(spec).__name__}")
    if spec.name in PRETRAINED and PRETRAINED[spec.name] != spec and not replace:
        raise ValueError(f"register_pretrained: {spec.name!r} is already registered; pass replace=True")
    PRETRAINED[spec.name] = spec
    return spec


for _direction in ("fwd", "bwd"):
    register_pretrained(
        PretrainedWeights(
            f"wt103_{_direction}",
            url=f"{_MODELZOO}wt103-{_direction}2.tgz",
            fmt="fastai",
            sizes=_AWD_DEFAULT_SIZES,
        )
    )  # fastai's AWD-LSTM trained on WikiText-103; fastai publishes no sha256 for these archives


def pretrained_dir() -> Path:
    """The local cache of pretrained weights: `<lamina home>/models` (`$LAMINA_HOME`, else `~/.lamina`)."""
    return lamina_home() / "models"


def default_pretrained(arch_name: str, backwards: bool = False) -> PretrainedWeights | None:
    """The default weights for encoder `arch_name` in that direction (None when there are none)."""
    name = ARCH_PRETRAINED.get(arch_name, {}).get("bwd" if backwards else "fwd")
    return None if name is None else PRETRAINED.get(name)


def _spec(name_or_spec: str | PretrainedWeights) -> PretrainedWeights:
    if isinstance(name_or_spec, PretrainedWeights):
        return name_or_spec
    try:
        return PRETRAINED[name_or_spec]
    except (KeyError, TypeError):
        raise KeyError(
            f"no pretrained weights named {name_or_spec!r}; known: {sorted(PRETRAINED)} "
            "(add one with register_pretrained)"
        ) from None


def pretrained_file(name: str | PretrainedWeights, download: bool = True, timeout: float = 30) -> Path:
    """The local path of pretrained weights `name`: the cached copy (checked against its sha256), else
    downloaded into the cache and verified. Raises `PretrainedUnavailableError` when the file is not cached
    and cannot be downloaded (offline, or `download=False`), saying where to put it."""
    spec = _spec(name)
    if spec.fmt == "fastai":
        return _fastai_archive(spec, download, timeout)
    dest = spec.cache_path
    if dest.is_file():
        if spec.sha256 is not None:
            actual = file_digest(dest)
            if actual != spec.sha256:
                raise VerificationError(
                    f"the cached pretrained weights {spec.name!r} at {dest} have sha256 {actual}, expected "
                    f"{spec.sha256}: the file is damaged or another version; delete it to download again",
                    url=spec.url or str(dest),
                    path=dest,
                    what="sha256",
                    expected=spec.sha256,
                    actual=actual,
                )
        return dest
    if spec.url is None or not download:
        why = "no download address is known" if spec.url is None else "downloading is off (download=False)"
        raise PretrainedUnavailableError(
            f"pretrained weights {spec.name!r} are not in the local cache and {why}: put the file at {dest}"
            + (f" (sha256 {spec.sha256})" if spec.sha256 else "")
        )
    try:
        download_url(spec.url, dest, sha256=spec.sha256, size=spec.size, timeout=timeout, show_progress=False)
    except DownloadUnreachableError as e:
        raise PretrainedUnavailableError(_by_hand(spec, dest, e)) from e
    except VerificationError:
        raise
    except DownloadError as e:
        raise PretrainedUnavailableError(_by_hand(spec, dest, e)) from e
    if spec.sha256 is None:
        warnings.warn(
            f"pretrained weights {spec.name!r} were downloaded from {spec.url} without a known "
            "sha256, so their "
            f"content is unverified (they have sha256 {file_digest(dest)})",
            UnverifiedDownloadWarning,
            stacklevel=2,
        )
    return dest


def _by_hand(spec: PretrainedWeights, dest: Path, e: Exception) -> str:
    check = f" (sha256 {spec.sha256})" if spec.sha256 else ""
    return (
        f"pretrained weights {spec.name!r} are not in the local cache and could not be downloaded: {e}. "
        f"Download {spec.url} another way and save it as {dest}{check}; it is verified and used on "
        "the next call (or pass pretrained=False to train from scratch)"
    )


def _fastai_archive(spec: PretrainedWeights, download: bool, timeout: float) -> Path:
    target = spec.cache_path
    if target.is_dir():
        return target
    archive_dir = pretrained_dir() / "archive"
    archive = archive_dir / spec.url.rsplit("/", 1)[-1]
    if not download and not archive.is_file():
        raise PretrainedUnavailableError(
            f"pretrained weights {spec.name!r} are not in the local cache and downloading is off: put "
            f"the archive {spec.url} at {archive}"
        )
    try:
        return untar_data(spec.url, archive=archive_dir, data=pretrained_dir(), sha256=spec.sha256)
    except DownloadUnreachableError as e:
        raise PretrainedUnavailableError(
            f"pretrained weights {spec.name!r}: {e} (or pass pretrained=False to train from scratch)"
        ) from e


# ---- reading and writing ------------------------------------------------------------------------------
class _StringListUnpickler(pickle.Unpickler):
    """Unpickles plain data only: any class or function reference is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: a vocabulary pickle holds strings only"
        )


def read_vocab(file: str | os.PathLike) -> list[str]:
    """A vocabulary file: a JSON list of tokens, or a pickled list of strings (fastai's `.pkl`, read without
    running any pickled code)."""
    file = Path(file)
    if not file.is_file():
        raise FileNotFoundError(f"read_vocab: no vocabulary file at {file}")
    if file.suffix == ".json":
        vocab = json.loads(file.read_text(encoding="utf-8"))
    else:
        try:
            vocab = _StringListUnpickler(io.BytesIO(file.read_bytes())).load()
        except (pickle.UnpicklingError, EOFError, ValueError) as e:
            raise ValueError(f"read_vocab: {file} is not a pickled list of strings: {e}") from e
    if not isinstance(vocab, list) or not all(isinstance(t, str) for t in vocab):
        raise ValueError(f"read_vocab: {file} does not hold a list of strings")
    return vocab


def _load_state(file: Path) -> Any:
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(
            f"load_lm_weights: {file} cannot be read as tensors and plain data (torch.load weights_only): {e}"
        ) from e


def load_lm_weights(
    source: str | os.PathLike | PretrainedWeights, vocab_file: str | os.PathLike | None = None
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """`(state_dict, vocab)` of a language model: from a registered name (fetched with `pretrained_file`), a
    lamina `.pth` file, a fastai folder (its `.pth` and `.pkl`), or a weights file with its `vocab_file`. The
    keys are in Lamina's layout (fastai's are converted)."""
    if isinstance(source, PretrainedWeights) or (isinstance(source, str) and source in PRETRAINED):
        source = pretrained_file(source)
    path = Path(source)
    if path.is_dir():
        weights, vocabs = sorted(path.glob("*.pth")), sorted(path.glob("*.pkl")) + sorted(path.glob("*.json"))
        if not weights or not vocabs:
            raise FileNotFoundError(
                f"load_lm_weights: {path} should hold a .pth weights file and a .pkl/.json "
                "vocabulary; it has "
                f"{sorted(p.name for p in path.iterdir())} (an incomplete download? delete it to "
                "fetch it again)"
            )
        path, vocab_file = weights[0], vocabs[0]
    if not path.is_file():
        raise FileNotFoundError(f"load_lm_weights: no weights file at {path}")
    state = _load_state(path)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], Mapping):
        vocab = state.get("vocab")
        state = dict(state["model"])
    else:
        vocab = None
    if vocab_file is not None:
        vocab = read_vocab(vocab_file)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"load_lm_weights: {path} does not hold a state dict of tensors")
    if vocab is None:
        raise ValueError(f"load_lm_weights: {path} holds no vocabulary; pass vocab_file=")
    if not isinstance(vocab, list) or not all(isinstance(t, str) for t in vocab):
        raise ValueError(f"load_lm_weights: the vocabulary of {path} is not a list of strings")
    return convert_fastai_weights(dict(state)), vocab


def save_lm_weights(
    model: nn.Module,
    vocab: Sequence[str],
    file: str | os.PathLike,
    arch: str = "AWD_LSTM",
    config: Mapping[str, Any] | None = None,
) -> tuple[Path, str]:
    """Write a language model's weights and vocabulary in the lamina format; returns `(path, sha256)` (give
    the sha256 to a `PretrainedWeights` entry so the file is verified where it is used)."""
    file = Path(file)
    if file.suffix != ".pth":
        file = file.with_name(file.name + ".pth")
    file.parent.mkdir(parents=True, exist_ok=True)
    plain_config = {k: v for k, v in dict(config or {}).items() if isinstance(v, (int, float, bool, str))}
    payload = {"model": model.state_dict(), "vocab": list(vocab), "arch": arch, "config": plain_config}
    tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, file)
    return file, file_digest(file)


def convert_fastai_weights(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict in Lamina's AWD-LSTM layout: fastai's DropConnect keeps the raw hidden weights as
    `rnns.i.weight_hh_l0_raw` (Lamina: `rnns.i.module.weight_hh_l0`); a saved optimizer wrapper `{'model':
    ...}` is unwrapped. Lamina keys pass unchanged."""
    state = dict(state)
    if "model" in state and isinstance(state["model"], Mapping):
        state = dict(state["model"])
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith("_raw"):
            head, _, name = key[: -len("_raw")].rpartition(".")
            out[f"{head}.module.{name}"] = value
    for key, value in state.items():
        if not key.endswith("_raw") and key not in out:
            out[key] = value
    return out


def match_embeds(
    state: Mapping[str, torch.Tensor], old_vocab: Sequence[str], new_vocab: Sequence[str]
) -> dict[str, torch.Tensor]:
    """`state` with its embedding (and decoder) rows re-indexed from `old_vocab` to `new_vocab`: a token of
    both keeps its row, a new token gets the mean row (the mean bias for the decoder)."""
    state = dict(state)
    key = next((k for k in _EMBED_KEYS if k in state), None)
    if key is None:
        raise KeyError(f"match_embeds: the state dict has no embedding ({' or '.join(_EMBED_KEYS)})")
    weight = state[key]
    if weight.size(0) != len(old_vocab):
        raise ValueError(
            f"match_embeds: the embedding has {weight.size(0)} rows but the vocabulary "
            f"{len(old_vocab)} tokens"
        )
    where = {t: i for i, t in reversed(list(enumerate(old_vocab)))}
    idx = torch.tensor([where.get(t, -1) for t in new_vocab], dtype=torch.long)
    known = (idx >= 0).unsqueeze(1)

    def remap(w: torch.Tensor) -> torch.Tensor:
        mean = w.mean(0, keepdim=True)
        rows = w[idx.clamp(min=0)]
        return torch.where(known if w.dim() == 2 else known.squeeze(1), rows, mean.expand_as(rows))

    done: dict[int, torch.Tensor] = {}  # a tied weight is saved under several keys: remap it once
    for k in (*_EMBED_KEYS, "1.decoder.weight", "1.decoder.bias"):
        if k in state:
            w = state[k]
            if id(w) not in done:
                done[id(w)] = remap(w)
            state[k] = done[id(w)]
    return state


def encoder_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The encoder's part (`0.*`) of a language model's state dict, keys without the `0.` prefix."""
    return {k[2:]: v for k, v in state.items() if k.startswith("0.")}
