"""Inputs that used to crash (or could crash) the process, each run in a child interpreter with
a timeout so that a regression fails its test instead of killing or hanging pytest:
JPDA marginals of huge / degenerate clusters, filter-bank views that outlive their bank, and
pickling or copying the C++-backed objects."""

from __future__ import annotations

import numpy as np
import pytest
from _isolated import run_isolated

# ---------------------------------------------------------------- JPDA marginals

_JPDA_PROBE = """
    import json, sys
    import numpy as np
    from fusion.tracking import jpda_marginals
    K, m, method, fill = {K}, {m}, {method!r}, {fill!r}
    W = np.zeros((K, m))
    if fill == "one" and K and m:
        W[0, 0] = 2.0
    elif fill == "nan":
        W[:] = np.nan
        if K and m:
            W[0, 0] = 2.0
    beta, beta0, used = jpda_marginals(W, np.full(K, 0.1), method=method, max_states=1 << 20)
    print(json.dumps({{"used": used, "beta_shape": list(beta.shape), "beta0_shape": list(beta0.shape),
                      "beta00": float(beta[0, 0]) if K and m else None,
                      "beta0_0": float(beta0[0]) if K else None,
                      "beta_sum": float(beta.sum()), "beta0_min_rest": float(beta0[1:].min()) if K > 1 else None,
                      "finite": bool(np.isfinite(beta).all() and np.isfinite(beta0).all())}}))
"""


@pytest.mark.parametrize("method", ["auto", "enumerate", "exact", "lbp"])
def test_jpda_marginals_150000_by_1_single_entry_no_crash(method):
    """Was a SIGSEGV: the enumeration recursed once per track, 150,000 frames deep."""
    r = run_isolated(_JPDA_PROBE.format(K=150000, m=1, method=method, fill="one"))
    assert r["beta_shape"] == [150000, 1] and r["beta0_shape"] == [150000]
    assert r["beta00"] == pytest.approx(2.0 / 2.1, rel=1e-12)
    assert r["beta0_0"] == pytest.approx(0.1 / 2.1, rel=1e-12)
    assert r["beta_sum"] == pytest.approx(2.0 / 2.1, rel=1e-12)  # the only in-gate pair
    assert r["beta0_min_rest"] == 1.0  # every other track has nothing to take
    assert r["used"] == {"auto": "enumerate"}.get(method, method)


@pytest.mark.parametrize("K,m,fill", [
    (0, 0, "one"), (0, 5, "one"), (5, 0, "one"), (1, 150000, "one"), (150000, 3, "one"),
    (200000, 4, "zero"), (3000, 3000, "zero"), (100000, 2, "nan"),
])
def test_jpda_marginals_degenerate_shapes_no_crash(K, m, fill):
    r = run_isolated(_JPDA_PROBE.format(K=K, m=m, method="auto", fill=fill))
    assert r["beta_shape"] == [K, m] and r["beta0_shape"] == [K]
    assert r["finite"]
    if K and m and fill in ("one", "nan"):
        assert r["beta00"] == pytest.approx(2.0 / 2.1, rel=1e-12)
        assert r["beta0_0"] == pytest.approx(0.1 / 2.1, rel=1e-12)
    elif K:
        assert r["beta_sum"] == 0.0 and r["beta0_0"] == 1.0  # nothing in any gate: all missed
    if K > 1:
        assert r["beta0_min_rest"] == 1.0


