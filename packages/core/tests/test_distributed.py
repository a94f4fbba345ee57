"""Distributed data-parallel training (`lamina.core.callbacks.distributed`).

The main test launches `ddp_script.py` on 2 CPU processes with torchrun (gloo) and compares it with the
same script run in one process with the same global batch: same batches, losses and final weights;
validation metrics and predictions gathered across ranks equal the single-process ones; only rank 0
prints and saves. The other tests check the sharding, the environment helpers and the error messages
without a launch.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import IterableDataset, TensorDataset, WeightedRandomSampler

from lamina.core.callbacks.distributed import (
    DistributedTrainer,
    gather_batch,
    local_rank_distrib,
    num_distrib,
    rank_distrib,
    rank_share,
    setup_distrib,
    shard_loader,
    teardown_distrib,
)
from lamina.core.data.load import DataLoader
from lamina.core.learner.callback import Callback
from lamina.core.learner.synth import synth_learner

SCRIPT = Path(__file__).with_name("ddp_script.py")
LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def load_script():
    spec = importlib.util.spec_from_file_location("lamina_ddp_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def no_launch(monkeypatch):
    for name in LAUNCH_VARS:
        monkeypatch.delenv(name, raising=False)
    assert not dist.is_initialized()


# ---- sharding ---------------------------------------------------------------------------------
@pytest.mark.parametrize("n,world,bs", [(20, 2, 4), (23, 2, 4), (23, 3, 2), (5, 4, 3), (1, 2, 8)])
def test_rank_share_pads_and_splits_global_batches(n, world, bs):
    order = [100 + i for i in range(n)]  # distinct values, not positions
    shares = [rank_share(order, r, world, bs) for r in range(world)]
    per_rank = -(-n // world)
    assert all(len(s) == per_rank for s in shares)
    # global batch k = rank 0's batch k, then rank 1's, ...: the padded order, in order
    chunks = [[s[i : i + bs] for i in range(0, len(s), bs)] for s in shares]
    joined = [x for k in range(len(chunks[0])) for r in range(world) for x in chunks[r][k]]
    padded = [order[i % n] for i in range(per_rank * world)]
    assert joined == padded
    if n % world == 0:
        assert sorted(x for s in shares for x in s) == order  # disjoint and complete


@pytest.mark.parametrize("n,world,bs", [(20, 2, 4), (23, 2, 4), (50, 3, 4)])
def test_rank_share_drop_last_keeps_whole_global_batches(n, world, bs):
    order = list(range(n))
    shares = [rank_share(order, r, world, bs, drop_last=True) for r in range(world)]
    kept = n // (bs * world) * bs * world
    assert all(len(s) == kept // world for s in shares)
    assert sorted(x for s in shares for x in s) == order[:kept]
    assert shares[0][:bs] == order[:bs] and shares[1][:bs] == order[bs : 2 * bs]


def test_rank_share_errors_name_the_problem():
    with pytest.raises(ValueError, match="rank 2 is outside"):
        rank_share([1, 2, 3], 2, 2, 1)
    with pytest.raises(ValueError, match="drop_last=True with 5 samples and a global batch of 8"):
        rank_share(list(range(5)), 0, 2, 4, drop_last=True)
    with pytest.raises(ValueError, match="no samples"):
        rank_share([], 0, 2, 4)


def _epochs(dl, n_epochs):
    return [[x[:, 0].long().tolist() for x, _ in dl] for _ in range(n_epochs)]


def test_shard_loader_gives_each_rank_its_slice_of_the_single_process_batches():
    x = torch.arange(29).float().unsqueeze(1)
    ds = TensorDataset(x, torch.zeros(29))
    single = DataLoader(ds, bs=8, shuffle=True, seed=7)
    source = DataLoader(ds, bs=4, shuffle=True, seed=7)
    ranks = [shard_loader(source, r, 2) for r in range(2)]  # the loader's seed is shared
    assert [len(s) for s in ranks] == [4, 4] and [s.n for s in ranks] == [15, 15]
    assert (source.n, len(source)) == (29, 8)  # the source is left alone
    expected = _epochs(single, 3)
    got = [_epochs(s, 3) for s in ranks]
    assert expected[0] != expected[1]  # reshuffled every epoch, the same way on both ranks
    for e in range(3):
        assert [len(b) for b in got[0][e]] == [len(b) for b in got[1][e]] == [4, 4, 4, 3]
        for k in range(4):
            # the last global batch is padded with the epoch's first item to split evenly
            padded = expected[e][k] if k < 3 else expected[e][3] + expected[e][0][:1]
            assert got[0][e][k] + got[1][e][k] == padded


def test_shard_loader_explicit_seed_and_drop_last():
    ds = TensorDataset(torch.arange(30).float().unsqueeze(1), torch.zeros(30))
    source = DataLoader(ds, bs=4, shuffle=True, drop_last=True)  # no seed of its own
    ranks = [_epochs(shard_loader(source, r, 2, seed=3), 1)[0] for r in range(2)]
    assert [len(r) for r in ranks] == [3, 3] and all(len(b) == 4 for r in ranks for b in r)
    seen = [i for r in ranks for b in r for i in b]
    assert len(seen) == 24 and len(set(seen)) == 24


def test_shard_loader_torch_loader_is_shared_out_disjointly():
    ds = TensorDataset(torch.arange(21).float().unsqueeze(1), torch.zeros(21))
    source = TorchDataLoader(ds, batch_size=4, shuffle=True)
    ranks = [shard_loader(source, r, 3, seed=5) for r in range(3)]
    assert [len(s) for s in ranks] == [2, 2, 2]
    seen = [_epochs(s, 1)[0] for s in ranks]
    flat = sorted(i for r in seen for b in r for i in b)
    assert flat == list(range(21))
    ordered = shard_loader(TorchDataLoader(ds, batch_size=4), 1, 3, seed=0)
    assert _epochs(ordered, 1)[0] == [[4, 5, 6, 7], [15, 16, 17]]


def test_shard_loader_refuses_what_it_cannot_share():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(10))

    with pytest.raises(TypeError, match="stream"):
        shard_loader(DataLoader(Stream(), bs=2), 0, 2, seed=0)
    ds = TensorDataset(torch.zeros(6, 1))
    weighted = TorchDataLoader(ds, batch_size=2, sampler=WeightedRandomSampler([1.0] * 6, 6))
    with pytest.raises(TypeError, match="WeightedRandomSampler"):
        shard_loader(weighted, 0, 2, seed=0)
    with pytest.raises(TypeError, match="cannot share out a list"):
        shard_loader([1, 2, 3], 0, 2, seed=0)


# ---- environment helpers ----------------------------------------------------------------------
def test_rank_and_world_come_from_the_environment(no_launch, monkeypatch):
    assert (rank_distrib(), num_distrib(), local_rank_distrib()) == (0, 0, 0)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert (rank_distrib(), num_distrib(), local_rank_distrib()) == (3, 4, 1)


def test_setup_distrib_outside_a_launch_does_nothing(no_launch, monkeypatch):
    assert setup_distrib() is False and not dist.is_initialized()
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match=r"\$MASTER_ADDR, \$MASTER_PORT, \$RANK not; launch"):
        setup_distrib()


def test_distrib_ctx_outside_a_launch_trains_in_one_process(no_launch):
    learn = synth_learner()
    with learn.distrib_ctx() as same:
        assert same is learn
        assert not any(isinstance(cb, DistributedTrainer) for cb in learn.cbs)
        with learn.quiet():
            learn.fit(2)
    assert learn.recorder.values[-1][0] < learn.recorder.values[0][0]
    assert not dist.is_initialized()


def test_to_distributed_without_a_launch_explains(no_launch):
    with pytest.raises(RuntimeError, match="torchrun --nproc_per_node N"):
        synth_learner().to_distributed()


def test_distributed_trainer_without_process_group_explains(no_launch):
    learn = synth_learner(cbs=DistributedTrainer())
    with pytest.raises(RuntimeError, match="distrib_ctx"):
        learn.fit(1)


def test_gather_batch_without_process_group_detaches_only():
    w = torch.ones(3, requires_grad=True)
    pred, yb = gather_batch(((w * 2,), [torch.arange(3)]))
    assert not pred[0].requires_grad and pred[0].tolist() == [2.0, 2.0, 2.0]
    assert isinstance(yb, list) and yb[0].tolist() == [0, 1, 2]


def test_save_writes_on_rank_zero_only(no_launch, monkeypatch, tmp_path):
    learn = synth_learner(path=tmp_path)
    monkeypatch.setenv("RANK", "1")
    target = learn.save("weights")
    assert target == tmp_path / "models" / "weights.pth" and not target.exists()
    monkeypatch.setenv("RANK", "0")
    assert learn.save("weights").exists()
    learn.load("weights", with_opt=False)  # no process group: no barrier


class ModelSpy(Callback):
    """Notes the type of `learn.model` at each training batch."""

    order = 20

    def __init__(self) -> None:
        self.seen: list[type] = []

    def before_batch(self) -> None:
        if self.learn.training:
            self.seen.append(type(self.learn.model))


def test_one_process_group_in_this_process(no_launch, tmp_path):
    """A gloo group of one process: DDP wraps the model during the fit only, results stay single-process."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        spy = ModelSpy()
        learn = synth_learner(path=tmp_path, cbs=spy)
        with learn.distrib_ctx(sync_bn=False):
            assert any(isinstance(cb, DistributedTrainer) for cb in learn.cbs)
            with learn.quiet():
                learn.fit(1)
            assert isinstance(learn.model, nn.Module) and type(learn.model).__name__ == "RegModel"
            preds, targs = learn.get_preds()
        assert len(spy.seen) == 10 and all(issubclass(t, DistributedDataParallel) for t in spy.seen)
        assert preds.shape == targs.shape == (32, 1)
        assert not any(isinstance(cb, DistributedTrainer) for cb in learn.cbs)
        assert dist.is_initialized()  # not created by distrib_ctx: left alone
    finally:
        teardown_distrib()
    assert not dist.is_initialized()


