"""The blocking tree on synthetic backends: shapes, cycles, missing blockers, ordering.

(The same functions against real lock situations are in test_pg_adapter.py.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from adapters.postgres.blocking import MAX_DEPTH, build_blocking_tree, root_blocker_of
from adapters.postgres.models import Backend, BlockingNode


def b(pid: int, blocked_by: Iterable[int] = (), wait_age: float | None = None) -> Backend:
    by = tuple(blocked_by)
    return Backend(
        pid,
        *([None] * 5),
        "Lock" if by else None,
        *([None] * 8),
        blocked_by=by,
        wait_age=wait_age,
    )


def shape(nodes: Sequence[BlockingNode]) -> list[tuple]:
    """(pid, [children...], flags) nested: easy to compare whole trees."""
    out = []
    for n in nodes:
        flags = ("R" if n.repeat else "") + ("C" if n.cycle else "")
        out.append(
            (n.backend.pid, shape(n.waiters), flags) if flags else (n.backend.pid, shape(n.waiters))
        )
    return out


def all_pids(nodes: Sequence[BlockingNode]) -> set[int]:
    return {n.backend.pid for n in nodes} | {p for n in nodes for p in all_pids(n.waiters)}


def test_no_waiters_no_tree() -> None:
    assert build_blocking_tree([b(1), b(2)]) == ()
    assert root_blocker_of(1, [b(1), b(2)]) is None


def test_chain_of_depth_5() -> None:
    backends = [b(10)] + [b(10 + k, [10 + k - 1]) for k in range(1, 5)]
    tree = build_blocking_tree(backends)
    assert shape(tree) == [(10, [(11, [(12, [(13, [(14, [])])])])])]
    assert tree[0].count() == 4
    assert root_blocker_of(14, backends) == 10
    assert root_blocker_of(11, backends) == 10
    assert root_blocker_of(10, backends) is None  # the root waits on no one


def test_fan_out_of_50_ordered_by_wait() -> None:
    waiters = [b(100 + i, [1], wait_age=float(i % 7)) for i in range(50)]
    tree = build_blocking_tree([b(1), *waiters])
    assert len(tree) == 1 and tree[0].count() == 50
    ages = [n.backend.wait_age for n in tree[0].waiters]
    assert ages == sorted(ages, reverse=True)  # longest wait first
    first_sixes = [n.backend.pid for n in tree[0].waiters if n.backend.wait_age == 6.0]
    assert first_sixes == sorted(first_sixes)  # ties by pid
    assert all(root_blocker_of(w.pid, [b(1), *waiters]) == 1 for w in waiters)


def test_missing_blocker_becomes_synthetic_root() -> None:
    backends = [b(20, [99]), b(21, [20])]
    tree = build_blocking_tree(backends)
    assert shape(tree) == [(99, [(20, [(21, [])])])]
    root = tree[0].backend
    assert root.pid == 99 and root.query is None and root.user is None and root.blocked_by == ()
    assert root_blocker_of(21, backends) == 99


def test_lock_queue_nests_under_the_first_waiter_not_a_staircase() -> None:
    # 5 sessions UPDATE one row held by 1: pg_blocking_pids reports the queue ahead of each.
    backends = [b(1), b(2, [1]), b(3, [2]), b(4, [2, 3]), b(5, [2, 3, 4]), b(6, [2, 3, 4, 5])]
    assert shape(build_blocking_tree(backends)) == [
        (1, [(2, [(3, []), (4, []), (5, []), (6, [])])])
    ]
    assert root_blocker_of(6, backends) == 1


def test_transitive_upstream_blocker_wins() -> None:
    # 4 waits on 1 and on 3; 3 waits on 2 which waits on 1: 4 belongs under 1.
    backends = [b(1), b(2, [1]), b(3, [2]), b(4, [1, 3])]
    assert shape(build_blocking_tree(backends)) == [(1, [(2, [(3, [])]), (4, [])])]


def also(nodes: Sequence[BlockingNode]) -> dict[int, tuple[int, ...]]:
    """pid -> the blockers its (every) occurrence names as "also blocked by"."""
    out: dict[int, tuple[int, ...]] = {}
    for n in nodes:
        if n.also_blocked_by:
            assert out.setdefault(n.backend.pid, n.also_blocked_by) == n.also_blocked_by
        for pid, pids in also(n.waiters).items():
            assert out.setdefault(pid, pids) == pids
    return out


def test_a_blocker_dropped_from_the_tree_is_named_on_its_waiter() -> None:
    # 438 holds a share lock, 590 queues for ACCESS EXCLUSIVE behind it, 1011 (an UPDATE)
    # is blocked by both: it sits under 438, and says it also waits on 590.
    backends = [b(438), b(590, [438], wait_age=9.0), b(1011, [438, 590], wait_age=3.0)]
    tree = build_blocking_tree(backends)
    assert shape(tree) == [(438, [(590, []), (1011, [])])]
    assert also(tree) == {1011: (590,)}
    # Every blocker of every waiter is either above one of its lines or named on it.
    assert also(build_blocking_tree([b(1), b(2, [1]), b(3, [2]), b(4, [1, 3])])) == {4: (3,)}


def test_the_lock_queue_names_the_sessions_queued_ahead() -> None:
    backends = [b(1), b(2, [1]), b(3, [2]), b(4, [2, 3]), b(5, [2, 3, 4]), b(6, [2, 3, 4, 5])]
    assert also(build_blocking_tree(backends)) == {4: (3,), 5: (3, 4), 6: (3, 4, 5)}


def test_independent_blockers_need_no_note() -> None:
    # 3 is drawn under both 1 and 2: nothing hidden, nothing to add.
    assert also(build_blocking_tree([b(1), b(2), b(3, [1, 2]), b(4, [3])])) == {}


def test_two_independent_blockers_show_the_waiter_under_each() -> None:
    # 1 and 2 both hold a share lock; 3 wants it exclusively; 4 waits behind 3.
    backends = [b(1), b(2), b(3, [1, 2]), b(4, [3])]
    tree = build_blocking_tree(backends)
    assert shape(tree) == [(1, [(3, [(4, [])])]), (2, [(3, [], "R")])]
    assert tree[0].count() == 2 and tree[1].count() == 1
    assert root_blocker_of(4, backends) == 1  # its first occurrence


def test_roots_ordered_by_sessions_held_up() -> None:
    backends = [b(1), b(2), b(3, [2]), b(4, [2]), b(5, [1])]
    assert [n.backend.pid for n in build_blocking_tree(backends)] == [2, 1]


def test_cycle_is_shown_once_with_flags() -> None:
    # A deadlock before deadlock_timeout breaks it: 10 -> 11 -> 12 -> 10, and 13 waits on 11.
    backends = [b(10, [11]), b(11, [12]), b(12, [10]), b(13, [11])]
    tree = build_blocking_tree(backends)
    assert shape(tree) == [(10, [(12, [(11, [(10, [], "RC"), (13, [])], "C")], "C")], "C")]
    assert all_pids(tree) == {10, 11, 12, 13}
    assert root_blocker_of(13, backends) == 10
    assert root_blocker_of(12, backends) == 10
    assert root_blocker_of(10, backends) == 11  # the representative: the one it waits on


def test_cycle_beside_a_normal_tree() -> None:
    backends = [b(1), b(2, [1]), b(7, [8]), b(8, [7])]
    tree = build_blocking_tree(backends)
    assert [n.backend.pid for n in tree] == [1, 7]
    assert not tree[0].cycle and tree[1].cycle


def test_duplicate_pids_in_blocked_by_are_merged() -> None:
    # Parallel queries can make pg_blocking_pids() list a leader twice.
    tree = build_blocking_tree([b(1), b(2, [1, 1])])
    assert shape(tree) == [(1, [(2, [])])]


def test_very_deep_chain_is_cut_but_nobody_is_lost() -> None:
    n = MAX_DEPTH + 50
    backends = [b(1)] + [b(k, [k - 1]) for k in range(2, n + 1)]
    tree = build_blocking_tree(backends)
    assert all_pids(tree) == set(range(1, n + 1))
    assert root_blocker_of(MAX_DEPTH // 2, backends, tree=tree) == 1


def test_wide_lock_queue_is_cheap_and_flat() -> None:
    # 600 sessions on one row: 180,000 blocked_by entries; must stay a 2-level tree.
    backends = [b(1), b(2, [1])] + [b(k, range(2, k)) for k in range(3, 601)]
    tree = build_blocking_tree(backends)
    assert len(tree) == 1 and len(tree[0].waiters) == 1
    assert len(tree[0].waiters[0].waiters) == 598
