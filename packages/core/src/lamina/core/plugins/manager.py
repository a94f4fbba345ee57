"""The plugin manager: finds the `lamina` entry points, registers plugins, fills the registries.

One `pluggy.PluginManager` is built lazily, on the first registry read (or the first call
here). Our own domain packages are plugins like any other: they are found through the
same entry-point group and go through the same checks.
"""

from __future__ import annotations

import difflib
import os
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import importlib_metadata
import pluggy

from lamina.core.plugins import hookspecs
from lamina.core.plugins.registry import REGISTRIES, DuplicateKeyError, Registry, _set_plugins_loaded
from lamina.core.plugins.specs import ArchitectureSpec, DatasetSpec

__all__ = [
    "ENTRY_POINT_GROUP",
    "AUTOLOAD_ENV",
    "PluginError",
    "PluginLoadWarning",
    "PluginInfo",
    "autoload_enabled",
    "get_plugin_manager",
    "register",
    "plugin_info",
    "reset_plugins",
]

ENTRY_POINT_GROUP = "lamina"
AUTOLOAD_ENV = "LAMINA_DISABLE_PLUGIN_AUTOLOAD"
_FALSE_VALUES = ("", "0", "false", "no", "off")


class PluginError(Exception):
    """A plugin that breaks the contract: an unknown hook, a bad return value, a clashing name."""


class PluginLoadWarning(UserWarning):
    """An installed plugin that was skipped (it failed to import or was rejected)."""


@dataclass(frozen=True)
class PluginInfo:
    """One plugin as the manager saw it: where it came from and what it registered.

    `status` is `"loaded"` or `"failed"` (then `error` says why and nothing was registered);
    `registered` maps a registry name to the keys this plugin put there.
    """

    name: str
    module: str | None
    distribution: str | None
    version: str | None
    status: str
    error: str | None = None
    registered: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "registered": {k: list(v) for k, v in self.registered.items()},
        }


@dataclass(frozen=True)
class _Target:
    """Where a hook's results go and what they must look like."""

    registry: Registry[Any]
    expects: str
    is_valid: Callable[[Any], bool]
    keyed_by_name: bool = False  # the hook returns an iterable of specs, keyed by their `.name`


_TARGETS: dict[str, _Target] = {
    "lamina_blocks": _Target(REGISTRIES["blocks"], "a callable block factory", callable),
    "lamina_architectures": _Target(
        REGISTRIES["architectures"], "an ArchitectureSpec", lambda v: isinstance(v, ArchitectureSpec)
    ),
    "lamina_learners": _Target(REGISTRIES["learners"], "a callable learner factory", callable),
    "lamina_datasets": _Target(
        REGISTRIES["datasets"], "a DatasetSpec", lambda v: isinstance(v, DatasetSpec), keyed_by_name=True
    ),
    "lamina_tokenizers": _Target(REGISTRIES["tokenizers"], "a callable tokenizer factory", callable),
    "lamina_losses": _Target(REGISTRIES["losses"], "a callable loss factory", callable),
    "lamina_classes": _Target(REGISTRIES["classes"], "a class", lambda v: isinstance(v, type)),
    "lamina_demos": _Target(REGISTRIES["demos"], "a callable demo", callable),
}


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.manager: pluggy.PluginManager | None = None  # set once fully built
        self.building: pluggy.PluginManager | None = None  # the one being built (for re-entrant calls)
        self.records: list[PluginInfo] = []


_state = _State()


def autoload_enabled() -> bool:
    """False when `LAMINA_DISABLE_PLUGIN_AUTOLOAD` is set to anything but 0/false/no/off."""
    return os.environ.get(AUTOLOAD_ENV, "").strip().lower() in _FALSE_VALUES


def get_plugin_manager() -> pluggy.PluginManager:
    """The plugin manager, built (and the installed plugins loaded) on the first call."""
    if _state.manager is not None:
        return _state.manager
    with _state.lock:
        if _state.manager is not None:
            return _state.manager
        if _state.building is not None:  # a plugin being imported reads a registry
            return _state.building
        pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
        _state.building = pm
        try:
            if autoload_enabled():
                _load_entry_points(pm)
            pm.check_pending()
        finally:
            _state.building = None
        _state.manager = pm
        _set_plugins_loaded(True)
        return pm


def register(plugin: ModuleType | object, name: str | None = None) -> str:
    """Register a plugin (a module or an object with `@hookimpl` methods) and return its name.

    The name defaults to the module's name (or the object's class name). Its hooks are
    called at once and their results filed in the registries. Raises
    `PluginError` for an unknown hook or a malformed result and `DuplicateKeyError` when a
    name it registers is already taken; on error nothing of it stays registered.
    """
    pm = get_plugin_manager()
    module = _module_name(plugin)
    with _state.lock:
        info = _register_plugin(pm, plugin, name or module, module=module, distribution=None, version=None)
    return info.name


def plugin_info() -> list[PluginInfo]:
    """Every plugin the manager knows, loaded or failed, in load order."""
    get_plugin_manager()
    with _state.lock:
        return list(_state.records)


