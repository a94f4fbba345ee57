"""ResNet with torchvision's state-dict layout, and pretrained weights from the local cache/downloads."""

import http.server
import json
import socket
import threading
from functools import partial
from pathlib import Path

import pytest
import torch
from torch import nn

from lamina.core.data.download import DownloadUnreachableError, VerificationError, file_digest
from lamina.core.layers.recorded import module_config, module_from_config
from lamina.vision.models import resnet
from lamina.vision.models.resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet50
from lamina.vision.models.weights import (
    PRETRAINED_WEIGHTS,
    WeightsFile,
    load_weights,
    models_path,
    register_weights,
    weights_path,
)

REFERENCE = Path(__file__).with_name("resnet_state_dict_reference.txt")

# torchvision's published parameter counts (its weights' `num_params` metadata)
TORCHVISION_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336,
    "wide_resnet50_2": 68_883_240,
    "wide_resnet101_2": 126_886_696,
}


def reference_listing() -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    listing: dict[str, list] = {}
    for line in REFERENCE.read_text().splitlines():
        if line.startswith("## "):
            current = listing.setdefault(line[3:], [])
        elif line and not line.startswith("#"):
            key, shape = line.split(" ")
            current.append((key, () if shape == "scalar" else tuple(int(s) for s in shape.split(","))))
    return listing


def on_meta(factory, **kwargs):
    """Build a model without allocating or initialising its weights (shapes and names only)."""
    with torch.device("meta"):
        return factory(**kwargs)


# ---------------------------------------------------------------------------------------- layout


def test_reference_listing_counts():
    listing = reference_listing()
    counts = {arch: len(rows) for arch, rows in listing.items()}
    assert counts == {"resnet18": 122, "resnet34": 218, "resnet50": 320, "resnet101": 626, "resnet152": 932}
    for arch, rows in listing.items():  # the hand-written listing itself matches torchvision's totals
        weights = [
            s for k, s in rows if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
        ]
        assert sum(torch.Size(s).numel() for s in weights) == TORCHVISION_PARAMS[arch], arch


