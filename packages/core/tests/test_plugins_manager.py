"""The plugin manager: entry-point loading, the autoload switch, failures, rejections, `plugin_info`."""

import importlib
import sys
import textwrap
import types
import warnings

import importlib_metadata
import pytest

from lamina.core.plugins import (
    AUTOLOAD_ENV,
    DatasetSpec,
    DuplicateKeyError,
    PluginError,
    PluginLoadWarning,
    hookimpl,
    plugin_info,
    register,
    register_class,
    registry,
    reset_plugins,
)
from lamina.core.plugins import manager as manager_module
from lamina.core.plugins.testing import write_distribution

GOOD = """
from lamina.core.plugins import DatasetSpec, hookimpl

@hookimpl
def lamina_blocks():
    return {"GoodBlock": dict}

@hookimpl
def lamina_datasets():
    return [DatasetSpec("GOOD_DATA", "https://example.org/good.tgz", size=3)]
"""


class FakeSite:
    """A folder on sys.path into which tests 'install' distributions."""

    def __init__(self, root):
        self.root = root

    def install(self, dist, entry_points, files, version="1.0"):
        files = {path: textwrap.dedent(text) for path, text in files.items()}
        write_distribution(self.root, dist, version, entry_points, files)
        importlib.invalidate_caches()


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    reset_plugins()
    yield FakeSite(root)
    reset_plugins()
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def infos():
    return {info.name: info for info in plugin_info()}


def load_quietly():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plugin_info()
    return [w for w in caught if issubclass(w.category, PluginLoadWarning)]


def test_entry_points_are_loaded_and_fill_the_registries(site):
    site.install("good-plugin", {"good": "good_mod"}, {"good_mod.py": GOOD}, version="1.2.3")
    assert registry.blocks["GoodBlock"] is dict
    assert registry.blocks.owner("GoodBlock") == "good"
    assert registry.datasets["GOOD_DATA"].url == "https://example.org/good.tgz"
    info = infos()["good"]
    assert (info.module, info.distribution, info.version, info.status, info.error) == (
        "good_mod",
        "good-plugin",
        "1.2.3",
        "loaded",
        None,
    )
    assert info.registered == {"blocks": ("GoodBlock",), "datasets": ("GOOD_DATA",)}
    assert info.to_dict()["registered"] == {"blocks": ["GoodBlock"], "datasets": ["GOOD_DATA"]}


def test_an_entry_point_may_name_an_object_holding_the_hooks(site):
    source = """
    from lamina.core.plugins import hookimpl

    class Hooks:
        @hookimpl
        def lamina_tokenizers(self):
            return {"whitespace": str.split}

    hooks = Hooks()
    """
    site.install("obj-plugin", {"objplug": "obj_mod:hooks"}, {"obj_mod.py": source})
    assert registry.tokenizers["whitespace"]("a b") == ["a", "b"]
    assert infos()["objplug"].module == "obj_mod:hooks"


def test_plugins_load_lazily_and_only_once(site, monkeypatch):
    site.install("good-plugin", {"good": "good_mod"}, {"good_mod.py": GOOD})
    calls = []
    real = importlib_metadata.entry_points
    monkeypatch.setattr(importlib_metadata, "entry_points", lambda **kw: calls.append(kw) or real(**kw))
    assert calls == []  # importing the plugin system loads nothing
    assert "GoodBlock" in registry.blocks
    assert "GOOD_DATA" in registry.datasets
    registry.learners.get("x")
    plugin_info()
    assert calls == [{"group": "lamina"}]
    assert "good_mod" in sys.modules


@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_autoload_switch_loads_no_entry_point_only_what_is_registered(site, monkeypatch, value):
    site.install("good-plugin", {"good": "good_mod"}, {"good_mod.py": GOOD})
    monkeypatch.setenv(AUTOLOAD_ENV, value)

    class Mine:
        @hookimpl
        def lamina_losses(self):
            return {"TensorThing": dict}

    assert register(Mine(), name="mine") == "mine"
    assert "GoodBlock" not in registry.blocks
    assert registry.losses["TensorThing"] is dict
    assert list(infos()) == ["mine"]
    assert "good_mod" not in sys.modules


def test_autoload_switch_set_to_zero_keeps_autoload_on(site, monkeypatch):
    site.install("good-plugin", {"good": "good_mod"}, {"good_mod.py": GOOD})
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    assert "GoodBlock" in registry.blocks


