"""`defaults`: the text package's settings, read at call time (change them to change every later call).

- `text_pre_rules` / `text_post_rules`: the rules used when a function gets `rules=None` / `post_rules=None`
  (start as `TEXT_PRE_RULES` / `TEXT_POST_RULES`);
- `text_spec_tok`: the special tokens (vocabularies start with them; tokenizers keep them whole);
- `cpus`: the default number of tokenizing worker processes (the usable cores, at most 16);
- `start_method`: how workers start: None picks `fork` where it exists (Linux; cheap, as PyTorch's own
  DataLoader workers do) and `spawn` elsewhere; `spawn`/`forkserver` work everywhere but pay the spaCy and
  torch import in each worker (about 2-3 s) and need picklable rules.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from lamina.text.rules import TEXT_POST_RULES, TEXT_PRE_RULES, TEXT_SPEC_TOK

__all__ = ["TextDefaults", "defaults", "usable_cpus"]


def usable_cpus() -> int:
    """The cores this process may run on (its CPU affinity where the platform reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class TextDefaults:
    """Settings of lamina.text (see the module docstring)."""

    text_pre_rules: list[Callable[[str], str]] = field(default_factory=lambda: list(TEXT_PRE_RULES))
    text_post_rules: list[Callable[[list[str]], list[str]]] = field(
        default_factory=lambda: list(TEXT_POST_RULES)
    )
    text_spec_tok: list[str] = field(default_factory=lambda: list(TEXT_SPEC_TOK))
    cpus: int = field(default_factory=lambda: min(16, usable_cpus()))
    start_method: str | None = None


defaults = TextDefaults()