def test_jpda_marginals_invalid_values_raise_typed_errors_no_crash():
    r = run_isolated("""
        import json
        import numpy as np
        from fusion.errors import ConfigurationError, NumericalError, ShapeError
        from fusion.tracking import jpda_marginals
        from fusion import _core
        out = {}
        def probe(name, fn):
            try:
                fn()
                out[name] = "ok"
            except Exception as e:
                out[name] = [type(e).__name__, str(e)]
        W = np.array([[2.0, 0.5], [1.0, 0.0]])
        miss = np.array([0.1, 0.1])
        probe("negative", lambda: jpda_marginals(np.array([[2.0, -0.5], [1.0, 0.0]]), miss))
        probe("inf", lambda: jpda_marginals(np.array([[2.0, 0.5], [np.inf, 0.0]]), miss))
        probe("miss_zero", lambda: jpda_marginals(W, np.array([0.1, 0.0])))
        probe("miss_nan", lambda: jpda_marginals(W, np.array([np.nan, 0.1])))
        probe("max_states", lambda: jpda_marginals(W, miss, max_states=0))
        probe("shape", lambda: jpda_marginals(np.ones(3), miss))
        # the raw binding validates its CSR input too
        i64 = lambda *v: np.array(v, np.int64)
        f = lambda *v: np.array(v, float)
        probe("raw_meas_range", lambda: _core.jpda_marginals(i64(0, 1), i64(7), f(1.0), f(0.1), 2))
        probe("raw_meas_negative", lambda: _core.jpda_marginals(i64(0, 1), i64(-1), f(1.0), f(0.1), 2))
        probe("raw_ptr_decreasing", lambda: _core.jpda_marginals(i64(0, 2, 1), i64(0), f(1.0), f(0.1, 0.1), 2))
        probe("raw_ptr_start", lambda: _core.jpda_marginals(i64(1, 1), i64(0), f(1.0), f(0.1), 2))
        probe("raw_ptr_end_negative", lambda: _core.jpda_marginals(i64(0, -3), i64(), f(), f(0.1), 2))
        probe("raw_num_meas_negative", lambda: _core.jpda_marginals(i64(0, 1), i64(0), f(1.0), f(0.1), -4))
        probe("raw_duplicate", lambda: _core.jpda_marginals(i64(0, 2), i64(0, 0), f(1.0, 1.0), f(0.1), 2))
        print(json.dumps(out))
    """)
    assert r["negative"][0] == "NumericalError" and "likelihood_ratios[0, 1]" in r["negative"][1]
    assert r["inf"][0] == "NumericalError" and "likelihood_ratios[1, 0]" in r["inf"][1]
    assert r["miss_zero"][0] == "NumericalError" and "miss_weights[1]" in r["miss_zero"][1]
    assert r["miss_nan"][0] == "NumericalError" and "miss_weights[0]" in r["miss_nan"][1]
    assert r["max_states"][0] == "ConfigurationError" and "max_states" in r["max_states"][1]
    assert r["shape"][0] == "ShapeError"
    for key in ("raw_meas_range", "raw_meas_negative", "raw_ptr_decreasing", "raw_ptr_start",
                "raw_ptr_end_negative", "raw_num_meas_negative", "raw_duplicate"):
        assert r[key][0] == "ShapeError", (key, r[key])


# ---------------------------------------------------------------- filter-bank views

@pytest.mark.parametrize("cls", ["KalmanFilterBank", "ExtendedKalmanFilterBank", "UnscentedKalmanFilterBank"])
def test_bank_views_outlive_the_bank(cls):
    """A view of x/P/nis/status keeps the C++ bank alive: drop the bank, churn the allocator,
    then read and write every view (ASan-free proof: values intact, no crash)."""
    r = run_isolated(f"""
        import gc, json
        import numpy as np
        from fusion.filters import {cls} as Bank
        from fusion.models import CV2D, Position2D
        n = 50_000
        bank = Bank(CV2D(sigma_a=1.0), Position2D(), size=n, R=0.25)
        bank.x = np.arange(4 * n, dtype=float).reshape(n, 4)
        bank.predict(0.1)
        bank.update(bank.x[:, :2] + 0.5)
        x, P, nis, ll, st = bank.x, bank.P, bank.nis, bank.log_likelihood, bank.status
        want = [a.copy() for a in (x, P, nis, ll, st)]
        del bank
        gc.collect()
        junk = [np.full(4 * n * 4, 7.0) for _ in range(20)]  # reuse freed memory if any
        same = all(np.array_equal(a, b) for a, b in zip((x, P, nis, ll, st), want))
        x[:] = -1.0; P[:] = 2.0; nis[:] = 3.0; st[:] = 0
        del junk
        gc.collect()
        ok_write = bool((x == -1.0).all() and (P == 2.0).all() and (nis == 3.0).all())
        del x, nis, ll, st
        gc.collect()
        print(json.dumps({{"same": bool(same), "ok_write": ok_write, "P_sum": float(P.sum())}}))
    """)
    assert r["same"] and r["ok_write"]
    assert r["P_sum"] == 2.0 * 50_000 * 16


