"""learn.compile(): the forward runs through torch.compile, in place, and freezing, saving, exporting,
copying and mixed precision keep working.

Most tests use a counting backend (dynamo captures the graph, no C++ build) so they stay fast. The one
test with the default inductor backend (C++ code generation: 7 s with a warm inductor cache, 25 s cold on
2 cores) is marked slow: it runs when LAMINA_SLOW_TESTS=1."""

import copy
import os
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import TensorDataset

from lamina.core.callbacks.compile import CompiledForward, is_compiled
from lamina.core.callbacks.mixed_precision import MixedPrecision
from lamina.core.data.loaders import DataLoaders
from lamina.core.learner.callback import Callback
from lamina.core.learner.learner import Learner
from lamina.core.optim.optimizers import SGD


@pytest.fixture(autouse=True)
def fresh_dynamo_caches():
    """Each test compiles with its own backend; without a reset the shared code object would reach
    dynamo's recompile limit after a few tests and later ones would silently run eagerly."""
    torch.compiler.reset()
    yield
    torch.compiler.reset()


class CountingBackend:
    """A torch.compile backend that runs the captured graph eagerly and counts the captures."""

    def __init__(self):
        self.graphs = []

    def __call__(self, gm, example_inputs):
        self.graphs.append(gm)
        return gm.forward


def dls(n=32, bs=8):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 1
    return DataLoaders(
        TorchDataLoader(TensorDataset(x, y), batch_size=bs),
        TorchDataLoader(TensorDataset(x, y), batch_size=bs),
    )


def two_groups(model):
    return [list(model[0].parameters()), list(model[2].parameters())]


def learner(**kwargs):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))  # forward from torch.nn
    kwargs.setdefault("default_cbs", False)
    return Learner(dls(), model, loss_func=F.mse_loss, opt_func=SGD, lr=0.05, splitter=two_groups, **kwargs)


def test_compile_captures_the_forward_of_a_torch_nn_sequential_and_trains_the_same():
    backend = CountingBackend()
    learn = learner()
    assert learn.compile(backend=backend) is learn and is_compiled(learn.model)
    keys = list(learn.model.state_dict())
    learn.fit(2)
    assert backend.graphs  # nn.Module.compile() would capture nothing here (a torch.nn top-level forward)
    ref = learner()
    ref.fit(2)
    for a, b in zip(learn.model.parameters(), ref.model.parameters()):
        torch.testing.assert_close(a, b)
    assert type(learn.model) is nn.Sequential and list(learn.model.state_dict()) == keys


def test_freeze_and_unfreeze_on_a_compiled_learner():
    learn = learner().compile(backend=CountingBackend())
    first, last = learn.model[0].weight.detach().clone(), learn.model[2].weight.detach().clone()
    learn.freeze()
    learn.fit(1)
    assert torch.equal(learn.model[0].weight, first) and not torch.equal(learn.model[2].weight, last)
    learn.unfreeze()
    learn.fit(1)
    assert not torch.equal(learn.model[0].weight, first)


def test_save_and_load_between_compiled_and_plain_learners(tmp_path):
    learn = learner(path=tmp_path).compile(backend=CountingBackend())
    learn.fit(1)
    learn.save("m")
    plain = learner(path=tmp_path)
    plain.load("m")
    for a, b in zip(learn.model.parameters(), plain.model.parameters()):
        assert torch.equal(a, b)
    again = learner(path=tmp_path).compile(backend=CountingBackend())
    again.load("m")
    x = torch.randn(3, 4)
    torch.testing.assert_close(again.model(x), plain.model(x))


def test_export_of_a_compiled_learner(tmp_path):
    export = pytest.importorskip("lamina.core.learner.export")
    learn = learner(path=tmp_path).compile(backend=CountingBackend())
    learn.fit(1)
    path = export.export_learner(learn, "compiled.lamina")
    loaded = export.load_learner(path)
    assert not is_compiled(loaded.model)
    x = torch.randn(3, 4)
    torch.testing.assert_close(loaded.model(x), learn.model(x))


def test_copies_and_pickles_run_their_own_weights():
    learn = learner().compile(backend="eager")
    x = torch.randn(3, 4)
    learn.model(x)
    clone = copy.deepcopy(learn.model)
    with torch.no_grad():
        clone[2].bias.add_(100.0)
    assert clone.forward.module is clone and is_compiled(clone)
    torch.testing.assert_close(clone(x), learn.model(x) + 100.0)  # the copy's weights, not the original's
    restored = pickle.loads(pickle.dumps(learn.model))
    torch.testing.assert_close(restored(x), learn.model(x))


def test_uncompile_and_recompile():
    learn = learner()
    backend = CountingBackend()
    learn.compile(backend=backend).uncompile()
    assert not is_compiled(learn.model) and "forward" not in learn.model.__dict__
    learn.fit(1)
    assert not backend.graphs
    learn.compile(backend=backend)
    learn.compile(backend=backend, dynamic=False)  # compiling again replaces the settings
    assert learn.model.forward.compile_kwargs == {"backend": backend, "dynamic": False}
    assert isinstance(learn.model.forward, CompiledForward)


def test_compile_refuses_to_hide_a_forward_set_on_the_instance():
    learn = learner()
    learn.model.forward = lambda x: x
    with pytest.raises(ValueError, match="already has an instance attribute `forward`"):
        learn.compile()


def test_compiled_forward_runs_under_mixed_precision_autocast():
    class PredDtype(Callback):
        order = 5  # before MixedPrecision casts the prediction back to float32

        def __init__(self):
            self.dtypes = []

        def after_pred(self):
            self.dtypes.append(self.pred.dtype)

    probe = PredDtype()
    backend = CountingBackend()
    learn = learner(cbs=[MixedPrecision("bf16"), probe]).compile(backend=backend)
    learn.fit(1)
    assert backend.graphs and set(probe.dtypes) == {torch.bfloat16}


slow = pytest.mark.skipif(os.environ.get("LAMINA_SLOW_TESTS") != "1", reason="slow: set LAMINA_SLOW_TESTS=1")


@slow
def test_inductor_compiles_and_trains_a_tiny_model():
    learn = learner(default_cbs=True).compile()
    with learn.quiet():
        learn.fit(2)
    ref = learner()
    ref.fit(2)
    for a, b in zip(learn.model.parameters(), ref.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert learn.recorder.values[-1][1] < learn.recorder.values[0][1]
