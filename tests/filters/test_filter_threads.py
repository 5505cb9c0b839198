"""Threads on one Python-level filter (EKF, UKF, IMM): public mutating calls are serialised on
a per-object re-entrant lock, so two threads hammering one object end in exactly the state a
sequential run of the same calls (in the order they took the lock) gives; the lock survives
filterpy's Saver (deepcopy of ``__dict__``) and pickling."""

from __future__ import annotations

import contextlib
import copy
import pickle
import sys
import threading
import time

import numpy as np
import pytest
from filterpy.common import Saver

from fusion.filters import (
    ExtendedKalmanFilter,
    IMMEstimator,
    MerweScaledSigmaPoints,
    UnscentedKalmanFilter,
)
from fusion.filters._common import FilterLock, serialised

STEPS = 300
LEVEL = 2.0


# ------------------------------------------------------------------ models (module level: picklable)
def counter_fx(x, dt):
    """x = (count, level): count += dt. Yields the GIL so that, without the lock, another
    thread's call runs in the middle of this one."""
    time.sleep(0)
    return np.array([x[0] + dt, x[1]])


def level_hx(x):
    time.sleep(0)
    return np.array([x[1]])


H_LEVEL = np.array([[0.0, 1.0]])


def level_jacobian(x):
    time.sleep(0)
    return H_LEVEL


def level_hx_col(x):
    time.sleep(0)
    return H_LEVEL @ x


class RecordingUKF(UnscentedKalmanFilter):
    """Records each completed call while still holding the filter's lock, so the record is
    the order in which the calls really ran."""

    def __init__(self, R=1.0):
        super().__init__(2, 1, 1.0, hx=level_hx, fx=counter_fx, points=MerweScaledSigmaPoints(2, 0.5, 2.0, 1.0))
        self.x = np.array([0.0, LEVEL])
        # Two updates in a row reuse the prior's sigma points (filterpy's UKF semantics), which
        # keeps P positive definite only while the level variance stays below R: start small.
        self.P = np.diag([1.0, 0.1])
        self.Q = np.diag([0.0, 1e-3])
        self.R = np.eye(1) * R
        self.calls = []

    @serialised
    def predict(self, *args, **kwargs):
        super().predict(*args, **kwargs)
        self.calls.append(("predict", args, kwargs))

    @serialised
    def update(self, z, *args, **kwargs):
        super().update(z, *args, **kwargs)
        self.calls.append(("update", (z,) + args, kwargs))


class RecordingEKF(ExtendedKalmanFilter):
    def __init__(self):
        super().__init__(2, 1, 1)
        self.x = np.array([[0.0], [LEVEL]])
        self.B = np.array([[1.0], [0.0]])
        self.Q = np.diag([0.0, 1e-3])
        self.calls = []

    @serialised
    def predict(self, u=0):
        super().predict(u)
        self.calls.append(("predict", (u,), {}))

    @serialised
    def update(self, z, *args, **kwargs):
        super().update(z, level_jacobian, level_hx_col)
        self.calls.append(("update", (z,), {}))


class RecordingIMM(IMMEstimator):
    def __init__(self):
        filters = [RecordingUKF(R=0.5), RecordingUKF(R=4.0)]
        super().__init__(filters, [0.5, 0.5], [[0.9, 0.1], [0.1, 0.9]])
        self.calls = []

    @serialised
    def predict(self, u=None):
        super().predict(u)
        self.calls.append(("predict", (), {}))

    @serialised
    def update(self, z):
        super().update(z)
        self.calls.append(("update", (z,), {}))


def _replay(fresh, calls):
    for name, args, kwargs in calls:
        if isinstance(fresh, RecordingEKF) and name == "predict":
            fresh.predict(*args)
        else:
            getattr(fresh, name)(*args, **kwargs)
    return fresh


