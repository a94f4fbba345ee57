"""LAMB, RAdam, QHAdam, Larc and Lookahead against their published update rules, written plainly here
(one tensor at a time, float64) and run side by side with ours on copies of one model."""

import math

import pytest
import torch
from torch import nn

from lamina.core.optim.lookahead import Lookahead, ranger
from lamina.core.optim.optimizers import SGD, Lamb, Larc, QHAdam, RAdam

N_STEPS = 12  # RAdam switches from its SGD phase to the rectified one at step 6 with sqr_mom=0.99


def model_for_rules() -> nn.Module:
    """Float64 model with a zero bias (zero-norm cases) and a large layer (LAMB trust ratio above 10)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(4, 12), nn.Tanh(), nn.Linear(12, 12), nn.Tanh(), nn.Linear(12, 2)
    ).double()
    with torch.no_grad():
        model[0].bias.zero_()
        model[2].weight.mul_(60)
    return model


def data():
    g = torch.Generator().manual_seed(3)
    return [
        (torch.randn(24, 4, generator=g).double(), torch.randn(24, 2, generator=g).double())
        for _ in range(N_STEPS)
    ]


def run_side_by_side(make_ours, reference, tol=1e-9) -> None:
    ours_model, ref_model = model_for_rules(), model_for_rules()
    ours = make_ours(list(ours_model.parameters()))
    ref_params = list(ref_model.parameters())
    for step, (x, y) in enumerate(data(), start=1):
        for model in (ours_model, ref_model):
            model.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
        ours.step()
        with torch.no_grad():
            reference.step(ref_params, step)
        for i, (a, b) in enumerate(zip(ours_model.parameters(), ref_params)):
            diff = (a - b).abs().max().item()
            assert diff <= tol, f"step {step}, parameter {i}: differs from the reference rule by {diff:.2e}"
    start = model_for_rules()
    assert max((a - b).abs().max().item() for a, b in zip(ours_model.parameters(), start.parameters())) > 1e-4


class AdamMoments:
    """m and v with bias correction, as every Adam-family paper defines them."""

    def __init__(self, b1, b2):
        self.b1, self.b2, self.m, self.v = b1, b2, {}, {}

    def update(self, i, g, t):
        self.m[i] = self.b1 * self.m.get(i, torch.zeros_like(g)) + (1 - self.b1) * g
        self.v[i] = self.b2 * self.v.get(i, torch.zeros_like(g)) + (1 - self.b2) * g * g
        return self.m[i] / (1 - self.b1**t), self.v[i] / (1 - self.b2**t)


class LambRule:
    """You et al. 2020, Algorithm 2: r = m_hat / (sqrt(v_hat) + eps) + wd * w;
    w -= lr * min(|w| / |r|, 10) * r (trust ratio 1 where a norm is zero)."""

    def __init__(self, lr, b1, b2, eps, wd):
        self.lr, self.eps, self.wd, self.moments, self.clamped = lr, eps, wd, AdamMoments(b1, b2), 0

    def step(self, params, t):
        for i, w in enumerate(params):
            m_hat, v_hat = self.moments.update(i, w.grad, t)
            r = m_hat / (v_hat.sqrt() + self.eps) + self.wd * w
            w_norm, r_norm = w.norm().item(), r.norm().item()
            ratio = 1.0 if w_norm == 0 or r_norm == 0 else w_norm / r_norm
            if ratio > 10:
                ratio, self.clamped = 10.0, self.clamped + 1
            w -= self.lr * ratio * r


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_lamb_follows_the_published_rule(wd):
    rule = LambRule(lr=0.02, b1=0.9, b2=0.99, eps=1e-6, wd=wd)
    run_side_by_side(lambda p: Lamb(p, lr=0.02, mom=0.9, sqr_mom=0.99, eps=1e-6, wd=wd), rule)
    if wd == 0:  # with wd, |r| >= wd |w| keeps the ratio under 1 / wd = 10
        assert rule.clamped > 0, "the trust-ratio clamp was never exercised"


class RAdamRule:
    """Liu et al. 2019, Algorithm 2 (threshold rho_t > 5 as in the authors' code; eps added to
    sqrt(v_hat))."""

    def __init__(self, lr, b1, b2, eps):
        self.lr, self.b2, self.eps, self.moments = lr, b2, eps, AdamMoments(b1, b2)
        self.phases = set()

    def step(self, params, t):
        rho_inf = 2 / (1 - self.b2) - 1
        rho_t = rho_inf - 2 * t * self.b2**t / (1 - self.b2**t)
        for i, w in enumerate(params):
            m_hat, v_hat = self.moments.update(i, w.grad, t)
            if rho_t > 5:
                r_t = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                w -= self.lr * r_t * m_hat / (v_hat.sqrt() + self.eps)
                self.phases.add("rectified")
            else:
                w -= self.lr * m_hat
                self.phases.add("sgd")


def test_radam_follows_the_published_rule_in_both_phases():
    rule = RAdamRule(lr=0.01, b1=0.9, b2=0.99, eps=1e-5)
    run_side_by_side(lambda p: RAdam(p, lr=0.01, mom=0.9, sqr_mom=0.99, eps=1e-5), rule)
    assert rule.phases == {"rectified", "sgd"}


def test_radam_softplus_denominator():
    class SoftplusRAdamRule(RAdamRule):
        def step(self, params, t):
            rho_inf = 2 / (1 - self.b2) - 1
            rho_t = rho_inf - 2 * t * self.b2**t / (1 - self.b2**t)
            for i, w in enumerate(params):
                m_hat, v_hat = self.moments.update(i, w.grad, t)
                if rho_t > 5:
                    r_t = math.sqrt(
                        (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
                    )
                    w -= self.lr * r_t * m_hat / nn.functional.softplus(v_hat.sqrt() + self.eps, beta=50)
                else:
                    w -= self.lr * m_hat

    rule = SoftplusRAdamRule(lr=0.01, b1=0.9, b2=0.99, eps=1e-5)
    run_side_by_side(lambda p: RAdam(p, lr=0.01, eps=1e-5, beta=50), rule)


class QHAdamRule:
    """Ma & Yarats 2019: w -= lr * ((1-nu1) g + nu1 m_hat) / (sqrt((1-nu2) g^2 + nu2 v_hat) + eps)."""

    def __init__(self, lr, b1, b2, nu1, nu2, eps):
        self.lr, self.nu1, self.nu2, self.eps, self.moments = lr, nu1, nu2, eps, AdamMoments(b1, b2)

    def step(self, params, t):
        for i, w in enumerate(params):
            g = w.grad
            m_hat, v_hat = self.moments.update(i, g, t)
            numer = (1 - self.nu1) * g + self.nu1 * m_hat
            denom = ((1 - self.nu2) * g * g + self.nu2 * v_hat).sqrt() + self.eps
            w -= self.lr * numer / denom


@pytest.mark.parametrize("nu_2", [1.0, 0.6])
def test_qhadam_follows_the_published_rule(nu_2):
    rule = QHAdamRule(lr=0.01, b1=0.95, b2=0.98, nu1=0.7, nu2=nu_2, eps=1e-8)
    run_side_by_side(lambda p: QHAdam(p, lr=0.01, mom=0.95, sqr_mom=0.98, nu_1=0.7, nu_2=nu_2), rule)


class LarsRule:
    """You, Gitman & Ginsburg 2017 (LARS), Algorithm 1, with LARC clipping of the local lr at lr:
    local = lr * trust * |w| / (|g| + wd |w| + eps); v = mom v + local (g + wd w); w -= v."""

    def __init__(self, lr, mom, trust, eps, wd, clip, decoupled):
        self.lr, self.mom, self.trust, self.eps, self.wd = lr, mom, trust, eps, wd
        self.clip, self.decoupled, self.v, self.clipped = clip, decoupled, {}, 0

    def step(self, params, t):
        for i, w in enumerate(params):
            g = w.grad
            w_norm, g_norm = w.norm().item(), g.norm().item()
            local = self.lr * self.trust * w_norm / (g_norm + self.wd * w_norm + self.eps)
            if w_norm == 0 or g_norm == 0:
                local = self.lr
            if self.clip and local > self.lr:
                local, self.clipped = self.lr, self.clipped + 1
            if self.decoupled:
                w *= 1 - self.lr * self.wd
            else:
                g = g + self.wd * w
            self.v[i] = self.mom * self.v.get(i, torch.zeros_like(w)) + local * g
            w -= self.v[i]


@pytest.mark.parametrize(
    "mom,clip,trust,wd,decoupled",
    [
        (0.9, True, 0.5, 0.0, True),
        (0.9, False, 0.02, 0.01, False),  # unclipped: a small trust keeps the local lrs near lr
        (0.0, True, 0.5, 0.05, True),
        (0.8, True, 0.5, 0.01, False),
    ],
)
def test_larc_follows_the_published_rule(mom, clip, trust, wd, decoupled):
    rule = LarsRule(lr=0.1, mom=mom, trust=trust, eps=1e-8, wd=wd, clip=clip, decoupled=decoupled)
    run_side_by_side(
        lambda p: Larc(p, lr=0.1, mom=mom, clip=clip, trust_coeff=trust, wd=wd, decouple_wd=decoupled), rule
    )
    if clip:
        assert rule.clipped > 0, "the LARC clip was never exercised"


class LookaheadRule:
    """Zhang et al. 2019: k steps of the inner optimizer (here torch's SGD), then slow += alpha (fast - slow)
    and fast = slow."""

    def __init__(self, lr, mom, k, alpha):
        self.lr, self.mom, self.k, self.alpha, self.inner, self.slow = lr, mom, k, alpha, None, None

    def step(self, params, t):
        if self.inner is None:
            self.inner = torch.optim.SGD(params, lr=self.lr, momentum=self.mom, foreach=False)
            self.slow = [w.detach().clone() for w in params]
        self.inner.step()
        if t % self.k == 0:
            for w, s in zip(params, self.slow):
                s += self.alpha * (w - s)
                w.copy_(s)


@pytest.mark.parametrize("k,alpha", [(5, 0.5), (3, 0.8)])
def test_lookahead_follows_its_rule(k, alpha):
    run_side_by_side(
        lambda p: Lookahead(SGD(p, lr=0.05, mom=0.9), k=k, alpha=alpha), LookaheadRule(0.05, 0.9, k, alpha)
    )


def test_ranger_is_lookahead_over_radam():
    ours_model, ref_model = model_for_rules(), model_for_rules()
    ours = ranger(list(ours_model.parameters()), lr=0.01, k=4, alpha=0.6)
    ref = Lookahead(RAdam(list(ref_model.parameters()), lr=0.01, mom=0.95, eps=1e-6, wd=0.01), k=4, alpha=0.6)
    for x, y in data():
        for model, opt in ((ours_model, ours), (ref_model, ref)):
            opt.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            opt.step()
    for a, b in zip(ours_model.parameters(), ref_model.parameters()):
        assert torch.equal(a, b)
    assert ours.hypers[0]["mom"] == 0.95 and ours.hypers[0]["wd"] == 0.01 and ours.k == 4
