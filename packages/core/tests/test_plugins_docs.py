"""Every hook specification is typed, documented in its docstring and in docs/plugins.md."""

import inspect
import re
import typing
from pathlib import Path

import pytest

from lamina.core.plugins import hookspecs, manager, registry

DOCS = Path(__file__).resolve().parents[3] / "docs" / "plugins.md"
SPECS = [
    obj for name, obj in vars(hookspecs).items() if inspect.isfunction(obj) and hasattr(obj, "lamina_spec")
]


def signature_text(spec) -> str:
    """`name(arg: T, ...) -> R` with the annotations as written in the source."""
    sig = inspect.signature(spec, eval_str=False)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{spec.__name__}({params}) -> {sig.return_annotation}"


@pytest.fixture(scope="module")
def docs_text() -> str:
    return DOCS.read_text()


def test_the_spec_module_defines_hooks():
    assert len(SPECS) >= 7
    assert {spec.__name__ for spec in SPECS} == set(hookspecs.__all__) - {
        "PROJECT_NAME",
        "hookspec",
        "hookimpl",
    }


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.__name__)
def test_hook_has_a_docstring_and_complete_annotations(spec):
    assert spec.__doc__ and len(spec.__doc__.strip()) > 40, f"{spec.__name__} needs a docstring"
    sig = inspect.signature(spec, eval_str=False)
    assert sig.return_annotation is not inspect.Signature.empty, f"{spec.__name__} lacks a return annotation"
    for param in sig.parameters.values():
        assert param.annotation is not inspect.Parameter.empty, f"{spec.__name__}({param.name}) lacks a type"
    typing.get_type_hints(spec)  # the annotations resolve to real types


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.__name__)
def test_hook_is_documented_for_plugin_authors(spec, docs_text):
    assert re.search(rf"^### `{spec.__name__}`$", docs_text, re.M), (
        f"docs/plugins.md lacks a section for {spec}"
    )
    assert signature_text(spec) in docs_text, f"docs/plugins.md must show `{signature_text(spec)}`"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.__name__)
def test_hook_fills_the_registry_of_its_name(spec, docs_text):
    target = manager._TARGETS[spec.__name__]
    assert target.registry is registry.REGISTRIES[spec.__name__.removeprefix("lamina_")]
    assert f"registry.{target.registry.name}" in docs_text


def test_every_registry_is_filled_by_a_hook():
    filled = {target.registry.name for target in manager._TARGETS.values()}
    assert filled == set(registry.REGISTRIES)
