"""Export of collab learners: `CollabDataLoaders` and `CollabDataLoader` are named, and a loaded learner over
them becomes a `CollabLearner` through `lamina.tabular.export.as_tabular_learner`.

The tabular export does the rest: the ratings table's procs (the user and item vocabularies) and columns are
the inference data of every `TabDataLoader`. `EmbeddingDotBias` keeps its vocabularies as constructor
arguments (`vocabs`), so `weight`/`bias` by id work on a loaded model. Importing this module (the plugin's
learners hook does) registers these.
"""

from __future__ import annotations

from lamina.collab.data import CollabDataLoaders
from lamina.collab.learner import CollabLearner
from lamina.collab.loader import CollabDataLoader
from lamina.core.plugins.registry import register_class
from lamina.tabular.export import register_tabular_learner

__all__: list[str] = []

for _cls in (CollabDataLoaders, CollabDataLoader, CollabLearner):
    register_class(_cls, f"lamina.collab.{_cls.__name__}")
register_tabular_learner(CollabDataLoaders, CollabLearner)