def test_a_plugin_that_fails_to_import_gives_one_warning_and_the_rest_load(site):
    site.install("good-plugin", {"good": "good_mod"}, {"good_mod.py": GOOD})
    site.install(
        "broken-dist", {"broken": "broken_mod"}, {"broken_mod.py": "raise RuntimeError('boom')\n"}, "0.9"
    )
    site.install("ghost-dist", {"ghost": "no_such_module"}, {}, "2.0")
    caught = load_quietly()
    assert len(caught) == 2  # one per failed plugin
    broken = next(str(w.message) for w in caught if "'broken'" in str(w.message))
    assert (
        "distribution broken-dist 0.9" in broken and "RuntimeError: boom" in broken and "broken_mod" in broken
    )
    ghost = next(str(w.message) for w in caught if "'ghost'" in str(w.message))
    assert "ghost-dist 2.0" in ghost and "ModuleNotFoundError" in ghost and "no_such_module" in ghost
    assert registry.blocks["GoodBlock"] is dict
    assert infos()["broken"].status == "failed" and infos()["broken"].error == "RuntimeError: boom"
    assert infos()["good"].status == "loaded"


class Typo:
    @hookimpl
    def lamina_blocks(self):
        return {"TypoBlock": dict}

    @hookimpl
    def lamina_blokcs(self):
        return {}


def test_explicit_register_rejects_an_unknown_hook_naming_plugin_and_hook(site):
    with pytest.raises(
        PluginError, match=r"plugin 'typo' implements the unknown hook 'lamina_blokcs'.*'lamina_blocks'"
    ):
        register(Typo(), name="typo")
    assert "TypoBlock" not in registry.blocks  # nothing of a rejected plugin stays
    assert "typo" not in infos()


def test_autoload_warns_about_an_unknown_hook_and_skips_the_plugin(site):
    source = """
    from lamina.core.plugins import hookimpl

    @hookimpl
    def lamina_blocks():
        return {"TypoBlock": dict}

    @hookimpl
    def lamina_optimizers():
        return {}
    """
    site.install("good-plugin", {"good": "good_mod"}, {"good_mod.py": GOOD})
    site.install("typo-dist", {"typo": "typo_mod"}, {"typo_mod.py": source}, "3.1")
    (warning,) = load_quietly()
    assert "'typo' from distribution typo-dist 3.1 was rejected" in str(warning.message)
    assert "unknown hook 'lamina_optimizers'" in str(warning.message)
    assert "TypoBlock" not in registry.blocks and "GoodBlock" in registry.blocks
    assert infos()["typo"].status == "failed"


def test_a_hook_function_without_hookimpl_is_rejected(site):
    class Forgetful:
        def lamina_blocks(self):
            return {"LostBlock": dict}

    with pytest.raises(
        PluginError, match=r"'forgetful' defines lamina_blocks\(\) without marking it with @hookimpl"
    ):
        register(Forgetful(), name="forgetful")


def test_explicit_register_of_a_clashing_key_raises_and_registers_nothing(site):
    site.install("good-plugin", {"good": "good_mod"}, {"good_mod.py": GOOD})

    class Clash:
        @hookimpl
        def lamina_datasets(self):
            return [DatasetSpec("CLASH_OWN", "https://example.org/own.tgz")]

        @hookimpl
        def lamina_blocks(self):
            return {"GoodBlock": list}

    with pytest.raises(
        DuplicateKeyError, match=r"blocks registry: 'clash' registers block 'GoodBlock'.*'good'"
    ):
        register(Clash(), name="clash")
    assert registry.blocks["GoodBlock"] is dict
    assert "CLASH_OWN" not in registry.datasets
    fixed = _plugin_returning("lamina_blocks", {"ClashBlock": list})
    assert register(fixed, name="clash") == "clash"  # the name is free again


def test_autoload_rejects_the_second_plugin_registering_a_taken_key(site):
    clash = """
    from lamina.core.plugins import hookimpl

    @hookimpl
    def lamina_blocks():
        return {"GoodBlock": list, "OtherBlock": set}
    """
    site.install("good-plugin", {"good": "good_mod"}, {"good_mod.py": GOOD})
    site.install("zz-plugin", {"zz": "zz_mod"}, {"zz_mod.py": clash})
    (warning,) = load_quietly()
    assert "'zz'" in str(warning.message) and "'GoodBlock'" in str(warning.message)
    assert "'good' already registered" in str(warning.message)
    assert registry.blocks["GoodBlock"] is dict and "OtherBlock" not in registry.blocks


def test_two_distributions_with_the_same_entry_point_name(site):
    site.install("first-dist", {"same": "good_mod"}, {"good_mod.py": GOOD})
    site.install("second-dist", {"same": "other_mod"}, {"other_mod.py": "x = 1\n"})
    (warning,) = load_quietly()
    assert "'same' from distribution second-dist 1.0 was rejected" in str(warning.message)
    assert "already registered" in str(warning.message)
    assert registry.blocks.owner("GoodBlock") == "same"


