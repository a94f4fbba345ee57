"""Registries: lookups, ownership, clear errors, lazy plugin load, `register_class`, spec dataclasses."""

import pytest

from lamina.core.plugins import (
    ArchitectureSpec,
    DatasetSpec,
    DuplicateKeyError,
    Registry,
    RegistryKeyError,
    register_class,
    registry,
    reset_plugins,
)


@pytest.fixture
def fresh_plugins():
    reset_plugins()
    yield
    reset_plugins()


def test_registry_is_a_read_only_mapping_that_records_owners():
    reg = Registry("widgets", "widget")
    reg.add("knob", int, owner="alpha")
    reg.add("lever", float, owner="beta")
    assert reg["knob"] is int and reg.get("lever") is float and reg.get("nope") is None
    assert "knob" in reg and "nope" not in reg
    assert sorted(reg) == ["knob", "lever"] and len(reg) == 2
    assert dict(reg.items()) == {"knob": int, "lever": float}
    assert reg.owner("lever") == "beta"
    assert not hasattr(reg, "__setitem__")


def test_duplicate_key_from_another_owner_is_an_error_naming_both():
    reg = Registry("widgets", "widget")
    reg.add("knob", int, owner="alpha")
    with pytest.raises(DuplicateKeyError, match=r"widgets registry: 'beta' registers widget 'knob'.*'alpha'"):
        reg.add("knob", float, owner="beta")
    assert reg["knob"] is int
    reg.add("knob", bool, owner="alpha")  # an owner may replace its own entry (re-run notebook cell)
    assert reg["knob"] is bool


def test_missing_key_lists_what_is_available_and_suggests_close_names():
    reg = Registry("datasets", "dataset")
    for name in ("MNIST_TINY", "MNIST_SAMPLE", "PETS"):
        reg.add(name, object(), owner="vision")
    with pytest.raises(RegistryKeyError) as excinfo:
        reg["MNIST_TINI"]
    message = str(excinfo.value)
    assert "no dataset named 'MNIST_TINI' in the datasets registry" in message
    assert "Did you mean 'MNIST_TINY'" in message
    assert "Available: MNIST_SAMPLE, MNIST_TINY, PETS" in message
    assert isinstance(excinfo.value, KeyError)


def test_missing_key_in_an_empty_registry_points_to_lamina_plugins():
    with pytest.raises(RegistryKeyError, match=r"no block named 'ImageBlock'.*empty.*lamina plugins"):
        Registry("blocks", "block")["ImageBlock"]


def test_keys_must_be_non_empty_strings():
    reg = Registry("widgets", "widget")
    with pytest.raises(TypeError, match="'alpha' gave the key 3"):
        reg.add(3, int, owner="alpha")


def test_remove_forgets_the_key_and_its_owner():
    reg = Registry("widgets", "widget")
    reg.add("knob", int, owner="alpha")
    reg.remove("knob")
    reg.remove("knob")  # twice is fine
    assert "knob" not in reg
    reg.add("knob", float, owner="beta")  # free again for another owner
    assert reg.owner("knob") == "beta"


def test_reading_a_kernel_registry_loads_the_plugins_once(fresh_plugins, monkeypatch):
    calls = []
    monkeypatch.setattr(
        registry, "_load_plugins", lambda: calls.append(1) or registry._set_plugins_loaded(True)
    )
    assert "anything" not in registry.blocks
    assert registry.datasets.get("anything") is None
    list(registry.classes)
    assert calls == [1]


def test_lookups_after_loading_never_reach_the_plugin_manager(fresh_plugins, monkeypatch):
    assert "x" not in registry.blocks  # triggers the real load

    def refuse():
        raise AssertionError("a lookup went back to the plugin manager")

    monkeypatch.setattr(registry, "_load_plugins", refuse)
    registry.classes.add("hot.Path", int, owner="test")
    try:
        assert registry.classes["hot.Path"] is int
        assert registry.blocks.get("missing") is None
    finally:
        registry.classes.remove("hot.Path")


