"""fusion.filters.KalmanFilter behaves like filterpy's as Python objects: memory safety of
every array it hands out, value semantics for what a step produces, reference semantics for
assigned model matrices, scalar noise, shapes, copying and pickling, and the rest of
filterpy's methods. Each test runs filterpy on the same inputs as the oracle."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from filterpy.common import Saver
from filterpy.kalman import IMMEstimator as FpIMM
from filterpy.kalman import KalmanFilter as FpKF

from fusion.errors import NumericalError, ShapeError
from fusion.filters import IMMEstimator, KalmanFilter


def cv_pair(dim_z: int = 2, one_d: bool = False, seed: int = 0):
    """The same CV filter (4 states) in fusion and filterpy, plus measurements."""
    rng = np.random.default_rng(seed)
    dt = 0.1
    F = np.eye(4)
    F[0, 2] = F[1, 3] = dt
    out = []
    for cls in (KalmanFilter, FpKF):
        kf = cls(dim_x=4, dim_z=dim_z)
        kf.F = F.copy()
        kf.H = np.eye(dim_z, 4)
        kf.Q = np.eye(4) * 0.01
        kf.R = np.eye(dim_z) * 0.5
        kf.P = np.eye(4) * 10.0
        kf.x = np.array([1.0, 2.0, 0.5, -0.3]) if one_d else np.array([[1.0], [2.0], [0.5], [-0.3]])
        out.append(kf)
    zs = [np.array([1.0 + 0.05 * k, 2.0 - 0.03 * k])[:dim_z] + rng.normal(0, 0.5, dim_z) for k in range(40)]
    return out[0], out[1], zs


def run_subprocess(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout)


# ---------------------------------------------------------------- memory safety
def test_dangling_views_after_reassignment_do_not_crash_in_a_subprocess():
    """Defect: assigning kf.P freed the storage an earlier view of it pointed into; writing
    through the old view corrupted the heap (SIGABRT), reading x gave garbage."""
    proc = run_subprocess(
        """
        import gc, pickle, copy
        import numpy as np
        from fusion.filters import KalmanFilter
        for i in range(20000):
            kf = KalmanFilter(dim_x=7, dim_z=4)
            P = kf.P
            kf.P = np.eye(7) * 10
            P[:] = 1.0                      # writes the old array, not the filter
            assert kf.P[0, 1] == 0.0
            x = kf.x
            kf.x = np.zeros((7, 1))
            assert np.all(x == 0.0)
            S = kf.S; K = kf.K; y = kf.y
            kf.predict(); kf.update(np.ones(4))
            S[:] = 5.0; K[:] = 5.0; y[:] = 5.0  # arrays read before a step belong to the reader
            del kf
            gc.collect() if i % 5000 == 0 else None
            P[:] = 2.0; x[:] = 3.0; S[:] = 1.0  # the filter is gone; the arrays stay valid
        kf = KalmanFilter(dim_x=3, dim_z=1)
        views = [kf.x, kf.P, kf.x_prior, kf.P_post]
        for obj in (pickle.loads(pickle.dumps(kf)), copy.deepcopy(kf), copy.copy(kf)):
            obj.predict(); obj.update([1.0])
        del kf
        gc.collect()
        for v in views:
            v[...] = 7.0
        print("ok", float(views[1].sum()))
        """
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["ok", "63.0"]


def test_arguments_whose_conversion_reenters_the_filter_do_not_corrupt_memory():
    """Defect (review): predict/update loaded H (or B) into the engine's work buffers, then
    converted z (or u); a z whose ``__array__`` called back into the filter with a taller H
    resized the shared buffers, and the outer update ran with a 2-entry z against a 40-row H:
    heap corruption (SIGABRT). Every argument is now converted before any buffer is written,
    so the re-entrant call is simply an earlier, complete step. In a subprocess."""
    proc = run_subprocess(
        """
        import numpy as np
        from fusion.filters import KalmanFilter
        kf = KalmanFilter(dim_x=4, dim_z=2)
        kf.H = np.eye(2, 4)
        class Z:
            def __array__(self, dtype=None, copy=None):
                kf.update(np.ones(40), H=np.ones((40, 4)), R=np.eye(40))
                return np.ones(2)
        class U:
            def __array__(self, dtype=None, copy=None):
                kf.predict(u=np.ones(7), B=np.ones((4, 7)))
                return np.ones(2)
        ref = KalmanFilter(dim_x=4, dim_z=2)
        ref.H = np.eye(2, 4)
        for _ in range(3):
            kf.update(Z())
            ref.update(np.ones(40), H=np.ones((40, 4)), R=np.eye(40))
            ref.update(np.ones(2))
            kf.predict(u=U(), B=np.ones((4, 2)))
            ref.predict(u=np.ones(7), B=np.ones((4, 7)))
            ref.predict(u=np.ones(2), B=np.ones((4, 2)))
        np.testing.assert_array_equal(kf.x, ref.x)
        np.testing.assert_array_equal(kf.P, ref.P)
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["ok"]


