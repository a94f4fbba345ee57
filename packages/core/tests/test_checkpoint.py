"""Checkpoints: save/load with the training state, exact resume in a new Learner, atomic writes."""

import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from lamina.core.data.datasets import Datasets
from lamina.core.data.transforms import Categorize
from lamina.core.learner.callback import Callback, CancelFitException
from lamina.core.learner.checkpoint import CheckpointCallback, ResumeCallback, atomic_save
from lamina.core.learner.learner import Learner
from lamina.core.learner.synth import synth_learner
from lamina.core.losses import CrossEntropyLossFlat


def features(n):
    """Three features of integer `n`, jittered by torch, numpy and Python random draws (so that an exact
    resume needs all three random states)."""
    jitter = 0.05 * torch.randn(3) + 0.01 * random.random() + 0.01 * float(np.random.rand())
    return torch.tensor([float(n % 2), float(n % 3), n / 64]) + jitter


def parity(n):
    return "even" if n % 2 == 0 else "odd"


def make_learner(seed, path, **kwargs):
    """A shuffled Lamina loader, BatchNorm, Dropout and Adam: everything a resume has to restore."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    dsets = Datasets(list(range(64)), [[features], [parity, Categorize()]], splits=[range(48), range(48, 64)])
    dls = dsets.dataloaders(bs=8)
    model = nn.Sequential(nn.Linear(3, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(), path=path, **kwargs)
    learn.logger = lambda *a: None
    return learn


class SaveAndStop(Callback):
    """Saves a checkpoint at the end of epoch `at` (after the Recorder's row), then interrupts the fit."""

    order = 70

    def __init__(self, at=1, name="ckpt"):
        self.at, self.fname = at, name

    def after_epoch(self):
        if self.learn.epoch == self.at:
            self.learn.save(self.fname)
            raise CancelFitException()


def scramble_random_states():
    torch.manual_seed(12345)
    random.seed(54321)
    np.random.seed(999)


def max_weight_diff(a, b):
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    return max((sa[k].double() - sb[k].double()).abs().max().item() for k in sa)


@pytest.fixture
def uninterrupted(tmp_path):
    learn = make_learner(0, tmp_path)
    with learn.no_bar():
        learn.fit_one_cycle(4, 1e-2)
    return learn


def test_fit_one_cycle_resumed_in_a_new_learner_matches_the_uninterrupted_fit(tmp_path, uninterrupted):
    stopped = make_learner(0, tmp_path)
    with stopped.no_bar():
        stopped.fit_one_cycle(4, 1e-2, cbs=SaveAndStop(at=1))
    assert len(stopped.recorder.values) == 2  # really interrupted
    scramble_random_states()
    resumed = make_learner(7, tmp_path)  # other initial weights and loader seeds: all must come from the file
    resumed.load("ckpt")
    assert resumed.resume.start_epoch == 2
    with resumed.no_bar():
        resumed.fit_one_cycle(4, 1e-2, start_epoch=resumed.resume.start_epoch)
    assert max_weight_diff(resumed, uninterrupted) <= 1e-6
    ref, got = uninterrupted.recorder, resumed.recorder
    np.testing.assert_allclose(got.losses, ref.losses, atol=1e-6)
    np.testing.assert_allclose(
        np.array(got.values, dtype=float), np.array(ref.values, dtype=float), atol=1e-6
    )
    np.testing.assert_allclose(got.lrs, ref.lrs, rtol=1e-9)  # the schedule position came back too
    assert got.iters == ref.iters
    assert "resume" not in resumed.callbacks  # used once, then detached


def test_resume_without_the_training_state_is_not_exact(tmp_path, uninterrupted):
    """The check above is meaningful: weights and optimizer alone do not reproduce the fit."""
    stopped = make_learner(0, tmp_path)
    with stopped.no_bar():
        stopped.fit_one_cycle(4, 1e-2, cbs=SaveAndStop(at=1))
    scramble_random_states()
    naive = make_learner(7, tmp_path)
    naive.load("ckpt")
    naive.remove_cb(ResumeCallback)
    with naive.no_bar():
        naive.fit_one_cycle(4, 1e-2, start_epoch=2)
    assert max_weight_diff(naive, uninterrupted) > 1e-4


def test_fit_resume_argument_with_torch_loaders(tmp_path):
    """`fit(n, resume=file)` with plain torch DataLoaders (a seeded generator shuffles the training set)."""

    def run(cbs=None, resume=None, seed=0):
        torch.manual_seed(seed)
        learn = synth_learner(path=tmp_path, lr=0.05)
        learn.logger = lambda *a: None
        with learn.no_bar():
            learn.fit(4, cbs=cbs, resume=resume)
        return learn

    full = run()
    run(cbs=SaveAndStop(at=1, name="synth"))
    scramble_random_states()
    resumed = run(resume="synth", seed=3)
    assert max_weight_diff(resumed, full) <= 1e-6
    np.testing.assert_allclose(resumed.recorder.losses, full.recorder.losses, atol=1e-6)


def test_checkpoint_callback_writes_resumable_files_atomically(tmp_path):
    learn = make_learner(0, tmp_path, cbs=CheckpointCallback("run", by_epoch=True))
    with learn.no_bar():
        learn.fit(2)
    files = sorted(p.name for p in (tmp_path / "models").iterdir())
    assert files == ["run_0.pth", "run_1.pth"]  # no temporary files left behind
    state = torch.load(tmp_path / "models" / "run_0.pth", weights_only=True)
    assert set(state) == {"model", "opt", "training"}
    training = state["training"]
    assert training["epochs_done"] == 1 and training["n_epoch"] == 2 and training["batches_into_epoch"] == 0
    assert training["train_iter"] == len(learn.dls.train)
    assert set(training["rng"]) >= {"python", "numpy", "torch"}
    assert training["loaders"][0]["kind"] == "lamina"


def test_save_outside_a_fit_holds_no_training_state(tmp_path):
    learn = make_learner(0, tmp_path)
    with learn.no_bar():
        learn.fit(1)
    file = learn.save("after")
    assert set(torch.load(file, weights_only=True)) == {"model", "opt"}
    fresh = make_learner(1, tmp_path).load("after")
    assert "resume" not in fresh.callbacks


def test_wrong_start_epoch_is_refused_and_epoch_zero_starts_anew(tmp_path):
    stopped = make_learner(0, tmp_path)
    with stopped.no_bar():
        stopped.fit(4, cbs=SaveAndStop(at=1))
    learn = make_learner(1, tmp_path).load("ckpt")
    with pytest.raises(ValueError, match="continues at epoch 2, but this fit starts at epoch 3"):
        with learn.no_bar():
            learn.fit(4, start_epoch=3)
    learn = make_learner(1, tmp_path).load("ckpt")
    with pytest.warns(UserWarning, match="starts at epoch 0"), learn.no_bar():
        learn.fit(1)
    assert len(learn.recorder.values) == 1  # a new fit: the old history was not brought back


def test_mid_epoch_checkpoint_resumes_at_the_epoch_start_with_a_warning(tmp_path):
    class SaveMidEpoch(Callback):
        order = 70

        def after_batch(self):
            if self.learn.training and self.learn.epoch == 1 and self.learn.iter == 2:
                self.learn.save("mid")
                raise CancelFitException()

    stopped = make_learner(0, tmp_path)
    with stopped.no_bar():
        stopped.fit(3, cbs=SaveMidEpoch())
    learn = make_learner(0, tmp_path).load("mid")
    assert learn.resume.start_epoch == 1
    with pytest.warns(UserWarning, match=r"3 batch\(es\) into epoch 1"), learn.no_bar():
        learn.fit(3, start_epoch=1)
    assert len(learn.recorder.values) == 3


def test_frozen_groups_and_callback_state_come_back(tmp_path):
    class CountEpochs(Callback):
        def __init__(self):
            self.count = 0

        def after_epoch(self):
            self.count += 1

        def state_dict(self):
            return {"count": self.count}

        def load_state_dict(self, state):
            self.count = state["count"]

    def groups(m):
        return [list(m[0].parameters()) + list(m[1].parameters()), list(m[4].parameters())]

    learn = make_learner(0, tmp_path, splitter=groups, cbs=CountEpochs())
    learn.freeze()
    with learn.no_bar():
        learn.fit(3, cbs=SaveAndStop(at=1))
    fresh = make_learner(1, tmp_path, splitter=groups, cbs=CountEpochs()).load("ckpt")
    assert fresh.opt.frozen_idx == 1 and not fresh.model[0].weight.requires_grad
    with fresh.no_bar():
        fresh.fit(3, start_epoch=2)
    assert fresh.count_epochs.count == 3  # 2 restored + 1 run


def test_atomic_save_leaves_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "state.pth"
    atomic_save({"v": 1}, target)

    def broken_save(obj, f):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"v": 2}, target)
    monkeypatch.undo()
    assert torch.load(target, weights_only=True) == {"v": 1}
    assert os.listdir(tmp_path) == ["state.pth"]


