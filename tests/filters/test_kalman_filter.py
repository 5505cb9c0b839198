"""fusion.filters.KalmanFilter against filterpy.kalman.KalmanFilter on random linear models,
batch filtering and RTS smoothing, SORT-style in-place use, and the error contract."""

from __future__ import annotations

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter as FpKalmanFilter

from fusion.errors import NumericalError, ShapeError
from fusion.filters import KalmanFilter

from _fhelpers import assert_close, random_spd

CASES = [  # (dim_x, dim_z, dim_u, seed)
    (2, 1, 0, 1),
    (3, 2, 1, 2),
    (4, 2, 0, 3),
    (5, 3, 2, 4),
    (6, 4, 0, 5),
    (7, 4, 1, 6),
    (8, 3, 3, 7),
    (8, 1, 0, 8),
    (3, 4, 0, 9),
]


def random_model(rng, dim_x, dim_z, dim_u):
    F = np.eye(dim_x) + 0.15 * rng.standard_normal((dim_x, dim_x))
    rho = np.max(np.abs(np.linalg.eigvals(F)))
    if rho > 1.02:
        F *= 1.02 / rho
    return dict(
        F=F,
        H=rng.standard_normal((dim_z, dim_x)),
        Q=random_spd(rng, dim_x, 0.1),
        R=random_spd(rng, dim_z, 0.5),
        P=random_spd(rng, dim_x, 3.0),
        B=rng.standard_normal((dim_x, dim_u)) if dim_u else None,
        x=rng.standard_normal((dim_x, 1)),
    )


def configure(kf, model):
    kf.x = model["x"].copy()
    for name in ("F", "H", "Q", "R", "P"):
        setattr(kf, name, model[name].copy())
    if model["B"] is not None:
        kf.B = model["B"].copy()


def simulate(rng, model, n, dim_u):
    """True states driven by the model's own noise; returns measurements (dim_z, 1) and controls."""
    F, H, B = model["F"], model["H"], model["B"]
    LQ, LR = np.linalg.cholesky(model["Q"]), np.linalg.cholesky(model["R"])
    xt = model["x"] + rng.standard_normal(model["x"].shape)
    zs, us = [], []
    for _ in range(n):
        u = rng.standard_normal((dim_u, 1)) if dim_u else None
        xt = F @ xt + LQ @ rng.standard_normal(xt.shape)
        if u is not None:
            xt = xt + B @ u
        zs.append(H @ xt + LR @ rng.standard_normal((H.shape[0], 1)))
        us.append(u)
    return zs, us


def assert_same_state(ours, ref, where):
    assert_close(ours.x, ref.x, what=f"{where}: x")
    assert_close(ours.P, ref.P, what=f"{where}: P")


@pytest.mark.parametrize("dim_x,dim_z,dim_u,seed", CASES)
def test_step_by_step_parity_with_filterpy(dim_x, dim_z, dim_u, seed):
    rng = np.random.default_rng(seed)
    model = random_model(rng, dim_x, dim_z, dim_u)
    ours, ref = KalmanFilter(dim_x, dim_z, dim_u), FpKalmanFilter(dim_x, dim_z, dim_u)
    configure(ours, model)
    configure(ref, model)
    zs, us = simulate(rng, model, 60, dim_u)
    for k, (z, u) in enumerate(zip(zs, us)):
        ours.predict(u=u)
        ref.predict(u=u)
        assert_same_state(ours, ref, f"step {k} predict")
        assert_close(ours.x_prior, ref.x_prior, what=f"step {k}: x_prior")
        assert_close(ours.P_prior, ref.P_prior, what=f"step {k}: P_prior")
        if k % 7 == 3:  # exercise update(None) too
            ours.update(None)
            ref.update(None)
        else:
            ours.update(z)
            ref.update(z)
            assert_close(ours.y, ref.y, what=f"step {k}: y")
            assert_close(ours.S, ref.S, what=f"step {k}: S")
            assert_close(ours.K, ref.K, what=f"step {k}: K")
            assert_close(ours.SI, ref.SI, rtol=1e-8, what=f"step {k}: SI")
            assert ours.log_likelihood == pytest.approx(ref.log_likelihood, rel=1e-9, abs=1e-12)
            assert ours.likelihood == pytest.approx(ref.likelihood, rel=1e-9, abs=1e-300)
            assert ours.mahalanobis == pytest.approx(ref.mahalanobis, rel=1e-9, abs=1e-12)
        assert_same_state(ours, ref, f"step {k} update")
        assert_close(ours.x_post, ref.x_post, what=f"step {k}: x_post")
        assert_close(ours.P_post, ref.P_post, what=f"step {k}: P_post")