@pytest.mark.parametrize("arch", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
def test_state_dict_matches_torchvision_key_for_key(arch):
    model = on_meta(getattr(resnet, arch))
    got = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    expected = reference_listing()[arch]
    assert len(got) == len(expected)
    for (k, s), (ek, es) in zip(got, expected):
        assert (k, s) == (ek, es)
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_PARAMS[arch]


@pytest.mark.parametrize(
    "arch", ["resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "wide_resnet101_2"]
)
def test_grouped_and_wide_variants_match_torchvision_sizes(arch):
    model = on_meta(getattr(resnet, arch))
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_PARAMS[arch]
    assert len(model.state_dict()) == (320 if "50" in arch else 626)


def test_children_order_puts_pool_and_fc_last():
    names = [n for n, _ in on_meta(resnet18).named_children()]
    assert names == [
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "fc",
    ]


# --------------------------------------------------------------------------------------- behaviour


def test_forward_shape_and_input_check():
    model = resnet18(num_classes=7).eval()
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 7)
    with pytest.raises(ValueError, match=r"\(bs, 3, height, width\), got shape \(2, 1, 64, 64\)"):
        model(torch.randn(2, 1, 64, 64))


def test_in_chans_changes_the_stem():
    model = resnet18(in_chans=1, num_classes=2).eval()
    assert model.conv1.weight.shape == (64, 1, 7, 7)
    assert model(torch.randn(1, 1, 32, 32)).shape == (1, 2)


def test_torchvision_initialisation():
    model = resnet18()
    assert torch.all(model.bn1.weight == 1) and torch.all(model.bn1.bias == 0)
    w = model.layer3[0].conv1.weight  # fan_out = 256 * 3 * 3
    assert w.std().item() == pytest.approx((2 / (256 * 9)) ** 0.5, rel=0.05)
    assert torch.all(model.layer1[0].bn2.weight == 1)
    zero = resnet50(zero_init_residual=True)
    assert torch.all(zero.layer1[0].bn3.weight == 0) and torch.all(zero.layer1[0].bn2.weight == 1)
    assert torch.all(resnet18(zero_init_residual=True).layer2[1].bn2.weight == 0)


def test_replace_stride_with_dilation_keeps_resolution():
    model = resnet50(replace_stride_with_dilation=[False, True, True]).eval()
    body = nn.Sequential(*list(model.children())[:-2])
    with torch.no_grad():
        feats = body(torch.randn(1, 3, 64, 64))
    assert feats.shape == (1, 2048, 8, 8)  # output stride 8 instead of 32
    assert model.layer4[1].conv2.dilation == (4, 4) and model.layer4[0].conv2.dilation == (2, 2)


def test_block_and_argument_errors():
    with pytest.raises(ValueError, match="BasicBlock supports only groups=1"):
        resnet18(groups=2)
    with pytest.raises(ValueError, match="layers must be 4 positive ints"):
        ResNet(BasicBlock, [2, 2, 2])
    with pytest.raises(TypeError, match="block must be BasicBlock or Bottleneck"):
        ResNet(nn.Linear, [1, 1, 1, 1])
    with pytest.raises(ValueError, match="replace_stride_with_dilation"):
        ResNet(Bottleneck, [1, 1, 1, 1], replace_stride_with_dilation=[True])
    with pytest.raises(TypeError, match="pretrained must be a bool"):
        resnet18(10)


def test_resnet_is_described_as_data_and_rebuilt():
    model = resnet18(num_classes=5)
    config = json.loads(json.dumps(module_config(model)))
    assert config["class"] == "lamina.vision.ResNet"
    assert config["args"]["block"] == {"class": "lamina.vision.BasicBlock"}
    rebuilt = module_from_config(config)
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(rebuilt.eval()(x), model.eval()(x))


# ------------------------------------------------------------------------------------- pretrained


@pytest.fixture(scope="module")
def weight_file(tmp_path_factory):
    """A resnet18 state dict with recognisable (random) values, saved as a torchvision-style file."""
    torch.manual_seed(0)
    state = resnet18().state_dict()
    state["fc.bias"] = torch.arange(1000, dtype=torch.float32)
    path = tmp_path_factory.mktemp("served") / "resnet18-test.pth"
    torch.save(state, path)
    return path, state


@pytest.fixture
def server(weight_file):
    """Serve the weight file's folder from 127.0.0.1; yields its base url."""
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(weight_file[0].parent))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def closed_port_url(name: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def use_weights(monkeypatch, **kwargs):
    monkeypatch.setitem(PRETRAINED_WEIGHTS, "resnet18", WeightsFile("resnet18", **kwargs))


def assert_same_state(model, state):
    got = model.state_dict()
    assert list(got) == list(state)
    assert all(torch.equal(got[k], state[k]) for k in state)


def test_known_weights_are_torchvision_files_checked_by_their_hash_prefix():
    spec = PRETRAINED_WEIGHTS["resnet18"]
    assert spec.url == "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    assert spec.sha256_prefix == "f37072fd" and spec.file_name == "resnet18-f37072fd.pth"
    assert {"resnet34", "resnet50", "resnet101", "resnet152"} <= set(PRETRAINED_WEIGHTS)


def test_pretrained_downloads_once_verifies_and_loads(monkeypatch, home, weight_file, server):
    path, state = weight_file
    use_weights(monkeypatch, url=server + path.name, sha256=file_digest(path))
    model = resnet18(pretrained=True, progress=False)
    assert_same_state(model, state)
    cached = models_path() / path.name
    assert cached == home / "models" / path.name == weights_path("resnet18") and cached.is_file()
    # the second load needs no network: point the url somewhere unreachable
    use_weights(monkeypatch, url=closed_port_url(path.name), sha256=file_digest(path))
    assert_same_state(resnet18(pretrained=True), state)


def test_pretrained_checks_a_hash_prefix(monkeypatch, home, weight_file, server):
    path, state = weight_file
    use_weights(monkeypatch, url=server + path.name, sha256_prefix=file_digest(path)[:8])
    assert_same_state(resnet18(pretrained=True, progress=False), state)


def test_download_with_the_wrong_hash_is_rejected_and_not_cached(monkeypatch, home, weight_file, server):
    path, _ = weight_file
    use_weights(monkeypatch, url=server + path.name, sha256_prefix="0123abcd")
    with pytest.raises(VerificationError, match="expected sha256 0123abcd"):
        resnet18(pretrained=True, progress=False)
    assert not (models_path() / path.name).exists()


def test_offline_error_says_where_to_put_the_file(monkeypatch, home, weight_file):
    path, state = weight_file
    url = closed_port_url(path.name)
    use_weights(monkeypatch, url=url, sha256=file_digest(path))
    with pytest.raises(DownloadUnreachableError) as err:
        resnet18(pretrained=True, progress=False)
    message = str(err.value)
    assert url in message and str(home / "models" / path.name) in message and "save it as" in message
    # placing the file there by hand makes it work offline
    (home / "models").mkdir(parents=True, exist_ok=True)
    (home / "models" / path.name).write_bytes(path.read_bytes())
    assert_same_state(resnet18(pretrained=True), state)


def test_a_tampered_cached_file_is_refused(monkeypatch, home, weight_file):
    path, _ = weight_file
    use_weights(monkeypatch, url=closed_port_url(path.name), sha256=file_digest(path))
    (home / "models").mkdir(parents=True)
    (home / "models" / path.name).write_bytes(path.read_bytes() + b"x")
    with pytest.raises(VerificationError, match="cached weight file .* is not the one registered"):
        load_weights("resnet18")


def test_pretrained_needs_the_matching_layout(monkeypatch, home, weight_file):
    path, _ = weight_file
    (home / "models").mkdir(parents=True)
    (home / "models" / path.name).write_bytes(path.read_bytes())
    use_weights(monkeypatch, url=closed_port_url(path.name), sha256=file_digest(path))
    with pytest.raises(ValueError, match=r"fc.weight: file \(1000, 512\), model \(10, 512\)"):
        resnet18(pretrained=True, num_classes=10)


def test_unknown_weights_and_bad_specs():
    with pytest.raises(KeyError, match="no pretrained weights are known for 'nope'"):
        load_weights("nope")
    with pytest.raises(ValueError, match="give sha256 or sha256_prefix"):
        WeightsFile("x", "https://example.com/x.pth")
    with pytest.raises(ValueError, match="at least 8 hex digits"):
        WeightsFile("x", "https://example.com/x.pth", sha256_prefix="abc")
    with pytest.raises(ValueError, match="already has weights"):
        register_weights(WeightsFile("resnet18", "https://example.com/r.pth", sha256_prefix="deadbeef"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_resnet_runs_on_cuda_in_half_precision():
    model = resnet50(num_classes=4).cuda().half().eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64, device="cuda", dtype=torch.half))
    assert out.shape == (2, 4) and out.dtype == torch.half and torch.isfinite(out).all()