def test_bank_setters_copy_into_storage_and_views_cannot_resize():
    """Assigning x or P never reallocates (a view taken before sees the new values), and numpy
    refuses to resize a view (it does not own the bank's memory)."""
    from fusion.filters import ExtendedKalmanFilterBank
    from fusion.models import CV2D, Position2D

    bank = ExtendedKalmanFilterBank(CV2D(sigma_a=1.0), Position2D(), size=10)
    x, P = bank.x, bank.P
    bank.x = np.ones((10, 4))
    bank.P = 3.0 * np.eye(4)
    assert (x == 1.0).all() and np.array_equal(P, np.broadcast_to(3.0 * np.eye(4), (10, 4, 4)))
    assert np.shares_memory(x, bank.x) and np.shares_memory(P, bank.P)
    with pytest.raises(ValueError):
        x.resize((3, 4))
    with pytest.raises(ValueError):
        bank.P.resize((1,))
    # the raw setters check shapes before touching anything
    from fusion.errors import ShapeError
    with pytest.raises(ShapeError, match=r"x: expected shape \(10, 4\) or \(4,\)"):
        bank._core.set_x(np.ones((9, 4)))
    with pytest.raises(ShapeError, match="P"):
        bank._core.set_P(np.ones((10, 4)))
    assert (bank.x == 1.0).all()


# ---------------------------------------------------------------- pickling and copying

def test_pickling_raises_typed_errors_and_copies_are_independent():
    """Pickling any tracker, bank or raw core class raises TypeError (never a crash); the
    Python classes support copy.copy/deepcopy as independent objects."""
    r = run_isolated("""
        import copy, json, pickle
        import numpy as np
        from fusion.filters import ExtendedKalmanFilterBank, KalmanFilterBank, UnscentedKalmanFilterBank
        from fusion.models import CV2D, Position2D
        from fusion.tracking import PointTracker, PointTrackerConfig, Tracker, make_detections
        objs = {"Tracker": Tracker(), "PointTracker": PointTracker(PointTrackerConfig(association="jpda"))}
        for cls in (KalmanFilterBank, ExtendedKalmanFilterBank, UnscentedKalmanFilterBank):
            objs[cls.__name__] = cls(CV2D(1.0), Position2D(), size=3)
        out = {}
        for name, o in list(objs.items()):
            for what, target in ((name, o), (name + "._core", o._core)):
                try:
                    pickle.dumps(target)
                    out[what] = "pickled"
                except Exception as e:
                    out[what] = [type(e).__name__, str(e)]
            for what, target in ((name + "._core/copy", o._core),):
                try:
                    copy.copy(target)
                    out[what] = "copied"
                except Exception as e:
                    out[what] = [type(e).__name__, str(e)]
        # copies are independent and carry the state
        trk = objs["Tracker"]
        det = make_detections([[0, 0, 0.8, 0, 4, 1.8, 1.6]], 2, 5.0)
        trk.step(det, 0)
        c = copy.deepcopy(trk)
        a, b = trk.step(det, 100), c.step(det, 100)
        out["tracker_copy_same"] = a.tobytes() == b.tobytes()
        trk.reset()
        out["tracker_copy_independent"] = (trk.num_tracks, c.num_tracks, c.config is not trk.config)
        pt = objs["PointTracker"]
        pt.step(np.array([[0.0, 0.0], [5.0, 5.0]]), 0)
        pc = copy.copy(pt)
        a, b = pt.step(np.array([[0.1, 0.0], [5.0, 5.1]]), 10**8), pc.step(np.array([[0.1, 0.0], [5.0, 5.1]]), 10**8)
        out["point_copy_same"] = a.tobytes() == b.tobytes() and pc.stats() == pt.stats()
        bank = objs["UnscentedKalmanFilterBank"]
        bank.x = np.arange(12.0).reshape(3, 4)
        bank.update(np.ones((3, 2)))
        bc = copy.deepcopy(bank)
        same = all(np.array_equal(getattr(bank, k), getattr(bc, k))
                   for k in ("x", "P", "nis", "log_likelihood", "status"))
        bc.predict(1.0)
        out["bank_copy"] = [same, not np.shares_memory(bank.x, bc.x), bool((bank.x != bc.x).any()),
                            bc.R is bank.R or np.array_equal(bc.R, bank.R), bc.on_invalid == bank.on_invalid]
        print(json.dumps(out))
    """)
    for name in ("Tracker", "PointTracker", "KalmanFilterBank", "ExtendedKalmanFilterBank",
                 "UnscentedKalmanFilterBank"):
        assert r[name][0] == "TypeError" and "cannot be pickled" in r[name][1], r[name]
        assert r[name + "._core"][0] == "TypeError", r[name + "._core"]
        assert r[name + "._core/copy"][0] == "TypeError", r[name + "._core/copy"]
    assert r["tracker_copy_same"]
    assert r["tracker_copy_independent"] == [0, 1, True]
    assert r["point_copy_same"]
    assert r["bank_copy"] == [True, True, True, True, True]