# ---- two processes against one -----------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(out: Path, nproc: int = 2) -> None:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(nproc),
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(SCRIPT), str(out),
    ]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    if done.returncode != 0:
        pytest.fail(f"torchrun failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """`(single, rank0, rank1)`: the script's results in one process and on each of two processes."""
    if not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    single_dir, ddp_dir = tmp_path_factory.mktemp("single"), tmp_path_factory.mktemp("ddp")
    saved = {k: os.environ.pop(k) for k in LAUNCH_VARS if k in os.environ}
    try:
        single = load_script().run(single_dir)
    finally:
        os.environ.update(saved)
    _launch(ddp_dir)
    ranks = [torch.load(ddp_dir / f"rank{r}.pt", weights_only=True) for r in range(2)]
    return single, ranks[0], ranks[1], ddp_dir


def test_each_rank_trains_on_its_half_of_every_global_batch(runs):
    single, r0, r1, _ = runs
    assert (single["world"], r0["world"], r1["world"]) == (1, 2, 2)
    n_epoch = load_script().N_EPOCH
    for e in range(n_epoch):
        assert len(single["batches"][e]) == len(r0["batches"][e]) == len(r1["batches"][e]) == 6
        for k, batch in enumerate(single["batches"][e]):
            assert r0["batches"][e][k] + r1["batches"][e][k] == batch
        assert not set(sum(r0["batches"][e], [])) & set(sum(r1["batches"][e], []))
    assert single["batches"][0] != single["batches"][1]  # each epoch its own shuffle


def test_losses_and_weights_match_single_process_training(runs):
    single, r0, r1, _ = runs
    assert r0["losses"] == r1["losses"]  # every rank reports the global batch's loss
    assert torch.allclose(torch.tensor(r0["losses"]), torch.tensor(single["losses"]), atol=1e-5)
    assert len(r0["losses"]) == 12
    train_loss = [row[0] for row in r0["values"]]
    assert torch.allclose(
        torch.tensor(train_loss), torch.tensor([row[0] for row in single["values"]]), atol=1e-5
    )
    for k, v in single["state"].items():
        assert torch.equal(r0["state"][k], r1["state"][k])  # replicas stay identical
        assert torch.allclose(r0["state"][k], v, atol=1e-5), k
    assert single["losses"][-1] < single["losses"][0]  # it did learn


def test_validation_gathered_across_ranks_equals_single_process(runs, tmp_path):
    single, r0, r1, _ = runs
    script = load_script()
    assert r0["validate"] == r1["validate"]
    # the same weights evaluated in one process give the same loss, metric and predictions
    learn = script.make_learner(1, tmp_path)
    learn.model.load_state_dict(r0["state"])
    with learn.quiet():
        expected = learn.validate()
        preds, targs = learn.get_preds()
    assert r0["validate"][0] == pytest.approx(expected[0], rel=1e-6)
    assert r0["validate"][1] == expected[1]  # accuracy: the same items counted once each
    assert r0["preds"].shape == (script.N_VALID, 3)  # the padding item was dropped
    assert torch.equal(r0["targs"], targs) and torch.allclose(r0["preds"], preds, atol=1e-6)
    assert torch.equal(r0["plain_targs"], targs) and torch.allclose(r0["plain_preds"], preds, atol=1e-6)
    for got, ref in zip(r0["values"], single["values"]):
        assert got[1:] == pytest.approx(ref[1:], abs=1e-5)


def test_only_rank_zero_prints_and_saves(runs):
    single, r0, r1, out = runs
    header = r0["printed"].splitlines()[0].split()
    assert header == ["epoch", "train_loss", "valid_loss", "accuracy", "time"]
    assert r0["printed"].count("\n") == 3 and r1["printed"] == ""
    assert r0["logger_on"][:2] == [True, True] and r1["logger_on"][:2] == [False, False]
    assert r1["bars_on"][:2] == [False, False] and r0["bars_on"][:2] == [None, None]
    assert r0["saved"] == ["epoch0.pth", "epoch1.pth", "final.pth"] and r1["saved"] == []
    saved = torch.load(out / "rank0" / "models" / "epoch1.pth", weights_only=True)
    assert sorted(saved["model"]) == sorted(single["state"])  # saved during the fit: no `module.`


def test_model_is_wrapped_during_the_fit_only(runs):
    _, r0, r1, _ = runs
    assert r0["ddp_in_fit"][:2] == r1["ddp_in_fit"][:2] == [True, True]
    assert r0["model_after"] == r1["model_after"] == "Sequential"


# ---- GPUs ---------------------------------------------------------------------------------------
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA devices")
def test_two_gpus_with_nccl_match_single_process(tmp_path):
    out = tmp_path / "ddp"
    out.mkdir()
    _launch(out)
    single = load_script().run(tmp_path)
    r0 = torch.load(out / "rank0.pt", weights_only=True)
    assert torch.allclose(torch.tensor(r0["losses"]), torch.tensor(single["losses"]), atol=1e-4)
    assert r0["validate"][1] == pytest.approx(single["validate"][1], abs=1 / 37 + 1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_sync_batchnorm_on_gpu(no_launch, tmp_path):
    dist.init_process_group("nccl", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        learn = synth_learner()
        learn.model = nn.Sequential(nn.Linear(1, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
        learn.to_distributed(cuda_id=0)
        assert any(isinstance(m, nn.SyncBatchNorm) for m in learn.model.modules())
        assert next(learn.model.parameters()).device == torch.device("cuda", 0)
        with learn.quiet():
            learn.fit(1)
        learn.detach_distributed()
    finally:
        teardown_distrib()