def test_imm_history_records_real_values():
    """Defect: IMMEstimator.predict reassigns its filters' x, so hist.append(imm.filters[0].x)
    recorded freed memory (values like 1.8e65). Now each entry keeps its own value, the
    same as with filterpy's filters."""
    hists = []
    for KF, IMM in ((KalmanFilter, IMMEstimator), (FpKF, FpIMM)):
        filters = []
        for q in (0.01, 1.0):
            kf = KF(dim_x=2, dim_z=1)
            kf.x = np.array([[0.0], [1.0]])
            kf.F = np.array([[1.0, 1.0], [0.0, 1.0]])
            kf.H = np.array([[1.0, 0.0]])
            kf.Q = np.eye(2) * q
            kf.R = np.array([[0.5]])
            filters.append(kf)
        imm = IMM(filters, np.array([0.5, 0.5]), np.array([[0.95, 0.05], [0.05, 0.95]]))
        hist = []
        for k in range(30):
            imm.predict()
            imm.update(np.array([[k * 1.0 + 0.1 * np.sin(k)]]))
            hist.append(imm.filters[0].x)
        hists.append(np.array(hist))
    ours, ref = hists
    assert np.all(np.abs(ours) < 100)
    assert len({float(h[0, 0]) for h in ours}) == 30  # 30 different states, not one repeated
    np.testing.assert_allclose(ours, ref, rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------- value semantics
def test_kept_references_keep_their_values_like_filterpy():
    ours, ref, zs = cv_pair()
    kept = {id(kf): {"x": [], "P": [], "x_prior": [], "P_prior": [], "y": [], "S": [], "K": [], "z": []}
            for kf in (ours, ref)}
    for z in zs:
        for kf in (ours, ref):
            kf.predict()
            kept[id(kf)]["x_prior"].append(kf.x_prior)
            kept[id(kf)]["P_prior"].append(kf.P_prior)
            kf.update(z)
            for name in ("x", "P", "y", "S", "K", "z"):
                kept[id(kf)][name].append(getattr(kf, name))
    for name in kept[id(ref)]:
        a = np.array(kept[id(ours)][name], dtype=float)
        b = np.array(kept[id(ref)][name], dtype=float)
        assert a.shape == b.shape, name
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=name)
        assert len({a[i].tobytes() for i in range(len(a))}) > 1, f"{name}: every kept entry is the same"


def test_saver_records_each_step_like_filterpy():
    ours, ref, zs = cv_pair()
    savers = [Saver(ours), Saver(ref)]
    for s in savers:
        s.save()  # before any update: needs SI, log_likelihood, mahalanobis to work
    for z in zs[:15]:
        for kf, s in zip((ours, ref), savers):
            kf.predict()
            kf.update(z)
            s.save()
    for s in savers:
        s.to_array()
    for name in ("x", "P", "x_prior", "P_post", "y", "K", "S"):
        np.testing.assert_allclose(getattr(savers[0], name), getattr(savers[1], name), rtol=1e-9, atol=1e-12,
                                   err_msg=name)
    np.testing.assert_allclose(savers[0].log_likelihood[1:], savers[1].log_likelihood[1:], rtol=1e-9)
    np.testing.assert_allclose(savers[0].mahalanobis[1:], savers[1].mahalanobis[1:], rtol=1e-9)


