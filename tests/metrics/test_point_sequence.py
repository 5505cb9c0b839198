"""Point targets through HOTA, CLEAR and Identity: parity with TrackEval's metric classes fed
the same sequence (ids and distance similarities), plus a hand-computed case."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import trackeval
from _point_tracks import random_sequence

from fusion.errors import ConfigurationError
from fusion.metrics import (
    clear_combine,
    clear_sequence,
    hota_combine,
    hota_sequence,
    identity_combine,
    identity_sequence,
    point_sequence,
)


def trackeval_data(seq) -> dict:
    return {"num_timesteps": seq.num_frames, "num_gt_ids": seq.num_gt_ids, "num_tracker_ids": seq.num_tracker_ids,
            "num_gt_dets": seq.num_gt_dets, "num_tracker_dets": seq.num_tracker_dets, "gt_ids": seq.gt_ids,
            "tracker_ids": seq.tracker_ids, "similarity_scores": seq.similarity}


@pytest.mark.parametrize("seed", [0, 1, 4])
def test_parity_with_trackeval(seed: int) -> None:
    ti, tp, ei, ep = random_sequence(seed, T=40)
    seq = point_sequence(ti, tp, ei, ep, max_distance=3.0)
    data = trackeval_data(seq)
    with contextlib.redirect_stdout(io.StringIO()):
        h_m = trackeval.metrics.HOTA()
        c_m = trackeval.metrics.CLEAR({"PRINT_CONFIG": False})
        i_m = trackeval.metrics.Identity({"PRINT_CONFIG": False})
        h = h_m.combine_sequences({"s": h_m.eval_sequence(data)})
        c = c_m.combine_sequences({"s": c_m.eval_sequence(data)})
        i = i_m.combine_sequences({"s": i_m.eval_sequence(data)})
    ours_h = hota_combine([hota_sequence(seq)])
    ours_c = clear_combine([clear_sequence(seq)])
    ours_i = identity_combine([identity_sequence(seq)])
    for k in ("HOTA", "DetA", "AssA", "LocA"):
        assert ours_h[k] == pytest.approx(float(np.mean(h[k])), abs=1e-9), k
    assert ours_c["MOTA"] == pytest.approx(float(c["MOTA"]), abs=1e-9)
    assert ours_c["IDSW"] == c["IDSW"]
    assert ours_i["IDF1"] == pytest.approx(float(i["IDF1"]), abs=1e-9)
    assert 0.0 < ours_h["HOTA"] < 1.0


def test_similarity_is_linear_in_distance() -> None:
    seq = point_sequence([np.array([1, 2])], [np.array([[0.0, 0.0], [10.0, 0.0]])], [np.array([5])],
                         [np.array([[0.0, 0.5]])], max_distance=2.0)
    assert seq.similarity[0].tolist() == [[0.75], [0.0]]
    # perfect tracking of one point: every metric at its best
    pts = [np.array([[float(t), 0.0]]) for t in range(5)]
    ids = [np.array([3])] * 5
    s = point_sequence(ids, pts, ids, pts, max_distance=1.0)
    assert hota_combine([hota_sequence(s)])["HOTA"] == pytest.approx(1.0)
    assert identity_combine([identity_sequence(s)])["IDF1"] == 1.0


def test_bad_max_distance() -> None:
    with pytest.raises(ConfigurationError, match="max_distance"):
        point_sequence([], [], [], [], max_distance=0.0)