@contextlib.contextmanager
def _frequent_thread_switches():
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def _hammer(target, step, n_threads=2, steps=STEPS, extra=None):
    """n_threads threads each run step(target, thread_index, k) for k < steps."""
    errors = []
    barrier = threading.Barrier(n_threads + (extra is not None))

    def run(i):
        try:
            barrier.wait()
            for k in range(steps):
                step(target, i, k)
        except BaseException as e:  # noqa: BLE001 -- reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    with _frequent_thread_switches():
        for t in threads:
            t.start()
        if extra is not None:
            barrier.wait()
            while any(t.is_alive() for t in threads):
                extra()
        for t in threads:
            t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


def _ukf_step(f, i, k):
    f.predict()
    f.update(np.array([LEVEL + (0.3 if i else -0.2) * np.sin(k)]))


def _ekf_step(f, i, k):
    f.predict(1.0)
    f.update(np.array([[LEVEL + (0.3 if i else -0.2) * np.sin(k)]]))


# ------------------------------------------------------------------ the contract
def test_two_threads_on_one_ukf_equal_the_sequential_run_of_their_calls():
    ukf = RecordingUKF()
    _hammer(ukf, _ukf_step)
    assert len(ukf.calls) == 4 * STEPS
    assert ukf.x[0] == pytest.approx(2 * STEPS, abs=1e-6)  # no prediction was lost
    seq = _replay(RecordingUKF(), ukf.calls)
    np.testing.assert_array_equal(ukf.x, seq.x)
    np.testing.assert_array_equal(ukf.P, seq.P)
    np.testing.assert_array_equal(ukf.sigmas_f, seq.sigmas_f)
    assert ukf.log_likelihood == seq.log_likelihood


def test_two_threads_on_one_ekf_equal_the_sequential_run_of_their_calls():
    ekf = RecordingEKF()
    _hammer(ekf, _ekf_step)
    assert len(ekf.calls) == 4 * STEPS
    assert ekf.x[0, 0] == 2 * STEPS  # integer increments: exact
    seq = _replay(RecordingEKF(), ekf.calls)
    np.testing.assert_array_equal(ekf.x, seq.x)
    np.testing.assert_array_equal(ekf.P, seq.P)


def test_two_threads_on_one_imm_equal_the_sequential_run_of_their_calls():
    imm = RecordingIMM()
    _hammer(imm, _ukf_step, steps=150)
    assert len(imm.calls) == 4 * 150
    for f in imm.filters:
        assert f.x[0] == pytest.approx(300, abs=1e-6)
    seq = _replay(RecordingIMM(), imm.calls)
    np.testing.assert_array_equal(imm.x, seq.x)
    np.testing.assert_array_equal(imm.P, seq.P)
    np.testing.assert_array_equal(imm.mu, seq.mu)
    for a, b in zip(imm.filters, seq.filters):
        np.testing.assert_array_equal(a.x, b.x)


def test_without_the_lock_the_same_hammer_loses_predictions():
    """Control: the hammer above can fail. With the lock replaced by a no-op, calls
    interleave and predictions are lost (or the run breaks)."""
    lost = False
    for _ in range(3):
        ukf = RecordingUKF()
        ukf._lock = contextlib.nullcontext()
        try:
            _hammer(ukf, _ukf_step)
        except Exception:  # noqa: BLE001 -- a crash is also a detected race
            lost = True
            break
        if abs(ukf.x[0] - 2 * STEPS) > 0.5:
            lost = True
            break
    assert lost, "two unlocked threads never interleaved: the hammer tests prove nothing"


def test_a_call_waits_for_the_call_in_progress():
    """Deterministic: while one thread is inside predict (fx blocked on an event), another
    thread's update does not start; it runs once predict has finished."""
    inside, release = threading.Event(), threading.Event()
    order = []

    def slow_fx(x, dt):
        inside.set()
        assert release.wait(10)
        order.append("fx")
        return np.array([x[0] + dt, x[1]])

    def hx(x):
        order.append("hx")
        return np.array([x[1]])

    ukf = UnscentedKalmanFilter(2, 1, 1.0, hx=hx, fx=slow_fx, points=MerweScaledSigmaPoints(2, 0.5, 2.0, 1.0))
    t1 = threading.Thread(target=ukf.predict)
    t1.start()
    assert inside.wait(10)
    t2 = threading.Thread(target=ukf.update, args=([0.5],))
    t2.start()
    t2.join(0.3)
    assert t2.is_alive() and "hx" not in order  # blocked behind predict
    release.set()
    t1.join(10)
    t2.join(10)
    assert order == ["fx"] * 5 + ["hx"] * 5


