"""External datasets: `URLs` (the addresses plugins register) and `untar_data` (fetch, verify, extract).

Everything lives under one home folder, `$LAMINA_HOME` (default `~/.lamina`): downloaded
archives in `<home>/archive`, extracted data in `<home>/data`. `untar_data(URLs.MNIST_TINY)`
downloads `mnist_tiny.tgz` once, checks its size and sha256 against what the plugin
registered, extracts it atomically and safely, and afterwards returns the extracted folder
without touching the network.
"""

from __future__ import annotations

import difflib
import os
import warnings
from pathlib import Path

from lamina.core.data.archive import ArchiveError, archive_stem, extract_archive
from lamina.core.data.download import (
    DownloadError,
    VerificationError,
    check_sha256,
    fetch,
    file_digest,
    remove_path,
    remove_stale_staging,
    url_file_name,
)
from lamina.core.plugins import PluginLoadWarning, plugin_info, registry
from lamina.core.plugins.registry import RegistryKeyError
from lamina.core.plugins.specs import DatasetSpec

__all__ = [
    "HOME_ENV",
    "DatasetURLs",
    "URLs",
    "UnverifiedDownloadWarning",
    "archive_path",
    "data_path",
    "find_dataset",
    "lamina_home",
    "unknown_dataset_message",
    "untar_data",
]

HOME_ENV = "LAMINA_HOME"

# Where the datasets fastai users know by name come from, to point at the package to install
# when one is asked for and no loaded plugin registers it. A hint only: plugins are the truth.
_PROVIDERS: dict[str, tuple[str, ...]] = {
    "lamina-vision": (
        "MNIST", "MNIST_SAMPLE", "MNIST_TINY", "MNIST_VAR_SIZE_TINY", "PETS", "CAMVID", "CAMVID_TINY",
        "COCO_SAMPLE", "COCO_TINY", "IMAGENETTE", "IMAGENETTE_160", "IMAGENETTE_320", "IMAGEWOOF",
        "IMAGEWOOF_160", "IMAGEWOOF_320", "IMAGEWANG", "IMAGEWANG_160", "IMAGEWANG_320", "CIFAR",
        "CIFAR_100", "CALTECH_101", "CARS", "CUB_200_2011", "FLOWERS", "FOOD", "DOGS", "BIWI_HEAD_POSE",
        "BIWI_SAMPLE", "PASCAL_2007", "PASCAL_2012", "PLANET_SAMPLE", "PLANET_TINY", "LSUN_BEDROOMS",
        "SIIM_SMALL", "TCGA_SMALL",
    ),
    "lamina-text": (
        "IMDB", "IMDB_SAMPLE", "HUMAN_NUMBERS", "WIKITEXT", "WIKITEXT_TINY", "AG_NEWS", "AMAZON_REVIEWS",
        "AMAZON_REVIEWS_POLARITY", "DBPEDIA", "MT_ENG_FRA", "SOGOU_NEWS", "YAHOO_ANSWERS", "YELP_REVIEWS",
        "YELP_REVIEWS_POLARITY",
    ),
    "lamina-tabular": ("ADULT_SAMPLE",),
    "lamina-collab": ("ML_SAMPLE", "ML_100k"),
}  # fmt: skip
_PROVIDER_OF: dict[str, str] = {name: dist for dist, names in _PROVIDERS.items() for name in names}


class UnverifiedDownloadWarning(UserWarning):
    """A download whose content could not be checked against a known sha256."""


def lamina_home() -> Path:
    """Lamina's home folder: `$LAMINA_HOME`, else `~/.lamina` (read at each call)."""
    configured = os.environ.get(HOME_ENV, "").strip()
    return Path(configured or "~/.lamina").expanduser().absolute()


def archive_path() -> Path:
    """Where downloaded archives are kept: `<home>/archive`."""
    return lamina_home() / "archive"


def data_path() -> Path:
    """Where archives are extracted: `<home>/data`."""
    return lamina_home() / "data"


