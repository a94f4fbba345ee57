"""lamina-tabular is found through its `lamina` entry point and registers its dataset."""

from pathlib import Path

import importlib_metadata
import pytest

from lamina.core.plugins import AUTOLOAD_ENV, plugin_info, registry, reset_plugins
from lamina.core.plugins.testing import project_on_path

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tabular_plugin(monkeypatch):
    """lamina-tabular as installed (the real installation, else its metadata written from pyproject)."""
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    with project_on_path(PROJECT):
        reset_plugins()
        yield
    reset_plugins()


def test_found_through_the_entry_point(tabular_plugin):
    (entry_point,) = importlib_metadata.entry_points(group="lamina", name="tabular")
    assert entry_point.value == "lamina.tabular.plugin"
    assert entry_point.dist.name == "lamina-tabular"
    info = {i.name: i for i in plugin_info()}["tabular"]
    assert (info.status, info.distribution, info.module) == (
        "loaded",
        "lamina-tabular",
        "lamina.tabular.plugin",
    )
    assert "ADULT_SAMPLE" in info.registered["datasets"]


def test_registers_the_public_dataset_address(tabular_plugin):
    spec = registry.datasets["ADULT_SAMPLE"]
    assert spec.url == "https://s3.amazonaws.com/fast-ai-sample/adult_sample.tgz"
    assert spec.size == 968_212
    assert spec.sha256 is None
    assert registry.datasets.owner("ADULT_SAMPLE") == "tabular"
