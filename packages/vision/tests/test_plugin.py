"""lamina-vision is found through its `lamina` entry point and registers its datasets, blocks,
architectures, learners, default losses and demo; loading it registers the vision type-dispatch cases."""

import subprocess
import sys
from pathlib import Path

import importlib_metadata
import pytest

from lamina.core.losses import CrossEntropyLossFlat, MSELossFlat
from lamina.core.plugins import AUTOLOAD_ENV, ArchitectureSpec, plugin_info, registry, reset_plugins
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
    # classes register themselves by name when their modules are imported, not through the plugin
    assert set(info.registered) == {"datasets", "blocks", "architectures", "learners", "losses", "demos"}
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


def test_registers_blocks_architectures_learners_losses_and_demo(vision_plugin):
    from lamina.vision.data import BBoxBlock, BBoxLblBlock, ImageBlock, MaskBlock, PointBlock
    from lamina.vision.demo import demo
    from lamina.vision.learner import unet_learner, vision_learner
    from lamina.vision.models.resnet import resnet34
    from lamina.vision.models.xresnet import xresnet50

    blocks = {"ImageBlock": ImageBlock, "MaskBlock": MaskBlock, "PointBlock": PointBlock}
    blocks |= {"BBoxBlock": BBoxBlock, "BBoxLblBlock": BBoxLblBlock}
    for name, block in blocks.items():
        assert registry.blocks[name] is block and registry.blocks.owner(name) == "vision"

    spec = registry.architectures["resnet34"]
    assert isinstance(spec, ArchitectureSpec) and spec.factory is resnet34 and spec.cut == -2
    assert spec.stats == ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    assert (
        registry.architectures["xresnet50"].factory is xresnet50
        and registry.architectures["xresnet50"].cut == -4
    )
    assert registry.architectures.owner("resnet34") == "vision"

    assert registry.learners["vision"] is vision_learner and registry.learners["unet"] is unet_learner

    mask_loss = registry.losses["TensorMask"]()
    assert isinstance(mask_loss, CrossEntropyLossFlat) and mask_loss.axis == 1
    assert isinstance(registry.losses["TensorPoint"](), MSELossFlat)

    assert registry.demos["vision"] is demo


LOAD_ONLY_THE_PLUGIN = """
from lamina.core.data.show import show_batch, show_results
from lamina.core.data.transforms import ToTensor
import lamina.vision.plugin
import sys
from PIL import Image
from lamina.vision.image import PILImage
lazy = ("lamina.vision.learner", "lamina.vision.demo")
assert not any(m in sys.modules for m in lazy), "the plugin imports its learners eagerly"
names = {c.__name__ for c in show_batch.funcs}
assert "TensorImage" in names, names
names = {c.__name__ for c in show_results.funcs}
assert "TensorImage" in names, names
t = ToTensor()(PILImage.create(Image.new("RGB", (4, 3))))
assert type(t).__name__ == "TensorImage" and tuple(t.shape) == (3, 3, 4), (type(t), t.shape)
print("ok")
"""


def test_importing_the_plugin_registers_the_vision_dispatch_cases():
    run = subprocess.run(
        [sys.executable, "-c", LOAD_ONLY_THE_PLUGIN], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
