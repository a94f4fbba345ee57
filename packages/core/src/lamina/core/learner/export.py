"""`learn.export()` and `load_learner()`: a trained learner for inference, in a file that holds no code.

The file (`torch.save` of plain data, read with `torch.load(weights_only=True)`) holds the model as its
description (registered class names and constructor arguments, see `lamina.core.learner.describe`) plus its
weights, the loss function, and the inference data pipeline: the validation loader's `after_item` /
`before_batch` / `after_batch` transforms and the dataset's per-element transforms with their learned state
(vocabularies, normalization statistics), `n_inp` and the item and batch types. It is stamped with a format
version and the versions of the installed Lamina distributions. docs/export.md describes the format.

Loading looks classes up only in the `classes` registry (and `torch.nn`), so a file still loads after the
module that defined a class moved, as long as something registers the class under the same name; nothing
outside the registry is imported and nothing in the file is unpickled. A model or transform that cannot be
described makes `export` fail before anything is written, saying how to make it describable. As an explicit
opt-in, `export(..., pickle_fallback=True)` pickles the parts that cannot be described, and only
`load_learner(..., trusted=True)` unpickles them (pickles run code: only for files you trust).

Not exported: metrics, callbacks beyond the defaults, the optimizer state and the training data (the loaded
learner's loaders hold no items: `learn.predict(item)` and `learn.dls.test_dl(items)` work).
"""

from __future__ import annotations

import importlib.metadata
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from lamina.core.data.datasets import Datasets
from lamina.core.data.load import HOOK_STAGES
from lamina.core.data.loaders import DataLoaders
from lamina.core.data.tfmd_dl import PIPELINE_HOOKS, TfmdDL
from lamina.core.data.tfmd_lists import TfmdLists
from lamina.core.learner.checkpoint import atomic_save
from lamina.core.learner.describe import (
    DescribeError,
    OmittedStep,
    RebuildError,
    build_module,
    class_name,
    describe_module,
    from_data,
    has_decodes,
    resolve_class,
    to_data,
)
from lamina.core.learner.params import trainable_params
from lamina.core.optim.optimizers import Adam
from lamina.core.pipeline import Pipeline
from lamina.core.plugins.registry import register_class
from lamina.core.tensors import default_device
from lamina.core.transform import Transform

if TYPE_CHECKING:
    from lamina.core.learner.learner import Learner

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_FORMAT_VERSION",
    "ExportFormatError",
    "UntrustedExportError",
    "lamina_versions",
    "register_inference_data",
    "export_learner",
    "load_learner",
    "ExportMixin",
]

EXPORT_FORMAT = "lamina-learner"
EXPORT_FORMAT_VERSION = 1
_OLDEST_READABLE = 0
_LOADER_SETTINGS = ("bs", "num_workers", "pin_memory", "timeout", "persistent_workers", "prefetch_factor")

register_class("lamina.core.TfmdDL")(TfmdDL)


class ExportFormatError(ValueError):
    """A file `load_learner` cannot read: not an export, refused content, or an unknown format version."""


class UntrustedExportError(ExportFormatError):
    """An export holding pickled parts, loaded without `trusted=True` (the pickles were not run)."""


_DATA_HANDLERS: dict[type, tuple[Callable[[Any], Any], Callable[[Any, Path], Any]]] = {}


def register_inference_data(
    loader_cls: type, describe: Callable[[Any], Any], rebuild: Callable[[Any, Path], Any]
) -> type:
    """Let a plugin export the inference data of loaders that are not `TfmdDL`s (e.g. a tabular loader).

    `describe(dls)` returns what inference needs (any value `to_data` can describe: registered objects,
    tensors, ...); `rebuild(value, path)` returns the loaded learner's `DataLoaders` from it. `loader_cls`
    (registered with `register_class`) is matched against the validation loader's class and its bases."""
    if not isinstance(loader_cls, type) or not callable(describe) or not callable(rebuild):
        raise TypeError("register_inference_data(loader_cls, describe, rebuild): a class and two functions")
    _DATA_HANDLERS[loader_cls] = (describe, rebuild)
    return loader_cls