class DatasetURLs:
    """The addresses of the registered datasets as attributes: `URLs.MNIST_TINY` is its url.

    The names come from the `datasets` registry, which plugins fill through their
    `lamina_datasets` hook; `dir(URLs)` lists them. `URLs.path(url)` says where a download
    is stored. (A name lookup is a registry read, so the set of names follows the plugins
    installed and loaded; `__getattr__` here serves only that read.)
    """

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):  # dunder and private probes (copy, pickle, IPython) never load plugins
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self
            )
        spec = registry.datasets.get(name)
        if spec is None:
            raise AttributeError(unknown_dataset_message(name, "URLs has no dataset"), name=name, obj=self)
        return spec.url

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(registry.datasets))

    def path(self, url: str, c_key: str = "archive") -> Path:
        """Where `url` (or a registered dataset name) is stored: its archive (`c_key="archive"`),
        or the folder `untar_data` extracts it to (`c_key="data"`)."""
        if c_key not in ("archive", "data"):
            raise ValueError(f"URLs.path: c_key must be 'archive' or 'data', got {c_key!r}")
        spec = find_dataset(url)
        name = url_file_name(spec.url if spec is not None else url)
        return archive_path() / name if c_key == "archive" else data_path() / archive_stem(name)

    def __repr__(self) -> str:
        names = sorted(registry.datasets)
        return f"URLs({len(names)} datasets: {', '.join(names)})" if names else "URLs(no dataset registered)"


URLs = DatasetURLs()


def unknown_dataset_message(name: str, what: str = "no dataset") -> str:
    """Why `name` is not a registered dataset: close names, and the package that might provide it."""
    registered = sorted(registry.datasets)
    known = {n.upper(): n for n in (*_PROVIDER_OF, *registered)}
    close = [known[c] for c in difflib.get_close_matches(name.upper(), list(known), n=3, cutoff=0.7)]
    lines = [f"{what} named {name!r}."]
    provider = _PROVIDER_OF.get(name)
    if provider is not None and name not in registered:
        lines.append(f"It is provided by the {provider} package: install it (pip install {provider}).")
    suggestions = [c for c in close if c != name]
    if suggestions:
        lines.append("Did you mean " + ", ".join(_describe(c, registered) for c in suggestions) + "?")
    if registered:
        lines.append(f"Registered datasets: {', '.join(registered)}.")
    else:
        lines.append("No loaded plugin registers any dataset (domain packages such as lamina-vision do).")
    failed = _failed_plugins()
    if failed:
        lines.append(f"Plugins that failed to load: {failed}.")
    lines.append(
        "Run `lamina plugins` to see what is installed; a plugin adds datasets with its lamina_datasets hook."
    )
    return " ".join(lines)


def _describe(name: str, registered: list[str]) -> str:
    if name in registered:
        return f"{name} (from plugin {registry.datasets.owner(name)!r})"
    return f"{name} (from {_PROVIDER_OF[name]}, not loaded)"


def _failed_plugins() -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginLoadWarning)
        infos = plugin_info()
    return "; ".join(
        f"{i.name} ({i.distribution or i.module}): {i.error}" for i in infos if i.status != "loaded"
    )


def find_dataset(url_or_name: str | DatasetSpec) -> DatasetSpec | None:
    """The registered `DatasetSpec` for a dataset name or url; None for an unregistered url.

    A string without `://` is a name and must be registered (`RegistryKeyError` otherwise).
    """
    if isinstance(url_or_name, DatasetSpec):
        return url_or_name
    if not isinstance(url_or_name, str):
        raise TypeError(f"expected a dataset url or name, got {type(url_or_name).__name__}: {url_or_name!r}")
    if "://" not in url_or_name:
        spec = registry.datasets.get(url_or_name)
        if spec is None:
            raise RegistryKeyError(unknown_dataset_message(url_or_name))
        return spec
    return next((spec for spec in registry.datasets.values() if spec.url == url_or_name), None)