def test_register_class_in_all_its_forms():
    class Plain:
        pass

    class Named:
        pass

    class Keyword:
        pass

    class Called:
        pass

    try:
        assert register_class(Plain) is Plain
        assert register_class("test.named")(Named) is Named
        assert register_class(name="test.keyword")(Keyword) is Keyword
        decorated = register_class()(Called)
        assert decorated is Called
        default = f"{__name__}.test_register_class_in_all_its_forms.<locals>.Plain"
        assert registry.classes[default] is Plain
        assert registry.classes.owner(default) == __name__
        assert registry.classes["test.named"] is Named and registry.classes["test.keyword"] is Keyword
        assert registry.classes.name_of(Named) == "test.named"
        assert registry.classes.name_of(Called).endswith("<locals>.Called")
    finally:
        for cls in (Plain, Named, Keyword, Called):
            registry.classes.remove(registry.classes.name_of(cls))


def test_register_class_rejects_bad_input():
    with pytest.raises(TypeError, match="expected a class, got 3"):
        register_class()(3)
    with pytest.raises(TypeError, match="expected a class or a name"):
        register_class(3)
    with pytest.raises(TypeError, match="give the name once"):
        register_class("a", name="b")


def test_register_class_clash_between_modules_is_an_error():
    class First:
        pass

    class Second:
        pass

    Second.__module__ = "someone_else"
    register_class("test.clash")(First)
    try:
        with pytest.raises(
            DuplicateKeyError, match=r"'someone_else' registers class 'test.clash'.*" + __name__
        ):
            register_class("test.clash")(Second)
    finally:
        registry.classes.remove("test.clash")


def test_name_of_an_unregistered_class_says_how_to_register_it():
    class Stranger:
        pass

    with pytest.raises(RegistryKeyError, match="Stranger.*not in the classes registry.*@register_class"):
        registry.classes.name_of(Stranger)


def test_class_registry_keeps_an_alias_as_the_name_when_the_first_name_goes():
    class Model:
        pass

    register_class("test.model_v2")(Model)
    register_class("test.model_v1")(Model)  # an older name kept so old exports still load
    try:
        assert registry.classes.name_of(Model) == "test.model_v2"
        registry.classes.remove("test.model_v2")
        assert registry.classes.name_of(Model) == "test.model_v1"
    finally:
        registry.classes.remove("test.model_v1")
        registry.classes.remove("test.model_v2")


def test_dataset_spec_validates_its_fields():
    spec = DatasetSpec("MNIST_TINY", "https://example.org/data/mnist_tiny.tgz", size=10, sha256="AB" * 32)
    assert spec.sha256 == "ab" * 32 and spec.archive_name == "mnist_tiny.tgz" and spec.sample is None
    assert DatasetSpec("LOCAL", "file:///tmp/x.tgz", sample="/tmp/x").sample.name == "x"
    with pytest.raises(ValueError, match="name must be a Python identifier.*'MNIST TINY'"):
        DatasetSpec("MNIST TINY", "https://example.org/x.tgz")
    with pytest.raises(
        ValueError, match="DatasetSpec PETS: url must be an http/https/file address.*'ftp://x'"
    ):
        DatasetSpec("PETS", "ftp://x")
    with pytest.raises(ValueError, match="DatasetSpec PETS: size must be a positive number of bytes"):
        DatasetSpec("PETS", "https://example.org/x.tgz", size=0)
    with pytest.raises(ValueError, match="DatasetSpec PETS: sha256 must be 64 hex digits"):
        DatasetSpec("PETS", "https://example.org/x.tgz", sha256="abc")


def test_architecture_spec_validates_its_fields():
    spec = ArchitectureSpec(dict, cut=-2, split=list, stats=((0.5, 0.5, 0.5), (0.2, 0.2, 0.2)))
    assert spec.factory is dict and spec.cut == -2
    with pytest.raises(TypeError, match="factory must be callable"):
        ArchitectureSpec(3)
    with pytest.raises(TypeError, match="cut must be an int, a callable or None"):
        ArchitectureSpec(dict, cut="body")
    with pytest.raises(TypeError, match="split must be callable"):
        ArchitectureSpec(dict, split=5)
    with pytest.raises(ValueError, match=r"stats must be \(mean, std\)"):
        ArchitectureSpec(dict, stats=((0.5, 0.5), (0.2,)))
