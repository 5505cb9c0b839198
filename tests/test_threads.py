"""The concurrency contract of docs/threading.md, one test (or more) per row.

Tests that could hang (a lock-order deadlock between an object's mutex and the GIL) run in a
child interpreter with a timeout, so that a regression fails instead of hanging pytest.
Each test checks results as well as liveness: serialised calls must give exactly what some
sequential order gives, and values read while another thread works must never be torn.
"""

from __future__ import annotations

import copy
import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _isolated import run_isolated

from fusion.assoc import (
    gated_assignment,
    linear_sum_assignment,
    sparse_gated_assignment,
)
from fusion.filters import (
    ExtendedKalmanFilterBank,
    KalmanFilterBank,
    UnscentedKalmanFilterBank,
)
from fusion.geometry import box_overlap
from fusion.models import CTRV, CV2D, Position2D, RadarPolar
from fusion.tracking import (
    PointTracker,
    PointTrackerConfig,
    TimestampError,
    Tracker,
    TrackerConfig,
    jpda_marginals,
    make_detections,
)

FRAME_NS = 100_000_000


def run_threads(fn, n: int, timeout: float = 120.0) -> list:
    """Starts n threads running fn(i) behind a barrier; returns their results, re-raises the
    first exception."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list = []

    def work(i):
        try:
            barrier.wait()
            results[i] = fn(i)
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            errors.append(e)

    ts = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout)
        assert not t.is_alive(), "worker thread did not finish"
    if errors:
        raise errors[0]
    return results


# ---------------------------------------------------------------- PointTracker: polling

def test_point_tracker_polled_by_a_monitor_thread_while_stepping():
    """Row PointTracker: stats(), association_probabilities(), num_tracks and last_t_ns polled
    in a tight loop from a monitoring thread while the main thread steps 2,100 JPDA frames.
    Used to hang (the poll held the GIL waiting for the mutex; the step held the mutex waiting
    for the GIL). Every polled value must equal the value after some complete step (never
    torn), and the main thread's outputs must be those of an unobserved run."""
    r = run_isolated("""
        import json, sys, threading
        import numpy as np
        sys.setswitchinterval(1e-5)  # hand the GIL over often: many polls between steps
        from fusion.datasets.point_targets import simulate_point_targets
        from fusion.tracking import PointTracker, PointTrackerConfig
        scen = simulate_point_targets(12, 2100, seed=4, spacing=12.0, clutter_density=2e-3)
        cfg = PointTrackerConfig(association="jpda", sigma_meas=scen.sigma_meas, sigma_a=0.5,
                                 prob_detection=scen.prob_detection, clutter_density=scen.clutter_density,
                                 init_speed_sigma=6.0, max_tracks=256, max_measurements=256)
        def snap(trk):
            st = tuple(sorted(trk.stats().items()))
            return st, trk.association_probabilities().tobytes(), trk.num_tracks
        ref = PointTracker(cfg)
        ref_out, ref_stats, ref_probs, ref_n = [], set(), set(), set()
        s0 = snap(ref)
        ref_stats.add(s0[0]); ref_probs.add(s0[1]); ref_n.add(s0[2])
        for t, z in zip(scen.t_ns, scen.measurements):
            ref_out.append(ref.step(z, int(t)).tobytes())
            s = snap(ref)
            ref_stats.add(s[0]); ref_probs.add(s[1]); ref_n.add(s[2])
        times = {None} | {int(t) for t in scen.t_ns}

        trk = PointTracker(cfg)
        done = threading.Event()
        polls = {"n": 0, "bad_stats": 0, "bad_probs": 0, "bad_n": 0, "bad_t": 0, "nonempty_probs": 0}
        def monitor():
            while not done.is_set():
                st = tuple(sorted(trk.stats().items()))
                pr = trk.association_probabilities().tobytes()
                n = trk.num_tracks
                t = trk.last_t_ns
                polls["n"] += 1
                polls["bad_stats"] += st not in ref_stats
                polls["bad_probs"] += pr not in ref_probs
                polls["nonempty_probs"] += len(pr) > 0
                polls["bad_n"] += n not in ref_n
                polls["bad_t"] += t not in times
        mon = threading.Thread(target=monitor, daemon=True)
        mon.start()
        outs = [trk.step(z, int(t)).tobytes() for t, z in zip(scen.t_ns, scen.measurements)]
        done.set()
        mon.join(30)
        polls["monitor_alive"] = mon.is_alive()
        polls["outputs_equal"] = outs == ref_out
        polls["frames"] = len(outs)
        polls["max_clusters"] = max(dict(s)["clusters"] for s in ref_stats)
        print(json.dumps(polls))
    """)
    assert r["frames"] == 2100
    assert not r["monitor_alive"]
    assert r["outputs_equal"]
    assert r["n"] >= 200, r  # the monitor really ran during the steps
    assert r["nonempty_probs"] > 0 and r["max_clusters"] > 0
    assert (r["bad_stats"], r["bad_probs"], r["bad_n"], r["bad_t"]) == (0, 0, 0, 0), r


