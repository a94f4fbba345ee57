"""Vision learners exported, then loaded in a fresh Python process: same predictions, nothing pickled."""

import copy
import functools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lamina.core.data.block import DataBlock
from lamina.core.data.blocks import CategoryBlock
from lamina.core.data.getters import parent_label
from lamina.core.data.splitters import GrandparentSplitter
from lamina.core.data.transforms import Normalize
from lamina.core.learner.describe import DescribeError
from lamina.core.learner.export import load_learner
from lamina.core.learner.learner import Learner
from lamina.core.metrics import accuracy
from lamina.vision.augment.lighting import LightingTfm
from lamina.vision.augment.presets import aug_transforms
from lamina.vision.augment.spatial import Flip
from lamina.vision.core import TensorImage
from lamina.vision.data import ImageBlock, get_image_files
from lamina.vision.factories import ImageDataLoaders, SegmentationDataLoaders
from lamina.vision.image import PILImageBW
from lamina.vision.learner import cnn_learner, unet_learner, vision_learner
from lamina.vision.models.resnet import resnet18
from lamina.vision.models.xresnet import xresnet18
from lamina.vision.samples import mnist_tiny_path
from lamina.vision.transforms import RandomResizedCrop, Resize

# In the fresh process only the kernel is imported: the vision classes come from the plugin entry point.
_FRESH = """
import sys, torch
from lamina.core.learner.export import load_learner
learn = load_learner(sys.argv[1])
files = sys.argv[3:]
decoded, index, probs = learn.predict(files[0])
preds, _ = learn.get_preds(dl=learn.dls.test_dl(files))
decoded = decoded.as_subclass(torch.Tensor) if isinstance(decoded, torch.Tensor) else str(decoded)
torch.save({"decoded": decoded, "index": torch.as_tensor(index).as_subclass(torch.Tensor),
            "probs": probs.as_subclass(torch.Tensor), "preds": preds.as_subclass(torch.Tensor),
            "state": learn.model.state_dict()}, sys.argv[2])
"""


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _in_fresh_process(file: Path, files: list, out: Path) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _FRESH, str(file), str(out), *map(str, files)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return torch.load(out, weights_only=True)


def _check_round_trip(learn: Learner, files: list, tmp_path: Path) -> dict:
    """Export `learn` (no pickle fallback), load it in a fresh process and compare with the original."""
    file = learn.export(tmp_path / "learner.lamina")
    assert torch.load(file, weights_only=True)["pickled_parts"] == []
    decoded, index, probs = learn.predict(files[0])
    preds, _ = learn.get_preds(dl=learn.dls.test_dl(files))
    got = _in_fresh_process(file, files, tmp_path / "out.pt")
    for name, weight in learn.model.state_dict().items():
        assert torch.equal(got["state"][name], weight.cpu()), name
    if isinstance(decoded, torch.Tensor):
        assert torch.equal(got["decoded"], decoded.as_subclass(torch.Tensor))
    else:
        assert got["decoded"] == str(decoded)
    assert torch.equal(got["index"], torch.as_tensor(index).as_subclass(torch.Tensor))
    torch.testing.assert_close(got["probs"], probs.as_subclass(torch.Tensor), atol=1e-5, rtol=0)
    torch.testing.assert_close(got["preds"], preds.as_subclass(torch.Tensor), atol=1e-5, rtol=0)
    return got


def _valid_files(learn: Learner, n: int = 4) -> list:
    return list(learn.dls.valid_ds.items[:n])


def test_vision_learner_resnet18_round_trip(tmp_path):
    dls = ImageDataLoaders.from_folder(
        mnist_tiny_path(), bs=16, item_tfms=RandomResizedCrop(28, min_scale=0.8), seed=0
    )
    learn = vision_learner(dls, resnet18, pretrained=False, metrics=accuracy)
    files = _valid_files(learn)
    got = _check_round_trip(learn, files, tmp_path)
    assert got["decoded"] in ("3", "7")
    assert got["probs"].shape == (2,)