def test_in_place_edits_take_effect_at_the_next_step():
    ours, ref, zs = cv_pair()
    for k, z in enumerate(zs[:20]):
        for kf in (ours, ref):
            kf.predict()
            if k == 5:
                kf.P[2:, 2:] *= 1000.0
            if k == 9:
                kf.x[:2] = np.array([[3.0], [4.0]])
            kf.update(z)
            if k == 12:
                kf.P *= 2.0
    np.testing.assert_allclose(ours.x, ref.x, rtol=1e-9)
    np.testing.assert_allclose(ours.P, ref.P, rtol=1e-9)


# ---------------------------------------------------------------- reference semantics
def test_assigned_model_matrices_are_kept_by_reference():
    Fm = np.eye(4)
    ours, ref, zs = cv_pair()
    for kf in (ours, ref):
        kf.F = Fm
    assert ours.F is Fm
    Fm[0, 2] = Fm[1, 3] = 0.5  # a later edit of Fm reaches both filters
    for kf in (ours, ref):
        kf.predict()
        kf.update(zs[0])
    np.testing.assert_allclose(ours.x, ref.x, rtol=1e-12)
    other = KalmanFilter(dim_x=4, dim_z=2)
    other.F = ours.F
    assert other.F is ours.F is Fm
    ours.H[0, 1] = 0.25  # editing the filter's own H in place reaches the next update
    ref.H[0, 1] = 0.25
    for kf in (ours, ref):
        kf.update(zs[1])
    np.testing.assert_allclose(ours.x, ref.x, rtol=1e-12)
    # a list is converted (a float64 copy) and a wrong shape is refused, naming the attribute
    ours.F = np.eye(4).tolist()
    assert isinstance(ours.F, np.ndarray) and ours.F.dtype == np.float64
    with pytest.raises(ShapeError, match=r"KalmanFilter\.F.*\(4, 4\).*\(3, 3\)"):
        ours.F = np.eye(3)


# ---------------------------------------------------------------- scalar noise
@pytest.mark.parametrize("dim_z", [1, 2])
def test_scalar_Q_and_R_broadcast_like_filterpy(dim_z):
    """filterpy keeps kf.Q = q and kf.R = r as scalars that broadcast into every element."""
    ours, ref, zs = cv_pair(dim_z=dim_z)
    for kf in (ours, ref):
        kf.Q = 0.02
        kf.R = 0.7
    assert ours.Q == 0.02 and ours.R == 0.7
    for z in zs:
        for kf in (ours, ref):
            kf.predict()
            kf.update(z)
    np.testing.assert_allclose(ours.x, ref.x, rtol=1e-9)
    np.testing.assert_allclose(ours.P, ref.P, rtol=1e-9)
    np.testing.assert_allclose(ours.S, ref.S, rtol=1e-9)
    # a scalar *argument* means q * I, as in filterpy
    for kf in (ours, ref):
        kf.predict(Q=0.3)
        kf.update(zs[0], R=2.0)
    np.testing.assert_allclose(ours.P, ref.P, rtol=1e-9)


def test_noisy_1d_scenario_matches_filterpy():
    """filterpy's test_noisy_1d setup (scalar R, P, Q): today's results equal filterpy's
    (they differed by 5% when fusion read a scalar Q as q * I)."""
    rng = np.random.default_rng(3)
    zs = [t + rng.normal(0, 2.0) for t in range(100)]
    res = []
    for cls in (KalmanFilter, FpKF):
        f = cls(dim_x=2, dim_z=1)
        f.x = np.array([[2.0], [0.0]])
        f.F = np.array([[1.0, 1.0], [0.0, 1.0]])
        f.H = np.array([[1.0, 0.0]])
        f.P *= 1000.0
        f.R = 5
        f.Q = 0.0001
        xs = []
        for z in zs:
            f.predict()
            f.update(z)
            xs.append(f.x[0, 0])
        res.append(np.array(xs))
    np.testing.assert_allclose(res[0], res[1], rtol=1e-9)


