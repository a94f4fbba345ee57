"""vision_learner / cnn_learner / unet_learner: body cut and head, splits, freezing, pretrained weights
from the local cache (sha256-checked, clear offline error), normalisation with the weights' statistics,
inference of n_in / n_out / image size from the data, architectures by name (ours and the registry's)."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lamina.core.data.download import DownloadError, VerificationError, file_digest
from lamina.core.data.loaders import DataLoaders
from lamina.core.data.transforms import Normalize
from lamina.core.learner.learner import Learner
from lamina.core.losses import CrossEntropyLossFlat
from lamina.core.metrics import error_rate
from lamina.core.plugins import ArchitectureSpec, registry
from lamina.vision.arch_meta import VisionBody, imagenet_stats
from lamina.vision.core import TensorImage
from lamina.vision.data import get_image_files
from lamina.vision.factories import ImageDataLoaders, SegmentationDataLoaders
from lamina.vision.image import PILImageBW
from lamina.vision.learner import cnn_learner, resolve_arch, unet_learner, vision_learner
from lamina.vision.models.resnet import resnet18
from lamina.vision.models.unet import DynamicUnet
from lamina.vision.models.weights import PRETRAINED_WEIGHTS, WeightsFile
from lamina.vision.models.xresnet import xresnet18
from lamina.vision.samples import mnist_tiny_path

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True, scope="module")
def native_cpu_convolutions():
    """oneDNN builds a kernel for each new convolution shape (slow on a small CPU); see test_unet.py."""
    enabled = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    yield
    torch.backends.mkldnn.enabled = enabled


@pytest.fixture
def shared_data() -> Path:
    path = Path(os.environ.get("LAMINA_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not path.exists():
        pytest.fail(f"sample data not found at {path}; set LAMINA_SHARED_DATA")
    return path


def mnist_dls(**kwargs):
    return ImageDataLoaders.from_folder(mnist_tiny_path(), bs=16, **kwargs)


@pytest.fixture
def cached_resnet18(tmp_path, monkeypatch):
    """Pretrained resnet18 weights (random values, but a real file) in a temporary LAMINA_HOME cache."""
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path))
    torch.manual_seed(3)
    state = resnet18().state_dict()
    (tmp_path / "models").mkdir()
    path = tmp_path / "models" / "resnet18-test.pth"
    torch.save(state, path)
    spec = WeightsFile("resnet18", "http://127.0.0.1:9/resnet18-test.pth", sha256=file_digest(path))
    monkeypatch.setitem(PRETRAINED_WEIGHTS, "resnet18", spec)
    return state


def normalizers(dls):
    return [t for dl in dls for t in dl.after_batch.fs if isinstance(t, Normalize)]


# ---- the model ---------------------------------------------------------------------------------------------
def test_body_cut_and_head_from_the_architecture():
    dls = mnist_dls()
    learn = vision_learner(dls, resnet18, pretrained=False, metrics=error_rate)
    assert isinstance(learn, Learner) and learn.dls is dls
    body, head = learn.model[0], learn.model[1]
    assert isinstance(body, VisionBody) and len(body) == 8  # resnet18 children up to layer4: cut at -2
    assert [type(m).__name__ for m in head][:2] == ["AdaptiveConcatPool2d", "Flatten"]
    assert head[-1].out_features == 2  # the two classes of the data
    assert head[2].num_features == 1024  # 512 features, max and average pooled
    assert learn.arch is resnet18 and learn.n_out == 2 and learn.pretrained is False
    out = learn.model(torch.randn(2, 3, 28, 28))
    assert out.shape == (2, 2)
    assert isinstance(learn.loss_func, CrossEntropyLossFlat)  # the data's default loss


def test_split_into_stem_stages_and_head():
    learn = vision_learner(mnist_dls(), resnet18, pretrained=False)
    learn.create_opt()
    groups = learn.opt.param_lists
    assert len(groups) == 3
    ids = [{id(p) for p in g} for g in groups]
    assert {id(p) for p in learn.model[0][:6].parameters()} == ids[0]  # stem to layer2
    assert {id(p) for p in learn.model[0][6:].parameters()} == ids[1]  # layer3, layer4
    assert {id(p) for p in learn.model[1].parameters()} == ids[2]  # head
    # not pretrained: nothing frozen, no normalisation added
    assert all(p.requires_grad for p in learn.model.parameters())
    assert normalizers(learn.dls) == []


def test_custom_splitter_and_head_arguments():
    def two_groups(m):
        return [list(m[0].parameters()), list(m[1].parameters())]

    learn = vision_learner(
        mnist_dls(),
        resnet18,
        pretrained=False,
        splitter=two_groups,
        lin_ftrs=[64],
        ps=0.2,
        concat_pool=False,
        y_range=(0, 1),
        n_out=5,
    )
    learn.create_opt()
    assert len(learn.opt.param_lists) == 2
    linears = [m for m in learn.model[1].modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(512, 64), (64, 5)]
    assert type(learn.model[1][-1]).__name__ == "SigmoidRange"
    out = learn.model.eval()(torch.randn(3, 3, 28, 28))
    assert out.shape == (3, 5) and bool(((out > 0) & (out < 1)).all())


def test_custom_head_and_cut():
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 2))
    learn = vision_learner(mnist_dls(), resnet18, pretrained=False, cut=-3, custom_head=head)
    assert learn.model[1] is head
    assert len(learn.model[0]) == 7  # stops after layer3 (256 channels)
    assert learn.model(torch.randn(2, 3, 28, 28)).shape == (2, 2)


def test_cnn_learner_is_vision_learner():
    assert cnn_learner is vision_learner


def test_learner_arguments_go_through(tmp_path):
    learn = vision_learner(
        mnist_dls(),
        resnet18,
        pretrained=False,
        metrics=[error_rate],
        path=tmp_path,
        model_dir="weights",
        wd=0.05,
        lr=3e-3,
        moms=(0.9, 0.8, 0.9),
    )
    assert learn.path == tmp_path and learn.model_dir == Path("weights")
    assert learn.wd == 0.05 and learn.lr == 3e-3 and learn.moms == (0.9, 0.8, 0.9)
    assert [m.name for m in learn.metrics] == ["error_rate"]
    assert learn.save("x") == tmp_path / "weights" / "x.pth"


# ---- what the data tells -----------------------------------------------------------------------------------
def test_grey_images_give_a_one_channel_stem():
    learn = vision_learner(mnist_dls(img_cls=PILImageBW), xresnet18, pretrained=False)
    first = next(m for m in learn.model.modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == 1
    assert learn.model(torch.randn(2, 1, 28, 28)).shape == (2, 2)


def test_n_out_from_a_regression_target():
    fnames = get_image_files(mnist_tiny_path() / "valid")[:16]
    from lamina.core.data.block import DataBlock
    from lamina.core.data.splitters import RandomSplitter
    from lamina.vision.data import ImageBlock, PointBlock

    dblock = DataBlock(
        blocks=(ImageBlock, PointBlock),
        get_y=lambda o: [[3, 4], [10, 20], [5, 6]],
        splitter=RandomSplitter(seed=0),
    )
    learn = vision_learner(dblock.dataloaders(fnames, bs=4), resnet18, pretrained=False)
    assert learn.n_out == 6  # three points, two coordinates each


def test_errors_name_the_problem():
    dls = mnist_dls()
    with pytest.raises(ValueError, match="unknown architecture 'resnet19'"):
        vision_learner(dls, "resnet19", pretrained=False)
    with pytest.raises(TypeError, match="arch must be"):
        vision_learner(dls, 42, pretrained=False)
    with pytest.raises(ValueError, match="n_out must be a positive int"):
        vision_learner(dls, resnet18, pretrained=False, n_out=0)
    flat = DataLoaders([(torch.randn(4, 10), torch.zeros(4, dtype=torch.long))])
    with pytest.raises(ValueError, match=r"batches of images shaped \(bs, channels, height, width\)"):
        vision_learner(flat, resnet18, pretrained=False)


# ---- architectures by name ---------------------------------------------------------------------------------
def test_architecture_by_name():
    learn = vision_learner(mnist_dls(), "resnet18", pretrained=False)
    assert learn.arch == "resnet18" and len(learn.model[0]) == 8
    factory, meta = resolve_arch("xresnet18")
    assert factory is xresnet18 and meta.cut == -4


class TinyNet(nn.Sequential):
    def __init__(self):
        super().__init__(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2), nn.Linear(1, 1)
        )


def tiny_net(pretrained=False):
    return TinyNet()


def tiny_split(m):
    return [list(m[0][:2].parameters()), list(m[0][2:].parameters()) + list(m[1].parameters())]


@pytest.fixture
def registered_tiny_net():
    spec = ArchitectureSpec(tiny_net, cut=-1, split=tiny_split, stats=([0.5, 0.5, 0.5], [0.25, 0.25, 0.25]))
    registry.architectures.add("tiny_net", spec, owner="test")
    yield spec
    registry.architectures.remove("tiny_net")


def test_architecture_from_the_plugin_registry(registered_tiny_net):
    for arch in ("tiny_net", tiny_net):  # by name, and by the factory a plugin registered
        learn = vision_learner(mnist_dls(), arch, pretrained=False)
        assert len(learn.model[0]) == 3  # cut=-1: the last child (the Linear) is dropped
        learn.create_opt()
        assert len(learn.opt.param_lists) == 2  # the spec's split
    _, meta = resolve_arch("tiny_net")
    assert meta.stats == ([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])


# ---- pretrained weights ------------------------------------------------------------------------------------
def test_pretrained_loads_the_cached_weights_freezes_and_normalizes(cached_resnet18):
    dls = mnist_dls()
    learn = vision_learner(dls, "resnet18")
    body = learn.model[0]
    assert torch.equal(body[0].weight, cached_resnet18["conv1.weight"])
    assert torch.equal(body[4][0].conv1.weight, cached_resnet18["layer1.0.conv1.weight"])
    # frozen: only the head (and, with train_bn, the normalisation layers) train
    assert not body[0].weight.requires_grad and not body[7][1].conv2.weight.requires_grad
    assert body[1].weight.requires_grad  # a BatchNorm of the body
    assert all(p.requires_grad for p in learn.model[1].parameters())
    # the inputs are normalised with ImageNet statistics, on every loader
    (norm,) = {id(t): t for t in normalizers(dls)}.values()
    assert norm.tensor_type is TensorImage
    mean, std = imagenet_stats
    assert torch.allclose(norm.mean.flatten(), torch.tensor(mean)) and torch.allclose(
        norm.std.flatten(), torch.tensor(std)
    )
    x, _ = dls.valid.one_batch()
    raw = dls.valid.decode((x,))[0].float() / 255
    expected = (raw - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(x.as_subclass(torch.Tensor), expected, atol=1e-5)
    # a second learner on the same data does not normalise twice
    vision_learner(dls, resnet18)
    assert len({id(t) for t in normalizers(dls)}) == 1


def test_pretrained_grey_images_get_channel_averaged_stats(cached_resnet18):
    dls = mnist_dls(img_cls=PILImageBW)
    learn = vision_learner(dls, resnet18, normalize=True)
    (norm,) = {id(t): t for t in normalizers(dls)}.values()
    assert torch.allclose(norm.mean.flatten(), torch.tensor([float(np.mean(imagenet_stats[0]))]))
    assert torch.allclose(norm.std.flatten(), torch.tensor([float(np.mean(imagenet_stats[1]))]))
    stem = learn.model[0][0]
    assert stem.in_channels == 1  # the three RGB kernels summed: a grey image gives the same features
    assert torch.allclose(stem.weight[:, 0], cached_resnet18["conv1.weight"].sum(1))


def test_normalize_false_leaves_the_data_alone(cached_resnet18):
    dls = mnist_dls()
    vision_learner(dls, resnet18, normalize=False)
    assert normalizers(dls) == []


def test_offline_without_cached_weights_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path))
    spec = WeightsFile("resnet18", "http://127.0.0.1:9/resnet18-f37072fd.pth", sha256_prefix="f37072fd")
    monkeypatch.setitem(PRETRAINED_WEIGHTS, "resnet18", spec)
    with pytest.raises(DownloadError) as info:
        vision_learner(mnist_dls(), "resnet18")
    message = str(info.value)
    assert str(tmp_path / "models" / "resnet18-f37072fd.pth") in message
    assert "http://127.0.0.1:9/resnet18-f37072fd.pth" in message


def test_a_cached_file_with_the_wrong_sha256_is_refused(cached_resnet18, tmp_path):
    path = tmp_path / "models" / "resnet18-test.pth"
    state = dict(cached_resnet18)
    state["fc.bias"] = state["fc.bias"] + 1  # tampered
    torch.save(state, path)
    with pytest.raises(VerificationError, match="sha256"):
        vision_learner(mnist_dls(), resnet18)


# ---- unet_learner ------------------------------------------------------------------------------------------
@pytest.fixture
def seg_dls(shared_data):
    path = shared_data / "segmentation_sample"
    codes = np.loadtxt(path / "codes.txt", dtype=str)
    return SegmentationDataLoaders.from_label_func(
        path,
        get_image_files(path / "images"),
        lambda o: path / "labels" / f"{o.stem}_P{o.suffix}",
        codes=codes,
        seed=0,
        bs=4,
    )


def test_unet_learner_builds_a_dynamic_unet_for_the_data(seg_dls):
    learn = unet_learner(seg_dls, resnet18, pretrained=False, config={"self_attention": False}, blur=True)
    assert isinstance(learn.model, DynamicUnet) and learn.n_out == 2
    assert isinstance(learn.loss_func, CrossEntropyLossFlat) and learn.loss_func.axis == 1
    x, y = seg_dls.valid.one_batch()
    out = learn.model.eval()(x[:2].as_subclass(torch.Tensor))
    assert out.shape == (2, 2, 128, 128)
    learn.create_opt()
    assert len(learn.opt.param_lists) == 3  # resnet split: stem..layer2, layer3..layer4, decoder
    assert {id(p) for p in learn.opt.param_lists[2]} == {id(p) for p in learn.model[1:].parameters()}


def test_unet_learner_pretrained_freezes_the_encoder(seg_dls, cached_resnet18):
    learn = unet_learner(seg_dls, "resnet18", y_range=(-3.0, 3.0))
    encoder = learn.model[0]
    assert torch.equal(encoder[0].weight, cached_resnet18["conv1.weight"])
    assert not encoder[0].weight.requires_grad
    assert all(p.requires_grad for p in learn.model[1:].parameters())
    assert len({id(t) for t in normalizers(seg_dls)}) == 1
    assert type(learn.model[-1]).__name__ == "SigmoidRange"


def test_unet_learner_errors(seg_dls):
    with pytest.raises(TypeError, match="config must be a mapping"):
        unet_learner(seg_dls, resnet18, pretrained=False, config=[1])
    seg_dls.c = None
    seg_dls.vocab = None
    with pytest.raises(ValueError, match="cannot infer the number of outputs.*pass n_out="):
        unet_learner(seg_dls, resnet18, pretrained=False)


def test_default_loss_from_the_plugin_registry(seg_dls):
    seg_dls.loss_func = None  # data without a default loss: the one registered for TensorMask is used
    learn = unet_learner(seg_dls, resnet18, pretrained=False)
    assert isinstance(learn.loss_func, CrossEntropyLossFlat) and learn.loss_func.axis == 1


def test_registered_learner_factories():
    assert registry.learners["vision"] is vision_learner
    assert registry.learners["unet"] is unet_learner


# ---- on a GPU ----------------------------------------------------------------------------------------------
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_pretrained_learner_trains_and_interprets_on_cuda(cached_resnet18):
    from lamina.vision.interpret import ClassificationInterpretation

    dls = mnist_dls(device="cuda")
    learn = vision_learner(dls, resnet18, metrics=error_rate)
    x, _ = dls.valid.one_batch()
    assert x.device.type == "cuda" and abs(float(x.mean())) < 3  # normalised on the GPU
    with learn.quiet():
        learn.fit_one_cycle(1)
    assert next(learn.model.parameters()).device.type == "cuda"
    interp = ClassificationInterpretation.from_learner(learn)
    assert interp.confusion_matrix().sum() == 200 and interp.losses.device.type == "cpu"


def test_plain_torch_loaders_work_but_are_not_normalised(cached_resnet18):
    images = torch.rand(8, 3, 32, 32)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(images, torch.arange(8) % 2), batch_size=4
    )
    dls = DataLoaders(loader)
    with pytest.raises(ValueError, match="pass n_out="):
        vision_learner(dls, resnet18, loss_func=CrossEntropyLossFlat())
    with pytest.warns(UserWarning, match="not normalised with the pretrained weights' statistics"):
        learn = vision_learner(dls, resnet18, n_out=2, loss_func=CrossEntropyLossFlat())
    assert learn.model(images[:2]).shape == (2, 2)
