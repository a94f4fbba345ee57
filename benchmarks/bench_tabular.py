"""lamina-tabular against the same work written directly in pandas / plain PyTorch.

1. Procs: `TabularPandas(df, [Categorify, FillMissing, Normalize], ...)` on generated rows (1M by default:
   4 categorical columns of 5 to 5,000 categories with missing values, 4 continuous columns, 2 with missing
   values, a 2-class target; 80% training rows) against the same steps in pandas: median fill with `_na`
   columns, vocabularies from the training rows and codes, normalisation with training statistics, target
   codes. Also `to.new(df).process()` (applying learned procs) against the pandas apply step alone.
   `Discretize(n_bins=32)` (target-aware bins of the 4 continuous columns) against scikit-learn's
   `DecisionTreeClassifier(max_leaf_nodes=32, min_samples_leaf=16)` per column + `np.searchsorted` +
   interval categoricals (skipped without scikit-learn); both sides give the same edges.
2. Training: `tabular_learner` (`fit` and `fit_one_cycle`, default callbacks, quiet) against a hand-written
   loop with the same `TabularModel` (same initial weights), batch size, AdamW settings
   (`torch.optim.AdamW(foreach=True)`) and data tensors: shuffled index slices, forward, cross-entropy,
   backward, step. Training rows only (no validation). A small model (2 categorical columns) shows the
   loop's overhead; a model with a 5,001-row embedding is dominated by the optimizer step.

Both sides are interleaved, medians of several repeats of the process's CPU time (one torch thread, no
loader workers; wall time on a shared machine swings by 2x between runs); RATIO = lamina time / baseline
time (training target <= 1.1).

    python benchmarks/bench_tabular.py [--quick]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from lamina.core.data.transforms import Normalize
from lamina.tabular.core import TabularPandas
from lamina.tabular.discretize import Discretize
from lamina.tabular.learner import tabular_learner
from lamina.tabular.procs import Categorify, FillMissing

CATS = {"c5": 5, "c50": 50, "c500": 500, "c5000": 5000}
CONTS = ["x_gauss", "x_skew", "x_int", "x_missing"]
SMALL = "2 cats (5, 50)"  # a small model: the loop's own overhead shows most
LARGE = "4 cats (to 5000)"  # a 5001-row embedding: the optimizer step dominates


def generated(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({name: rng.integers(0, k, n) for name, k in CATS.items()})
    for name, k in CATS.items():
        labels = np.array([f"{name}_{i}" for i in range(k)], dtype=object)
        col = labels[df[name].to_numpy()]
        col[rng.random(n) < 0.02] = None
        df[name] = col
    df["x_gauss"] = rng.normal(size=n)
    df["x_skew"] = rng.exponential(1000.0, size=n)
    df["x_int"] = rng.integers(18, 90, size=n)
    missing = rng.normal(5.0, 2.0, size=n)
    missing[rng.random(n) < 0.1] = np.nan
    df["x_missing"] = missing
    df.loc[rng.random(n) < 0.05, "x_gauss"] = np.nan
    score = df["x_gauss"].fillna(0) + (df["c5"] == "c5_1") + rng.normal(size=n)
    df["y"] = np.where(score > 0.5, "yes", "no")
    return df


# ---- 1. procs ---------------------------------------------------------------------------------------
def pandas_fit_transform(df: pd.DataFrame, n_train: int) -> tuple[pd.DataFrame, dict]:
    """The steps of [FillMissing, Categorify, Normalize] + the target's codes, written directly in pandas."""
    out, train = df.copy(), slice(0, n_train)
    state: dict = {"fill": {}, "vocab": {}, "stats": {}}
    cats = list(CATS)
    for name in CONTS:
        col = out[name]
        state["fill"][name] = col.iloc[train].median()
        if col.iloc[train].isna().any():
            out[f"{name}_na"] = col.isna()
            cats.append(f"{name}_na")
        out[name] = col.fillna(state["fill"][name])
    for name in cats:
        state["vocab"][name] = sorted(out[name].iloc[train].dropna().unique())
        out[name] = pd.Index(state["vocab"][name]).get_indexer(out[name]) + 1
    for name in CONTS:
        x = out[name].to_numpy(dtype=np.float64)
        mean, std = x[train].mean(), x[train].std() + 1e-7
        state["stats"][name] = (mean, std)
        out[name] = ((x - mean) / std).astype(np.float32)
    state["target"] = sorted(out["y"].iloc[train].unique())
    out["y"] = pd.Index(state["target"]).get_indexer(out["y"])
    return out, state