# ---------------------------------------------------------------- shapes, copies, failures
def test_shapes_follow_filterpy():
    ours, ref, zs = cv_pair(one_d=True)
    for kf in (ours, ref):
        assert kf.z.shape == (2, 1) and kf.z.dtype == object and all(v is None for v in kf.z.ravel())
        kf.predict()
        kf.update(zs[0])
    for name in ("x", "y", "z", "x_prior", "x_post", "P", "S", "K"):
        assert np.shape(getattr(ours, name)) == np.shape(getattr(ref, name)), name
    assert ours.y.shape == (2,)
    for kf in (ours, ref):
        kf.update(None)
    assert ours.z.shape == ref.z.shape == (2, 1)
    assert all(v is None for v in ours.z.ravel())
    np.testing.assert_array_equal(ours.y, ref.y)


def test_shapes_before_the_first_step_and_statistics_after_update_none_follow_filterpy():
    """Defects (review): with a 1-D x assigned after construction, x_prior, x_post and y read
    (n,) before the first step where filterpy still has its initial columns; and after
    update(None) log_likelihood, likelihood and mahalanobis kept the last real update's values,
    where filterpy computes them from y = 0 and the last S (mahalanobis 0)."""
    ours, ref, zs = cv_pair(one_d=True)
    names = ("x", "x_prior", "x_post", "y", "P_prior", "P_post", "S", "K")
    for step in ("start", "predict", "update", "predict", "update(None)", "update(None)", "predict", "update"):
        for kf in (ours, ref):
            if step == "predict":
                kf.predict()
            elif step == "update":
                kf.update(zs[0])
            elif step == "update(None)":
                kf.update(None)
        for name in names:
            assert np.shape(getattr(ours, name)) == np.shape(getattr(ref, name)), (step, name)
            np.testing.assert_allclose(
                getattr(ours, name), getattr(ref, name), rtol=1e-9, atol=1e-12, err_msg=f"{step} {name}"
            )
        if step != "start":
            assert ours.log_likelihood == pytest.approx(ref.log_likelihood, rel=1e-9), step
            assert ours.likelihood == pytest.approx(ref.likelihood, rel=1e-9), step
            assert ours.mahalanobis == pytest.approx(ref.mahalanobis, abs=1e-12), step
    # update(None) before any update: filterpy's S is zeros and its log-likelihood -inf;
    # fusion reports the floor log(DBL_MIN), as before any update
    fresh = KalmanFilter(dim_x=2, dim_z=1)
    fresh.update(None)
    assert fresh.mahalanobis == 0.0 and fresh.log_likelihood == pytest.approx(np.log(np.finfo(float).tiny))


def test_copy_is_shallow_and_deepcopy_deep_like_filterpy():
    ours, _, zs = cv_pair()
    ours.predict()
    ours.update(zs[0])
    shallow = copy.copy(ours)
    assert shallow.P is ours.P and shallow.F is ours.F and shallow.x is ours.x
    deep = copy.deepcopy(ours)
    assert deep.P is not ours.P
    np.testing.assert_array_equal(deep.P, ours.P)
    ours.P[0, 0] = 123.0  # shared with the shallow copy, not the deep one
    assert shallow.P[0, 0] == 123.0 and deep.P[0, 0] != 123.0
    shallow.predict()  # a step gives the copy its own new arrays
    assert shallow.P is not ours.P and ours.P[0, 0] == 123.0
    restored = pickle.loads(pickle.dumps(ours))
    for name in ("x", "P", "F", "Q", "H", "R", "x_prior", "P_post", "y", "S", "K"):
        np.testing.assert_array_equal(getattr(restored, name), getattr(ours, name), err_msg=name)
    assert restored.log_likelihood == ours.log_likelihood


