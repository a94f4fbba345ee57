"""Lamina's plugin system: hook specifications, the lazily built plugin manager, the registries.

Plugin authors need `hookimpl` and the spec dataclasses; kernel code reads the registries
(`from lamina.core.plugins import registry; registry.datasets["MNIST_TINY"]`).
"""

from lamina.core.plugins import registry
from lamina.core.plugins.hookspecs import hookimpl, hookspec
from lamina.core.plugins.manager import (
    AUTOLOAD_ENV,
    ENTRY_POINT_GROUP,
    PluginError,
    PluginInfo,
    PluginLoadWarning,
    autoload_enabled,
    get_plugin_manager,
    plugin_info,
    register,
    reset_plugins,
)
from lamina.core.plugins.registry import DuplicateKeyError, Registry, RegistryKeyError, register_class
from lamina.core.plugins.specs import ArchitectureSpec, DatasetSpec

__all__ = [
    "registry",
    "hookimpl",
    "hookspec",
    "AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "PluginError",
    "PluginInfo",
    "PluginLoadWarning",
    "autoload_enabled",
    "get_plugin_manager",
    "plugin_info",
    "register",
    "reset_plugins",
    "DuplicateKeyError",
    "Registry",
    "RegistryKeyError",
    "register_class",
    "ArchitectureSpec",
    "DatasetSpec",
]
