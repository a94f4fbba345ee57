"""Segmentation metrics against scikit-learn and reference formulas, on random and real masks."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn import metrics as skm

from lamina.core.metrics import Dice, DiceMulti, JaccardCoeff, JaccardCoeffMulti, foreground_acc, mk_metric


def run(metric, pairs):
    metric.reset()
    for pred, targ in pairs:
        metric.accumulate(SimpleNamespace(pred=pred, yb=(targ,), xb=(), loss=None, loss_func=None))
    return metric.value


def logits_for(labels, n_classes, noise=0.0, seed=0):
    """Scores whose argmax along axis 1 is `labels` (N, H, W) -> (N, C, H, W)."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.nn.functional.one_hot(labels.long(), n_classes).permute(0, 3, 1, 2).float() * 2
    return scores + noise * torch.randn(scores.shape, generator=g)


@pytest.fixture
def real_masks(shared_data):
    """The four validation masks of the nuclei sample (0 background, 1 nucleus)."""
    folder = shared_data / "segmentation_sample"
    names = (folder / "valid.txt").read_text().split()
    masks = [np.array(Image.open(folder / "labels" / n.replace(".png", "_P.png"))) for n in names]
    return torch.from_numpy(np.stack(masks)).long()


def test_dice_and_jaccard_on_real_masks(real_masks):
    targ = real_masks
    pred_labels = torch.roll(targ, shifts=(3, -2), dims=(1, 2))  # a prediction that is a little off
    pred = logits_for(pred_labels, 2)
    t, p = targ.flatten().numpy(), pred_labels.flatten().numpy()
    pairs = [(pred[:1], targ[:1]), (pred[1:], targ[1:])]  # batches of 1 and 3 masks
    dice = run(Dice(), pairs)
    assert dice == pytest.approx(skm.f1_score(t, p))  # Dice is the F1 score of the foreground
    assert dice == pytest.approx(2 * (p & t).sum() / (p.sum() + t.sum()))
    assert run(JaccardCoeff(), pairs) == pytest.approx(skm.jaccard_score(t, p))
    # summed over the whole set: not the mean of per-batch scores
    per_batch = [Dice()(p_, t_) for p_, t_ in pairs]
    assert abs(np.mean(per_batch) - dice) > 1e-4


def test_dice_multi_and_jaccard_multi_match_per_class_scores():
    g = torch.Generator().manual_seed(1)
    targ = torch.randint(0, 4, (6, 8, 8), generator=g)
    targ[targ == 3] = 2  # class 3 absent from targets...
    pred_labels = torch.where(
        torch.rand(targ.shape, generator=g) < 0.7, targ, torch.randint(0, 3, targ.shape)
    )
    pred = logits_for(pred_labels, 4)  # ... and from predictions: left out of the mean
    t, p = targ.flatten().numpy(), pred_labels.flatten().numpy()
    pairs = [(pred[:1], targ[:1]), (pred[1:4], targ[1:4]), (pred[4:], targ[4:])]
    expected_dice = np.mean(skm.f1_score(t, p, average=None, labels=[0, 1, 2]))
    expected_iou = np.mean(skm.jaccard_score(t, p, average=None, labels=[0, 1, 2]))
    assert run(DiceMulti(), pairs) == pytest.approx(expected_dice)
    assert run(JaccardCoeffMulti(), pairs) == pytest.approx(expected_iou)
    assert DiceMulti().name == "dice_multi" and Dice().name == "dice"


def test_segmentation_edge_cases_and_errors():
    empty = torch.zeros(2, 4, 4, dtype=torch.long)
    assert Dice()(logits_for(empty, 2), empty) is None  # no foreground anywhere: undefined
    full = torch.ones(2, 4, 4, dtype=torch.long)
    assert Dice()(logits_for(full, 2), full) == 1.0
    assert JaccardCoeff()(logits_for(full, 2), empty) == 0.0
    with pytest.raises(ValueError, match="dice: needs two class scores .* use DiceMulti"):
        Dice()(logits_for(full, 3), full)
    with pytest.raises(ValueError, match="target mask holds class 2 but the prediction has 2 classes"):
        Dice()(logits_for(full, 2), full * 2)
    with pytest.raises(ValueError, match="dice_multi: target mask holds class 255"):
        DiceMulti()(logits_for(full, 3), full * 255)
    with pytest.raises(ValueError, match=r"dice: 32 predictions for 16 targets"):
        Dice()(logits_for(full, 2), full[0])


def test_foreground_acc():
    g = torch.Generator().manual_seed(2)
    targ = torch.randint(0, 3, (4, 6, 6), generator=g)
    pred_labels = torch.where(
        torch.rand(targ.shape, generator=g) < 0.6, targ, torch.randint(0, 3, targ.shape)
    )
    pred = logits_for(pred_labels, 3)
    fg = targ != 0
    expected = (pred_labels[fg] == targ[fg]).double().mean().item()
    assert foreground_acc(pred, targ).item() == pytest.approx(expected)
    pairs = [(pred[:1], targ[:1]), (pred[1:], targ[1:])]
    # AvgMetric weighs batches by item count, so per-image foreground sizes make this an approximation
    weighted = run(mk_metric(foreground_acc), pairs)
    per_batch = [foreground_acc(p, t).item() for p, t in pairs]
    assert weighted == pytest.approx((per_batch[0] + 3 * per_batch[1]) / 4)
    bkg2 = targ != 2
    expected = (pred_labels[bkg2] == targ[bkg2]).double().mean().item()
    assert foreground_acc(pred, targ, bkg_idx=2).item() == pytest.approx(expected)
