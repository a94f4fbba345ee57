"""What lamina-tabular registers with the kernel (entry point `tabular` in group `lamina`).

- datasets: `ADULT_SAMPLE` (fastai's archive address; the shipped 2,000-row sample works offline);
- learners: `"tabular"` -> `tabular_learner`;
- demos: `"tabular"` -> `lamina.tabular.demo.demo` (trains on the shipped samples);
- classes: `TabularModel`, the procs and the target procs, registered by name (`register_class`) when
  their modules are imported, which the learners hook does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lamina.core.plugins import DatasetSpec, hookimpl
from lamina.tabular.samples import SAMPLE_DIR

__all__ = ["DATASETS", "lamina_datasets", "lamina_learners", "lamina_demos"]

# The fast.ai archive. Its size (bytes) is the one fastai checks its download against; no sha256
# is published for it, so `sha256` stays None until one is computed from a verified download.
DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        "ADULT_SAMPLE",
        "https://s3.amazonaws.com/fast-ai-sample/adult_sample.tgz",
        size=968_212,
        sample=SAMPLE_DIR,
    ),
)


@hookimpl
def lamina_datasets() -> tuple[DatasetSpec, ...]:
    """The tabular datasets, for `URLs` and `untar_data`."""
    return DATASETS


@hookimpl
def lamina_learners() -> Mapping[str, Callable[..., Any]]:
    """`"tabular"`: `tabular_learner` (importing it, and `Discretize`, registers the tabular classes)."""
    import lamina.tabular.discretize  # noqa: F401  (registers Discretize by name)
    import lamina.tabular.export  # noqa: F401  (registers the procs' export specs and the inference data)
    from lamina.tabular.learner import tabular_learner  # imported when the plugins load, not before

    return {"tabular": tabular_learner}


@hookimpl
def lamina_demos() -> Mapping[str, Callable[..., Any]]:
    """`"tabular"`: trains on the shipped Adult sample and the penguins (see `lamina.tabular.demo`)."""
    from lamina.tabular.demo import demo

    return {"tabular": demo}
