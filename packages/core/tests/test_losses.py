"""Losses: each equals its reference formula, flattens any layout, activates/decodes, switches reduction."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lamina.core.losses import (
    BaseLoss,
    BCELossFlat,
    BCEWithLogitsLossFlat,
    CrossEntropyLossFlat,
    DiceLoss,
    FocalLoss,
    FocalLossFlat,
    L1LossFlat,
    LabelSmoothingCrossEntropy,
    LabelSmoothingCrossEntropyFlat,
    MSELossFlat,
)
from lamina.core.tensors import TensorCategory


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def _logits(gen, *shape):
    return torch.randn(*shape, generator=gen) * 2


def _classes(gen, n_classes, *shape):
    return torch.randint(0, n_classes, shape, generator=gen)


# ---- CrossEntropyLossFlat ----


def test_cross_entropy_flat_on_vectors_sequences_and_segmentation_maps(gen):
    pred, targ = _logits(gen, 8, 5), _classes(gen, 5, 8)
    assert torch.allclose(CrossEntropyLossFlat()(pred, targ), F.cross_entropy(pred, targ))
    seq, seq_targ = _logits(gen, 4, 7, 5), _classes(gen, 5, 4, 7)
    assert torch.allclose(
        CrossEntropyLossFlat()(seq, seq_targ), F.cross_entropy(seq.transpose(1, 2), seq_targ)
    )
    seg, mask = _logits(gen, 2, 6, 5, 4), _classes(gen, 6, 2, 5, 4)
    loss = CrossEntropyLossFlat(axis=1)
    assert torch.allclose(loss(seg, mask), F.cross_entropy(seg, mask))
    assert torch.allclose(loss(seg, mask.unsqueeze(1)), F.cross_entropy(seg, mask))  # (bs, 1, h, w) masks


def test_cross_entropy_flat_reduction_none_is_per_element_in_target_order(gen):
    seg, mask = _logits(gen, 2, 3, 4, 5), _classes(gen, 3, 2, 4, 5)
    loss = CrossEntropyLossFlat(axis=1, reduction="none")
    assert loss.reduction == "none"
    assert torch.allclose(loss(seg, mask), F.cross_entropy(seg, mask, reduction="none").reshape(-1))


def test_cross_entropy_flat_kwargs_soft_targets_and_target_types(gen):
    pred, targ = _logits(gen, 10, 4), _classes(gen, 4, 10)
    weight = torch.tensor([1.0, 2.0, 0.5, 3.0])
    targ_ignored = targ.clone()
    targ_ignored[:3] = -1
    assert torch.allclose(
        CrossEntropyLossFlat(weight=weight, ignore_index=-1)(pred, targ_ignored),
        F.cross_entropy(pred, targ_ignored, weight=weight, ignore_index=-1),
    )
    probs = torch.softmax(_logits(gen, 10, 4), dim=1)
    assert torch.allclose(CrossEntropyLossFlat()(pred, probs), F.cross_entropy(pred, probs))
    out = CrossEntropyLossFlat()(pred, TensorCategory(targ.int()))
    assert type(out) is torch.Tensor and torch.allclose(out, F.cross_entropy(pred, targ))
    pred.requires_grad_(True)
    CrossEntropyLossFlat()(pred, targ).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


def test_cross_entropy_flat_activation_and_decodes_follow_the_axis(gen):
    seg = _logits(gen, 2, 3, 4, 4)
    loss = CrossEntropyLossFlat(axis=1)
    probs = loss.activation(seg)
    assert torch.allclose(probs.sum(dim=1), torch.ones(2, 4, 4))
    assert torch.equal(loss.decodes(probs), seg.argmax(dim=1))
    assert CrossEntropyLossFlat.y_int


def test_cross_entropy_flat_shape_errors_name_both_shapes(gen):
    with pytest.raises(
        ValueError,
        match=r"predictions of shape \(2, 5, 4, 4\) \(classes on axis 1\) and targets of "
        r"shape \(2, 4\) do not match",
    ):
        CrossEntropyLossFlat(axis=1)(_logits(gen, 2, 5, 4, 4), _classes(gen, 5, 2, 4))
    with pytest.raises(ValueError, match=r"axis=3 is out of range for predictions of shape \(2, 5\)"):
        CrossEntropyLossFlat(axis=3)(_logits(gen, 2, 5), _classes(gen, 5, 2))
    with pytest.raises(TypeError, match="CrossEntropyLossFlat: targets must be a tensor, got list"):
        CrossEntropyLossFlat()(_logits(gen, 2, 5), [1, 2])


# ---- BCE, MSE, L1 ----


def test_bce_with_logits_flat(gen):
    pred, targ = _logits(gen, 6, 3), torch.randint(0, 2, (6, 3), generator=gen)
    loss = BCEWithLogitsLossFlat()
    assert torch.allclose(loss(pred, targ), F.binary_cross_entropy_with_logits(pred, targ.float()))
    probs = loss.activation(pred)
    assert torch.allclose(probs, torch.sigmoid(pred))
    assert torch.equal(loss.decodes(probs), probs > 0.5)
    assert torch.equal(BCEWithLogitsLossFlat(thresh=0.2).decodes(probs), probs > 0.2)
    single = _logits(gen, 6, 1)
    assert torch.allclose(
        loss(single, targ[:, 0]), F.binary_cross_entropy_with_logits(single[:, 0], targ[:, 0].float())
    )


def test_bce_with_logits_pos_weight_keeps_the_class_axis(gen):
    pred, targ = _logits(gen, 6, 3), torch.randint(0, 2, (6, 3), generator=gen).float()
    pos_weight = torch.tensor([1.0, 3.0, 0.5])
    loss = BCEWithLogitsLossFlat(pos_weight=pos_weight)
    assert not loss.flatten
    assert torch.allclose(
        loss(pred, targ), F.binary_cross_entropy_with_logits(pred, targ, pos_weight=pos_weight)
    )
    with pytest.raises(ValueError, match="pos_weight needs flatten=False"):
        BCEWithLogitsLossFlat(pos_weight=pos_weight, flatten=True)


def test_bce_flat_on_probabilities(gen):
    probs, targ = torch.rand(5, 2, generator=gen), torch.randint(0, 2, (5, 2), generator=gen)
    assert torch.allclose(BCELossFlat()(probs, targ), F.binary_cross_entropy(probs, targ.float()))


def test_mse_and_l1_flat_flatten_and_floatify(gen):
    pred, targ = _logits(gen, 8, 1), torch.randn(8, generator=gen, dtype=torch.float64)
    assert torch.allclose(MSELossFlat()(pred, targ), F.mse_loss(pred[:, 0], targ.float()))
    assert torch.allclose(L1LossFlat()(pred, targ), F.l1_loss(pred[:, 0], targ.float()))
    ints = torch.randint(0, 5, (8,), generator=gen)
    assert torch.allclose(MSELossFlat()(pred, ints), F.mse_loss(pred[:, 0], ints.float()))
    assert MSELossFlat(reduction="sum")(pred, targ).item() == pytest.approx(
        ((pred[:, 0].double() - targ) ** 2).sum().item(), rel=1e-5
    )
    with pytest.raises(
        ValueError, match=r"MSELossFlat: predictions of shape \(8, 1\) and targets of shape \(7,\)"
    ):
        MSELossFlat()(pred, targ[:7])


# ---- label smoothing, focal, dice ----


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_label_smoothing_equals_torch_label_smoothing(gen, reduction):
    pred, targ = _logits(gen, 9, 4), _classes(gen, 4, 9)
    loss = LabelSmoothingCrossEntropy(eps=0.2, reduction=reduction)
    expected = F.cross_entropy(pred, targ, label_smoothing=0.2, reduction=reduction)
    assert torch.allclose(loss(pred, targ), expected, atol=1e-6)


def test_label_smoothing_weight_and_flat_segmentation(gen):
    pred, targ = _logits(gen, 9, 4), _classes(gen, 4, 9)
    weight = torch.tensor([0.5, 1.0, 2.0, 1.5])
    log_p = F.log_softmax(pred, dim=1)
    expected = 0.1 * (-log_p.mean(dim=1)).mean() + 0.9 * F.nll_loss(log_p, targ, weight=weight)
    assert torch.allclose(LabelSmoothingCrossEntropy(weight=weight)(pred, targ), expected)
    seg, mask = _logits(gen, 2, 4, 3, 3), _classes(gen, 4, 2, 3, 3)
    flat = LabelSmoothingCrossEntropyFlat(axis=1, eps=0.3)
    assert torch.allclose(flat(seg, mask), F.cross_entropy(seg, mask, label_smoothing=0.3), atol=1e-6)
    assert torch.equal(flat.decodes(flat.activation(seg)), seg.argmax(dim=1))


def test_focal_loss_formula(gen):
    pred, targ = _logits(gen, 12, 3), _classes(gen, 3, 12)
    p_t = torch.softmax(pred, dim=1).gather(1, targ[:, None])[:, 0]
    per_item = -((1 - p_t) ** 2) * torch.log(p_t)
    assert torch.allclose(FocalLoss()(pred, targ), per_item.mean(), atol=1e-6)
    assert torch.allclose(FocalLoss(reduction="none")(pred, targ), per_item, atol=1e-6)
    assert torch.allclose(FocalLoss(gamma=0.0)(pred, targ), F.cross_entropy(pred, targ), atol=1e-6)
    weight = torch.tensor([1.0, 0.25, 4.0])
    assert torch.allclose(
        FocalLoss(weight=weight, reduction="sum")(pred, targ), (per_item * weight[targ]).sum()
    )


def test_focal_loss_flat_on_segmentation(gen):
    seg, mask = _logits(gen, 2, 3, 4, 4), _classes(gen, 3, 2, 4, 4)
    p_t = torch.softmax(seg, dim=1).gather(1, mask[:, None])[:, 0]
    expected = (-((1 - p_t) ** 3) * torch.log(p_t)).mean()
    loss = FocalLossFlat(gamma=3.0, axis=1)
    assert torch.allclose(loss(seg, mask), expected, atol=1e-6)
    assert torch.equal(loss.decodes(loss.activation(seg)), seg.argmax(dim=1))
    with pytest.raises(
        ValueError, match=r"FocalLoss: predictions of shape \(4, 3\) .* need targets of shape \(4,\)"
    ):
        FocalLoss()(_logits(gen, 4, 3), _classes(gen, 3, 4, 3))


def _dice_reference(pred, targ, smooth, square):
    probs = torch.softmax(pred, dim=1)
    out = torch.empty(pred.shape[:2])
    for b in range(pred.shape[0]):
        for c in range(pred.shape[1]):
            p, t = probs[b, c], (targ[b] == c).float()
            union = (p * p).sum() + t.sum() if square else p.sum() + t.sum()
            out[b, c] = 1 - (2 * (p * t).sum() + smooth) / (union + smooth)
    return out


@pytest.mark.parametrize("square", [False, True])
def test_dice_loss_formula(gen, square):
    pred, targ = _logits(gen, 2, 3, 5, 4), _classes(gen, 3, 2, 5, 4)
    reference = _dice_reference(pred, targ, 1e-6, square)
    assert torch.allclose(DiceLoss(square_in_union=square)(pred, targ), reference.sum(), atol=1e-5)
    assert torch.allclose(
        DiceLoss(square_in_union=square, reduction="mean")(pred, targ), reference.mean(), atol=1e-6
    )
    assert torch.allclose(
        DiceLoss(square_in_union=square, reduction="none")(pred, targ), reference, atol=1e-6
    )


def test_dice_loss_perfect_prediction_and_errors(gen):
    targ = _classes(gen, 3, 2, 6, 6)
    confident = F.one_hot(targ, 3).permute(0, 3, 1, 2).float() * 50
    assert DiceLoss(reduction="mean")(confident, targ).item() == pytest.approx(0.0, abs=1e-5)
    loss = DiceLoss()
    assert torch.equal(loss.decodes(loss.activation(confident)), targ)
    with pytest.raises(
        ValueError,
        match=r"DiceLoss: predictions of shape \(2, 3, 6, 6\) .* need class-index targets "
        r"of shape \(2, 6, 6\), got targets of shape \(2, 3, 6, 6\)",
    ):
        loss(confident, F.one_hot(targ, 3).permute(0, 3, 1, 2))


# ---- the common contract ----

ALL_LOSSES = [
    CrossEntropyLossFlat,
    BCEWithLogitsLossFlat,
    BCELossFlat,
    MSELossFlat,
    L1LossFlat,
    LabelSmoothingCrossEntropy,
    LabelSmoothingCrossEntropyFlat,
    FocalLoss,
    FocalLossFlat,
    DiceLoss,
]


@pytest.mark.parametrize("loss_cls", ALL_LOSSES)
def test_reduction_can_be_read_and_switched(loss_cls):
    loss = loss_cls()
    default = loss.reduction
    assert default in ("mean", "sum")
    loss.reduction = "none"
    assert loss.reduction == "none"
    loss.reduction = default
    assert loss.reduction == default
    with pytest.raises(
        ValueError, match=f"{loss_cls.__name__}: reduction must be 'mean', 'sum' or 'none', got 'avg'"
    ):
        loss.reduction = "avg"
    assert isinstance(loss, nn.Module) and callable(loss.activation) and callable(loss.decodes)


def test_reduction_switch_changes_the_result(gen):
    pred, targ = _logits(gen, 8, 5), _classes(gen, 5, 8)
    loss = CrossEntropyLossFlat()
    mean = loss(pred, targ)
    loss.reduction = "none"
    per_item = loss(pred, targ)
    assert per_item.shape == (8,) and torch.allclose(per_item.mean(), mean)
    loss.reduction = "sum"
    assert torch.allclose(loss(pred, targ), per_item.sum())


def test_base_loss_wraps_any_torch_loss(gen):
    loss = BaseLoss(nn.SmoothL1Loss, beta=0.5, floatify=True, is_2d=False)
    pred, targ = _logits(gen, 4, 3), torch.randint(0, 3, (4, 3), generator=gen)
    assert torch.allclose(
        loss(pred, targ), F.smooth_l1_loss(pred.reshape(-1), targ.float().reshape(-1), beta=0.5)
    )
    assert repr(loss) == "FlattenedLoss of SmoothL1Loss()"
    assert torch.equal(loss.activation(pred), pred) and torch.equal(loss.decodes(pred), pred)