def test_override_matrices_per_call_match_filterpy():
    rng = np.random.default_rng(11)
    model = random_model(rng, 4, 2, 0)
    ours, ref = KalmanFilter(4, 2), FpKalmanFilter(4, 2)
    configure(ours, model)
    configure(ref, model)
    zs, _ = simulate(rng, model, 20, 0)
    for z in zs:
        F2 = model["F"] + 0.01 * rng.standard_normal((4, 4))
        Q2 = random_spd(rng, 4, 0.05)
        H2 = model["H"] + 0.1 * rng.standard_normal((2, 4))
        R2 = random_spd(rng, 2, 0.3)
        ours.predict(F=F2, Q=Q2)
        ref.predict(F=F2, Q=Q2)
        ours.update(z, R=R2, H=H2)
        ref.update(z, R=R2, H=H2)
        assert_same_state(ours, ref, "override")
    # the overrides applied to one call only
    np.testing.assert_array_equal(ours.F, model["F"])
    np.testing.assert_array_equal(ours.H, model["H"])


def test_one_dimensional_x_keeps_its_shape():
    kf, ref = KalmanFilter(2, 1), FpKalmanFilter(2, 1)
    for f in (kf, ref):
        f.x = np.array([1.0, 0.5])
        f.F = np.array([[1.0, 0.1], [0.0, 1.0]])
        f.H = np.array([[1.0, 0.0]])
    kf.predict()
    ref.predict()
    assert kf.x.shape == (2,)
    assert_close(kf.x, ref.x)


@pytest.mark.parametrize("update_first", [False, True])
@pytest.mark.parametrize("dim_x,dim_z,dim_u,seed", [(4, 2, 0, 21), (6, 3, 2, 22)])
def test_batch_filter_and_rts_smoother_match_filterpy(dim_x, dim_z, dim_u, seed, update_first):
    rng = np.random.default_rng(seed)
    model = random_model(rng, dim_x, dim_z, dim_u)
    zs, us = simulate(rng, model, 60, dim_u)
    for k in (5, 17, 18, 40):
        zs[k] = None
    ours, ref = KalmanFilter(dim_x, dim_z, dim_u), FpKalmanFilter(dim_x, dim_z, dim_u)
    configure(ours, model)
    configure(ref, model)
    kw = {"us": us} if dim_u else {}
    m1, c1, mp1, cp1 = ours.batch_filter(zs, update_first=update_first, **kw)
    m2, c2, mp2, cp2 = ref.batch_filter(zs, update_first=update_first, **kw)
    assert_close(m1, m2, what="means")
    assert_close(c1, c2, what="covariances")
    assert_close(mp1, mp2, what="means_predicted")
    assert_close(cp1, cp2, what="covariances_predicted")
    assert_same_state(ours, ref, "after batch")

    xs1, Ps1, Ks1, Pps1 = ours.rts_smoother(m1, c1)
    xs2, Ps2, Ks2, Pps2 = ref.rts_smoother(m2, c2)
    assert_close(xs1, xs2, what="smoothed x")
    assert_close(Ps1, Ps2, what="smoothed P")
    assert_close(Ks1, Ks2, what="smoother gain")
    assert_close(Pps1, Pps2, what="smoother Pp")
    # smoothing must actually change something and not increase uncertainty
    assert np.max(np.abs(xs1 - m1)) > 1e-6
    assert np.all(np.trace(Ps1, axis1=1, axis2=2) <= np.trace(c1, axis1=1, axis2=2) + 1e-12)