def test_cnn_learner_with_a_partial_arch_and_aug_transforms(tmp_path):
    """`partial(xresnet18, ...)` as arch; batch augmentations merged with a validation crop and Normalize."""
    dls = ImageDataLoaders.from_folder(
        mnist_tiny_path(),
        bs=16,
        item_tfms=Resize(32),
        batch_tfms=[*aug_transforms(size=24, min_scale=0.75), Normalize.from_stats([0.5] * 3, [0.25] * 3)],
    )
    learn = cnn_learner(dls, functools.partial(xresnet18, widen=0.25), pretrained=False)
    files = _valid_files(learn, 3)
    _check_round_trip(learn, files, tmp_path)
    loaded = load_learner(learn.export(tmp_path / "again.lamina"))
    names = [type(t).__name__ for t in loaded.dls.valid.after_batch.fs]
    assert names == [type(t).__name__ for t in learn.dls.valid.after_batch.fs]
    assert "AffineCoordTfm" in names and "LightingTfm" in names and "Normalize" in names


def test_xresnet_learner_from_a_datablock(tmp_path):
    block = DataBlock(
        blocks=(ImageBlock(cls=PILImageBW), CategoryBlock),
        get_items=get_image_files,
        splitter=GrandparentSplitter(),
        get_y=parent_label,
        batch_tfms=aug_transforms(do_flip=False, max_rotate=5.0),
    )
    dls = block.dataloaders(mnist_tiny_path(), bs=16)
    learn = Learner(dls, xresnet18(c_in=1, n_out=2, widen=0.25), metrics=accuracy)
    files = _valid_files(learn)
    got = _check_round_trip(learn, files, tmp_path)
    assert got["preds"].shape == (len(files), 2)


def _mask_of(path: Path) -> Path:
    return path.parent.parent / "labels" / f"{path.stem}_P{path.suffix}"


def test_unet_learner_round_trip(tmp_path, shared_data_root):
    root = shared_data_root / "segmentation_sample"
    codes = np.loadtxt(root / "codes.txt", dtype=str)
    fnames = sorted(get_image_files(root / "images"))
    dls = SegmentationDataLoaders.from_label_func(
        root, fnames, _mask_of, codes=codes, bs=4, seed=0, item_tfms=Resize(32)
    )
    learn = unet_learner(dls, resnet18, pretrained=False)
    files = _valid_files(learn, 2)
    got = _check_round_trip(learn, files, tmp_path)
    assert got["decoded"].shape == (32, 32)  # a mask of class codes
    assert got["probs"].shape == (len(codes), 32, 32)


@pytest.fixture
def shared_data_root() -> Path:
    root = Path("/work/shared/data")
    if not (root / "segmentation_sample").is_dir():
        pytest.skip("the shared segmentation sample is not here")
    return root


def test_merged_colour_transform_running_at_inference_is_refused(tmp_path):
    dls = ImageDataLoaders.from_folder(mnist_tiny_path(), bs=16, batch_tfms=aug_transforms(max_warp=0.0))
    lighting = next(t for t in dls.valid.after_batch.fs if isinstance(t, LightingTfm))
    lighting.split_idx = None  # now it would change validation batches: its drawn steps cannot be described
    learn = vision_learner(dls, resnet18, pretrained=False)
    with pytest.raises(DescribeError, match="LightingTfm with split_idx=None"):
        learn.export(tmp_path / "no.lamina")
    assert not (tmp_path / "no.lamina").exists()


def test_a_copied_augmentation_keeps_running_on_its_split():
    """Pipelines deep-copy their transforms: a step's 'holder's split' marker must survive the copy."""
    flip = copy.deepcopy(Flip(p=1.0, draw=1))
    x = torch.arange(6.0).reshape(1, 1, 2, 3)
    out = flip(TensorImage(x), split_idx=0)
    assert torch.equal(out.as_subclass(torch.Tensor), x.flip(-1))
