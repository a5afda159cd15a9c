"""Who blocks whom: the blocking forest built from `Backend.blocked_by` (pure, no I/O).

Shape, chosen for an operator deciding what to cancel or terminate:

* Roots are sessions that block others and wait on no one. A blocker missing from the
  activity list (the console's own connection, a non-client backend, a session that ended
  between the two reads) becomes a synthetic root `Backend` with only its pid, so its
  waiters are never dropped.
* A waiter sits under its *upstream-most* blockers. `pg_blocking_pids()` lists lock holders
  and also sessions queued ahead for the same lock: with 50 sessions updating one row,
  session k reports [w1, ..., wk-1]. Nesting each under its nearest predecessor draws a
  50-deep staircase; instead, a blocker is dropped from a waiter's parents when it is itself
  (transitively) waiting on another of that waiter's blockers. The row queue becomes
  "root -> w1 -> {w2..w50}", which is what the operator acts on: terminate the root.
  The blockers dropped so are not lost: each occurrence of the waiter names them
  (`also_blocked_by`). They matter: with a share lock held by 438, an ALTER (590) queued
  behind it and an UPDATE (1011) behind both, 1011 sits under 438 only, yet terminating
  438 hands the table to 590 and 1011 still waits.
* A waiter with two *independent* blockers (two readers holding a share lock against an
  ALTER) appears under each of them, as pg_activity lists it under each: clearing one
  blocker does not release it, and the tree must not suggest that it does. Its own waiters
  are listed at its first occurrence only; later occurrences are marked `repeat=True`.
* A wait cycle (a deadlock visible until deadlock_timeout) has no root: its lowest pid is
  shown as the root, members are marked `cycle=True`, and the loop closes on a leaf.
* Roots come first by the number of distinct sessions they hold up, then by pid; waiters by
  how long they have waited (longest first), then by pid. Widgets keep this order: the
  "first occurrence" of a repeated waiter depends on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from adapters.postgres.models import Backend, BlockingNode

#: Deeper chains are cut (marked repeat) to bound recursion; real chains are a few deep.
MAX_DEPTH = 100


def build_blocking_tree(backends: Iterable[Backend]) -> tuple[BlockingNode, ...]:
    """The blocking forest of `backends` (see the module docstring for its shape)."""
    by_pid = {b.pid: b for b in backends}
    blockers_of = {b.pid: b.blocked_by for b in by_pid.values() if b.blocked_by}
    parents = _parents(blockers_of)
    if not parents:
        return ()
    also = _dropped(blockers_of, parents)
    children: dict[int, list[int]] = {}
    for waiter in sorted(parents, key=lambda p: _wait_order(by_pid.get(p), p)):
        for blocker in parents[waiter]:
            children.setdefault(blocker, []).append(waiter)

    roots = [p for p in children if p not in parents]
    reach = {root: _reach(root, children) for root in roots}
    roots.sort(key=lambda p: (-reach[p], p))

    builder = _Builder(by_pid, children, also)
    forest = [builder.node(root, []) for root in roots]
    # Whatever is still unseen waits in a cycle with no root above it.
    while unseen := sorted(set(parents) - builder.seen):
        forest.append(builder.node(unseen[0], []))
    return tuple(forest)


def root_blocker_of(
    pid: int,
    backends: Iterable[Backend],
    *,
    tree: Sequence[BlockingNode] | None = None,
) -> int | None:
    """The pid at the root above `pid`'s first occurrence in the tree, or None.

    None when `pid` waits on no one (it is not in the tree as a waiter). Pass `tree` when
    it is already built for these backends to avoid rebuilding it. For a member of a wait
    cycle the answer is the cycle's representative root (the cycle's lowest pid), or the
    session it waits on when `pid` is that representative itself.
    """
    if tree is None:
        tree = build_blocking_tree(backends)
    for root in tree:
        # Depth-first in display order; (node, the pid it sits under).
        stack = [(w, root.backend.pid) for w in reversed(root.waiters)]
        while stack:
            node, above = stack.pop()
            if node.backend.pid == pid:
                # A cycle's representative root reappears inside its own loop.
                return above if pid == root.backend.pid else root.backend.pid
            stack.extend((w, node.backend.pid) for w in reversed(node.waiters))
    return None


class _Builder:
    """Depth-first construction with the repeat and cycle rules of the module docstring."""

    def __init__(
        self,
        by_pid: dict[int, Backend],
        children: dict[int, list[int]],
        also: dict[int, tuple[int, ...]],
    ) -> None:
        self.by_pid = by_pid
        self.children = children
        self.also = also
        self.seen: set[int] = set()
        self.expanded: set[int] = set()
        self.in_cycle: set[int] = set()

    def node(self, pid: int, path: list[int]) -> BlockingNode:
        backend = self.by_pid.get(pid) or _synthetic(pid)
        self.seen.add(pid)
        kids = self.children.get(pid, ())
        also = self.also.get(pid, ())
        if pid in path:  # closes a wait cycle: everyone from its first occurrence is in it
            self.in_cycle.update(path[path.index(pid) :])
            return BlockingNode(backend, repeat=bool(kids), cycle=True, also_blocked_by=also)
        if kids and (pid in self.expanded or len(path) >= MAX_DEPTH):
            return BlockingNode(backend, repeat=True, also_blocked_by=also)
        self.expanded.add(pid)
        path.append(pid)
        waiters = tuple(self.node(kid, path) for kid in kids)
        path.pop()
        return BlockingNode(backend, waiters, cycle=pid in self.in_cycle, also_blocked_by=also)


def _parents(blockers_of: dict[int, tuple[int, ...]]) -> dict[int, tuple[int, ...]]:
    """Each waiter's upstream-most blockers (duplicates removed, order kept)."""
    parents = {w: tuple(dict.fromkeys(bs)) for w, bs in blockers_of.items()}
    multi = {w: bs for w, bs in parents.items() if len(bs) > 1}
    if not multi:
        return parents  # the common case: every waiter has one blocker
    # Cheap pass first: in a lock queue, b is usually dropped because it waits *directly*
    # on another of my blockers (pg_blocking_pids lists the holder first, so isdisjoint
    # stops at once). Only the survivors need the transitive check.
    survivors: dict[int, tuple[int, ...]] = {}
    for waiter, blockers in multi.items():
        mine = set(blockers)
        survivors[waiter] = tuple(b for b in blockers if mine.isdisjoint(parents.get(b, ())))
    starts = {b for bs in survivors.values() for b in bs if b in parents}
    bit = {pid: 1 << i for i, pid in enumerate({p for bs in multi.values() for p in bs})}
    ancestors = _ancestor_masks(parents, bit, starts)
    for waiter, blockers in survivors.items():
        if len(blockers) < 2 and blockers:
            parents[waiter] = blockers
            continue
        mine = 0
        for b in multi[waiter]:
            mine |= bit[b]
        # Drop b if another of my blockers is upstream of b (b waits on it, transitively).
        kept = tuple(b for b in blockers if not ancestors.get(b, 0) & mine & ~bit[b])
        parents[waiter] = kept or multi[waiter]  # a cycle can drop them all: keep them then
    return parents


