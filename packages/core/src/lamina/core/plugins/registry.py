"""Named registries that plugins fill and the kernel reads, plus `register_class`.

A `Registry` is a read-only mapping of name -> object that remembers who registered each
name. Reading any of the module-level registries loads the plugins once (lazily); after
that a lookup is a plain dict lookup, so the hot path never touches the plugin manager.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar, overload

__all__ = [
    "Registry",
    "ClassRegistry",
    "RegistryKeyError",
    "DuplicateKeyError",
    "blocks",
    "architectures",
    "learners",
    "datasets",
    "tokenizers",
    "losses",
    "classes",
    "demos",
    "REGISTRIES",
    "register_class",
]

V = TypeVar("V")
C = TypeVar("C", bound=type)
_SHOWN_KEYS = 40


class RegistryKeyError(KeyError):
    """A name that is not in a registry; the message lists what is."""

    def __str__(self) -> str:
        return str(self.args[0])


class DuplicateKeyError(ValueError):
    """A name that two different owners (plugins or modules) tried to register."""


_plugins_loaded = False  # flipped by the manager once the lazy plugin load has run


def _set_plugins_loaded(flag: bool) -> None:
    global _plugins_loaded
    _plugins_loaded = flag


def _load_plugins() -> None:
    from lamina.core.plugins.manager import get_plugin_manager  # deferred: the manager imports this module

    get_plugin_manager()


class Registry(Mapping[str, V]):
    """A named, read-only mapping filled through `add`, recording the owner of each key.

    `item` is the singular noun used in error messages ("block", "dataset"). With
    `lazy=True` (the kernel's registries) any read first makes sure the plugins are loaded.
    """

    def __init__(self, name: str, item: str, *, lazy: bool = False) -> None:
        self.name, self.item, self.lazy = name, item, lazy
        self._entries: dict[str, V] = {}
        self._owners: dict[str, str] = {}

    def _ready(self) -> None:
        if self.lazy and not _plugins_loaded:
            _load_plugins()

    def __getitem__(self, key: str) -> V:
        self._ready()
        try:
            return self._entries[key]
        except KeyError:
            raise RegistryKeyError(self._missing_message(key)) from None

    def get(self, key: str, default: Any = None) -> V | Any:
        self._ready()
        return self._entries.get(key, default)

    def __contains__(self, key: object) -> bool:
        self._ready()
        return key in self._entries

    def __iter__(self) -> Iterator[str]:
        self._ready()
        return iter(list(self._entries))

    def __len__(self) -> int:
        self._ready()
        return len(self._entries)

    def owner(self, key: str) -> str:
        """Who registered `key`: the plugin's name, or the module of a direct registration."""
        self[key]  # raises the explanatory error for a missing key
        return self._owners[key]

    def check_free(self, key: str, owner: str) -> None:
        """Raise `DuplicateKeyError` if `key` is already registered by another owner."""
        if not isinstance(key, str) or not key:
            raise TypeError(
                f"{self.name} registry: {owner!r} gave the key {key!r}; keys are non-empty strings"
            )
        held_by = self._owners.get(key)
        if held_by is not None and held_by != owner:
            raise DuplicateKeyError(
                f"{self.name} registry: {owner!r} registers {self.item} {key!r}, "
                f"which {held_by!r} already registered; rename one of them or uninstall one plugin"
            )

    def add(self, key: str, value: V, owner: str) -> None:
        """Register `value` under `key` for `owner` (the same owner may replace its own entry)."""
        self.check_free(key, owner)
        self._entries[key] = value
        self._owners[key] = owner

    def remove(self, key: str) -> None:
        """Forget `key` (no error if it is not there)."""
        self._entries.pop(key, None)
        self._owners.pop(key, None)

    def _missing_message(self, key: object) -> str:
        where = f"the {self.name} registry"
        if not self._entries:
            return (
                f"no {self.item} named {key!r}: {where} is empty; no loaded plugin registers one "
                "(run `lamina plugins` to see what is installed and what failed to load)"
            )
        names = sorted(self._entries)
        close = difflib.get_close_matches(str(key), names, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        shown = ", ".join(names[:_SHOWN_KEYS]) + (
            f", ... ({len(names)} in all)" if len(names) > _SHOWN_KEYS else ""
        )
        return f"no {self.item} named {key!r} in {where}.{hint} Available: {shown}"

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {len(self._entries)} {self.item}(s))"


class ClassRegistry(Registry[type]):
    """The registry of classes that may be rebuilt by name; it also answers `name_of(cls)`."""

    def __init__(self, name: str, item: str, *, lazy: bool = False) -> None:
        super().__init__(name, item, lazy=lazy)
        self._names: dict[type, str] = {}

    def add(self, key: str, value: type, owner: str) -> None:
        if not isinstance(value, type):
            raise TypeError(
                f"{self.name} registry: {owner!r} registers {key!r} as {value!r}, which is not a class"
            )
        old = self._entries.get(key)
        super().add(key, value, owner)
        if old is not None and self._names.get(old) == key:
            del self._names[old]
        self._names.setdefault(value, key)

    def remove(self, key: str) -> None:
        cls = self._entries.get(key)
        super().remove(key)
        if cls is not None and self._names.get(cls) == key:
            del self._names[cls]
            alias = next((k for k, v in self._entries.items() if v is cls), None)
            if alias is not None:
                self._names[cls] = alias

    def name_of(self, cls: type) -> str:
        """The name `cls` is registered under (the first one if it has several)."""
        self._ready()
        try:
            return self._names[cls]
        except (KeyError, TypeError):
            raise RegistryKeyError(
                f"{getattr(cls, '__qualname__', cls)!r} is not in the {self.name} registry, so it cannot be "
                "saved by name; decorate it with @register_class or return it from a plugin's "
                "lamina_classes hook"
            ) from None


blocks: Registry[Callable[..., Any]] = Registry("blocks", "block", lazy=True)
architectures: Registry[Any] = Registry("architectures", "architecture", lazy=True)
learners: Registry[Callable[..., Any]] = Registry("learners", "learner factory", lazy=True)
datasets: Registry[Any] = Registry("datasets", "dataset", lazy=True)
tokenizers: Registry[Callable[..., Any]] = Registry("tokenizers", "tokenizer", lazy=True)
losses: Registry[Callable[..., Any]] = Registry("losses", "default loss for target type", lazy=True)
classes: ClassRegistry = ClassRegistry("classes", "class", lazy=True)
demos: Registry[Callable[..., Any]] = Registry("demos", "demo", lazy=True)

REGISTRIES: dict[str, Registry[Any]] = {
    r.name: r for r in (blocks, architectures, learners, datasets, tokenizers, losses, classes, demos)
}


def _register_class(cls: C, name: str | None) -> C:
    if not isinstance(cls, type):
        raise TypeError(f"register_class: expected a class, got {cls!r}")
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"register_class: name must be a non-empty string, got {name!r}")
    classes.add(name or f"{cls.__module__}.{cls.__qualname__}", cls, owner=cls.__module__)
    return cls


@overload
def register_class(cls_or_name: C, name: str | None = None) -> C: ...
@overload
def register_class(cls_or_name: str | None = None, name: str | None = None) -> Callable[[C], C]: ...


def register_class(cls_or_name: type | str | None = None, name: str | None = None) -> Any:
    """Put a class in the `classes` registry, so exported learners can name it.

    Use as `@register_class`, `@register_class("my_model")`, `@register_class(name=...)`
    or call `register_class(MyModel)`. The default name is `module.QualName`. Writing does
    not load the plugins, so kernel and plugin modules may use it at import time.
    """
    if isinstance(cls_or_name, type):
        return _register_class(cls_or_name, name)
    if cls_or_name is not None and not isinstance(cls_or_name, str):
        raise TypeError(f"register_class: expected a class or a name, got {cls_or_name!r}")
    if cls_or_name is not None and name is not None:
        raise TypeError("register_class: give the name once, positionally or as name=")
    chosen = cls_or_name if cls_or_name is not None else name
    return lambda cls: _register_class(cls, chosen)