def lamina_versions() -> dict[str, str]:
    """The installed Lamina distributions and their versions (`importlib.metadata`)."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name == "lamina" or name.startswith("lamina-"):
            found[name] = dist.version
    return dict(sorted(found.items()))


# ---- describing, with the optional pickle fallback -------------------------------------------------------
class _Parts:
    """Describes the parts of a learner; with `pickle_fallback`, pickles a part that cannot be described."""

    def __init__(self, pickle_fallback: bool):
        self.pickle_fallback = pickle_fallback
        self.pickled: list[str] = []

    def _pickle(self, obj: Any, where: str, error: DescribeError) -> dict[str, bytes]:
        if not self.pickle_fallback:
            raise error
        try:
            blob = pickle.dumps(obj)
        except Exception as e:
            raise DescribeError(f"{error}; pickling it failed too: {type(e).__name__}: {e}") from e
        self.pickled.append(where)
        return {"pickled": blob}

    def value(self, obj: Any, where: str, describe: Callable[[Any, str], Any] = to_data) -> Any:
        try:
            desc = describe(obj, where)
            if describe is to_data:
                from_data(desc, where)  # the file must load: rebuild it now, before anything is written
            return desc
        except DescribeError as e:
            return self._pickle(obj, where, e)
        except RebuildError as e:
            return self._pickle(obj, where, DescribeError(f"{where}: its description does not rebuild: {e}"))

    def step(self, t: Transform, where: str, omit_ok: bool = False) -> Any:
        """A pipeline step; a target-side step without `decodes` that cannot be described is left out."""
        try:
            desc = to_data(t, where)
            from_data(desc, where)
            return desc
        except (DescribeError, RebuildError) as e:
            if omit_ok and not has_decodes(t):
                return {"omitted": t.name.split(" --")[0], "order": t.order}
            error = e if isinstance(e, DescribeError) else DescribeError(f"{where}: {e}")
            return self._pickle(t, where, error)

    @staticmethod
    def optional(value: Any, where: str) -> Any:
        """`to_data(value)`, or None with a warning when it cannot be described (optional information)."""
        try:
            desc = to_data(value, where)
            from_data(desc, where)
            return desc
        except (DescribeError, RebuildError) as e:
            warnings.warn(
                f"export: {where} not stored ({e}); register the classes involved to keep it", stacklevel=4
            )
            return None


def _inference_loader(dls: Any) -> Any:
    for i in (1, 0):
        try:
            dl = dls[i]
        except (IndexError, TypeError, KeyError):
            continue
        if dl is not None:
            return dl
    return None


def _describe_data(dls: Any, parts: _Parts) -> dict[str, Any] | None:
    """The inference part of `dls` (see the module docstring); None, with a warning, for loaders that are
    not `TfmdDL`s over a `Datasets`/`TfmdLists`."""
    dl = _inference_loader(dls)
    handler = next((c for c in type(dl).__mro__ if c in _DATA_HANDLERS), None)
    if handler is not None:
        value = _DATA_HANDLERS[handler][0](dls)
        return {"handler": class_name(handler, "the loader class"), "value": parts.value(value, "the data")}
    if not isinstance(dl, TfmdDL) or not isinstance(dl.dataset, (Datasets, TfmdLists)):
        warnings.warn(
            f"export: the data loaders ({type(dl).__name__}) are not Lamina TfmdDLs over a Datasets, so the "
            "export holds no inference pipeline: after load_learner, pass your own loader to "
            "get_preds(dl=...)",
            stacklevel=3,
        )
        return None
    replaced = [h for h in HOOK_STAGES if h not in PIPELINE_HOOKS and h in vars(dl)]
    if replaced:
        raise DescribeError(
            f"the validation loader has the hooks {replaced} replaced by functions, which cannot be "
            "exported; subclass TfmdDL (registered, with `export_args`) instead"
        )
    ds = dl.dataset
    tls, n_inp = (list(ds.tls), ds.n_inp) if isinstance(ds, Datasets) else ([ds], 1)
    elements = []
    for k, tl in enumerate(tls):
        role = "input" if k < n_inp else "target"
        where = f"the {role} pipeline (tuple element {k})"
        steps = [
            parts.step(t, f"{where}, step {i} `{t.name.split(' --')[0]}`", omit_ok=role == "target")
            for i, t in enumerate(tl.tfms.fs)
        ]
        elements.append({"tfms": steps, "types": parts.optional(tl.types, f"the item types of {where}")})
    pipelines = {
        name: [
            parts.step(t, f"the loader's {name}, step {i} `{t.name}`")
            for i, t in enumerate(getattr(dl, name).fs)
        ]
        for name in PIPELINE_HOOKS
    }
    try:
        batch_types = dl._one_pass()[1]  # the tensor types of a batch, so that predictions decode
    except Exception:
        batch_types = None
    extra = {name: getattr(dl, name) for name in getattr(type(dl), "export_args", ())}
    return {
        "loader": class_name(type(dl), "the validation loader"),
        "settings": {name: getattr(dl, name) for name in _LOADER_SETTINGS},
        "loader_args": {k: parts.value(v, f"the loader's {k}") for k, v in extra.items()},
        "pipelines": pipelines,
        "dataset": {"kind": "datasets" if isinstance(ds, Datasets) else "tfmdlists", "n_inp": n_inp},
        "elements": elements,
        "n_inp": dl.n_inp,
        "batch_types": None if batch_types is None else parts.optional(batch_types, "the batch types"),
        "vocab": parts.optional(dls.__dict__.get("_vocab"), "dls.vocab"),
    }


def _learner_settings(learn: Learner, parts: _Parts) -> dict[str, Any]:
    settings = {
        "lr": to_data(learn.lr, "learn.lr"),
        "wd": learn.wd,
        "wd_bn_bias": learn.wd_bn_bias,
        "train_bn": learn.train_bn,
        "moms": to_data(learn.moms, "learn.moms"),
        "model_dir": str(learn.model_dir),
    }
    if type(learn) is not _learner_class():
        # a registered Learner subclass (a domain learner with its own `predict`) is rebuilt as such
        settings["learner_class"] = class_name(type(learn), "the learner class")
    for name, default in (("opt_func", Adam), ("splitter", trainable_params)):
        value = getattr(learn, name)
        if value is not default:
            desc = parts.optional(value, f"learn.{name}")
            if desc is not None:
                settings[name] = desc
    return settings


def _learner_class() -> type:
    from lamina.core.learner.learner import Learner

    return Learner


def export_learner(
    learn: Learner, fname: str | Path = "export.lamina", pickle_fallback: bool = False
) -> Path:
    """Write `learn` for inference to `fname` (relative to `learn.path`); see the module docstring. Everything
    is described (and checked) before the file is written, atomically. Returns the path."""
    target = Path(fname)
    if not target.is_absolute():
        target = learn.path / target
    parts = _Parts(pickle_fallback)
    model = learn.model
    model_desc = parts.value(model, "the model", describe_module)
    if "pickled" not in model_desc:
        model_desc = {
            "config": model_desc,
            "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "frozen": [n for n, p in model.named_parameters() if not p.requires_grad],
        }
    payload = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "written_by": {**lamina_versions(), "torch": str(torch.__version__)},
        "model": model_desc,
        "loss_func": parts.value(learn.loss_func, "the loss function"),
        "data": _describe_data(learn.dls, parts),
        "learner": _learner_settings(learn, parts),
        "pickled_parts": list(parts.pickled),
    }
    return atomic_save(payload, target)


# ---- reading ---------------------------------------------------------------------------------------------
def _upgrade_v0(old: dict[str, Any]) -> dict[str, Any]:
    """Format 0 (pre-release): flat keys `model_config`, `model_state`, `loss_func`, `data`; no versions,
    frozen parameters or learner settings."""
    return {
        "format": EXPORT_FORMAT,
        "format_version": 1,
        "written_by": {},
        "model": {"config": old["model_config"], "state": old["model_state"], "frozen": []},
        "loss_func": old["loss_func"],
        "data": old.get("data"),
        "learner": {},
        "pickled_parts": [],
    }


_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _upgrade_v0}


def _reason(e: Exception) -> str:
    """The informative line of a `torch.load` failure (its `WeightsUnpickler error: ...` line if any)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    detail = next((line for line in lines if "WeightsUnpickler error" in line), None)
    return detail or (lines[0] if lines else type(e).__name__)