def _dropped(
    blockers_of: dict[int, tuple[int, ...]], parents: dict[int, tuple[int, ...]]
) -> dict[int, tuple[int, ...]]:
    """Each waiter's blockers that `_parents` dropped (order kept, duplicates removed)."""
    out: dict[int, tuple[int, ...]] = {}
    for waiter, kept in parents.items():
        blockers = blockers_of[waiter]
        if len(blockers) > len(kept):
            shown = set(kept)
            dropped = tuple(b for b in dict.fromkeys(blockers) if b not in shown)
            if dropped:
                out[waiter] = dropped
    return out


def _ancestor_masks(
    parents: dict[int, tuple[int, ...]], bit: dict[int, int], starts: Iterable[int]
) -> dict[int, int]:
    """pid -> bitmask of the pids it waits on, transitively, for `starts` and their
    ancestors (iterative, cycle-safe). Bitmasks over Python ints keep wide queues cheap.
    """
    masks: dict[int, int] = {}
    for start in starts:
        if start in masks:
            continue
        stack = [(start, iter(parents[start]))]
        on_stack = {start}
        while stack:
            pid, pending = stack[-1]
            for b in pending:
                if b in parents and b not in masks and b not in on_stack:
                    stack.append((b, iter(parents[b])))
                    on_stack.add(b)
                    break
            else:
                mask = 0
                for b in parents[pid]:
                    mask |= bit.get(b, 0) | masks.get(b, 0)  # in-progress (cycle): bit only
                masks[pid] = mask
                stack.pop()
                on_stack.discard(pid)
    return masks


def _reach(root: int, children: dict[int, list[int]]) -> int:
    """Distinct sessions held up by `root`, however deep (for ordering the roots)."""
    seen = {root}
    stack = [root]
    while stack:
        for kid in children.get(stack.pop(), ()):
            if kid not in seen:
                seen.add(kid)
                stack.append(kid)
    return len(seen) - 1


def _wait_order(backend: Backend | None, pid: int) -> tuple[float, int]:
    wait = backend.wait_age if backend is not None and backend.wait_age is not None else 0.0
    return (-wait, pid)


def _synthetic(pid: int) -> Backend:
    """A blocker not in the activity list: only its pid is known."""
    return Backend(pid, *([None] * 14))
