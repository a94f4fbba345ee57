"""An outside distribution adds a block and a learner through the kernel's plugin system.

Run by the nox session that first does `pip install examples/third_party_plugin`; skipped
when that example distribution is not installed.
"""

import importlib_metadata
import pytest

from lamina.core.plugins import AUTOLOAD_ENV, plugin_info, registry, reset_plugins

DISTRIBUTION = "lamina-shapes-example"

try:
    importlib_metadata.distribution(DISTRIBUTION)
except importlib_metadata.PackageNotFoundError:
    pytest.skip(
        f"{DISTRIBUTION} is not installed; run `pip install examples/third_party_plugin` (or `nox`) first",
        allow_module_level=True,
    )


@pytest.fixture(autouse=True)
def fresh_plugins(monkeypatch):
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    reset_plugins()
    yield
    reset_plugins()


def test_loaded_from_its_entry_point():
    info = {i.name: i for i in plugin_info()}["shapes"]
    assert info.status == "loaded", info.error
    assert (info.distribution, info.version, info.module) == (
        DISTRIBUTION,
        "0.1.0",
        "lamina_shapes_example.plugin",
    )
    assert info.registered == {
        "blocks": ("ShapeBlock",),
        "learners": ("shapes",),
        "classes": ("lamina_shapes_example.ShapeClassifier",),
    }


def test_block_is_in_the_kernel_registry_and_draws_shapes():
    block = registry.blocks["ShapeBlock"](size=16)
    assert registry.blocks.owner("ShapeBlock") == "shapes"
    (draw,) = block.type_tfms
    images = {kind: draw(kind) for kind in ("circle", "square", "triangle")}
    for image in images.values():
        assert image.shape == (1, 16, 16)
        assert image[0, 0, 0] == 0  # corner is background
    assert images["circle"][0, 8, 8] == 1 and images["square"][0, 8, 8] == 1
    # areas: square (side 1.1 of 2) > circle (radius 0.6) > triangle (half of 1.2 x 1.2)
    areas = {kind: image.sum().item() for kind, image in images.items()}
    assert areas["square"] > areas["circle"] > areas["triangle"] > 0
    with pytest.raises(ValueError, match="'hexagon'.*circle, square, triangle"):
        draw("hexagon")


def test_learner_factory_and_model_class_are_registered():
    assert registry.learners.owner("shapes") == "shapes"
    factory = registry.learners["shapes"]
    assert factory.__name__ == "shape_learner"
    import torch

    model_cls = registry.classes["lamina_shapes_example.ShapeClassifier"]
    assert registry.classes.name_of(model_cls) == "lamina_shapes_example.ShapeClassifier"
    logits = model_cls(n_out=3)(torch.zeros(2, 1, 16, 16))
    assert logits.shape == (2, 3)