def _read(path: Path) -> dict[str, Any]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ExportFormatError(
            f"load_learner: {path} was refused: it is not a Lamina export, or it holds objects that are not "
            f"plain data (nothing in it was run): {_reason(e)}"
        ) from e
    if not isinstance(payload, dict):
        raise ExportFormatError(
            f"load_learner: {path} is not a Lamina export (it holds a {type(payload).__name__})"
        )
    if payload.get("format") == EXPORT_FORMAT:
        version = payload.get("format_version")
    elif "lamina_export" in payload:
        version = payload["lamina_export"]
    else:
        raise ExportFormatError(f"load_learner: {path} is not a Lamina export (no format stamp)")
    if not isinstance(version, int) or not _OLDEST_READABLE <= version <= EXPORT_FORMAT_VERSION:
        writers = ", ".join(f"{k} {v}" for k, v in dict(payload.get("written_by") or {}).items()) or "unknown"
        newer = isinstance(version, int) and version > EXPORT_FORMAT_VERSION
        raise ExportFormatError(
            f"load_learner: {path} is in export format version {version!r} (written by {writers}); this "
            f"lamina-core reads versions {_OLDEST_READABLE} to {EXPORT_FORMAT_VERSION}"
            + ("; upgrade lamina-core to load it" if newer else "")
        )
    while version < EXPORT_FORMAT_VERSION:
        payload = _UPGRADES[version](payload)
        version = payload["format_version"]
    return payload