def test_unpickling_a_state_of_the_wrong_size_is_a_clear_error_in_a_subprocess():
    """Defect: __setstate__ with matrices of the wrong size for dim_x, then predict(): SIGSEGV."""
    proc = run_subprocess(
        """
        import numpy as np
        from fusion.errors import ShapeError
        from fusion.filters import KalmanFilter
        kf = KalmanFilter(dim_x=4, dim_z=2)
        state, d = kf.__getstate__()
        bad = dict(state); bad["P"] = np.eye(9)
        fresh = KalmanFilter.__new__(KalmanFilter)
        try:
            fresh.__setstate__((bad, d))
        except ShapeError as e:
            print("ShapeError", e)
        bad = dict(state); bad["dims"] = (9, 2, 0)
        try:
            KalmanFilter.__new__(KalmanFilter).__setstate__((bad, d))
        except ShapeError as e:
            print("ShapeError", e)
        try:
            KalmanFilter.__new__(KalmanFilter).__setstate__(("junk",))
        except ShapeError as e:
            print("ShapeError", e)
        ok = KalmanFilter.__new__(KalmanFilter)
        ok.__setstate__((state, d))
        ok.predict()
        print("done")
        """
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "done"
    assert [ln.split()[0] for ln in lines[:-1]] == ["ShapeError"] * 3
    assert "KalmanFilter.P (pickled)" in lines[0] and "(4, 4)" in lines[0]


def test_hostile_pickled_states_are_refused_before_any_allocation():
    """Review: a pickled state claiming dims = (30000, 1, 0) with 4 x 4 matrices allocated
    n x n identities (gigabytes) before the first check; non-numbers in dims or the scalars
    gave pybind11's bare RuntimeError. Both are ShapeErrors now, raised at once."""
    import time

    state, d = KalmanFilter(4, 2).__getstate__()
    for dims in ((30000, 1, 0), (2**40, 2, 0), (4, 30000, 0)):
        t0 = time.perf_counter()
        with pytest.raises(ShapeError, match=r"\(pickled\)"):
            KalmanFilter.__new__(KalmanFilter).__setstate__((dict(state, dims=dims), d))
        assert time.perf_counter() - t0 < 5.0
    for key, value, match in (("dims", ("a", 2, 0), "dim_x must be an integer"), ("dims", (4.5, 2, 0), "integer"),
                              ("dims", (2**70, 2, 0), "integer"), ("dims", 7, "dims"), ("alpha_sq", "a", "alpha_sq"),
                              ("log_likelihood", None, "log_likelihood")):
        with pytest.raises(ShapeError, match=match):
            KalmanFilter.__new__(KalmanFilter).__setstate__((dict(state, **{key: value}), d))


def test_second_init_and_setstate_on_a_live_filter_take_effect():
    """Defect (review): pybind11 silently ignores __init__ and __setstate__ on an object that is
    already constructed, so ``kf.__init__(3, 1)`` (filterpy re-initialises) kept the old
    4-state filter while M became (3, 1), and ``kf.__setstate__(saved)`` restored nothing.
    Both take effect now; a refused state changes nothing."""
    kf = KalmanFilter(dim_x=4, dim_z=2)
    kf.x = np.ones(4)
    kf.predict()
    kf.__init__(3, 1)
    assert (kf.dim_x, kf.dim_z, kf.x.shape, kf.M.shape) == (3, 1, (3, 1), (3, 1))
    np.testing.assert_array_equal(kf.x, np.zeros((3, 1)))
    kf.update([1.0])
    other = KalmanFilter(dim_x=2, dim_z=1)
    other.x = np.array([5.0, 6.0])
    other.tag = "restored"
    saved = other.__getstate__()
    x_before = kf.x
    bad = (dict(saved[0], P=np.eye(5)), saved[1])
    with pytest.raises(ShapeError, match="P"):
        kf.__setstate__(bad)
    assert kf.dim_x == 3 and kf.x is x_before
    kf.__setstate__(saved)
    assert kf.dim_x == 2 and kf.tag == "restored"
    np.testing.assert_array_equal(kf.x, [5.0, 6.0])
    kf.predict()
    kf.update([5.5])


def test_failed_update_changes_nothing():
    ours, _, zs = cv_pair()
    ours.predict()
    x, P = ours.x, ours.P
    before = (x.copy(), P.copy(), ours.y.copy(), ours.log_likelihood)
    with pytest.raises(NumericalError, match="non-finite"):
        ours.update(np.array([np.nan, 1.0]))
    with pytest.raises(NumericalError, match="positive definite"):
        ours.update(zs[0], R=-np.eye(2) * 1e6)
    with pytest.raises(ShapeError, match=r"update: z"):
        ours.update(np.ones(3))
    assert ours.x is x and ours.P is P
    np.testing.assert_array_equal(ours.x, before[0])
    np.testing.assert_array_equal(ours.P, before[1])
    np.testing.assert_array_equal(ours.y, before[2])
    assert ours.log_likelihood == before[3]


def test_none_is_not_a_matrix_and_a_nan_R_is_named():
    """Defect (review): numpy turns None into NaN, so ``kf.P = None`` (or Q, R, F, H, x, S...)
    was accepted as a NaN matrix and only failed at the next update, with a message blaming
    the (finite) measurement. None is refused at assignment now (``B = None`` and ``z = None``
    keep their filterpy meaning), and a NaN R is named as such."""
    kf = KalmanFilter(dim_x=2, dim_z=1)
    kf.H = np.array([[1.0, 0.0]])
    for name in ("x", "P", "F", "Q", "H", "R", "x_prior", "x_post", "y", "P_prior", "P_post", "S", "K"):
        before = np.array(getattr(kf, name), copy=True)
        with pytest.raises(ShapeError, match="None"):
            setattr(kf, name, None)
        np.testing.assert_array_equal(getattr(kf, name), before)
    kf.B = None
    kf.z = None
    assert kf.B is None and kf.z is None
    with pytest.raises(NumericalError, match=r"KalmanFilter\.R: diagonal entry \[0, 0\] = nan"):
        kf.R = np.nan  # refused on assignment (session 7)
    x = kf.x
    with pytest.raises(NumericalError, match="R has a non-finite entry"):
        kf.update([1.0], R=np.nan)
    assert kf.x is x
    with pytest.raises(NumericalError, match="non-finite measurement"):
        kf.update([np.nan], R=1.0)


def test_alpha_must_be_at_least_one():
    kf = KalmanFilter(2, 1)
    kf.alpha = 1.02
    assert kf.alpha == pytest.approx(1.02)
    for bad in (0.5, float("nan"), [1.0, 2.0]):
        with pytest.raises(ValueError, match="alpha"):
            kf.alpha = bad
    assert kf.alpha == pytest.approx(1.02)


# ---------------------------------------------------------------- the rest of filterpy's methods
def test_update_sequential_matches_filterpy():
    ours, ref, zs = cv_pair()
    for z in zs[:10]:
        for kf in (ours, ref):
            kf.predict()
            kf.update_sequential(0, z[0])
            kf.update_sequential(1, z[1:2])
    for name in ("x", "P", "y", "K"):
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(np.asarray(ours.z, float), np.asarray(ref.z, float))
    with pytest.raises(ShapeError, match="outside"):
        ours.update_sequential(1, [1.0, 2.0])


def test_update_correlated_matches_filterpy():
    ours, ref, zs = cv_pair()
    M = np.full((4, 2), 0.01)
    for kf in (ours, ref):
        kf.M = M.copy()
    for z in zs[:10]:
        for kf in (ours, ref):
            kf.predict()
            kf.update_correlated(z)
    for name in ("x", "P", "y", "S", "K"):
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=1e-8, atol=1e-12, err_msg=name)
    assert ours.log_likelihood == pytest.approx(ref.log_likelihood, rel=1e-9)


