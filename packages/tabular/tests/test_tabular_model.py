"""TabularModel, embedding sizes and tabular_config."""

import pytest
import torch
from torch import nn

from lamina.core.data.transforms import Normalize
from lamina.core.layers.basic import SigmoidRange
from lamina.core.layers.linear import LinBnDrop
from lamina.core.layers.recorded import module_config, module_from_config
from lamina.tabular.core import TabularPandas
from lamina.tabular.model import TabularModel, emb_sz_rule, get_emb_sz, tabular_config
from lamina.tabular.procs import Categorify, FillMissing
from lamina.tabular.samples import PENGUIN_CAT_NAMES, PENGUIN_CONT_NAMES


@pytest.mark.parametrize("n_cat, size", [(1, 2), (2, 2), (10, 6), (100, 21), (10_000, 278), (10**6, 600)])
def test_emb_sz_rule(n_cat, size):
    assert emb_sz_rule(n_cat) == size  # min(600, round(1.6 * n_cat ** 0.56)), worked out by hand
    with pytest.raises(ValueError, match="positive int"):
        emb_sz_rule(0)


def test_get_emb_sz_from_a_table_and_a_size_dict(penguins):
    to = TabularPandas(
        penguins, [Categorify, FillMissing, Normalize], PENGUIN_CAT_NAMES, PENGUIN_CONT_NAMES, "species"
    )
    sizes = get_emb_sz(to, {"island": 10})
    # island: 3 + '#na#' (size given), sex: 2 + '#na#', year: 3 + '#na#'
    assert sizes[:3] == [(4, 10), (3, 3), (4, 3)]
    assert sizes[3:] == [(3, 3)] * 4  # the _na columns: '#na#', False, True
    assert get_emb_sz(to.dataloaders()) == get_emb_sz(to)
    with pytest.raises(KeyError, match=r"\['isle'\]"):
        get_emb_sz(to, {"isle": 4})
    raw = TabularPandas(penguins, [FillMissing], PENGUIN_CAT_NAMES, PENGUIN_CONT_NAMES, "species")
    with pytest.raises(KeyError, match="'island' has no vocabulary; add Categorify"):
        get_emb_sz(raw)


def test_model_structure():
    model = TabularModel([(5, 3), (10, 4)], n_cont=2, out_sz=3, layers=[8, 6], ps=[0.1, 0.2], embed_p=0.05)
    assert [e.weight.shape for e in model.embeds] == [(5, 3), (10, 4)]
    assert model.emb_drop.p == 0.05 and isinstance(model.bn_cont, nn.BatchNorm1d) and model.n_emb == 7
    blocks = list(model.layers)
    assert all(isinstance(b, LinBnDrop) for b in blocks) and len(blocks) == 3
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [(9, 8), (8, 6), (6, 3)]
    assert [type(m).__name__ for m in blocks[0]] == [
        "Linear",
        "RecordedReLU",
        "BatchNorm1d",
        "Dropout",
    ]  # lin_first
    assert isinstance(blocks[0][1], nn.ReLU) and blocks[0][1].inplace
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.05, 0.1, 0.2]
    assert [type(m).__name__ for m in blocks[2]] == ["Linear"]  # no batch norm, no activation at the end
    out = model(torch.tensor([[1, 2], [4, 9], [0, 0]]), torch.randn(3, 2))
    assert out.shape == (3, 3)


def test_model_options():
    bn_first = TabularModel(
        [(5, 3)], 2, 1, [4], lin_first=False, bn_final=True, bn_cont=False, act_cls=nn.GELU()
    )
    assert [type(m).__name__ for m in bn_first.layers[0]] == ["BatchNorm1d", "Linear", "GELU"]
    assert [type(m).__name__ for m in bn_first.layers[1]] == ["BatchNorm1d", "Linear"]
    assert bn_first.bn_cont is None
    no_bn = TabularModel([(5, 3)], 2, 1, [4], use_bn=False)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in no_bn.layers.modules())
    ranged = TabularModel([(5, 3)], 2, 1, [4], y_range=(0.0, 5.5))
    assert isinstance(ranged.layers[-1], SigmoidRange)
    out = ranged(torch.randint(0, 5, (64, 1)), 100 * torch.randn(64, 2))
    assert bool(((out > 0) & (out < 5.5)).all())


def test_models_with_only_one_kind_of_input():
    cats_only = TabularModel([(5, 3), (4, 2)], n_cont=0, out_sz=2, layers=[4])
    assert cats_only.bn_cont is None  # and x_cont may be left out (collab's EmbeddingNN builds on this)
    assert cats_only(torch.tensor([[1, 2], [0, 3]])).shape == (2, 2)
    conts_only = TabularModel([], n_cont=3, out_sz=1, layers=[4])
    assert conts_only(torch.empty(2, 0, dtype=torch.long), torch.randn(2, 3)).shape == (2, 1)
    with pytest.raises(ValueError, match="no input"):
        TabularModel([], n_cont=0, out_sz=1, layers=[4])


def test_model_errors():
    model = TabularModel([(5, 3)], n_cont=2, out_sz=1, layers=[4])
    with pytest.raises(ValueError, match=r"x_cat has shape \(2, 2\); expected \(batch, 1\)"):
        model(torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"x_cont has shape \(2, 3\); expected \(batch, 2\)"):
        model(torch.zeros(2, 1, dtype=torch.long), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="2 dropout probabilities for 1 layers"):
        TabularModel([(5, 3)], 2, 1, [4], ps=[0.1, 0.2])
    with pytest.raises(ValueError, match="emb_szs"):
        TabularModel([(5, 0)], 2, 1, [4])


def test_model_is_recorded_and_rebuilt_by_name():
    model = TabularModel([(5, 3)], n_cont=2, out_sz=2, layers=[4], ps=0.1, y_range=(0, 1))
    config = module_config(model)
    assert config["class"] == "lamina.tabular.TabularModel"
    rebuilt = module_from_config(config)
    rebuilt.load_state_dict(model.state_dict())
    model.eval(), rebuilt.eval()
    x = (torch.tensor([[1], [3]]), torch.randn(2, 2))
    assert torch.equal(model(*x), rebuilt(*x))


def test_tabular_config():
    assert tabular_config(ps=[0.1], embed_p=0.2) == {"ps": [0.1], "embed_p": 0.2}
    with pytest.raises(TypeError, match=r"unknown argument\(s\) \['dropout'\]"):
        tabular_config(dropout=0.5)