def test_callbacks_may_reenter_the_filter():
    """The lock is re-entrant: hx may read the filter and fx may call its methods."""
    box = {}

    def hx(x):
        return np.array([x[0] + 0 * box["kf"].x[0]])

    def fx(x, dt):
        box["kf"].cross_variance(box["kf"].x, np.zeros(1), box["kf"].sigmas_f, box["kf"].sigmas_h)
        return x

    kf = UnscentedKalmanFilter(2, 1, 1.0, hx=hx, fx=fx, points=MerweScaledSigmaPoints(2, 0.5, 2.0, 1.0))
    box["kf"] = kf
    kf.predict()
    kf.update([0.1])
    kf.batch_filter([[0.2], None, [0.3]])


# ------------------------------------------------------------------ Saver, deepcopy, pickle
def test_saver_works_while_threads_run_and_after():
    ukf = RecordingUKF()
    ukf.predict()
    ukf.update([LEVEL])  # z is a float array from here on (before, filterpy's None column)
    saver = Saver(ukf, ignore=("calls",))  # the test's own call record is not filter state
    _hammer(ukf, _ukf_step, steps=100, extra=saver.save)
    saver.save()
    assert len(saver) >= 2
    assert all(isinstance(lock, FilterLock) and lock is not ukf._lock for lock in saver._lock)
    saver.to_array()
    assert saver.x[-1][0] == pytest.approx(201, abs=1e-6)


def test_deepcopy_and_pickle_while_another_thread_holds_the_lock():
    ukf = RecordingUKF()
    ukf.predict()
    ukf.update([LEVEL])
    held, done = threading.Event(), threading.Event()

    def hold():
        with ukf._lock:
            held.set()
            done.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    assert held.wait(10)
    try:
        d = copy.deepcopy(ukf.__dict__)  # what filterpy's Saver does: must not block or copy a held lock
        assert isinstance(d["_lock"], FilterLock) and d["_lock"] is not ukf._lock
        assert d["_lock"].acquire(blocking=False)
        d["_lock"].release()
        # pickling and deepcopy of the object itself wait for the call in progress (they are
        # serialised like a step: a snapshot from the middle of a step would be torn)
        got: dict = {}
        copier = threading.Thread(target=lambda: got.update(
            clone=pickle.loads(pickle.dumps(ukf)), twin=copy.deepcopy(ukf), shallow=copy.copy(ukf)))
        copier.start()
        copier.join(0.3)
        assert copier.is_alive() and not got  # still waiting for the holder
    finally:
        done.set()
        t.join(10)
    copier.join(60)
    assert not copier.is_alive()
    clone, twin, shallow = got["clone"], got["twin"], got["shallow"]
    assert clone._lock.acquire(blocking=False)
    clone._lock.release()
    # a shallow copy shares the arrays (as filterpy's) but not the lock
    assert shallow.x is ukf.x and shallow._lock is not ukf._lock and twin._lock is not ukf._lock
    # the copies filter on exactly as the original does
    for f in (ukf, clone, twin):
        f.predict()
        f.update([LEVEL + 0.1])
    np.testing.assert_array_equal(clone.x, ukf.x)
    np.testing.assert_array_equal(twin.P, ukf.P)