# ---------------------------------------------------------------- reset racing step

_RESET_RACE = """
    import json, random, threading
    import numpy as np
    KIND = {kind!r}
    rng = np.random.default_rng(7)
    # Scenes big enough for a step to take about a millisecond: the resetting thread is then
    # scheduled, and its reset() issued, while the main thread is inside step().
    n_frames = 60
    if KIND == "Tracker":
        from fusion.tracking import ClassConfig, Tracker, TrackerConfig, make_detections
        N = 200
        cfg = TrackerConfig(default=ClassConfig(cost="distance", gate=2.0, min_hits=2, r_pos=0.05),
                            max_tracks=4 * N, max_detections=4 * N)
        make = lambda: Tracker(cfg)
        starts = rng.uniform(-400, 400, (N, 2)); vel = rng.normal(0, 3, (N, 2))
        frames = []
        for f in range(n_frames):
            xy = starts + vel * 0.1 * f + rng.normal(0, 0.1, (N, 2))
            keep = rng.random(N) < 0.9
            boxes = np.column_stack([xy[keep], np.full((keep.sum(), 5), [0.8, 0.0, 4.0, 1.8, 1.6])])
            frames.append(make_detections(boxes, 2, 5.0))
    else:
        from fusion.datasets.point_targets import simulate_point_targets
        from fusion.tracking import PointTracker, PointTrackerConfig
        N = 1500
        scen = simulate_point_targets(N, n_frames, seed=3, spacing=15.0)
        cfg = PointTrackerConfig(association="jpda", sigma_meas=scen.sigma_meas, max_tracks=4 * N,
                                 max_measurements=4 * N)
        make = lambda: PointTracker(cfg)
        frames = scen.measurements
    ts = [f * 100_000_000 for f in range(n_frames)]

    def run(trk, idx):
        return [trk.step(frames[i], ts[i]).tobytes() for i in idx]

    ref = run(make(), range(n_frames))
    fresh_cache = {{}}
    def fresh(k):  # a new tracker fed frames k.. (with their original timestamps)
        if k not in fresh_cache:
            fresh_cache[k] = run(make(), range(k, n_frames))
        return fresh_cache[k]

    trials, mid, bad = 12, 0, []
    for trial in range(trials):
        trk = make()
        go = threading.Event()
        r_at = random.Random(trial).randrange(3, 20)
        def resetter():
            go.wait()
            trk.reset()
        th = threading.Thread(target=resetter, daemon=True)
        th.start()
        outs = []
        for i in range(n_frames):
            if i == r_at:
                go.set()  # the reset now races the next steps
            outs.append(trk.step(frames[i], ts[i]).tobytes())
        th.join(30)
        if th.is_alive():
            bad.append((trial, "reset thread stuck"))
            continue
        # Find the frame k before which the reset took effect: outputs before k are the
        # uninterrupted run's, outputs from k on those of a fresh tracker fed frames k..;
        # k == n_frames: the reset came after the last step (the tracker is then empty).
        k = next((i for i in range(n_frames) if outs[i] != ref[i]), n_frames)
        ok = False
        for j in range(k, -1, -1):
            if outs[:j] == ref[:j] and (j == n_frames or outs[j:] == fresh(j)):
                ok = True
                break
        if k == n_frames:
            ok = ok and trk.num_tracks == 0 and trk.last_t_ns is None
        if not ok:
            bad.append((trial, k))
        mid += 0 < k < n_frames
    print(json.dumps({{"bad": bad, "mid": mid, "trials": trials}}))
"""


