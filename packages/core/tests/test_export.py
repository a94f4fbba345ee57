"""export / load_learner: plain-data files, registry-only class lookup, versions, refusal of pickled code."""

import importlib.metadata
import json
import math
import os
import subprocess
import sys
import types

import pytest
import torch
from torch import nn

from lamina.core.data.block import DataBlock
from lamina.core.data.blocks import CategoryBlock, TransformBlock
from lamina.core.data.load import DataLoader
from lamina.core.data.loaders import DataLoaders
from lamina.core.data.splitters import IndexSplitter
from lamina.core.data.transforms import MultiCategorize, Normalize, OneHotEncode, RegressionSetup
from lamina.core.layers.basic import Flatten, Lambda, View
from lamina.core.learner.describe import (
    DescribeError,
    build_module,
    describe_module,
    from_data,
    register_export_spec,
    to_data,
)
from lamina.core.learner.export import (
    EXPORT_FORMAT_VERSION,
    ExportFormatError,
    UntrustedExportError,
    load_learner,
    register_inference_data,
)
from lamina.core.learner.learner import Learner
from lamina.core.plugins.registry import classes, register_class
from lamina.core.transform import Transform


def parity(n):
    return "even" if n % 2 == 0 else "odd"


def parity_model():
    """cos(pi * n) tells even from odd; the first layer is fixed (frozen) at pi."""
    first = nn.Linear(1, 1)
    with torch.no_grad():
        first.weight.fill_(math.pi)
        first.bias.zero_()
    first.requires_grad_(False)
    return nn.Sequential(View(-1, 1), first, Lambda(torch.cos), nn.Linear(1, 2))


def parity_learner(tmp_path, model=None, get_x=None):
    torch.manual_seed(0)
    dblock = DataBlock(
        blocks=(TransformBlock(type_tfms=RegressionSetup()), CategoryBlock()),
        get_y=parity,
        get_x=get_x,
        splitter=IndexSplitter(range(80, 100)),
    )
    dls = dblock.dataloaders(list(range(100)), bs=16)
    learn = Learner(dls, model if model is not None else parity_model(), lr=0.1, path=tmp_path)
    learn.logger = lambda *a: None
    with learn.no_bar():
        learn.fit_one_cycle(3)
    return learn


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return parity_learner(tmp_path_factory.mktemp("parity"))


def _predictions(learn, items):
    out = []
    for n in items:
        label, idx, probs = learn.predict(n)
        out.append([label, int(idx), probs.tolist()])
    return out


def assert_same_predictions(got, expected):
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    for g, e in zip(got, expected):
        assert g[2] == pytest.approx(e[2], abs=1e-6)


_FRESH_PROCESS = """
import json, sys
from lamina.core.learner.export import load_learner
learn = load_learner(sys.argv[1])
out = []
for n in (3, 10, 41, 77):
    label, idx, probs = learn.predict(n)
    out.append([label, int(idx), probs.tolist()])
print(json.dumps(out))
"""