def reset_plugins() -> None:
    """Forget every plugin and what it registered; the next registry read loads them again.

    Classes registered directly with `register_class` stay (their modules stay imported).
    """
    with _state.lock:
        for info in _state.records:
            for registry_name, keys in info.registered.items():
                for key in keys:
                    REGISTRIES[registry_name].remove(key)
        _state.records.clear()
        _state.manager = None
        _set_plugins_loaded(False)


def _module_name(plugin: object) -> str:
    return getattr(plugin, "__name__", None) or type(plugin).__qualname__


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    for ep in sorted(importlib_metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist_name = ep.dist.name if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        try:
            plugin = ep.load()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            _skip(ep, dist_name, version, f"failed to import ({ep.value}): {error}", error)
            continue
        try:
            _register_plugin(pm, plugin, ep.name, module=ep.value, distribution=dist_name, version=version)
        except (PluginError, DuplicateKeyError) as exc:
            _skip(ep, dist_name, version, f"was rejected: {exc}", str(exc))


def _skip(
    ep: importlib_metadata.EntryPoint, dist_name: str | None, version: str | None, what: str, error: str
) -> None:
    source = f"distribution {dist_name} {version}" if dist_name else "an unknown distribution"
    warnings.warn(
        f"lamina plugin {ep.name!r} from {source} {what}; skipped it", PluginLoadWarning, stacklevel=3
    )
    _state.records.append(PluginInfo(ep.name, ep.value, dist_name, version, "failed", error))


def _register_plugin(
    pm: pluggy.PluginManager,
    plugin: object,
    name: str,
    *,
    module: str,
    distribution: str | None,
    version: str | None,
) -> PluginInfo:
    try:
        registered_name = pm.register(plugin, name)
    except pluggy.PluginValidationError as exc:
        details = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise PluginError(f"plugin {name!r} does not match the hook specifications: {details}") from exc
    except ValueError as exc:  # pluggy: the name or the object is already registered
        raise PluginError(f"plugin {name!r} cannot be registered: {exc}") from exc
    if registered_name is None:  # pluggy returns None for a blocked name
        raise PluginError(f"plugin {name!r} is blocked and was not registered")
    try:
        _check_hooks(pm, plugin, name)
        found = _collect(pm, plugin, name)
        for hook, items in found.items():
            for key, _ in items:
                _TARGETS[hook].registry.check_free(key, name)
    except BaseException:
        pm.unregister(plugin)
        raise
    registered: dict[str, tuple[str, ...]] = {}
    for hook, items in found.items():
        target = _TARGETS[hook]
        for key, value in items:
            target.registry.add(key, value, name)
        if items:
            registered[target.registry.name] = tuple(sorted(key for key, _ in items))
    info = PluginInfo(name, module, distribution, version, "loaded", None, registered)
    _state.records.append(info)
    return info


def _check_hooks(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    known = sorted(_TARGETS)
    for caller in pm.get_hookcallers(plugin) or ():
        if caller.has_spec():
            continue
        if any(impl.plugin is plugin and not impl.optionalhook for impl in caller.get_hookimpls()):
            close = difflib.get_close_matches(caller.name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise PluginError(
                f"plugin {name!r} implements the unknown hook {caller.name!r}{hint}; "
                f"the lamina hooks are: {', '.join(known)}"
            )
    for hook in known:
        attr = getattr(plugin, hook, None)
        if callable(attr) and pm.parse_hookimpl_opts(plugin, hook) is None:
            raise PluginError(f"plugin {name!r} defines {hook}() without marking it with @hookimpl")


def _collect(pm: pluggy.PluginManager, plugin: object, name: str) -> dict[str, list[tuple[str, Any]]]:
    found: dict[str, list[tuple[str, Any]]] = {}
    for caller in pm.get_hookcallers(plugin) or ():
        target = _TARGETS.get(caller.name)
        if target is None:
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            if impl.hookwrapper or impl.wrapper:
                raise PluginError(f"plugin {name!r}: {caller.name} returns data; it cannot be a hook wrapper")
            try:
                result = impl.function()
            except Exception as exc:
                raise PluginError(
                    f"plugin {name!r}: {caller.name}() raised {type(exc).__name__}: {exc}"
                ) from exc
            found[caller.name] = _items(result, target, name, caller.name)
    return found


def _items(result: Any, target: _Target, name: str, hook: str) -> list[tuple[str, Any]]:
    where = f"plugin {name!r}: {hook}()"
    if result is None:
        return []
    if target.keyed_by_name:
        if isinstance(result, (str, bytes, Mapping)) or not isinstance(result, Iterable):
            raise PluginError(
                f"{where} must return an iterable of {target.expects}, got {type(result).__name__}"
            )
        items = []
        for value in result:
            if not target.is_valid(value):
                raise PluginError(f"{where} returned {value!r}; each item must be {target.expects}")
            items.append((value.name, value))
        keys = [key for key, _ in items]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise PluginError(f"{where} returned the name(s) {', '.join(repeated)} more than once")
        return items
    if not isinstance(result, Mapping):
        raise PluginError(
            f"{where} must return a mapping of name -> {target.expects}, got {type(result).__name__}"
        )
    for key, value in result.items():
        if not isinstance(key, str) or not key:
            raise PluginError(f"{where} returned the key {key!r}; keys must be non-empty strings")
        if not target.is_valid(value):
            raise PluginError(f"{where} returned {value!r} for {key!r}; expected {target.expects}")
    return list(result.items())