@pytest.mark.parametrize("kind", ["Tracker", "PointTracker"])
def test_reset_racing_step_is_clean_and_never_hangs(kind):
    """Rows Tracker / PointTracker: reset() from a second thread while the main thread steps.
    Used to hang. Each reset lands cleanly between two steps: the outputs before it are the
    uninterrupted run's, and from the next step on they equal a fresh tracker's fed the same
    remaining frames."""
    r = run_isolated(_RESET_RACE.format(kind=kind))
    assert r["bad"] == []
    assert r["mid"] >= r["trials"] // 2, r  # most resets really landed mid-run


# ---------------------------------------------------------------- concurrent steps

def _tracker_and_input(kind):
    if kind == "Tracker":
        boxes = [[x, y, 0.8, 0.0, 4.0, 1.8, 1.6] for x, y in ((0, 0), (10, 3), (-8, 12), (20, -15))]
        return Tracker(TrackerConfig(max_tracks=16, max_detections=16)), make_detections(boxes, 2, 5.0)
    z = np.array([[0.0, 0.0], [10.0, 3.0], [-8.0, 12.0], [20.0, -15.0]])
    return PointTracker(PointTrackerConfig(association="jpda", max_tracks=16, max_measurements=16)), z


@pytest.mark.parametrize("kind", ["Tracker", "PointTracker"])
def test_concurrent_steps_on_one_tracker_are_serialised(kind):
    """Rows Tracker / PointTracker: four threads step ONE tracker at once, 60 steps each, all
    with the same input at t = 0 (equal timestamps are allowed and identical steps make the
    order irrelevant). If each step is atomic, the 240 outputs are exactly the 240 states of
    a sequential run, each once (told apart by the tracks' age)."""
    threads, per_thread = 4, 60
    ref_trk, inp = _tracker_and_input(kind)
    ref = [ref_trk.step(inp, 0).tobytes() for _ in range(threads * per_thread)]
    assert len(set(ref)) == len(ref)  # every sequential state is distinct
    trk, _ = _tracker_and_input(kind)
    outs = run_threads(lambda i: [trk.step(inp, 0).tobytes() for _ in range(per_thread)], threads)
    got = [o for chunk in outs for o in chunk]
    assert sorted(got) == sorted(ref)
    for chunk in outs:  # each thread sees its own steps in order
        idx = [ref.index(o) for o in chunk]
        assert idx == sorted(idx)
    assert trk.num_tracks == ref_trk.num_tracks


@pytest.mark.parametrize("kind", ["Tracker", "PointTracker"])
def test_unordered_concurrent_steps_raise_timestamp_error_only(kind):
    """Rows Tracker / PointTracker, 'not allowed': threads stepping one tracker with their own
    timestamps race; a step the lock admits after a later one is refused with TimestampError
    (the C++ check is authoritative, a Python-side pre-check alone would be a race), never
    another error, and the tracker's time is the largest accepted timestamp."""
    trk, inp = _tracker_and_input(kind)
    accepted: list[int] = []
    refused: list[BaseException] = []

    def work(i):
        for k in range(200):
            t = (k * 4 + i) * 1000
            try:
                trk.step(inp, t)
                accepted.append(t)
            except Exception as e:  # noqa: BLE001 - classified below
                refused.append(e)

    run_threads(work, 4)
    assert all(type(e) is TimestampError for e in refused), {type(e).__name__ for e in refused}
    assert len(accepted) + len(refused) == 800 and accepted
    assert trk.last_t_ns == max(accepted)


@pytest.mark.parametrize("kind", ["Tracker", "PointTracker"])
def test_tracker_outputs_are_copies_owned_by_the_caller(kind):
    """Rows Tracker / PointTracker, 'outputs': a returned array is never overwritten by a
    later step (in this thread or another)."""
    trk, inp = _tracker_and_input(kind)
    a = trk.step(inp, 0)
    # the bytes themselves: a.copy() would not copy the record padding (no field covers it)
    # and compare the copy's uninitialised padding
    keep = a.tobytes()
    run_threads(lambda i: [trk.step(inp, 0) for _ in range(20)], 2)
    trk.reset()
    assert a.tobytes() == keep
    assert a.base is not None and a.base.flags.owndata  # its own buffer, not a view of C++ storage