def test_export_then_load_in_a_fresh_process_predicts_the_same(trained, tmp_path):
    file = trained.export(tmp_path / "parity.lamina")
    assert file.exists()
    expected = _predictions(trained, (3, 10, 41, 77))
    assert [p[0] for p in expected] == ["odd", "even", "odd", "odd"]  # the model learned parity
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS, str(file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert_same_predictions(json.loads(done.stdout.strip().splitlines()[-1]), expected)


def test_loaded_learner_has_inference_data_and_frozen_weights(trained, tmp_path):
    learn = load_learner(trained.export(tmp_path / "p.lamina"))
    assert learn.dls.vocab == ["even", "odd"] and learn.dls.n_inp == 1
    assert len(learn.dls.valid.dataset) == 0  # no training data travels with the model
    assert not learn.model[1].weight.requires_grad and learn.model[3].weight.requires_grad
    dl = learn.dls.test_dl([2, 5, 8])
    preds, targs = learn.get_preds(dl=dl)
    assert targs is None and preds.argmax(1).tolist() == [0, 1, 0]
    ref, _ = trained.get_preds(dl=trained.dls.test_dl([2, 5, 8]))
    torch.testing.assert_close(preds, ref)


def test_the_file_is_plain_data_stamped_with_versions(trained, tmp_path):
    payload = torch.load(trained.export(tmp_path / "p.lamina"), weights_only=True)
    assert payload["format"] == "lamina-learner" and payload["format_version"] == EXPORT_FORMAT_VERSION
    assert payload["written_by"]["lamina-core"] == importlib.metadata.version("lamina-core")
    assert payload["written_by"]["torch"] == str(torch.__version__)
    config = payload["model"]["config"]
    layers = [m["module"]["class"] for m in config["args"]["args"]["tuple"]]
    assert layers == ["lamina.core.View", "torch.nn.Linear", "lamina.core.Lambda", "torch.nn.Linear"]
    assert payload["model"]["frozen"] == ["1.weight", "1.bias"]
    target_steps = payload["data"]["elements"][1]["tfms"]
    assert target_steps[0] == {"omitted": "parity", "order": 0}  # a getter: decoding does not need it
    assert target_steps[1]["object"] == "lamina.core.Categorize"
    vocab = target_steps[1]["state"]["vocab"]["args"]["labels"]
    assert vocab == {"list": ["even", "odd"]}
    assert payload["pickled_parts"] == []


def test_an_omitted_target_step_explains_itself_when_labels_are_encoded(trained, tmp_path):
    learn = load_learner(trained.export(tmp_path / "p.lamina"))
    with pytest.raises(Exception, match="was not exported"):  # found when test_dl tries the first label
        learn.dls.test_dl([4], with_labels=True).one_batch()


class Unregistered(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 2)

    def forward(self, x):
        return self.lin(x.view(-1, 1))


def test_an_undescribable_model_fails_before_writing_anything(tmp_path):
    learn = parity_learner(tmp_path, model=Unregistered())
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(DescribeError, match="Unregistered.*RecordedInit.*register_class"):
        learn.export(target / "x.lamina")
    assert list(target.iterdir()) == []


def double(n):
    return 2 * n


def test_an_undescribable_input_step_is_named_with_the_registration_hint(tmp_path):
    learn = parity_learner(tmp_path, get_x=lambda n: n)
    with pytest.raises(DescribeError, match=r"input pipeline.*<lambda>.*register_function"):
        learn.export(tmp_path / "x.lamina")
    assert not (tmp_path / "x.lamina").exists()


def test_an_older_format_loads(trained, tmp_path):
    """A format-0 file (the pre-release layout: flat keys, no versions), written by hand."""
    v1 = torch.load(trained.export(tmp_path / "v1.lamina"), weights_only=True)
    v0 = {
        "lamina_export": 0,
        "model_config": v1["model"]["config"],
        "model_state": trained.model.state_dict(),
        "loss_func": to_data(trained.loss_func),
        "data": v1["data"],
    }
    torch.save(v0, tmp_path / "v0.lamina")
    learn = load_learner(tmp_path / "v0.lamina")
    assert_same_predictions(_predictions(learn, (6, 9)), _predictions(trained, (6, 9)))


def test_a_newer_format_fails_naming_both_versions(trained, tmp_path):
    file = trained.export(tmp_path / "p.lamina")
    payload = torch.load(file, weights_only=True)
    payload["format_version"] = 7
    torch.save(payload, file)
    with pytest.raises(
        ExportFormatError, match=r"format version 7 .*reads versions 0 to 1; upgrade lamina-core"
    ):
        load_learner(file)


class Planted:
    """Unpickling it would create the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_planted_pickle_is_refused_without_running_it(trained, tmp_path):
    marker = tmp_path / "pwned"
    payload = torch.load(trained.export(tmp_path / "p.lamina"), weights_only=True)
    payload["loss_func"] = Planted(marker)
    torch.save(payload, tmp_path / "evil.lamina")
    with pytest.raises(ExportFormatError, match="refused"):
        load_learner(tmp_path / "evil.lamina", trusted=True)  # trusted only opts into our own pickled parts
    assert not marker.exists()
    payload["loss_func"] = {"pickled": __import__("pickle").dumps(Planted(marker))}
    torch.save(payload, tmp_path / "evil2.lamina")
    with pytest.raises(UntrustedExportError, match="pickled parts.*loss_func"):
        load_learner(tmp_path / "evil2.lamina")
    assert not marker.exists()


def test_pickle_fallback_is_an_explicit_opt_in_on_both_sides(tmp_path):
    learn = parity_learner(tmp_path, model=Unregistered())
    file = learn.export(tmp_path / "p.lamina", pickle_fallback=True)
    assert torch.load(file, weights_only=True)["pickled_parts"] == ["the model"]
    with pytest.raises(UntrustedExportError, match="trusted=True"):
        load_learner(file)
    loaded = load_learner(file, trusted=True)
    assert isinstance(loaded.model, Unregistered)
    assert_same_predictions(_predictions(loaded, (1, 2)), _predictions(learn, (1, 2)))


def _model_class_in(module_name):
    """A recorded model class defined in a (made-up) module, as if it lived at another import path."""
    module = types.ModuleType(module_name)
    source = (
        "from torch import nn\n"
        "from lamina.core.layers.recorded import RecordedInit\n"
        "class ParityNet(RecordedInit, nn.Module):\n"
        "    def __init__(self, hidden=4):\n"
        "        super().__init__()\n"
        "        self.body = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 2))\n"
        "    def forward(self, x):\n"
        "        return self.body(x.view(-1, 1))\n"
    )
    exec(compile(source, f"<{module_name}>", "exec"), module.__dict__)
    return module.ParityNet


def test_a_class_reregistered_from_another_module_still_loads(tmp_path):
    old = register_class("tests.ParityNet")(_model_class_in("old_place.models"))
    try:
        learn = parity_learner(tmp_path, model=old(hidden=3))
        file = learn.export(tmp_path / "p.lamina")
        expected = _predictions(learn, (4, 7))
    finally:
        classes.remove("tests.ParityNet")
    new = register_class("tests.ParityNet")(_model_class_in("new_place.nets"))
    try:
        assert new is not old and new.__module__ != old.__module__
        loaded = load_learner(file)
        assert type(loaded.model) is new and loaded.model.body[0].out_features == 3
        assert_same_predictions(_predictions(loaded, (4, 7)), expected)
    finally:
        classes.remove("tests.ParityNet")


def test_a_missing_registration_fails_with_a_clear_message(tmp_path):
    cls = register_class("tests.GoneNet")(_model_class_in("gone.models"))
    try:
        file = parity_learner(tmp_path, model=cls()).export(tmp_path / "p.lamina")
    finally:
        classes.remove("tests.GoneNet")
    with pytest.raises(
        ExportFormatError, match="no class named 'tests.GoneNet'.*install the package that registers it"
    ):
        load_learner(file)


@pytest.mark.parametrize(
    "module, x",
    [
        (
            nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU()),
            torch.randn(2, 3, 5, 5),
        ),
        (nn.LSTM(3, 5, num_layers=2, batch_first=True, bidirectional=True), torch.randn(2, 4, 3)),
        (nn.GRU(3, 5), torch.randn(4, 2, 3)),
        (nn.RNN(3, 5, nonlinearity="relu"), torch.randn(4, 2, 3)),
        (
            nn.Sequential(nn.Embedding(10, 4, padding_idx=0), Flatten(), nn.LayerNorm(12)),
            torch.tensor([[1, 2, 0]]),
        ),
        (nn.ModuleList([nn.Linear(2, 2), nn.Dropout(0.1)]), None),
    ],
)
def test_torch_nn_modules_are_described_by_their_attributes(module, x):
    module.eval()
    rebuilt = build_module(describe_module(module))
    assert type(rebuilt) is type(module) and repr(rebuilt) == repr(module)
    rebuilt.load_state_dict(module.state_dict())
    rebuilt.eval()
    if x is not None:
        a, b = module(x), rebuilt(x)
        a, b = (a[0], b[0]) if isinstance(a, tuple) else (a, b)
        torch.testing.assert_close(a, b)


def test_a_model_changed_after_construction_is_refused():
    flat = Flatten()
    flat.full = True  # not recorded: the description would rebuild Flatten(full=False)
    with pytest.raises(DescribeError, match="changed after it was built"):
        describe_module(nn.Sequential(nn.Linear(2, 2), flat))
    seq = nn.Sequential(nn.Linear(2, 3))
    seq[0].out_features = 5
    with pytest.raises(DescribeError, match=r"0\.weight: \(3, 2\) vs \(5, 2\)"):
        describe_module(seq)


def test_kernel_transforms_keep_their_learned_state():
    norm = Normalize.from_stats([0.5, 0.25], [0.2, 0.1], cuda=False)
    multi = MultiCategorize()
    multi.setup([["b", "a"], ["c"]])
    onehot = OneHotEncode(3)
    for t in (norm, multi, onehot):
        back = from_data(to_data(t))
        assert type(back) is type(t) and back.order == t.order
    back = from_data(to_data(norm))
    torch.testing.assert_close(back.mean, norm.mean)
    torch.testing.assert_close(back.std, norm.std)
    assert list(from_data(to_data(multi)).vocab) == ["a", "b", "c"]


@register_class("tests.Scale")
class Scale(Transform):
    """A plugin-style transform: one constructor argument and one learned attribute, declared."""

    export_args = ("offset",)
    export_state = ("factor",)

    def __init__(self, offset=0.0):
        super().__init__()
        self.offset, self.factor = offset, None

    def setups(self, items):
        self.factor = 1.0 / max(items)

    def encodes(self, x: float):
        return x * self.factor + self.offset


@register_class("tests.Sloppy")
class Sloppy(Transform):
    def __init__(self, k=1):
        super().__init__()
        self.k = k
        self.table = {}  # learned, but not declared


def test_the_transform_protocol_for_plugins():
    t = Scale(offset=1.0)
    t.setup([2.0, 4.0])
    t.split_idx = 1
    back = from_data(to_data(t))
    assert (back.offset, back.factor, back.split_idx) == (1.0, 0.25, 1)
    assert back(2.0, split_idx=1) == 1.5
    with pytest.raises(DescribeError, match=r"holds the attributes \['table'\].*export_state"):
        to_data(Sloppy())
    register_export_spec(Sloppy, args=("k",), state=("table",))
    s = Sloppy(k=3)
    s.table = {"x": 1}
    back = from_data(to_data(s))
    assert (back.k, back.table) == (3, {"x": 1})


@register_class("tests.ArrayLoader")
class ArrayLoader(DataLoader):
    """A plugin's own loader (not a TfmdDL) that scales its inputs by a learned factor."""

    def __init__(self, dataset=None, scale=1.0, **kwargs):
        super().__init__(dataset, **kwargs)
        self.scale = scale


def _describe_array_data(dls):
    return {"scale": dls.valid.scale, "bs": dls.valid.bs}


def _rebuild_array_data(value, path):
    make = lambda: ArrayLoader([], scale=value["scale"], bs=value["bs"])  # noqa: E731
    return DataLoaders(make(), make(), path=path)


def test_a_plugin_exports_the_inference_data_of_its_own_loaders(tmp_path):
    register_inference_data(ArrayLoader, _describe_array_data, _rebuild_array_data)
    x = torch.randn(40, 1)
    data = [(a, 2 * a) for a in x]
    dls = DataLoaders(ArrayLoader(data[:32], scale=3.0, bs=8), ArrayLoader(data[32:], scale=3.0, bs=8))
    learn = Learner(dls, nn.Linear(1, 1), loss_func=nn.functional.mse_loss, path=tmp_path)
    loaded = load_learner(learn.export("arrays.lamina"))
    assert isinstance(loaded.dls.valid, ArrayLoader) and loaded.dls.valid.scale == 3.0
    assert loaded.dls.valid.bs == 8 and loaded.dls.path == tmp_path
