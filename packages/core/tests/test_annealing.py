"""Annealing schedules: values at 0, 0.5 and 1, tensors and arrays, combine_scheds boundaries."""

import math
import pickle

import numpy as np
import pytest
import torch

from lamina.core.learner.annealing import (
    SchedCos,
    SchedExp,
    SchedLin,
    SchedNo,
    SchedPoly,
    combine_scheds,
    combined_cos,
)

CASES = [
    # schedule, value at 0, at 0.5, at 1
    (SchedLin(0.0, 2.0), 0.0, 1.0, 2.0),
    (SchedLin(1.0, -1.0), 1.0, 0.0, -1.0),
    (SchedCos(0.0, 2.0), 0.0, 1.0, 2.0),
    (SchedCos(1.0, 0.0), 1.0, 0.5, 0.0),
    (SchedNo(3.0, 7.0), 3.0, 3.0, 3.0),
    (SchedExp(1e-4, 1.0), 1e-4, 1e-2, 1.0),
    (SchedExp(-1.0, -4.0), -1.0, -2.0, -4.0),
    (SchedPoly(0.0, 8.0, 3), 0.0, 1.0, 8.0),
    (SchedPoly(1.0, 0.0, 0.5), 1.0, 1 - math.sqrt(0.5), 0.0),
]


@pytest.mark.parametrize("sched,at0,at_half,at1", CASES, ids=[repr(c[0]) for c in CASES])
def test_schedule_values(sched, at0, at_half, at1):
    assert sched(0.0) == pytest.approx(at0)
    assert sched(0.5) == pytest.approx(at_half)
    assert sched(1.0) == pytest.approx(at1)
    got = sched(torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
    assert isinstance(got, torch.Tensor)
    torch.testing.assert_close(got, torch.tensor([at0, at_half, at1], dtype=torch.float64))
    np.testing.assert_allclose(sched(np.array([0.0, 0.5, 1.0])), [at0, at_half, at1])


def test_cosine_is_flat_at_the_ends_and_steep_in_the_middle():
    s = SchedCos(0.0, 1.0)
    assert s(0.25) == pytest.approx((1 - math.cos(math.pi * 0.25)) / 2)
    assert s(0.01) - s(0.0) < s(0.51) - s(0.5)


def test_per_group_values_and_readable_repr():
    lrs = np.array([1e-3, 1e-2])
    s = SchedCos(lrs, lrs / 10)
    np.testing.assert_allclose(s(1.0), [1e-4, 1e-3])
    np.testing.assert_allclose(SchedLin([1.0, 2.0], [0.0, 0.0])(0.5), [0.5, 1.0])
    assert repr(SchedLin(0.1, 0.01)) == "SchedLin(start=0.1, end=0.01)"
    assert repr(s) == "SchedCos(start=[0.001, 0.01], end=[0.0001, 0.001])"
    assert repr(SchedNo(2)) == "SchedNo(start=2)"
    assert repr(SchedPoly(1, 0, 2)) == "SchedPoly(start=1, end=0, power=2)"
    assert repr(combined_cos(0.25, 1, 2, 0)).startswith(
        "combine_scheds([0.25, 0.75], [SchedCos(start=1, end=2)"
    )


def test_schedule_errors():
    with pytest.raises(ValueError, match=r"SchedLin\(start=0, end=1\): pos must lie in \[0, 1\]"):
        SchedLin(0, 1)(1.5)
    with pytest.raises(ValueError, match="pos must lie in"):
        SchedCos(0, 1)(torch.tensor([0.5, -0.1]))
    with pytest.raises(TypeError, match="pos must be a float"):
        SchedCos(0, 1)("half")
    with pytest.raises(ValueError, match="SchedExp: start and end must be non-zero and of the same sign"):
        SchedExp(0, 1)
    with pytest.raises(ValueError, match="same sign"):
        SchedExp(np.array([1.0, -1.0]), 1.0)
    with pytest.raises(ValueError, match="power must be a positive number"):
        SchedPoly(1, 0, 0)
    with pytest.raises(TypeError, match="start must be a number"):
        SchedLin("a", 1)


def test_combine_scheds_boundaries():
    f = combine_scheds([0.3, 0.7], [SchedLin(0.0, 1.0), SchedCos(1.0, 0.0)])
    assert f(0.0) == 0.0
    assert f(0.15) == pytest.approx(0.5)
    assert f(0.3) == pytest.approx(1.0)  # boundary: second schedule at its start
    assert f(0.3 - 1e-9) == pytest.approx(1.0, abs=1e-6)  # first schedule at its end
    assert f(0.65) == pytest.approx(0.5)
    assert f(1.0) == pytest.approx(0.0)
    # three phases whose percentages do not sum to exactly 1.0 in floating point
    g = combine_scheds([0.1, 0.2, 0.7], [SchedNo(1.0), SchedNo(2.0), SchedLin(3.0, 4.0)])
    assert [g(p) for p in (0.0, 0.1, 0.29, 0.3, 1.0)] == pytest.approx([1.0, 2.0, 2.0, 3.0, 4.0])
    got = f(torch.tensor([0.0, 0.15, 0.3, 1.0]))
    torch.testing.assert_close(got, torch.tensor([0.0, 0.5, 1.0, 0.0]))


def test_combine_scheds_skips_zero_width_phases():
    f = combine_scheds([0.0, 1.0], [SchedNo(5.0), SchedLin(0.0, 1.0)])
    assert f(0.0) == 0.0 and f(1.0) == 1.0
    g = combine_scheds([1.0, 0.0], [SchedLin(0.0, 1.0), SchedNo(5.0)])
    assert g(1.0) == 1.0


def test_combine_scheds_errors():
    with pytest.raises(ValueError, match=r"percentages must sum to 1, got \[0.5, 0.6\]"):
        combine_scheds([0.5, 0.6], [SchedNo(1), SchedNo(2)])
    with pytest.raises(ValueError, match="non-negative"):
        combine_scheds([1.5, -0.5], [SchedNo(1), SchedNo(2)])
    with pytest.raises(ValueError, match="2 percentages for 1 schedules"):
        combine_scheds([0.5, 0.5], [SchedNo(1)])
    with pytest.raises(TypeError, match="callable"):
        combine_scheds([1.0], [3])
    with pytest.raises(ValueError, match="combined_cos: pct"):
        combined_cos(1.2, 1, 2, 3)


def test_combined_cos_one_cycle_shape():
    lr_max = 1e-2
    f = combined_cos(0.25, lr_max / 25, lr_max, lr_max / 1e5)
    assert f(0.0) == pytest.approx(lr_max / 25)
    assert f(0.125) == pytest.approx((lr_max / 25 + lr_max) / 2)
    assert f(0.25) == pytest.approx(lr_max)
    assert f(1.0) == pytest.approx(lr_max / 1e5)
    values = [f(p) for p in np.linspace(0.25, 1, 20)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_schedules_pickle():
    f = combined_cos(0.3, np.array([0.1, 1.0]), 2.0, 0.0)
    clone = pickle.loads(pickle.dumps(f))
    np.testing.assert_allclose(clone(0.1), f(0.1))
