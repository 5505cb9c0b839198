"""Fuzz target: the IMM bank (fusion.filters.IMMBank) of each bound model set (CV+CV, CV+CTRV
with Position2D or RadarPolar, CV+CA, CV+CV+CV), both ``on_invalid`` modes, fed a sequence of
predicts (dt mostly plausible, sometimes any double), updates (measurements, masks and R mostly
plausible, sometimes NaN / inf / huge / not positive definite) and setter calls (``mu``,
``set_model_state``, ``R``).

Documented: the fusion.errors types; with on_invalid="skip" the bank's own RuntimeWarning
("IMMBank.update: n skipped"); any other warning is a finding. Checks after every call: x, P, mu finite; mu rows
sum to 1; P symmetric with a non-negative spectrum (to rounding); a predict or setter call that
raises with on_invalid="raise" changes no track (x, P, mu)."""

from __future__ import annotations

import warnings

import numpy as np

from fusion.errors import FusionError
from fusion.filters import IMMBank
from fusion.models import CA2D, CTRV, CV2D, Position2D, RadarPolar

from fuzz_harness import Bytes, Target

N = 4
_SETS = [
    (lambda: [CV2D(0.2), CV2D(5.0)], Position2D),
    (lambda: [CV2D(0.2), CTRV(0.5, 1.0)], Position2D),
    (lambda: [CV2D(0.2), CTRV(0.5, 1.0)], RadarPolar),
    (lambda: [CV2D(0.2), CA2D(1.0)], Position2D),
    (lambda: [CV2D(0.1), CV2D(1.0), CV2D(10.0)], Position2D),
]


def _check(bank: IMMBank) -> None:
    x, P, mu = bank.x, bank.P, bank.mu
    assert np.isfinite(x).all() and np.isfinite(P).all(), (x, P)
    assert np.isfinite(mu).all() and np.allclose(mu.sum(axis=1), 1.0, atol=1e-9), mu
    # Rounding in the mixture and the updates is relative to the largest covariance that enters
    # them: the combined P and every model's P of the track (a model whose variance reached
    # 1e277 through predictions of 1e130 s rounds everything it touches by eps * 1e277).
    model_scale = np.max([np.abs(bank.mode_P(k)).reshape(len(bank), -1).max(axis=1) for k in range(bank.n_models)],
                         axis=0)
    for i, Pi in enumerate(P):
        scale = max(1.0, float(np.abs(Pi).max()), float(model_scale[i]))
        assert np.allclose(Pi, Pi.T, rtol=1e-9, atol=1e-9 * scale), Pi
        assert np.linalg.eigvalsh(0.5 * (Pi + Pi.T)).min() >= -1e-6 * scale, np.linalg.eigvalsh(Pi)


def _snapshot(bank: IMMBank) -> bytes:
    return bank.x.tobytes() + bank.P.tobytes() + bank.mu.tobytes() + b"".join(
        bank.mode_x(k).tobytes() + bank.mode_P(k).tobytes() for k in range(bank.n_models))


def run(data: bytes) -> None:
    b = Bytes(data)
    head = b.u8()
    models, sensor = _SETS[head % len(_SETS)]
    strict = bool(head & 8)
    r = len(models())
    stay = 0.5 + 0.5 * b.real(0, 1)
    M = np.full((r, r), (1 - stay) / (r - 1))
    np.fill_diagonal(M, stay)
    bank = IMMBank(models(), sensor(), N, M=M, R=b.real(0.01, 4.0), on_invalid="raise" if strict else "skip")
    m = bank.dim_z
    radar = sensor is RadarPolar
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"IMMBank\.", category=RuntimeWarning)  # skip mode's count
        for k in range(r):  # start the tracks away from the radar's origin
            n_k = bank.model_dims[k]
            x0 = np.zeros((N, n_k))
            x0[:, 0] = 20.0
            bank.set_model_state(k, x=x0)
        while b.left() > 0:
            op = b.u8() % 6
            before = _snapshot(bank)
            raised = False
            try:
                if op in (0, 1):
                    bank.predict(b.number(0, 0.5))
                elif op in (2, 3):
                    lo_hi = [(1, 60), (-1.5, 1.5), (-20, 20)] if radar else [(-60, 60), (-60, 60)]
                    z = np.array([[b.number(*lo_hi[j]) for j in range(m)] for _ in range(N)])
                    mask = np.array([b.u8() % 4 != 0 for _ in range(N)]) if b.u8() & 1 else None
                    R = None
                    if b.u8() % 4 == 0:
                        R = np.array([np.eye(m) * b.number(1e-4, 10) for _ in range(N)])
                        if b.u8() % 8 == 0:
                            R[0, 0, m - 1] = b.number(-5, 5)  # not symmetric
                    bank.update(z, mask=mask, R=R)
                elif op == 4:
                    mu = np.array([[b.number(0, 1) for _ in range(r)] for _ in range(N)])
                    bank.mu = mu
                else:
                    k = b.u8() % r
                    n_k = bank.model_dims[k]
                    i = b.u8() % N
                    x = bank.mode_x(k).copy()
                    x[i] = [b.number(-100, 100) for _ in range(n_k)]
                    P = bank.mode_P(k).copy()
                    P[i] = np.eye(n_k) * b.number(1e-3, 100)
                    bank.set_model_state(k, x=x, P=P)
            except FusionError:
                raised = True
            if raised and (strict or op >= 4):
                assert _snapshot(bank) == before, f"a failed call (op {op}) changed the bank"
            _check(bank)


TARGET = Target("imm_bank", run)