def test_pickle_protocols_0_and_1_and_direct_reduce_never_abort():
    """Defect (review): pickle protocols 0 and 1, and a direct ``obj.__reduce__()``, went
    through copyreg._reduce_ex, which calls ``pybind11_object(obj)``; pybind11 throws from a C
    slot there and the interpreter aborted (pybind/pybind11#3745) for KalmanFilter and every
    model. Now every C++ class reduces as at protocol 2: KalmanFilter round-trips at every
    protocol, the others raise TypeError."""
    r = run_isolated("""
        import json, pickle
        import numpy as np
        from fusion import _core
        from fusion.filters import KalmanFilter
        from fusion.models import CTRV, CV2D, Position2D, RadarPolar
        kf = KalmanFilter(dim_x=2, dim_z=1)
        kf.x = np.array([1.0, 2.0]); kf.Q = 0.5; kf.M[:] = 3.0
        kf.predict(); kf.update([0.5])
        out = {}
        for proto in range(pickle.HIGHEST_PROTOCOL + 1):
            k2 = pickle.loads(pickle.dumps(kf, protocol=proto))
            k2.predict(); kf2 = pickle.loads(pickle.dumps(kf, protocol=proto))
            out[f"kf{proto}"] = [type(k2).__name__, kf2.x.tolist() == kf.x.tolist(), kf2.Q, kf2.M.tolist()]
            for obj in (CV2D(1.0), CTRV(), Position2D(), RadarPolar()):
                try:
                    pickle.dumps(obj, protocol=proto)
                    out[f"{type(obj).__name__}{proto}"] = "pickled"
                except TypeError as e:
                    out[f"{type(obj).__name__}{proto}"] = "TypeError"
        try:
            CV2D(1.0).__reduce__()
            out["reduce"] = "no error"
        except TypeError:
            out["reduce"] = "TypeError"
        out["kf_reduce"] = kf.__reduce__()[1][0].__name__
        print(json.dumps(out))
    """)
    for proto in range(6):
        assert r[f"kf{proto}"] == ["KalmanFilter", True, 0.5, [[3.0], [3.0]]], r[f"kf{proto}"]
        for name in ("CV2D", "CTRV", "Position2D", "RadarPolar"):
            assert r[f"{name}{proto}"] == "TypeError", (name, proto)
    assert r["reduce"] == "TypeError" and r["kf_reduce"] == "KalmanFilter"