def untar_data(
    url: str | DatasetSpec,
    archive: str | os.PathLike[str] | None = None,
    data: str | os.PathLike[str] | None = None,
    force_download: bool = False,
    sha256: str | None = None,
) -> Path:
    """Download the archive at `url` (once), verify it, extract it; return the extracted folder.

    `url` is a dataset url (`URLs.MNIST_TINY`), a registered name (`"MNIST_TINY"`) or a
    `DatasetSpec`. A registered dataset is checked against its registered size and sha256;
    any url is checked against `sha256` when given, and downloading one with no known sha256
    warns (`UnverifiedDownloadWarning`). The archive goes to `archive` (default
    `archive_path()`), the data to `data/<archive name without suffix>` (default `data_path()`).
    Extracted data is reused without a network call; an archive already in place (put there
    by hand when offline) is verified and extracted. `force_download=True` downloads and
    extracts again, replacing the old copy only once the new one is complete.
    """
    spec = find_dataset(url)
    address = spec.url if spec is not None else url
    name = url_file_name(address)
    sha256 = _expected_sha256(spec, check_sha256(sha256), address)
    size = spec.size if spec is not None else None
    archive_file = (Path(archive) if archive is not None else archive_path()) / name
    target = (Path(data) if data is not None else data_path()) / archive_stem(name)
    if target.absolute() == archive_file.absolute():
        raise ValueError(
            f"untar_data: {name!r} has no archive suffix, so with archive == data the archive and its "
            "extracted folder would share one path; give different `archive` and `data` folders"
        )
    remove_stale_staging(archive_file)
    remove_stale_staging(target)
    if target.exists() and not force_download:
        return target
    downloaded = force_download or not archive_file.is_file()
    if downloaded:
        _download(address, archive_file, sha256, size, spec)
    else:
        _verify_placed_archive(address, archive_file, sha256, size)
    try:
        extract_archive(archive_file, target, replace=force_download)
    except FileExistsError:
        if target.is_dir():  # another process extracted it meanwhile
            return target
        raise
    except ArchiveError as exc:
        if downloaded:
            remove_path(archive_file)
            exc.args = (f"{exc}; the archive downloaded from {address} was deleted",)
        else:
            exc.args = (f"{exc}; {archive_file} was not downloaded by this call: delete or replace it",)
        raise
    return target


def _expected_sha256(spec: DatasetSpec | None, given: str | None, url: str) -> str | None:
    registered = spec.sha256 if spec is not None else None
    if given is not None and registered is not None and given != registered:
        raise ValueError(
            f"untar_data: sha256={given} contradicts the sha256 {registered} registered for {url} "
            f"by plugin {registry.datasets.owner(spec.name)!r}"
        )
    return given or registered


def _download(
    url: str, archive_file: Path, sha256: str | None, size: int | None, spec: DatasetSpec | None
) -> None:
    try:
        _, digest = fetch(url, archive_file, sha256=sha256, size=size)
    except VerificationError:
        raise
    except DownloadError as exc:
        raise type(exc)(_by_hand_message(exc, archive_file, sha256, size, spec), url=url) from exc
    if sha256 is None:
        if spec is None:
            why = f"{url} is not a registered dataset and no sha256 was given, so its content is unverified"
        elif size is not None:
            why = f"no sha256 is registered for {url}: only its size was checked, its content is unverified"
        else:
            why = f"no size or sha256 is registered for {url}, so the download is unverified"
        warnings.warn(
            f"{why}. It has sha256 {digest}; pass sha256={digest!r} to untar_data to check it from now on.",
            UnverifiedDownloadWarning,
            stacklevel=3,
        )


def _by_hand_message(
    exc: DownloadError, archive_file: Path, sha256: str | None, size: int | None, spec: DatasetSpec | None
) -> str:
    checks = [f"{size} bytes"] if size is not None else []
    checks += [f"sha256 {sha256}"] if sha256 is not None else []
    expected = f" ({', '.join(checks)})" if checks else ""
    message = (
        f"{exc}. To install it by hand, download {exc.url} another way and save it as "
        f"{archive_file}{expected}; the next untar_data call verifies and extracts it."
    )
    if spec is not None and spec.sample is not None:
        message += f" A small sample of {spec.name} that works offline is at {spec.sample}."
    return message


def _verify_placed_archive(url: str, archive_file: Path, sha256: str | None, size: int | None) -> None:
    """Check an archive that was already in place (put there by hand, or by an earlier download)."""
    checks: list[tuple[str, object, object]] = []
    if size is not None:
        checks.append(("size", size, archive_file.stat().st_size))
    if sha256 is not None:
        checks.append(("sha256", sha256, file_digest(archive_file)))
    for what, expected, actual in checks:
        if expected != actual:
            unit = " bytes" if what == "size" else ""
            raise VerificationError(
                f"the archive at {archive_file} does not match {url}: expected {what} {expected}{unit}, "
                f"got {actual}{unit}. It was not downloaded by this call (it was put there by hand or "
                "left by an earlier run): delete or replace it, or pass force_download=True "
                "to download it again",
                url=url,
                path=archive_file,
                what=what,
                expected=expected,
                actual=actual,
            )