def test_ekf_and_imm_pickle_round_trip():
    ekf = RecordingEKF()
    ekf.predict(1.0)
    ekf.update(np.array([[LEVEL]]))
    e2 = pickle.loads(pickle.dumps(ekf))
    assert isinstance(e2._lock, FilterLock) and e2._lock is not ekf._lock
    for f in (ekf, e2):
        f.predict(1.0)
        f.update(np.array([[LEVEL + 0.2]]))
    np.testing.assert_array_equal(e2.x, ekf.x)
    imm = RecordingIMM()
    imm.predict()
    imm.update(np.array([LEVEL]))
    i2 = copy.deepcopy(imm)
    for f in (imm, i2):
        f.predict()
        f.update(np.array([LEVEL - 0.1]))
    np.testing.assert_array_equal(i2.x, imm.x)
    np.testing.assert_array_equal(i2.mu, imm.mu)


def test_object_without_a_lock_gets_one():
    """An object built without __init__ (e.g. unpickled from an older version) still locks."""
    ukf = RecordingUKF()
    state = dict(ukf.__dict__)
    del state["_lock"]
    bare = RecordingUKF.__new__(RecordingUKF)
    bare.__dict__.update(state)
    bare.predict()
    assert isinstance(bare.__dict__["_lock"], FilterLock)


def test_pure_python_fallback_lock(monkeypatch):
    """Without _thread.RLock (other interpreters) FilterLock wraps threading.RLock and keeps
    the same contract: re-entrant, fresh on deepcopy and pickle."""
    import importlib.util
    import types

    from fusion.filters import _common

    monkeypatch.setitem(sys.modules, "_thread", types.ModuleType("_thread"))
    spec = importlib.util.spec_from_file_location("_fusion_common_fallback", _common.__file__)
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "_fusion_common_fallback", mod)
    spec.loader.exec_module(mod)
    assert mod.FilterLock.__mro__[1] is mod._PyRLock
    lock = mod.FilterLock()
    with lock, lock:  # re-entrant
        twin = copy.deepcopy(lock)
        assert twin is not lock and twin.acquire(blocking=False)
        twin.release()
        clone = pickle.loads(pickle.dumps(lock))
        assert isinstance(clone, mod.FilterLock) and clone.acquire(blocking=False)
        clone.release()
        other = []
        t = threading.Thread(target=lambda: other.append(lock.acquire(blocking=False)))
        t.start()
        t.join()
        assert other == [False]  # held by this thread


def test_imm_deepcopy_holds_the_lock_while_copying_its_filters():
    """Review: IMMEstimator's snapshot was taken under its lock but its filters were deep-copied
    after the lock was released, so a predict starting in between could pair the copy's mu and
    x with filters already stepped. Now a predict waits until the whole copy is done."""
    from fusion.filters import KalmanFilter

    copying, proceed = threading.Event(), threading.Event()

    class SlowCopyKF(KalmanFilter):
        def __deepcopy__(self, memo):
            copying.set()
            assert proceed.wait(10)
            return KalmanFilter.__copy__(self)  # (shares arrays: enough for this check)

    filters = []
    for cls, q in ((SlowCopyKF, 0.01), (KalmanFilter, 1.0)):
        f = cls(dim_x=2, dim_z=1)
        f.F = np.array([[1.0, 1.0], [0.0, 1.0]])
        f.H = np.array([[1.0, 0.0]])
        f.Q = np.eye(2) * q
        f.x = np.array([[0.0], [1.0]])
        filters.append(f)
    imm = IMMEstimator(filters, [0.5, 0.5], [[0.9, 0.1], [0.1, 0.9]])
    x_before = [f.x.copy() for f in filters]
    got = {}
    copier = threading.Thread(target=lambda: got.update(c=copy.deepcopy(imm)))
    copier.start()
    assert copying.wait(10)
    stepper = threading.Thread(target=imm.predict)
    stepper.start()
    stepper.join(0.3)
    try:
        assert stepper.is_alive()  # waits for the copy in progress
    finally:
        proceed.set()
        copier.join(30)
        stepper.join(30)
    clone = got["c"]
    for f, x in zip(clone.filters, x_before):
        np.testing.assert_array_equal(f.x, x)
    assert not np.array_equal(filters[0].x, x_before[0])  # the original did step afterwards