def _find_pickled(desc: Any, where: str, found: list[str]) -> None:
    if isinstance(desc, dict):
        if set(desc) == {"pickled"} and isinstance(desc["pickled"], bytes):
            found.append(where)
            return
        for k, v in desc.items():
            if (
                k != "state"
                or not isinstance(v, dict)
                or not all(isinstance(t, torch.Tensor) for t in v.values())
            ):
                _find_pickled(v, f"{where}.{k}", found)
    elif isinstance(desc, (list, tuple)):
        for i, v in enumerate(desc):
            _find_pickled(v, f"{where}[{i}]", found)


def _rebuild(desc: Any, where: str) -> Any:
    """A described part; a pickled one only reaches here after the caller said the file is trusted."""
    if isinstance(desc, dict) and set(desc) == {"pickled"}:
        return pickle.loads(desc["pickled"])
    return from_data(desc, where)


def _step(desc: Any, where: str) -> Transform:
    if isinstance(desc, dict) and "omitted" in desc:
        step = OmittedStep(desc["omitted"])
        step.order = desc.get("order", 0)
        return step
    return _rebuild(desc, where)


def _build_data(desc: dict[str, Any], path: Path) -> DataLoaders:
    if "handler" in desc:
        cls = resolve_class(desc["handler"], "the loader class")
        if cls not in _DATA_HANDLERS:
            raise ExportFormatError(
                f"load_learner: the data was exported by the handler of {desc['handler']!r}, which is not "
                "registered here (register_inference_data); install the package that provides it"
            )
        return _DATA_HANDLERS[cls][1](_rebuild(desc["value"], "the data"), path)
    elements = []
    for k, element in enumerate(desc["elements"]):
        tfms = [_step(s, f"tuple element {k}, step {i}") for i, s in enumerate(element["tfms"])]
        types = None if element["types"] is None else from_data(element["types"], f"element {k} types")
        elements.append((tfms, types))
    loader_cls = resolve_class(desc["loader"], "the loader")
    if not (isinstance(loader_cls, type) and issubclass(loader_cls, TfmdDL)):
        raise ExportFormatError(f"load_learner: the loader class {desc['loader']!r} is not a TfmdDL")
    pipes = {
        name: [_step(s, f"the loader's {name}") for s in desc["pipelines"][name]] for name in PIPELINE_HOOKS
    }
    extra = {k: _rebuild(v, f"the loader's {k}") for k, v in desc.get("loader_args", {}).items()}
    batch_types = None if desc["batch_types"] is None else from_data(desc["batch_types"], "the batch types")
    loaders = []
    for split in (0, 1):
        tls = [
            TfmdLists([None], Pipeline(tfms, split_idx=split), split_idx=split, types=types).new_empty()
            for tfms, types in elements
        ]
        n_inp = desc["dataset"]["n_inp"]
        dataset = Datasets(tls=tls, n_inp=n_inp) if desc["dataset"]["kind"] == "datasets" else tls[0]
        dl = loader_cls(
            dataset, **pipes, do_setup=False, shuffle=False, drop_last=False, **desc["settings"], **extra
        )
        if batch_types is not None:
            dl._found = (desc["n_inp"], batch_types)  # an empty loader cannot find its batch types itself
        loaders.append(dl)
    dls = DataLoaders(*loaders, path=path)
    if desc.get("vocab") is not None:
        dls.vocab = from_data(desc["vocab"], "dls.vocab")
    return dls