def pandas_transform(df: pd.DataFrame, state: dict) -> pd.DataFrame:
    """Applying the learned state to new rows, in pandas."""
    out = df.copy()
    for name in CONTS:
        if name in ("x_gauss", "x_missing"):
            out[f"{name}_na"] = out[name].isna()
        out[name] = out[name].fillna(state["fill"][name])
    for name, vocab in state["vocab"].items():
        out[name] = pd.Index(vocab).get_indexer(out[name]) + 1
    for name, (mean, std) in state["stats"].items():
        out[name] = ((out[name].to_numpy(dtype=np.float64) - mean) / std).astype(np.float32)
    out["y"] = pd.Index(state["target"]).get_indexer(out["y"])
    return out


def timed(f: Callable[[], object]) -> float:
    """CPU seconds of this process running `f` (one torch thread, no workers: the work done, which a busy
    shared machine does not inflate as it does wall time)."""
    start = time.process_time()
    f()
    return time.process_time() - start


def compare(
    name: str, rows: int, ours: Callable, theirs: Callable, repeats: int, unit: str = "rows"
) -> float:
    ours(), theirs()  # warm-up
    mine, base = [], []
    for i in range(repeats):
        if i % 2:
            base.append(timed(theirs))
        mine.append(timed(ours))
        if not i % 2:
            base.append(timed(theirs))
    a, b = statistics.median(mine), statistics.median(base)
    print(
        f"{name:<44} lamina {rows / a / 1e6:7.3f} M{unit}/s   baseline {rows / b / 1e6:7.3f} M{unit}/s   "
        f"RATIO {a / b:5.2f}"
    )
    return a / b


def bench_procs(n: int, repeats: int) -> None:
    df = generated(n)
    n_train = int(0.8 * n)
    splits = (range(n_train), range(n_train, n))
    procs = [Categorify, FillMissing, Normalize]

    def ours(reduce_memory: bool) -> TabularPandas:
        return TabularPandas(df, procs, list(CATS), CONTS, "y", splits=splits, reduce_memory=reduce_memory)

    to = ours(False)
    expected, state = pandas_fit_transform(df, n_train)
    for name in [*CATS, "y"]:  # both sides computed the same codes
        assert np.array_equal(to.items[name].to_numpy(), expected[name].to_numpy()), name
    print(f"procs on {n:,} generated rows ({n_train:,} training), medians of {repeats}, interleaved")
    compare(
        "set up + process, reduce_memory=False",
        n,
        lambda: ours(False),
        lambda: pandas_fit_transform(df, n_train),
        repeats,
    )
    compare(
        "set up + process, reduce_memory=True",
        n,
        lambda: ours(True),
        lambda: pandas_fit_transform(df, n_train),
        repeats,
    )
    compare(
        "new(df).process() (learned procs)",
        n,
        lambda: to.new(df).process(),
        lambda: pandas_transform(df, state),
        repeats,
    )


def sklearn_bins(df: pd.DataFrame, n_train: int, n_bins: int, min_leaf: int) -> tuple[pd.DataFrame, dict]:
    """Target-aware bins written with scikit-learn's tree: fit on the training rows (values present), cut
    every row, interval categoricals; plus the target's codes, as `TabularPandas` makes them."""
    from sklearn.tree import DecisionTreeClassifier

    out, edges = df.copy(), {}
    y = out["y"].to_numpy()
    for name in CONTS:
        x = out[name].to_numpy(dtype=np.float64)
        known = ~np.isnan(x[:n_train])
        tree = DecisionTreeClassifier(max_leaf_nodes=n_bins, min_samples_leaf=min_leaf, random_state=0)
        tree.fit(x[:n_train][known, None], y[:n_train][known])
        cuts = np.sort(tree.tree_.threshold[tree.tree_.feature >= 0])
        codes = np.searchsorted(cuts, x, side="left")
        codes[np.isnan(x)] = -1
        bins = pd.IntervalIndex.from_breaks(np.concatenate([[-np.inf], cuts, [np.inf]]), closed="right")
        out[f"{name}_bin"] = pd.Categorical.from_codes(codes, categories=bins)
        edges[name] = cuts
    out["y"] = pd.Index(sorted(out["y"].iloc[:n_train].unique())).get_indexer(out["y"])
    return out, edges