@pytest.mark.parametrize("kind", ["Tracker", "PointTracker"])
def test_copy_is_atomic_while_another_thread_steps(kind):
    """Rows Tracker / PointTracker, copy: copy.copy() taken while another thread steps is the
    state after some complete step: stepping the copy and an uninterrupted tracker from that
    point gives the same output."""
    ref_trk, inp = _tracker_and_input(kind)
    ref_states = [ref_trk.step(inp, 0).tobytes() for _ in range(400)]
    trk, _ = _tracker_and_input(kind)
    copies = []

    def stepper(i):
        if i == 0:
            for _ in range(300):
                trk.step(inp, 0)
        else:
            for _ in range(50):
                copies.append(copy.copy(trk))

    run_threads(stepper, 2)
    assert len(copies) == 50
    for c in copies:
        assert c.step(inp, 0).tobytes() in ref_states


# ---------------------------------------------------------------- filter banks

BANKS = [
    (KalmanFilterBank, CV2D(sigma_a=1.5), Position2D(), 200_000),
    (ExtendedKalmanFilterBank, CTRV(sigma_a=1.0, sigma_yawdd=0.3), RadarPolar(), 50_000),
    (UnscentedKalmanFilterBank, CTRV(sigma_a=1.0, sigma_yawdd=0.3), RadarPolar(), 20_000),
]


def _bank(cls, motion, sensor, n, seed=0):
    """A bank of n filters in a seeded random state, and one measurement per filter."""
    rng = np.random.default_rng(seed)
    bank = cls(motion, sensor, size=n)
    dim_x, dim_z = bank.dim_x, bank.dim_z
    x = rng.normal(0, 1, (n, dim_x))
    x[:, :2] += rng.uniform(20, 60, (n, 2))  # away from the radar's singular origin
    A = rng.normal(0, 0.3, (n, dim_x, dim_x))
    bank.x = x
    bank.P = A @ np.swapaxes(A, 1, 2) + 0.5 * np.eye(dim_x)
    if dim_z == 2:
        bank.R = 0.1 * np.eye(2)
        z = x[:, :2] + 0.4
    else:
        bank.R = np.diag([0.25, 1e-4, 0.09])
        z = np.column_stack([np.hypot(x[:, 0], x[:, 1]) + 0.3, np.arctan2(x[:, 1], x[:, 0]) + 0.01, x[:, 2]])
    return bank, z


@pytest.mark.parametrize("cls,motion,sensor,n", BANKS, ids=lambda v: getattr(v, "__name__", None))
def test_bank_two_threads_predict_update_equal_sequential(cls, motion, sensor, n):
    """Rows for the three banks: two threads each call predict 6 times, then update 6 times
    (same z), on ONE bank. Identical calls commute, so if every call is atomic the result is
    exactly (bit for bit) the sequential 12 predicts and 12 updates, for every filter. (Without
    the per-bank lock, 69 of 200,000 covariances came out different.)"""
    ref, z = _bank(cls, motion, sensor, n)
    bank, _ = _bank(cls, motion, sensor, n)
    for _ in range(12):
        ref.predict(0.1)
    for _ in range(12):
        ref.update(z)

    def work(i):
        for _ in range(6):
            bank.predict(0.1)

    run_threads(work, 2)

    def work_u(i):
        for _ in range(6):
            bank.update(z)

    run_threads(work_u, 2)
    assert np.array_equal(bank.x, ref.x)
    assert np.array_equal(bank.P, ref.P)
    assert np.array_equal(bank.nis, ref.nis) and np.array_equal(bank.status, ref.status)


@pytest.mark.parametrize("cls,motion,sensor,n", BANKS, ids=lambda v: getattr(v, "__name__", None))
def test_bank_setters_and_copy_are_atomic(cls, motion, sensor, n):
    """Rows for the banks: the x/P setters and copy are serialised with each other and with
    predict: a thread assigning all-1 and all-2 states alternately while another copies the
    bank never yields a copy with a mix of both."""
    bank, _ = _bank(cls, motion, sensor, n)
    dim_x = bank.dim_x
    ones, twos = np.ones((n, dim_x)), np.full((n, dim_x), 2.0)
    bank.x, bank.P = ones, np.eye(dim_x)
    snaps = []

    def work(i):
        if i == 0:
            for k in range(30):
                bank.x = ones if k % 2 else twos
                bank.P = (1.0 + k % 2) * np.eye(dim_x)
        else:
            for _ in range(30):
                c = copy.copy(bank)
                snaps.append((np.unique(c.x), np.unique(c.P[:, 0, 0])))

    run_threads(work, 2)
    for xs, ps in snaps:
        assert len(xs) == 1, xs  # never torn: one whole assignment or the other
        assert len(ps) == 1, ps


