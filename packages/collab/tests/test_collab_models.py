"""EmbeddingDotBias and EmbeddingNN: outputs, y_range, vocabularies, analysis by name, errors."""

import pytest
import torch
from torch import nn

from lamina.collab.models import EmbeddingDotBias, EmbeddingNN
from lamina.core.data.transforms import CategoryMap
from lamina.core.layers.recorded import module_config, module_from_config
from lamina.core.plugins import registry
from lamina.tabular.model import TabularModel

CLASSES = {
    "user": CategoryMap(["u1", "u2", "u3"], add_na=True),  # '#na#', u1, u2, u3
    "movie": CategoryMap([10, 20, 30, 40], add_na=True),  # '#na#', 10, 20, 30, 40
}


def _filled(model: EmbeddingDotBias) -> EmbeddingDotBias:
    """Give every parameter distinct, known values."""
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(i)))
    return model


def test_dot_product_plus_biases():
    model = _filled(EmbeddingDotBias(4, n_users=3, n_items=5))
    x = torch.tensor([[0, 4], [2, 1], [1, 1]])
    out = model(x).detach()
    assert out.shape == (3,)
    u, i = model.u_weight.weight.detach(), model.i_weight.weight.detach()
    for row, (user, item) in enumerate(x.tolist()):
        expected = sum(float(u[user, k]) * float(i[item, k]) for k in range(4))
        expected += float(model.u_bias.weight.detach()[user, 0] + model.i_bias.weight.detach()[item, 0])
        assert float(out[row]) == pytest.approx(expected, rel=1e-5)


def test_y_range_squashes_with_a_scaled_sigmoid():
    plain = _filled(EmbeddingDotBias(4, 3, 5))
    ranged = EmbeddingDotBias(4, 3, 5, y_range=[0, 5.5])
    ranged.load_state_dict(plain.state_dict())
    x = torch.tensor([[0, 0], [1, 2], [2, 4]])
    raw = plain(x)
    assert torch.allclose(ranged(x), torch.sigmoid(raw) * 5.5, atol=1e-6)
    with torch.no_grad():
        ranged.u_bias.weight.fill_(100.0)
    high = ranged(x).detach()
    assert float(high.max()) <= 5.5 and float(high.min()) > 5.4


def test_the_tabular_batch_is_accepted():
    model = EmbeddingDotBias(3, 4, 4)
    x = torch.tensor([[1, 2], [3, 0]])
    assert torch.equal(model(x, torch.empty(2, 0)), model(x))


def test_embeddings_start_small():
    model = EmbeddingDotBias(50, 100, 100)
    # normal(0, 0.01) truncated at 2 std has a standard deviation of 0.0088
    assert float(model.u_weight.weight.detach().std()) == pytest.approx(0.0088, rel=0.05)
    assert float(model.i_weight.weight.detach().abs().max()) <= 0.02 + 1e-6  # truncated at 2 std


def test_from_classes_sizes_the_embeddings_and_keeps_the_vocab():
    model = EmbeddingDotBias.from_classes(6, CLASSES, y_range=(0, 5))
    assert model.u_weight.weight.shape == (4, 6) and model.i_weight.weight.shape == (5, 6)
    assert model.u_bias.weight.shape == (4, 1) and model.i_bias.weight.shape == (5, 1)
    assert (model.user_name, model.item_name) == ("user", "movie") and model.y_range == (0.0, 5.0)
    swapped = EmbeddingDotBias.from_classes(6, CLASSES, user="movie", item="user")
    assert swapped.u_weight.weight.shape == (5, 6)


def test_weight_and_bias_by_name():
    model = _filled(EmbeddingDotBias.from_classes(3, CLASSES))
    # vocab positions: movie 30 -> 3, movie 10 -> 1; user u2 -> 2
    assert torch.equal(model.weight([30, 10]), model.i_weight.weight.detach()[[3, 1]])
    assert torch.equal(model.bias([30, 10]), model.i_bias.weight.detach()[[3, 1], 0])
    assert torch.equal(model.weight(["u2"], is_item=False), model.u_weight.weight.detach()[[2]])
    assert torch.equal(model.bias(["u2", "u1"], is_item=False), model.u_bias.weight.detach()[[2, 1], 0])
    assert model.bias([30]).shape == (1,) and model.weight([10, 20, 40]).shape == (3, 3)
    assert not model.weight([10]).requires_grad


