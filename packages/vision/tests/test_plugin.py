"""lamina-vision is found through its `lamina` entry point and registers its datasets."""

from pathlib import Path

import importlib_metadata
import pytest

from lamina.core.plugins import AUTOLOAD_ENV, plugin_info, registry, reset_plugins
from lamina.core.plugins.testing import project_on_path

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def vision_plugin(monkeypatch):
    """lamina-vision as installed (the real installation, else its metadata written from pyproject)."""
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    with project_on_path(PROJECT):
        reset_plugins()
        yield
    reset_plugins()


def test_found_through_the_entry_point(vision_plugin):
    (entry_point,) = importlib_metadata.entry_points(group="lamina", name="vision")
    assert entry_point.value == "lamina.vision.plugin"
    assert entry_point.dist.name == "lamina-vision"
    info = {i.name: i for i in plugin_info()}["vision"]
    assert (info.status, info.distribution, info.module) == (
        "loaded",
        "lamina-vision",
        "lamina.vision.plugin",
    )
    assert set(info.registered) == {"datasets"}
    assert {"PETS", "MNIST_TINY", "MNIST_SAMPLE", "CAMVID_TINY", "COCO_TINY", "IMAGENETTE"} <= set(
        info.registered["datasets"]
    )


def test_registers_the_public_dataset_addresses(vision_plugin):
    expected = {
        "PETS": "https://s3.amazonaws.com/fast-ai-imageclas/oxford-iiit-pet.tgz",
        "MNIST_TINY": "https://s3.amazonaws.com/fast-ai-sample/mnist_tiny.tgz",
        "MNIST_SAMPLE": "https://s3.amazonaws.com/fast-ai-sample/mnist_sample.tgz",
        "CAMVID_TINY": "https://s3.amazonaws.com/fast-ai-sample/camvid_tiny.tgz",
        "COCO_TINY": "https://s3.amazonaws.com/fast-ai-coco/coco_tiny.tgz",
        "IMAGENETTE": "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2.tgz",
    }
    for name, url in expected.items():
        assert registry.datasets[name].url == url
        assert registry.datasets.owner(name) == "vision"
    assert registry.datasets["MNIST_TINY"].size == 342_207
    assert registry.datasets["MNIST_TINY"].archive_name == "mnist_tiny.tgz"
