"""GOSPA over time with the switching part: parity with Stone Soup's GOSPAMetric on the same
sequences, hand-computed cases, and bad input."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
from _point_tracks import random_sequence
from stonesoup.metricgenerator.ospametric import GOSPAMetric
from stonesoup.types.state import State

from fusion.errors import ConfigurationError, ShapeError
from fusion.metrics import gospa, gospa_over_time, point_sequence


def stonesoup_gospa(ti, tp, ei, ep, c: float, p: float, penalty: float) -> list[dict]:
    t0 = datetime.datetime(2026, 1, 1)
    truth_states, truth_ids, meas_states, meas_ids = [], [], [], []
    for t in range(len(ti)):
        ts = t0 + datetime.timedelta(seconds=t)
        for i, x in zip(ti[t], tp[t]):
            truth_states.append(State(np.asarray(x, float).reshape(-1, 1), timestamp=ts))
            truth_ids.append(int(i))
        for i, x in zip(ei[t], ep[t]):
            meas_states.append(State(np.asarray(x, float).reshape(-1, 1), timestamp=ts))
            meas_ids.append(int(i))
    gen = GOSPAMetric(c=c, p=p, switching_penalty=penalty)
    res = gen.compute_over_time(meas_states, meas_ids, truth_states, truth_ids)
    return [m.value for m in res.value]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("penalty", [0.0, 2.0, 7.5])
def test_parity_with_stonesoup_gospametric(seed: int, penalty: float) -> None:
    ti, tp, ei, ep = random_sequence(seed)
    c, p = 5.0, 2.0
    ours = gospa_over_time(ti, tp, ei, ep, c=c, p=p, switching_penalty=penalty)
    ref = stonesoup_gospa(ti, tp, ei, ep, c, p, penalty)
    assert len(ref) == len(ti)
    for t, r in enumerate(ref):
        assert ours.localisation[t] == pytest.approx(r["localisation"], abs=1e-9)
        assert ours.missed[t] == pytest.approx(r["missed"], abs=1e-9)
        assert ours.false[t] == pytest.approx(r["false"], abs=1e-9)
        # Stone Soup reports the switching term as penalty * switches ** (1/p): ours is in length ** p
        assert ours.switching[t] == pytest.approx(r["switching"] ** p, abs=1e-9)
        assert ours.distance[t] == pytest.approx(r["distance"], abs=1e-9)
    if penalty > 0:
        assert ours.switches.sum() >= 2  # the swap and the replaced id were seen


def test_without_switches_each_frame_is_plain_gospa() -> None:
    ti, tp, ei, ep = random_sequence(5)
    g = gospa_over_time(ti, tp, ei, ep, c=4.0, p=1.0, switching_penalty=3.0)
    for t in range(len(ti)):
        r = gospa(tp[t], ep[t], c=4.0, p=1.0)
        assert g.localisation[t] == pytest.approx(r.localisation)
        assert g.missed[t] == pytest.approx(r.missed) and g.false[t] == pytest.approx(r.false)
        assert g.distance[t] == pytest.approx(r.localisation + r.missed + r.false + g.switching[t])


def test_hand_computed_switches() -> None:
    # one object at the origin; track 1 follows it, then track 2, then none, then track 2 again
    pts = [np.zeros((1, 2))] * 5
    ti = [np.array([7])] * 5
    ei = [np.array([1]), np.array([1]), np.array([2]), np.zeros(0, np.int64), np.array([2])]
    ep = [np.array([[0.3, 0.4]]), np.array([[0.0, 0.0]]), np.array([[0.0, 1.0]]), np.zeros((0, 2)),
          np.array([[0.0, 0.0]])]
    g = gospa_over_time(ti, pts, ei, ep, c=2.0, p=2.0, switching_penalty=3.0)
    assert g.switches.tolist() == [0.0, 0.0, 1.0, 0.5, 0.5]      # full switch, lost, found again
    assert g.switching.tolist() == [0.0, 0.0, 9.0, 4.5, 4.5]     # 3 ** 2 per switch
    assert g.localisation.tolist() == pytest.approx([0.25, 0.0, 1.0, 0.0, 0.0])
    assert g.missed.tolist() == [0.0, 0.0, 0.0, 2.0, 0.0]        # c ** p / 2
    assert g.distance[2] == pytest.approx(np.sqrt(1.0 + 9.0))
    assert [a.tolist() for a in g.assigned] == [[1], [1], [2], [-1], [2]]
    m = g.mean()
    assert m["switches"] == 2.0 and m["gospa"] == pytest.approx(g.distance.mean())


def test_object_never_tracked_costs_no_switch() -> None:
    g = gospa_over_time([np.array([1])] * 3, [np.zeros((1, 2))] * 3, [np.zeros(0, np.int64)] * 3,
                        [np.zeros((0, 2))] * 3, c=1.0, switching_penalty=5.0)
    assert g.switches.sum() == 0 and g.missed.tolist() == [0.5] * 3


def test_bad_input() -> None:
    one = [np.zeros((1, 2))]
    with pytest.raises(ShapeError, match="frame 0: ids repeat"):
        gospa_over_time([np.array([1, 1])], [np.zeros((2, 2))], [np.array([1])], one)
    with pytest.raises(ShapeError, match="one entry per frame"):
        gospa_over_time([np.array([1])], one, [], [])
    with pytest.raises(ShapeError, match="est_ids: frame 0"):
        gospa_over_time([np.array([1])], one, [np.array([1, 2])], one)
    with pytest.raises(ConfigurationError, match="switching_penalty"):
        gospa_over_time([np.array([1])], one, [np.array([1])], one, switching_penalty=-1.0)
    with pytest.raises(ConfigurationError, match="c:"):
        gospa_over_time([np.array([1])], one, [np.array([1])], one, c=0.0)


def test_concurrent_calls_agree() -> None:
    import threading

    seqs = [random_sequence(s) for s in range(4)]
    ref = [gospa_over_time(*q, switching_penalty=2.0).distance for q in seqs]
    out: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        out[i] = gospa_over_time(*seqs[i], switching_penalty=2.0).distance

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(out[i], ref[i]) for i in range(4))


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"c": "5"}, ConfigurationError, "c: expected a number"),
    ({"switching_penalty": "a"}, ConfigurationError, "switching_penalty: expected a number"),
    ({"switching_penalty": True}, ConfigurationError, "switching_penalty: expected a number"),
    ({"p": 1000.0}, ConfigurationError, r"c \*\* p overflows"),
    ({"c": 1e200}, ConfigurationError, r"c \*\* p overflows"),
    ({"switching_penalty": 1e200}, ConfigurationError, r"switching_penalty \*\* p overflows"),
])
def test_bad_numbers_raise_configuration_errors(kwargs, exc, match) -> None:
    """Review: these raised bare TypeError or OverflowError (c ** p beyond the float range)."""
    ti, tp, ei, ep = [np.array([1, 2])], [np.zeros((2, 2))], [np.array([5])], [np.zeros((1, 2))]
    with pytest.raises(exc, match=match):
        gospa_over_time(ti, tp, ei, ep, **kwargs)


def test_point_sequence_and_frames_bad_input() -> None:
    ti, tp, ei, ep = [np.array([1])], [np.zeros((1, 2))], [np.array([5])], [np.zeros((1, 2))]
    with pytest.raises(ConfigurationError, match="max_distance: expected a number"):
        point_sequence(ti, tp, ei, ep, "2")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="max_distance: expected a number"):
        point_sequence(ti, tp, ei, ep, True)
    with pytest.raises(ShapeError, match="truth_ids: expected one entry per frame"):
        gospa_over_time(None, tp, ei, ep)  # type: ignore[arg-type]