def bench_discretize(n: int, repeats: int) -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("Discretize: skipped (scikit-learn is not installed)")
        return
    df = generated(n)
    n_train = int(0.8 * n)
    splits = (range(n_train), range(n_train, n))

    def ours() -> TabularPandas:
        procs = [Discretize(n_bins=32, min_leaf=16)]
        return TabularPandas(df, procs, cont_names=CONTS, y_names="y", splits=splits, reduce_memory=False)

    learned, (_, expected) = ours().procs[0].edges, sklearn_bins(df, n_train, 32, 16)
    for name in CONTS:  # scikit-learn cuts float32 copies of the values: equal up to that rounding
        assert np.allclose(learned[name], expected[name], rtol=1e-6, atol=1e-3), name
    compare(
        "Discretize(32) set up + process (vs sklearn)",
        n,
        ours,
        lambda: sklearn_bins(df, n_train, 32, 16),
        repeats,
    )


# ---- 2. training ------------------------------------------------------------------------------------
def plain_epoch(model, opt, cats, conts, ys, bs: int, generator: torch.Generator) -> None:
    model.train()
    order = torch.randperm(len(ys), generator=generator)
    for start in range(0, len(ys) - bs + 1, bs):  # full batches only, as the shuffled training loader
        idx = order[start : start + bs]
        loss = F.cross_entropy(model(cats[idx], conts[idx]), ys[idx])
        loss.backward()
        opt.step()
        opt.zero_grad()


def training_case(df: pd.DataFrame, label: str, cats: tuple[str, ...], bs: int, repeats: int) -> list[float]:
    """Both policies of `tabular_learner` against the plain loop, on the columns `cats` + CONTS."""
    to = TabularPandas(df, [Categorify, FillMissing, Normalize], list(cats), CONTS, "y")
    dls = to.dataloaders(bs=bs, seed=0)
    torch.manual_seed(0)
    learn = tabular_learner(dls, lr=1e-3)
    model = copy.deepcopy(learn.model)
    opt = torch.optim.AdamW(
        model.parameters(), lr=1e-3, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01, foreach=True
    )
    t = dls.train.tensors
    g = torch.Generator().manual_seed(0)
    rows = (len(to) // bs) * bs

    def plain() -> None:
        plain_epoch(model, opt, t.cats, t.conts, t.ys, bs, g)

    def fit() -> None:
        with learn.quiet():
            learn.fit(1)

    def fit_one_cycle() -> None:
        with learn.quiet():
            learn.fit_one_cycle(1)

    return [compare(f"{f.__name__}, {label}, bs={bs}", rows, f, plain, repeats) for f in (fit, fit_one_cycle)]


def bench_training(n: int, cases: tuple[tuple[str, tuple[str, ...], int], ...], repeats: int) -> list[float]:
    df = generated(n, seed=1)
    print(f"\ntraining on {n:,} rows (training rows only), one epoch per measure, medians of {repeats}")
    return [r for label, cats, bs in cases for r in training_case(df, label, cats, bs, repeats)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows and repeats (about 10 s)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"torch {torch.__version__}, pandas {pd.__version__}, {os.cpu_count()} CPUs, 1 torch thread, CPU time"
    )
    if args.quick:
        bench_procs(100_000, repeats=3)
        bench_discretize(20_000, repeats=3)
        ratios = bench_training(8_192, ((SMALL, ("c5", "c50"), 256),), repeats=3)
    else:
        bench_procs(1_000_000, repeats=3)
        bench_discretize(250_000, repeats=3)
        cases = ((SMALL, ("c5", "c50"), 64), (SMALL, ("c5", "c50"), 512), (LARGE, tuple(CATS), 512))
        ratios = bench_training(16_384, cases, repeats=5)
    print(f"worst training RATIO {max(ratios):.2f} (target <= 1.1)")


if __name__ == "__main__":
    main()