def test_kalman_filter_created_without_init_is_refused_not_garbage():
    """Defect (review): ``KalmanFilter.__new__(KalmanFilter)`` (or an object whose failed
    __setstate__ left it unconstructed) reached the C++ methods with raw storage pybind11
    allocates on first use; after a filter had been freed that storage held its dangling
    py::object pointers, and reading ``.P`` segfaulted. Every entry point now raises
    TypeError; __setstate__ still constructs such an object."""
    r = run_isolated("""
        import copy, gc, json, pickle
        import numpy as np
        from fusion.filters import KalmanFilter
        state = KalmanFilter(4, 2).__getstate__()
        refused, steps = set(), 0
        for i in range(300):
            k = KalmanFilter(4, 2); k.predict(); k.update(np.ones(2)); x = k.x
            del k, x
            u = KalmanFilter.__new__(KalmanFilter)
            for name in ("x", "P", "F", "Q", "H", "R", "B", "y", "S", "K", "z", "x_prior", "P_post",
                         "alpha", "dim_x", "dim_z", "dim_u"):
                try:
                    getattr(u, name)
                except TypeError as e:
                    refused.add(name)
                try:
                    setattr(u, name, np.eye(4))
                except (TypeError, ValueError, AttributeError):  # refused, wrong shape, read-only
                    pass
            for call in (u.predict, lambda: u.update(np.ones(2)), u.__getstate__, lambda: copy.copy(u),
                         lambda: copy.deepcopy(u), lambda: pickle.dumps(u), lambda: repr(u)):
                try:
                    call()
                except TypeError:
                    refused.add("call")
            u.__setstate__(state)  # constructs it
            u.predict(); u.update(np.ones(2)); steps += 1
            del u
            if i % 50 == 0:
                gc.collect()
        print(json.dumps({"refused": sorted(refused), "steps": steps}))
    """)
    assert r["steps"] == 300
    assert set(r["refused"]) >= {"x", "P", "F", "Q", "H", "R", "B", "y", "S", "K", "z", "x_prior", "P_post",
                                 "alpha", "dim_x", "dim_z", "dim_u", "call"}


# ---------------------------------------------------------------- bank sizes past memory
def test_huge_bank_sizes_are_configuration_errors_not_crashes():
    """Review: a size of 2**62 overflowed the C++ banks' element counts (a tiny allocation, then
    writes past it: SIGSEGV) in IMMBank, its raw _core class and the KF/EKF/UKF banks, and in the
    raw _core EKF/UKF bank classes (the C++ FilterBank checks the size itself)."""
    r = run_isolated("""
        import json
        import numpy as np
        from fusion.errors import ConfigurationError
        from fusion.filters import ExtendedKalmanFilterBank, IMMBank, KalmanFilterBank, UnscentedKalmanFilterBank
        from fusion.models import CTRV, CV2D, Position2D
        M = np.array([[0.9, 0.1], [0.1, 0.9]])
        out = []
        calls = [lambda n: IMMBank([CV2D(), CTRV()], Position2D(), n, M=M),
                 lambda n: type(IMMBank([CV2D(), CTRV()], Position2D(), 1, M=M)._core)(
                     (CV2D(), CTRV()), Position2D(), n, M, np.ones(2)),
                 lambda n: KalmanFilterBank(CV2D(), Position2D(), n),
                 lambda n: ExtendedKalmanFilterBank(CV2D(), Position2D(), n),
                 lambda n: UnscentedKalmanFilterBank(CV2D(), Position2D(), n),
                 lambda n: type(ExtendedKalmanFilterBank(CV2D(), Position2D(), 1)._core)(
                     CV2D(), Position2D(), n),
                 lambda n: type(UnscentedKalmanFilterBank(CV2D(), Position2D(), 1)._core)(
                     CV2D(), Position2D(), n)]
        for call in calls:
            for n in (np.int64(2**62), 2**63 - 1):
                try:
                    call(n)
                    out.append("built")
                except ConfigurationError as e:
                    out.append("size" if "size" in str(e) else str(e))
        print(json.dumps({"out": out}))
    """)
    assert r["out"] == ["size"] * 14
