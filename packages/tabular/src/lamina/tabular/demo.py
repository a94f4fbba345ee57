"""The tabular demo of the main job (`examples/demo.py`, registered through `lamina_demos`).

It trains the paper's tabular model on the shipped 2,000-row Adult sample and on the Palmer penguins,
both offline, and writes a decoded batch and the predictions of each as HTML tables into `out_dir`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lamina.core.metrics import accuracy
from lamina.tabular.data import TabularDataLoaders
from lamina.tabular.learner import tabular_learner
from lamina.tabular.procs import Categorify, FillMissing, TabularNormalize
from lamina.tabular.samples import (
    ADULT_CAT_NAMES,
    ADULT_CONT_NAMES,
    PENGUIN_CAT_NAMES,
    PENGUIN_CONT_NAMES,
    load_sample,
)

__all__ = ["demo"]

_TASKS = {
    "adult": (ADULT_CAT_NAMES, ADULT_CONT_NAMES, "salary"),
    "penguins": (PENGUIN_CAT_NAMES, PENGUIN_CONT_NAMES, "species"),
}


def _train(name: str, out_dir: Path, epochs: int) -> float:
    cat_names, cont_names, target = _TASKS[name]
    df = load_sample(name)
    # a seeded random fifth for validation (the penguins file is sorted by species)
    valid_idx = sorted(
        torch.randperm(len(df), generator=torch.Generator().manual_seed(0))[: len(df) // 5].tolist()
    )
    torch.manual_seed(42)
    dls = TabularDataLoaders.from_df(
        df,
        procs=[Categorify, FillMissing, TabularNormalize],
        cat_names=cat_names,
        cont_names=cont_names,
        y_names=target,
        valid_idx=valid_idx,
        bs=64,
    )
    learn = tabular_learner(dls, layers=[200, 100], metrics=accuracy)
    with learn.no_bar():
        learn.fit_one_cycle(epochs, 1e-2)
    dls.show_batch(max_n=10, show=False).to_html(out_dir / f"{name}_show_batch.html")
    learn.show_results(max_n=10, show=False).to_html(out_dir / f"{name}_show_results.html")
    majority = float(df[target].iloc[valid_idx].value_counts(normalize=True).iloc[0])
    acc = float(learn.validate()[1])
    print(f"{name}: validation accuracy {acc:.3f} (majority class {majority:.3f})")
    return acc


def demo(out_dir: Path, quick: bool = False) -> dict[str, Any]:
    """Train on the shipped Adult sample and the penguins; return their validation accuracies."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread avoids contention
    try:
        epochs = 3 if quick else 5
        return {f"{name} accuracy": round(_train(name, out_dir, epochs), 3) for name in _TASKS}
    finally:
        torch.set_num_threads(threads)
