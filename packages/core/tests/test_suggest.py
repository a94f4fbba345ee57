"""Learning-rate suggestions on synthetic loss curves of known shape."""

import math

import numpy as np
import pytest
import torch

from lamina.core.learner.suggest import SuggestionMethod, minimum, slide, steep, valley

STEP = 0.05  # in log10(lr)


def finder_curve():
    """Flat at 2.0 up to lr=1e-4, a half-cosine descent to 0.5 at lr=1e-1 (steepest at 10**-2.5),
    then a quadratic blow-up."""
    x = np.round(np.arange(-7, 1 + STEP / 2, STEP), 10)
    descent = 1.25 + 0.75 * np.cos(np.pi * (x + 4) / 3)
    loss = np.where(x <= -4, 2.0, np.where(x <= -1, descent, 0.5 + 0.3 * (x + 1) ** 2))
    return 10**x, loss


def test_minimum_is_a_tenth_of_the_lr_at_the_lowest_loss():
    lrs, losses = finder_curve()
    lr, (point_lr, point_loss) = minimum(lrs, losses, 100)
    assert point_lr == pytest.approx(0.1) and point_loss == pytest.approx(0.5)
    assert lr == pytest.approx(0.01)


def test_steep_finds_the_inflection_of_the_descent():
    lrs, losses = finder_curve()
    lr, (point_lr, point_loss) = steep(lrs, losses, 100)
    assert abs(math.log10(lr) - (-2.5)) <= STEP + 1e-9  # the slope to the next point is credited to this one
    assert point_lr == lr and point_loss == pytest.approx(np.interp(math.log10(lr), np.log10(lrs), losses))


def reference_valley_index(losses):
    """fastai's valley rule written the direct O(n^2) way: longest decreasing subsequence."""
    n = len(losses)
    lds = [1] * n
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j]:
                lds[i] = max(lds[i], lds[j] + 1)
    end = int(np.argmax(lds))  # first index with the longest run
    start = end - lds[end]
    span = end - start
    return min(max(start + int(span / 3) + int(span / 6), 0), n - 1)


def test_valley_is_inside_the_descent():
    lrs, losses = finder_curve()
    lr, (point_lr, point_loss) = valley(lrs, losses, 100)
    x = math.log10(lr)
    assert -4 < x < -1  # within the descent, before the bottom
    assert -3.0 <= x <= -2.0  # about half way along it
    i = reference_valley_index(losses)
    assert lr == pytest.approx(lrs[i]) and point_loss == pytest.approx(losses[i])


@pytest.mark.parametrize("seed", range(5))
def test_valley_on_noisy_curves_matches_the_direct_algorithm(seed):
    rng = np.random.default_rng(seed)
    lrs, losses = finder_curve()
    noisy = losses + rng.normal(0, 0.05, losses.size)
    lr, (_, point_loss) = valley(lrs, noisy, 100)
    i = reference_valley_index(noisy)
    assert lr == pytest.approx(lrs[i]) and point_loss == pytest.approx(noisy[i])


def reference_slide(lrs, losses, lr_diff=15, thresh=0.005, adjust_value=1.0):
    """fastai's slide rule, written with negative indices from the right end."""
    grad = np.gradient(losses)
    right, left = -1, -1 - lr_diff
    found = lrs[left]
    while left >= -len(losses) and abs(grad[right] - grad[left]) > thresh:
        found = lrs[left]
        right, left = right - 1, left - 1
    return found * adjust_value


@pytest.mark.parametrize("thresh", [0.005, 0.02])
def test_slide_stops_before_the_bottom(thresh):
    lrs, losses = finder_curve()
    lr, (point_lr, point_loss) = slide(lrs, losses, 100, thresh=thresh)
    assert lr == pytest.approx(reference_slide(lrs, losses, thresh=thresh))
    assert -4 < math.log10(lr) < -1
    assert point_loss == pytest.approx(np.interp(math.log10(lr), np.log10(lrs), losses))
    adjusted, _ = slide(lrs, losses, 100, thresh=thresh, adjust_value=0.5)
    assert adjusted == pytest.approx(lr / 2)


def test_inputs_may_be_lists_arrays_or_tensors():
    lrs, losses = finder_curve()
    funcs = (minimum, steep, valley, slide)

    def flat(results):
        return [v for lr, (plr, ploss) in results for v in (lr, plr, ploss)]

    as_numpy = flat(f(lrs, losses, 100) for f in funcs)
    as_tensor = flat(f(torch.tensor(lrs), torch.tensor(losses), 100) for f in funcs)
    as_list = flat(f(list(lrs), list(losses), 100) for f in funcs)
    assert as_numpy == pytest.approx(as_tensor) and as_numpy == pytest.approx(as_list)
    assert all(type(v) is float for v in as_numpy)
    assert SuggestionMethod.Valley is valley and SuggestionMethod.Steep is steep


def test_errors_name_the_function_and_the_problem():
    lrs, losses = finder_curve()
    with pytest.raises(ValueError, match="steep: 161 learning rates for 160 losses"):
        steep(lrs, losses[:-1], 100)
    bad = losses.copy()
    bad[150] = np.nan
    with pytest.raises(ValueError, match="valley: loss at index 150 is nan"):
        valley(lrs, bad, 100)
    with pytest.raises(ValueError, match="minimum: learning rates must be positive"):
        minimum(np.concatenate([[0.0], lrs[1:]]), losses, 100)
    with pytest.raises(ValueError, match="slide: needs at least 16 points"):
        slide(lrs[:10], losses[:10], 100)
    with pytest.raises(ValueError, match="steep: needs at least 2 points"):
        steep(lrs[:1], losses[:1], 100)
    with pytest.raises(TypeError, match="minimum: losses must be a sequence of numbers"):
        minimum(lrs[:2], ["a", "b"], 100)