def test_bank_R_replaced_while_another_thread_updates():
    """Row 'bank.R': replacing R while another thread updates is atomic: each update uses one
    whole R for every filter (the NIS of all filters matches R1's or R2's), and R cannot be
    written in place."""
    n = 20_000
    rng = np.random.default_rng(3)
    bank = KalmanFilterBank(CV2D(sigma_a=1.0), Position2D(), size=n)
    x0, z = rng.normal(0, 5, (n, 4)), rng.normal(0, 5, (n, 2))
    R1, R2 = np.diag([0.1, 0.2]), np.diag([3.0, 5.0])
    want = []
    for R in (R1, R2):
        bank.x, bank.P, bank.R = x0, np.eye(4), R
        bank.update(z)
        want.append(bank.nis.copy())
    assert not np.array_equal(want[0], want[1])
    with pytest.raises(ValueError):
        bank.R[0, 0] = 1.0
    seen = []

    def work(i):
        for k in range(40):
            if i == 0:
                bank.x, bank.P = x0, np.eye(4)  # only this thread touches x, P and nis
                bank.update(z)
                seen.append(bank.nis.copy())
            else:
                bank.R = R1 if k % 2 else R2

    run_threads(work, 2)
    for nis in seen:
        assert np.array_equal(nis, want[0]) or np.array_equal(nis, want[1])


def test_bank_views_read_while_stepping_and_skipped_counter():
    """Row 'views': reading bank.x while another thread steps is allowed (no crash, no lock);
    it may see a partly updated state. The Python-side `skipped` counter is exact under
    concurrent updates with on_invalid='skip'."""
    n = 2000
    bank = ExtendedKalmanFilterBank(CV2D(sigma_a=1.0), RadarPolar(), size=n, on_invalid="skip",
                                    R=np.diag([0.25, 1e-4, 0.09]))
    bank.x = np.zeros(4)  # every filter at the radar's origin: each update fails (status 3)
    z = np.tile([10.0, 0.1, 0.0], (n, 1))
    stop = threading.Event()
    reads = []

    def reader():
        while not stop.is_set():
            reads.append(float(bank.x.sum()))

    rd = threading.Thread(target=reader, daemon=True)
    rd.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        run_threads(lambda i: [bank.update(z) for _ in range(25)], 4)
    stop.set()
    rd.join(10)
    assert not rd.is_alive() and reads
    assert bank.skipped == 4 * 25 * n


# ---------------------------------------------------------------- pure functions

def test_assignment_geometry_and_jpda_functions_run_concurrently():
    """Rows 'assignment functions', 'geometry functions', 'jpda_marginals': stateless, GIL
    released; four threads calling them at once get exactly the sequential results."""
    rng = np.random.default_rng(2)
    costs = [rng.random((300, 280)) for _ in range(4)]
    boxes = [np.column_stack([rng.uniform(-20, 20, (400, 2)), np.full(400, 0.8), rng.uniform(-3, 3, 400),
                              np.full((400, 3), [4.0, 1.8, 1.6])]) for _ in range(4)]
    W = [np.where(rng.random((14, 14)) < 0.4, rng.uniform(0.5, 5, (14, 14)), 0.0) for _ in range(4)]

    def work(i):
        out = []
        for _ in range(3):
            c = costs[i]
            r, cc = linear_sum_assignment(c)
            g = gated_assignment(c, 0.3)
            s = sparse_gated_assignment(sp.csr_matrix(np.where(c < 0.5, c, 0.0)), 0.3)
            ov = box_overlap("giou_3d", boxes[i], boxes[i])
            jb, jb0, used = jpda_marginals(W[i], np.full(14, 0.2))
            out.append((r.tobytes(), cc.tobytes(), g.row_ind.tobytes(), g.col_ind.tobytes(),
                        s.row_ind.tobytes(), ov.tobytes(), jb.tobytes(), jb0.tobytes(), used))
        return out

    seq = [work(i) for i in range(4)]
    par = run_threads(work, 4)
    assert par == seq
