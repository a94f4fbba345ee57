"""Hooks on model layers and the model-inspection helpers (`lamina.core.hooks`)."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from lamina.core.hooks import (
    DummyEvalError,
    Hook,
    Hooks,
    LayerInfo,
    dummy_eval,
    flatten_model,
    has_params,
    hook_output,
    hook_outputs,
    in_channels,
    layer_info,
    model_sizes,
    model_summary,
    num_features_model,
    one_param,
    total_params,
)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


class Boom(nn.Module):
    """A layer whose forward always fails."""

    def forward(self, x):
        raise RuntimeError("boom")


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),  # 64 -> 32
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),  # 32 -> 16
        nn.AdaptiveAvgPool2d(1),
    )


# ---------------------------------------------------------------------------------------------- Hook


def test_hook_calls_func_with_module_inputs_outputs_and_stores_result():
    lin = nn.Linear(3, 2)
    seen = []

    def func(m, i, o):
        seen.append((m, i, o))
        return o * 2

    x = torch.randn(4, 3)
    with Hook(lin, func) as h:
        assert h.stored is None
        y = lin(x)
    (m, i, o) = seen[0]
    assert m is lin and isinstance(i, tuple) and torch.equal(i[0], x) and torch.equal(o, y)
    assert torch.equal(h.stored, y * 2)


def test_hook_result_does_not_change_the_output():
    lin = nn.Linear(3, 2)
    x = torch.randn(4, 3)
    expected = lin(x)
    with Hook(lin, lambda m, i, o: torch.zeros_like(o)):
        assert torch.equal(lin(x), expected)


def test_hook_detach_controls_the_graph():
    lin = nn.Linear(3, 2)
    x = torch.randn(4, 3)
    with hook_output(lin) as detached, hook_output(lin, detach=False) as attached:
        lin(x)
    assert not detached.stored.requires_grad and detached.stored.grad_fn is None
    assert attached.stored.requires_grad and attached.stored.grad_fn is not None


def test_hook_is_removed_on_exit_and_remove_is_idempotent():
    lin = nn.Linear(3, 2)
    calls = []
    with Hook(lin, lambda m, i, o: calls.append(1)) as h:
        lin(torch.randn(1, 3))
    lin(torch.randn(1, 3))
    assert len(calls) == 1 and h.removed
    h.remove()  # a second remove is harmless
    assert "removed" in repr(h)


def test_hook_is_removed_when_the_forward_raises():
    model = nn.Sequential(nn.Linear(3, 3), Boom())
    calls = []
    with pytest.raises(RuntimeError, match="boom"):
        with Hook(model[0], lambda m, i, o: calls.append(1)):
            model(torch.randn(1, 3))
    assert len(calls) == 1
    model[0](torch.randn(1, 3))
    assert len(calls) == 1  # no longer hooked


def test_backward_hook_sees_gradients():
    lin = nn.Linear(3, 2)
    x = torch.randn(4, 3, requires_grad=True)
    with Hook(lin, lambda m, gi, go: (gi, go), is_forward=False) as h:
        (lin(x) * torch.tensor([1.0, 3.0])).sum().backward()
    grad_in, grad_out = h.stored
    assert torch.allclose(grad_out[0], torch.tensor([[1.0, 3.0]]).expand(4, 2))
    assert torch.allclose(grad_in[0], grad_out[0] @ lin.weight.detach())


def test_hook_output_grad_stores_output_gradients():
    lin = nn.Linear(3, 2)
    with hook_output(lin, grad=True) as h:
        (2 * lin(torch.randn(5, 3, requires_grad=True))).sum().backward()
    assert torch.equal(h.stored[0], torch.full((5, 2), 2.0))


def test_hook_checks_its_arguments():
    with pytest.raises(TypeError, match="nn.Module"):
        Hook("not a module", lambda m, i, o: None)
    with pytest.raises(TypeError, match="callable"):
        Hook(nn.Linear(1, 1), 3)


@cuda
def test_hook_cpu_moves_stored_tensors_to_the_cpu():
    lin = nn.Linear(3, 2).cuda()
    with hook_output(lin, cpu=True) as on_cpu, hook_output(lin) as on_gpu:
        lin(torch.randn(2, 3, device="cuda"))
    assert on_cpu.stored.device.type == "cpu" and on_gpu.stored.device.type == "cuda"


# --------------------------------------------------------------------------------------------- Hooks


def test_hook_outputs_of_a_module_hooks_its_children():
    model = small_cnn()
    with hook_outputs(model) as hooks:
        model(torch.randn(2, 3, 64, 64))
    assert len(hooks) == 4 and all(isinstance(h, Hook) for h in hooks)
    shapes = [tuple(s.shape) for s in hooks.stored]
    assert shapes == [(2, 8, 32, 32), (2, 8, 32, 32), (2, 16, 16, 16), (2, 16, 1, 1)]
    assert torch.equal(hooks[0].stored, hooks.stored[0])


def test_hooks_on_a_list_of_modules_and_removal():
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    model = nn.Sequential(a, b)
    with Hooks([b], lambda m, i, o: o.shape) as hooks:
        model(torch.randn(3, 2))
    assert list(hooks.stored) == [torch.Size([3, 2])]
    assert all(h.removed for h in hooks)


def test_hooks_are_removed_when_the_forward_raises():
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3), Boom())
    calls = []
    with pytest.raises(RuntimeError, match="boom"):
        with Hooks(list(model)[:2], lambda m, i, o: calls.append(m)):
            model(torch.randn(1, 3))
    assert len(calls) == 2
    model[1](model[0](torch.randn(1, 3)))
    assert len(calls) == 2


def test_hooks_reject_non_modules_and_leave_nothing_behind():
    lin = nn.Linear(2, 2)
    calls = []
    with pytest.raises(TypeError, match="item 1 is str"):
        Hooks([lin, "oops"], lambda m, i, o: calls.append(1))
    lin(torch.randn(1, 2))
    assert calls == []


def test_hooks_gather_across_processes(tmp_path):
    """Two gloo processes: each hook stores the outputs of both (rank 0's rows first)."""
    script, store = tmp_path / "gather.py", f"file://{tmp_path / 'store'}"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, torch
            from torch import distributed as dist, nn
            from lamina.core.hooks import Hook
            rank = int(os.environ["RANK"])
            dist.init_process_group("gloo", init_method="{store}", rank=rank, world_size=2)
            ident = nn.Identity()
            with Hook(ident, lambda m, i, o: o, gather=True) as h:
                ident(torch.full((1, 2), float(rank)))
            assert h.stored.tolist() == [[0.0, 0.0], [1.0, 1.0]], h.stored
            dist.destroy_process_group()
            print("ok", rank)
            """
        )
    )
    procs = [
        subprocess.Popen(
            [sys.executable, str(script)],
            env={**os.environ, "RANK": str(r)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in (0, 1)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for r, (p, (out, err)) in enumerate(zip(procs, outs)):
        assert p.returncode == 0, err
        assert out.strip() == f"ok {r}"


# ---------------------------------------------------------------------------------------- inspection


def test_dummy_eval_runs_in_eval_mode_without_grad_and_restores_flags():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5))
    model[1].eval()  # a frozen norm layer keeps its own flag
    seen = {}
    model[2].register_forward_hook(lambda m, i, o: seen.update(training=m.training))
    out = dummy_eval(model, (10, 12))
    assert out.shape == (1, 4, 8, 10) and not out.requires_grad
    assert seen["training"] is False
    assert model.training and model[0].training and not model[1].training and model[2].training


def test_dummy_eval_follows_the_model_dtype_and_ndim():
    model = nn.Conv1d(2, 3, 3).double()
    out = dummy_eval(model, 20)
    assert out.dtype == torch.float64 and out.shape == (1, 3, 18)
    with pytest.raises(ValueError, match="1-d, so size needs 1 values"):
        dummy_eval(model, (20, 20))


def test_dummy_eval_names_the_shape_when_the_model_fails():
    model = nn.Sequential(nn.Conv2d(3, 4, 7))
    with pytest.raises(DummyEvalError, match=r"\(1, 3, 4, 4\)"):
        dummy_eval(model, (4, 4))
    with pytest.raises(ValueError, match="positive"):
        dummy_eval(model, (0, 4))


def test_model_sizes_gives_each_childs_output_shape():
    sizes = model_sizes(small_cnn(), (64, 48))
    assert [tuple(s) for s in sizes] == [(1, 8, 32, 24), (1, 8, 32, 24), (1, 16, 16, 12), (1, 16, 1, 1)]


def test_model_sizes_names_a_child_that_returns_no_tensor():
    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.pair = nn.Conv2d(3, 3, 1), Pair()

        def forward(self, x):
            return self.pair(self.conv(x))[0]

    with pytest.raises(ValueError, match="child 'pair' .* returned list"):
        model_sizes(Model(), 8)


def test_num_features_model_grows_the_probe_until_the_model_fits():
    # a 40x40 kernel cannot run on a 32x32 input; the probe retries at 64
    assert num_features_model(nn.Sequential(nn.Conv2d(3, 7, 40), nn.ReLU())) == 7
    assert num_features_model(small_cnn()) == 16
    with pytest.raises(ValueError, match="from 32 to 2048.*boom"):
        num_features_model(nn.Sequential(nn.Conv2d(3, 3, 1), Boom()))


def test_in_channels_reads_the_first_convolution():
    assert in_channels(nn.Sequential(nn.Linear(2, 2), nn.Conv2d(4, 8, 3, groups=2), nn.Conv2d(8, 2, 1))) == 4
    assert in_channels(nn.ConvTranspose2d(5, 2, 2)) == 5
    with pytest.raises(ValueError, match="no convolution layer"):
        in_channels(nn.Linear(3, 3))


def test_total_params_has_params_and_one_param():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2, bias=False))
    assert total_params(model) == (3 * 4 + 4 + 4 * 2, True)
    model[0].weight.requires_grad_(False)
    assert total_params(model) == (24, False)
    assert total_params(nn.ReLU()) == (0, False)
    assert has_params(model) and not has_params(nn.ReLU())
    assert one_param(model) is model[0].weight
    with pytest.raises(ValueError, match="ReLU has no parameters"):
        one_param(nn.ReLU())


def test_flatten_model_lists_leaf_layers_with_parametrized_ones_whole():
    conv = weight_norm(nn.Conv2d(3, 3, 1))
    inner = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    model = nn.Sequential(conv, inner, nn.Identity())
    assert flatten_model(model) == [conv, inner[0], inner[1], model[2]]
    leaf = nn.ReLU()
    assert flatten_model(leaf) == [leaf]


def test_layer_info_describes_each_leaf_in_call_order():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    model[2].requires_grad_(False)
    rows = layer_info(model, torch.randn(5, 4))
    assert rows == [
        LayerInfo("0", "Linear", 40, True, (5, 8), True),
        LayerInfo("1", "ReLU", 0, False, (5, 8), True),
        LayerInfo("2", "Linear", 18, False, (5, 2), True),
    ]
    assert model.training
    text = model_summary(model, torch.randn(5, 4))
    assert "Total params: 58" in text and "Trainable params: 40" in text and "[5, 8]" in text
    with pytest.raises(ValueError, match="pass the model's input"):
        layer_info(model)


@cuda
def test_dummy_eval_and_model_sizes_follow_the_model_to_cuda():
    model = small_cnn().cuda()
    assert dummy_eval(model, 32).device.type == "cuda"
    assert [tuple(s) for s in model_sizes(model, 32)][-1] == (1, 16, 1, 1)
