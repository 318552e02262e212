"""The decision timeline scores each sample against the decision acting when the next is taken."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.sim.decisions import FN, FP, TN, TP, DecisionTimeline


def test_delivery_before_next_sample_counts_after_does_not():
    tl = DecisionTimeline(2)
    # Node 0: positive truth, decision 1 arrives at 5 s, next sample at 10 s -> TP.
    # Node 1: positive truth, decision 1 arrives at 12 s, next sample at 10 s -> FN.
    tl.deliver(np.array([0, 1]), np.array([5.0, 12.0]), np.array([0, 0]), np.array([1, 1]))
    tl.query(np.array([0, 1]), np.array([10.0, 10.0]), np.array([1, 1]))
    tl.resolve(20.0)
    assert tl.confusion[0, TP] == 1 and tl.confusion[1, FN] == 1
    assert tl.acting.tolist() == [1, 1]


def test_ties_delivery_first_and_newest_sample_wins():
    tl = DecisionTimeline(1)
    # Two decisions delivered in the same instant: the one about the later sample acts.
    tl.deliver(np.array([0, 0]), np.array([3.0, 3.0]), np.array([7, 6]), np.array([0, 1]))
    tl.query(np.array([0]), np.array([3.0]), np.array([0]))
    tl.resolve(3.0, inclusive=True)
    assert tl.confusion[0, TN] == 1 and tl.acting[0] == 0


def test_unresolved_entries_wait():
    tl = DecisionTimeline(1)
    tl.deliver(np.array([0]), np.array([5.0]), np.array([0]), np.array([1]))
    tl.query(np.array([0]), np.array([6.0]), np.array([0]))
    tl.resolve(5.0)  # exclusive: nothing at 5 s yet
    assert tl.confusion.sum() == 0 and tl.acting[0] == 0
    tl.resolve(6.0)
    assert tl.acting[0] == 1 and tl.confusion.sum() == 0
    tl.resolve(6.0, inclusive=True)
    assert tl.confusion[0, FP] == 1


events = st.lists(
    st.tuples(
        st.booleans(),
        st.integers(0, 3),
        st.floats(0, 100, allow_nan=False),
        st.integers(0, 1),
        st.integers(0, 50),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(events, st.lists(st.floats(0, 100, allow_nan=False), max_size=5))
def test_any_resolution_schedule_gives_the_same_counts(evs, cuts):
    """Resolving in pieces (as batches do) equals one resolution, and a naive replay."""

    def run(cut_points):
        tl = DecisionTimeline(4)
        for is_q, node, t, v, k in evs:
            n_, t_ = np.array([node]), np.array([t])
            if is_q:
                tl.query(n_, t_, np.array([v]))
            else:
                tl.deliver(n_, t_, np.array([k]), np.array([v]))
        for c in sorted(cut_points):
            tl.resolve(c)
        tl.resolve(np.inf)
        return tl.confusion.copy(), tl.acting.copy()

    a, acting_a = run([])
    b, acting_b = run(cuts)
    assert np.array_equal(a, b) and np.array_equal(acting_a, acting_b)
    # Naive replay: per node, deliveries sorted by (time, k) before queries at equal times.
    ref = np.zeros((4, 4), dtype=np.int64)
    for node in range(4):
        mine = [e for e in evs if e[1] == node]
        mine.sort(key=lambda e: (e[2], e[0], 0 if e[0] else e[4]))
        state = 0
        for is_q, _, _, v, _ in mine:
            if is_q:
                cell = (TP if state else FN) if v else (FP if state else TN)
                ref[node, cell] += 1
            else:
                state = v
    assert np.array_equal(a, ref)