class _Planted:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_checkpoint_with_pickled_code_is_refused_without_running_it(tmp_path):
    learn = make_learner(0, tmp_path)
    marker = tmp_path / "pwned"
    (tmp_path / "models").mkdir()
    torch.save({"model": learn.model.state_dict(), "opt": _Planted(marker)}, tmp_path / "models" / "evil.pth")
    with pytest.raises(ValueError, match="refused without running anything"):
        learn.load("evil")
    assert not marker.exists()


def test_a_newer_training_state_version_is_refused(tmp_path):
    stopped = make_learner(0, tmp_path)
    with stopped.no_bar():
        stopped.fit(2, cbs=SaveAndStop(at=0))
    file = tmp_path / "models" / "ckpt.pth"
    state = torch.load(file, weights_only=True)
    state["training"]["version"] = 99
    torch.save(state, file)
    with pytest.raises(ValueError, match="checkpoint version 99; this Lamina reads up to version 1"):
        make_learner(0, tmp_path).load("ckpt")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_random_states_are_saved_and_restored(tmp_path):
    from lamina.core.learner.checkpoint import _rng_state, _set_rng_state

    torch.cuda.manual_seed_all(0)
    torch.randn(3, device="cuda")
    state = _rng_state()
    expected = torch.randn(3, device="cuda")
    torch.cuda.manual_seed_all(1)
    _set_rng_state(state)
    assert torch.equal(torch.randn(3, device="cuda"), expected)