def test_unknown_names_and_missing_vocab_are_explained():
    model = EmbeddingDotBias.from_classes(3, CLASSES)
    with pytest.raises(KeyError, match=r"item\(s\) 99, 77 are not in the item vocabulary 'movie'"):
        model.bias([10, 99, 77])
    with pytest.raises(KeyError, match="user vocabulary 'user'"):
        model.weight(["zed"], is_item=False)
    with pytest.raises(ValueError, match="from_classes"):
        EmbeddingDotBias(3, 4, 4).weight([1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 3, 3), "n_factors must be a positive int"),
        ((3, 2.5, 3), "n_users must be a positive int"),
        ((3, 3, -1), "n_items must be a positive int"),
    ],
)
def test_bad_sizes(args, message):
    with pytest.raises(ValueError, match=message):
        EmbeddingDotBias(*args)


def test_bad_y_range_and_classes():
    with pytest.raises(ValueError, match="low < high"):
        EmbeddingDotBias(3, 3, 3, y_range=(5, 0))
    with pytest.raises(ValueError, match=r"y_range must be \(low, high\)"):
        EmbeddingDotBias(3, 3, 3, y_range=5)
    with pytest.raises(ValueError, match="needs a user and an item vocabulary"):
        EmbeddingDotBias.from_classes(3, {"user": CLASSES["user"]})
    with pytest.raises(KeyError, match="item='film' is not in classes"):
        EmbeddingDotBias.from_classes(3, CLASSES, item="film")
    with pytest.raises(TypeError, match="maps column names to vocabularies"):
        EmbeddingDotBias.from_classes(3, [1, 2])


def test_bad_inputs_are_explained_before_torch():
    model = EmbeddingDotBias(3, 4, 4)
    with pytest.raises(ValueError, match=r"shape \(batch, 2\).*got \(3,\)"):
        model(torch.tensor([1, 2, 3]))
    with pytest.raises(IndexError, match="user indices must be below 4 and item indices below 4"):
        model(torch.tensor([[1, 9]]))


def test_embedding_nn_is_a_tabular_model_over_two_embeddings():
    model = EmbeddingNN([(4, 5), (6, 3)], [16, 8], y_range=(0, 5.5), ps=0.1)
    assert isinstance(model, TabularModel)
    assert [tuple(e.weight.shape) for e in model.embeds] == [(4, 5), (6, 3)]
    assert model.n_cont == 0 and model.bn_cont is None
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(8, 16), (16, 8), (8, 1)]
    model.eval()
    out = model(torch.tensor([[0, 5], [3, 1], [2, 2]])).detach()
    assert out.shape == (3, 1) and float(out.min()) > 0 and float(out.max()) < 5.5
    assert torch.equal(model(torch.tensor([[1, 1]]), torch.empty(1, 0)), model(torch.tensor([[1, 1]])))


def test_embedding_nn_fixes_its_input_and_output():
    with pytest.raises(TypeError, match="n_cont is fixed"):
        EmbeddingNN([(4, 5), (6, 3)], [8], n_cont=2)


def test_models_are_registered_and_rebuild_from_their_description():
    assert registry.classes["lamina.collab.EmbeddingDotBias"] is EmbeddingDotBias
    assert registry.classes["lamina.collab.EmbeddingNN"] is EmbeddingNN
    for model in (
        EmbeddingDotBias(5, 7, 9, y_range=(0, 5.5)),
        EmbeddingNN([(7, 4), (9, 4)], [10], embed_p=0.1),
    ):
        rebuilt = module_from_config(module_config(model))
        assert type(rebuilt) is type(model)
        assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
            k: v.shape for k, v in model.state_dict().items()
        }
    assert module_from_config(module_config(EmbeddingDotBias(5, 7, 9, y_range=(0, 5.5)))).y_range == (
        0.0,
        5.5,
    )