def _plugin_returning(hook, value):
    def method(self):
        return value

    method.__name__ = hook
    return type("Bad", (), {hook: hookimpl(method)})()


@pytest.mark.parametrize(
    "hook, value, message",
    [
        (
            "lamina_blocks",
            ["ImageBlock"],
            r"lamina_blocks\(\) must return a mapping of name -> a callable block",
        ),
        (
            "lamina_blocks",
            {"ImageBlock": 3},
            r"returned 3 for 'ImageBlock'; expected a callable block factory",
        ),
        ("lamina_blocks", {7: dict}, r"returned the key 7; keys must be non-empty strings"),
        ("lamina_architectures", {"net": dict}, r"expected an ArchitectureSpec"),
        ("lamina_classes", {"obj": object()}, r"expected a class"),
        (
            "lamina_datasets",
            {"X": 1},
            r"lamina_datasets\(\) must return an iterable of a DatasetSpec, got dict",
        ),
        ("lamina_datasets", ["X"], r"returned 'X'; each item must be a DatasetSpec"),
        (
            "lamina_datasets",
            [DatasetSpec("TWICE", "https://a.org/1.tgz"), DatasetSpec("TWICE", "https://a.org/2.tgz")],
            r"returned the name\(s\) TWICE more than once",
        ),
    ],
)
def test_malformed_hook_results_are_rejected_with_the_plugin_and_hook_named(site, hook, value, message):
    with pytest.raises(PluginError, match=f"plugin 'bad': .*{message}"):
        register(_plugin_returning(hook, value), name="bad")


def test_a_hook_returning_none_registers_nothing(site):
    register(_plugin_returning("lamina_blocks", None), name="empty")
    assert infos()["empty"].registered == {}


def test_a_hook_that_raises_is_reported_with_its_error(site):
    class Raises:
        @hookimpl
        def lamina_learners(self):
            raise OSError("weights file missing")

    with pytest.raises(
        PluginError, match=r"plugin 'raises': lamina_learners\(\) raised OSError: weights file missing"
    ):
        register(Raises(), name="raises")


def test_registering_the_same_plugin_twice_is_an_error(site):
    plugin = _plugin_returning("lamina_tokenizers", {"ws": str.split})
    register(plugin, name="once")
    with pytest.raises(PluginError, match="plugin 'twice' cannot be registered"):
        register(plugin, name="twice")


def test_reset_forgets_plugin_entries_but_keeps_direct_class_registrations(site):
    site.install("good-plugin", {"good": "good_mod"}, {"good_mod.py": GOOD})

    class Kept:
        pass

    register_class("test.kept")(Kept)
    try:
        assert "GoodBlock" in registry.blocks
        reset_plugins()
        assert "GoodBlock" not in registry.blocks._entries  # peek: a read would load it again
        assert registry.classes._entries["test.kept"] is Kept
        assert "GoodBlock" in registry.blocks  # next read loads the plugins again
        assert registry.classes["test.kept"] is Kept
    finally:
        registry.classes.remove("test.kept")


def test_a_plugin_may_read_a_registry_while_it_is_being_imported(site):
    source = """
    from lamina.core.plugins import hookimpl, registry

    SEEN_AT_IMPORT = registry.blocks.get("GoodBlock")  # good_mod sorts first, so it is loaded already

    @hookimpl
    def lamina_blocks():
        return {"LateBlock": tuple}
    """
    site.install("good-plugin", {"good": "good_mod"}, {"good_mod.py": GOOD})
    site.install("late-plugin", {"late": "late_mod"}, {"late_mod.py": source})
    assert registry.blocks["LateBlock"] is tuple
    assert sys.modules["late_mod"].SEEN_AT_IMPORT is dict
    assert manager_module.get_plugin_manager().has_plugin("late")


def test_a_hook_taking_arguments_the_spec_lacks_is_rejected(site):
    class Greedy:
        @hookimpl
        def lamina_blocks(self, config):
            return {}

    with pytest.raises(PluginError, match=r"plugin 'greedy'.*lamina_blocks.*config"):
        register(Greedy(), name="greedy")
    assert "greedy" not in infos()


def test_register_names_a_plugin_after_its_module_or_class_by_default(site):
    class LocalHooks:
        @hookimpl
        def lamina_tokenizers(self):
            return {"chars": list}

    assert (
        register(LocalHooks())
        == "test_register_names_a_plugin_after_its_module_or_class_by_default.<locals>.LocalHooks"
    )

    @hookimpl
    def lamina_losses():
        return {"T": dict}

    module = types.ModuleType("my_inline_plugin")
    module.lamina_losses = lamina_losses
    assert register(module) == "my_inline_plugin"
    assert infos()["my_inline_plugin"].registered == {"losses": ("T",)}
    assert registry.losses.owner("T") == "my_inline_plugin"