def _build_model(desc: dict[str, Any]) -> nn.Module:
    if set(desc) == {"pickled"}:
        return _rebuild(desc, "the model")
    model = build_module(desc["config"])
    try:
        model.load_state_dict(desc["state"], assign=True)
    except RuntimeError as e:
        raise ExportFormatError(f"load_learner: the weights do not fit the described model: {e}") from e
    frozen = set(desc.get("frozen", ()))
    for name, p in model.named_parameters():
        if name in frozen:
            p.requires_grad_(False)
    return model


def load_learner(fname: str | Path, cpu: bool = True, trusted: bool = False) -> Learner:
    """The learner exported to `fname`, on the CPU (`cpu=False`: on `default_device()`), ready for
    `predict`, `get_preds` and `dls.test_dl`. A file with pickled parts loads only with `trusted=True`."""
    from lamina.core.learner.learner import Learner

    path = Path(fname)
    if not path.exists():
        raise FileNotFoundError(f"load_learner: no file at {path}")
    payload = _read(path)
    pickled: list[str] = []
    for part in ("model", "loss_func", "data", "learner"):
        _find_pickled(payload.get(part), part, pickled)
    if pickled and not trusted:
        raise UntrustedExportError(
            f"load_learner: {path} holds pickled parts ({', '.join(pickled)}); unpickling runs code from the "
            "file, so it was not done. Pass trusted=True only if you trust where the file comes from"
        )
    try:
        model = _build_model(payload["model"])
        loss_func = _rebuild(payload["loss_func"], "the loss function")
        dls = (
            DataLoaders(None, None, path=path.parent)
            if payload["data"] is None
            else _build_data(payload["data"], path.parent)
        )
        learner_settings = dict(payload["learner"])
        learner_cls = (
            resolve_class(learner_settings.pop("learner_class"), "the learner class")
            if "learner_class" in learner_settings
            else Learner
        )
        if not (isinstance(learner_cls, type) and issubclass(learner_cls, Learner)):
            raise RebuildError(f"the learner class {learner_cls!r} is not a Learner")
        settings = {k: _rebuild(v, f"learn.{k}") for k, v in learner_settings.items()}
    except RebuildError as e:
        raise ExportFormatError(f"load_learner: {path}: {e}") from e
    device = torch.device("cpu") if cpu else default_device()
    model.to(device)
    dls.to(device)
    return learner_cls(dls, model, loss_func=loss_func, path=path.parent, **settings)


class ExportMixin:
    """`Learner.export`."""

    def export(self: Learner, fname: str | Path = "export.lamina", pickle_fallback: bool = False) -> Path:
        """Write this learner for inference to `path/fname` without pickled code (see
        `lamina.core.learner.export`); read it back with `load_learner`. Returns the path."""
        return export_learner(self, fname, pickle_fallback=pickle_fallback)
