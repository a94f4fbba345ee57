"""The hooks a Lamina plugin may implement.

Every hook takes no argument and returns data: the manager calls each plugin's
implementation once, when the plugins are loaded, and files what it returns in the
registry of the same name (`lamina_blocks` -> `registry.blocks`). Mark implementations
with `@hookimpl`. The contract for plugin authors is `docs/plugins.md`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pluggy

from lamina.core.plugins.specs import ArchitectureSpec, DatasetSpec

__all__ = [
    "PROJECT_NAME",
    "hookspec",
    "hookimpl",
    "lamina_blocks",
    "lamina_architectures",
    "lamina_learners",
    "lamina_datasets",
    "lamina_tokenizers",
    "lamina_losses",
    "lamina_classes",
    "lamina_demos",
]

PROJECT_NAME = "lamina"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def lamina_blocks() -> Mapping[str, Callable[..., Any]]:
    """Return the data blocks this plugin provides: block name -> block factory.

    A block factory is a block class or a function returning one (`ImageBlock`,
    `TextBlock.from_df`); `DataBlock(blocks=...)` users reach them by name.
    """


@hookspec
def lamina_architectures() -> Mapping[str, ArchitectureSpec]:
    """Return the model architectures this plugin provides: name -> `ArchitectureSpec`.

    The spec holds the model factory and what transfer learning needs: the cut point
    between body and head, the parameter-group split and the input normalisation stats.
    """


@hookspec
def lamina_learners() -> Mapping[str, Callable[..., Any]]:
    """Return the learner factories this plugin provides: task name -> factory.

    A factory takes `DataLoaders` (plus its own keyword arguments) and returns a
    `Learner`, e.g. `"vision": vision_learner`.
    """


@hookspec
def lamina_datasets() -> Iterable[DatasetSpec]:
    """Return the datasets this plugin knows, one `DatasetSpec` each, keyed by `spec.name`.

    They become `URLs.<name>` for `untar_data`, with the address, the size and checksum
    the download is verified against, and an optional embedded sample.
    """


@hookspec
def lamina_tokenizers() -> Mapping[str, Callable[..., Any]]:
    """Return the tokenizers this plugin provides: name -> tokenizer factory.

    A factory returns an object that turns a batch of texts into token lists.
    """


@hookspec
def lamina_losses() -> Mapping[str, Callable[..., Any]]:
    """Return default losses by target type: target type name -> loss factory.

    The key is the `__name__` of the target's semantic type (e.g. `"TensorMask"`); a
    `Learner` built without `loss_func` calls the factory for its targets' type.
    """


@hookspec
def lamina_classes() -> Mapping[str, type]:
    """Return the classes that exported learners may name: registered name -> class.

    `export`/`load_learner` rebuild models and transforms by looking classes up here and
    only here, so loading a file never imports or unpickles code it was not given.
    """


@hookspec
def lamina_demos() -> Mapping[str, Callable[..., Any]]:
    """Return this plugin's demos: name -> function `demo(out_dir: Path, quick: bool) -> dict`.

    `examples/demo.py` (the main job, `nox -s demo`) runs every registered demo. A demo trains
    on data its package ships, writes its pictures into `out_dir`, and returns its figures
    (e.g. `{"accuracy": 0.97}`) for the summary it prints.
    """