def test_failed_update_correlated_and_sequential_change_nothing():
    """Defect (review): update_correlated with an H of another height replaced x and P, then
    failed storing y (ShapeError), leaving a half-updated filter."""
    ours, _, _ = cv_pair()
    ours.predict()
    x, P = ours.x, ours.P
    ours.M = np.zeros((4, 3))
    with pytest.raises(ShapeError, match="update_correlated: H"):
        ours.update_correlated(np.ones(3), R=np.eye(3), H=np.eye(3, 4))
    with pytest.raises(ShapeError, match="update_sequential"):
        ours.update_sequential(0, [1.0], H_i=np.ones(3))
    assert ours.x is x and ours.P is P


def test_steady_state_matches_filterpy():
    ours, ref, zs = cv_pair()
    for z in zs[:20]:
        for kf in (ours, ref):
            kf.predict()
            kf.update(z)
    for z in zs[20:]:
        for kf in (ours, ref):
            kf.predict_steadystate()
            kf.update_steadystate(z)
    np.testing.assert_allclose(ours.x, ref.x, rtol=1e-9)
    np.testing.assert_allclose(ours.P, ref.P, rtol=1e-9)
    assert ours.mahalanobis == pytest.approx(ref.mahalanobis, rel=1e-8)


def test_get_prediction_get_update_and_likelihood_of_match_filterpy():
    ours, ref, zs = cv_pair()
    for kf in (ours, ref):
        kf.Q = 0.05  # scalar: broadcast, as filterpy
        kf.predict()
        kf.update(zs[0])
    x_before, P_before = ours.x.copy(), ours.P.copy()
    for a, b in zip(ours.get_prediction(), ref.get_prediction()):
        np.testing.assert_allclose(a, b, rtol=1e-9)
    for a, b in zip(ours.get_update(zs[1]), ref.get_update(zs[1])):
        np.testing.assert_allclose(a, b, rtol=1e-9)
    np.testing.assert_array_equal(ours.x, x_before)  # neither changed the filter
    np.testing.assert_array_equal(ours.P, P_before)
    assert ours.log_likelihood_of(zs[1]) == pytest.approx(ref.log_likelihood_of(zs[1]), rel=1e-9)
    np.testing.assert_allclose(ours.residual_of(zs[1]), ref.residual_of(zs[1]), rtol=1e-12)
    assert ours.inv is np.linalg.inv