def test_batch_filter_with_per_step_matrices_matches_filterpy():
    rng = np.random.default_rng(31)
    model = random_model(rng, 4, 2, 0)
    zs, _ = simulate(rng, model, 50, 0)
    zs[10] = None
    n = len(zs)
    Fs = [model["F"] + 0.01 * rng.standard_normal((4, 4)) for _ in range(n)]
    Qs = [random_spd(rng, 4, 0.1) for _ in range(n)]
    Rs = [random_spd(rng, 2, 0.4) for _ in range(n)]
    ours, ref = KalmanFilter(4, 2), FpKalmanFilter(4, 2)
    configure(ours, model)
    configure(ref, model)
    r1 = ours.batch_filter(zs, Fs=Fs, Qs=Qs, Rs=Rs)
    r2 = ref.batch_filter(zs, Fs=Fs, Qs=Qs, Rs=Rs)
    for a, b, what in zip(r1, r2, ("means", "covs", "means_p", "covs_p")):
        assert_close(a, b, what=what)
    s1 = ours.rts_smoother(r1[0], r1[1], Fs=Fs, Qs=Qs)
    s2 = ref.rts_smoother(r2[0], r2[1], Fs=Fs, Qs=Qs)
    for a, b, what in zip(s1, s2, ("x", "P", "K", "Pp")):
        assert_close(a, b, what=f"rts {what}")


def _sort_tracker(cls, bbox):
    """The Kalman box tracker of SORT (Bewley et al. 2016), verbatim initialisation."""
    kf = cls(dim_x=7, dim_z=4)
    kf.F = np.array([[1, 0, 0, 0, 1, 0, 0], [0, 1, 0, 0, 0, 1, 0], [0, 0, 1, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0, 0],
                     [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1]])
    kf.H = np.array([[1, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0]])
    kf.R[2:, 2:] *= 10.0
    kf.P[4:, 4:] *= 1000.0
    kf.P *= 10.0
    kf.Q[-1, -1] *= 0.01
    kf.Q[4:, 4:] *= 0.01
    kf.x[:4] = bbox
    return kf


def _bbox_to_z(b):
    w, h = b[2] - b[0], b[3] - b[1]
    return np.array([b[0] + w / 2.0, b[1] + h / 2.0, w * h, w / float(h)]).reshape((4, 1))


def test_sort_style_usage_in_place_matches_filterpy():
    rng = np.random.default_rng(5)
    box = np.array([100.0, 50.0, 160.0, 170.0])
    ours = _sort_tracker(KalmanFilter, _bbox_to_z(box))
    ref = _sort_tracker(FpKalmanFilter, _bbox_to_z(box))
    # the in-place edits reached the filter's own storage
    assert ours.R[2, 2] == 10.0 and ours.R[0, 0] == 1.0
    assert ours.P[5, 5] == 10000.0 and ours.P[0, 0] == 10.0
    assert ours.Q[6, 6] == pytest.approx(1e-4) and ours.Q[4, 4] == 0.01
    assert_close(ours.x, _bbox_to_z(box).tolist() + [[0.0]] * 3)
    assert_same_state(ours, ref, "SORT init")
    for k in range(60):
        for kf in (ours, ref):
            if (kf.x[6] + kf.x[2]) <= 0:
                kf.x[6] *= 0.0
            kf.predict()
        box = box + np.array([2.0, 1.0, 2.5, 1.0]) + rng.normal(0, 1.0, 4)
        if k % 10 != 9:
            ours.update(_bbox_to_z(box))
            ref.update(_bbox_to_z(box))
        assert_same_state(ours, ref, f"SORT step {k}")


