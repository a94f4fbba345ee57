"""Run order of callbacks: by `order`, then `run_after` / `run_before` constraints (a topological sort)."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

from lamina.core.learner.callback import Callback

__all__ = ["sort_callbacks"]


def _specs(value: Any, cb: Callback, attr: str) -> tuple[Any, ...]:
    if value is None:
        return ()
    specs = tuple(value) if isinstance(value, (list, tuple, set, frozenset)) else (value,)
    for s in specs:
        if not (isinstance(s, str) or (isinstance(s, type) and issubclass(s, Callback))):
            raise TypeError(
                f"{type(cb).__name__}.{attr} must name callback classes (classes or class names), got {s!r}"
            )
    return specs


def _matches(cb: Callback, spec: Any) -> bool:
    if isinstance(spec, str):
        return spec in (type(cb).__name__, cb.name)
    return isinstance(cb, spec)


def sort_callbacks(cbs: Sequence[Callback]) -> list[Callback]:
    """`cbs` in run order: lowest `order` first (ties keep the given order), adjusted so that each
    callback runs after those named in its `run_after` and before those in its `run_before`.

    A constraint moves as little as possible: a callback that must run before another is pulled
    forward to just before it (it inherits the lower `order`), one that must run after another
    waits for it. A name in `run_after`/`run_before` matching no present callback is ignored.
    Contradictory constraints raise a `ValueError` that lists the callbacks on the cycle.
    """
    cbs = list(cbs)
    n = len(cbs)
    succ: list[set[int]] = [set() for _ in range(n)]
    pulled_by: list[set[int]] = [set() for _ in range(n)]  # run_before: i must precede these
    for i, cb in enumerate(cbs):
        for spec in _specs(cb.run_after, cb, "run_after"):
            for j, other in enumerate(cbs):
                if j != i and _matches(other, spec):
                    succ[j].add(i)
        for spec in _specs(cb.run_before, cb, "run_before"):
            for j, other in enumerate(cbs):
                if j != i and _matches(other, spec):
                    succ[i].add(j)
                    pulled_by[i].add(j)
    # Effective priority: a callback with run_before takes the lowest priority of those it precedes
    # (so it moves forward); one with run_after keeps its own and simply waits.
    eff = [cb.order for cb in cbs]
    for _ in range(n):
        changed = False
        for i in range(n):
            low = min((eff[j] for j in pulled_by[i]), default=eff[i])
            if low < eff[i]:
                eff[i], changed = low, True
        if not changed:
            break
    indegree = [0] * n
    for i in range(n):
        for j in succ[i]:
            indegree[j] += 1
    ready = [(eff[i], cbs[i].order, i) for i in range(n) if indegree[i] == 0]
    heapq.heapify(ready)
    out: list[int] = []
    while ready:
        *_, i = heapq.heappop(ready)
        out.append(i)
        for j in succ[i]:
            indegree[j] -= 1
            if indegree[j] == 0:
                heapq.heappush(ready, (eff[j], cbs[j].order, j))
    if len(out) < n:
        cycle = _cycle(cbs, succ, out)
        raise ValueError(f"callbacks with circular run_after/run_before constraints: {cycle}")
    return [cbs[i] for i in out]


def _cycle(cbs: list[Callback], succ: list[set[int]], done: list[int]) -> str:
    """One cycle among the callbacks left unsorted, as `A -> B -> A` (A must run before B).

    Every unsorted callback still waits on an unsorted predecessor, so walking predecessors from
    any of them must come back to a node already seen.
    """
    left = set(range(len(cbs))) - set(done)
    pred = {j: [i for i in left if j in succ[i]] for j in left}
    node = min(left)
    path, seen = [node], {node: 0}
    while True:
        node = min(pred[node])
        if node in seen:
            cycle = path[seen[node] :] + [node]
            return " -> ".join(type(cbs[i]).__name__ for i in reversed(cycle))
        seen[node] = len(path)
        path.append(node)