def test_test_matrix_dimensions():
    ours, _, _ = cv_pair()
    ours.test_matrix_dimensions()
    ours.test_matrix_dimensions(z=np.ones(2))
    with pytest.raises(ShapeError, match="H"):
        ours.test_matrix_dimensions(H=np.ones((2, 3)))
    with pytest.raises(ShapeError, match="R"):
        ours.test_matrix_dimensions(R=np.eye(3))
    with pytest.raises(ShapeError, match="z"):
        ours.test_matrix_dimensions(z=np.ones(3))


# ---------------------------------------------------------------- threads
def test_calls_from_several_threads_are_atomic():
    """Each predict/update and each attribute access runs with the GIL held: two threads
    stepping one filter and a third reading it never see a half-written state, and the
    result equals the sequential one (these predicts commute: F = I, so P grows by Q)."""
    import threading

    kf = KalmanFilter(dim_x=3, dim_z=1)
    kf.Q = np.eye(3) * 0.5
    n = 4000
    seen_bad: list[str] = []
    stop = threading.Event()

    def stepper() -> None:
        for _ in range(n):
            kf.predict()

    def reader() -> None:
        while not stop.is_set():
            P = kf.P
            d = np.diag(P)
            k = (d[0] - 1.0) / 0.5
            if not (d[0] == d[1] == d[2] and k == round(k) and P[0, 1] == 0.0):
                seen_bad.append(repr(P))

    threads = [threading.Thread(target=stepper) for _ in range(2)]
    r = threading.Thread(target=reader)
    r.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    stop.set()
    r.join(timeout=60)
    assert not seen_bad, seen_bad[:3]
    ref = KalmanFilter(dim_x=3, dim_z=1)
    ref.Q = np.eye(3) * 0.5
    for _ in range(2 * n):
        ref.predict()
    np.testing.assert_array_equal(kf.P, ref.P)