# ------------------------------------------------------------------ error contract
@pytest.mark.parametrize(
    "name,value,expected",
    [
        ("F", np.eye(3), "(4, 4)"),
        ("H", np.zeros((2, 3)), "(2, 4)"),
        ("x", np.zeros(3), "(4,)"),
        ("x", np.zeros((5, 1)), "(4,)"),
        ("P", np.eye(5), "(4, 4)"),
        ("R", np.eye(3), "(2, 2)"),
    ],
)
def test_wrong_shape_assignment_raises_shape_error(name, value, expected):
    kf = KalmanFilter(4, 2)
    before = np.array(getattr(kf, name))
    with pytest.raises(ShapeError) as info:
        setattr(kf, name, value)
    msg = str(info.value)
    assert name in msg
    assert expected in msg, msg
    assert str(value.shape) in msg, msg
    assert isinstance(info.value, ValueError)
    np.testing.assert_array_equal(getattr(kf, name), before)


def _ready_filter():
    rng = np.random.default_rng(3)
    model = random_model(rng, 4, 2, 0)
    kf = KalmanFilter(4, 2)
    configure(kf, model)
    kf.predict()
    return kf


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_measurement_raises_and_leaves_state(bad):
    kf = _ready_filter()
    x0, P0 = kf.x.copy(), kf.P.copy()
    with pytest.raises(NumericalError):
        kf.update(np.array([1.0, bad]))
    np.testing.assert_array_equal(kf.x, x0)
    np.testing.assert_array_equal(kf.P, P0)
    assert isinstance(NumericalError("x"), ArithmeticError)


def test_non_positive_definite_R_raises_numerical_error():
    kf = _ready_filter()
    kf.P = 0.01 * np.eye(4)
    kf.H = np.eye(2, 4)
    x0, P0 = kf.x.copy(), kf.P.copy()
    with pytest.raises(NumericalError, match=r"KalmanFilter\.R: diagonal entry"):
        kf.R = -1.0 * np.eye(2)  # refused on assignment (session 7); the update checks it too
    with pytest.raises(NumericalError):
        kf.update(np.array([0.3, -0.2]), R=-1.0 * np.eye(2))
    np.testing.assert_array_equal(kf.x, x0)
    np.testing.assert_array_equal(kf.P, P0)
    with pytest.raises(NumericalError):  # also as a per-call override
        kf.R = np.eye(2)
        kf.update(np.array([0.3, -0.2]), R=-np.eye(2))
    np.testing.assert_array_equal(kf.x, x0)


def test_wrong_measurement_size_raises_shape_error():
    kf = _ready_filter()
    with pytest.raises(ShapeError, match=r"z"):
        kf.update(np.zeros(3))


def test_control_input_filterpy_style_and_pickling():
    """filterpy code sets B after construction, passes u=0 without a B, and deep-copies filters."""
    import copy
    import pickle

    kf = KalmanFilter(2, 1)
    assert kf.B is None and kf.dim_u == 0
    kf.F = np.array([[1.0, 0.1], [0.0, 1.0]])
    kf.H = np.array([[1.0, 0.0]])
    ref = FpKalmanFilter(2, 1)
    ref.F, ref.H = kf.F.copy(), kf.H.copy()
    kf.predict(u=0)  # u is ignored without a control matrix, as in filterpy
    ref.predict(u=0)
    kf.B = np.array([[0.005], [0.1]])
    ref.B = kf.B.copy()
    assert kf.dim_u == ref.dim_u == 0  # as filterpy: dim_u is the constructor argument
    for k in range(5):
        kf.predict(u=np.array([[2.0]]))
        kf.update(np.array([0.3 * k]))
        ref.predict(u=np.array([[2.0]]))  # column u: filterpy broadcasts a 1-D one
        ref.update(np.array([0.3 * k]))
    np.testing.assert_allclose(kf.x, ref.x, rtol=1e-12)
    kf.tag = "track 7"
    for clone in (copy.deepcopy(kf), pickle.loads(pickle.dumps(kf))):
        assert type(clone) is KalmanFilter and clone.tag == "track 7"
        np.testing.assert_array_equal(clone.x, kf.x)
        np.testing.assert_array_equal(clone.P, kf.P)
        np.testing.assert_array_equal(clone.B, kf.B)
        clone.predict(u=np.array([1.0]))  # independent storage
        assert not np.array_equal(clone.x, kf.x)
    kf.B = None
    assert kf.B is None and kf.dim_u == 0
