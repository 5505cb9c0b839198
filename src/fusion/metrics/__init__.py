"""Tracking and estimation metrics, independent of any dataset (numpy in, numpy out).

- :mod:`fusion.metrics.sequence`: :class:`SequenceData`, per-frame ids plus a similarity
  matrix, the input of the three multi-object tracking families below.
- :mod:`fusion.metrics.clear`: CLEAR MOT (MOTA, MOTP, IDSW, FRAG, MT/PT/ML).
- :mod:`fusion.metrics.hota`: HOTA (DetA, AssA, LocA and their recall/precision parts).
- :mod:`fusion.metrics.identity`: Identity (IDF1, IDR, IDP).
- :mod:`fusion.metrics.ospa`: point-set distances OSPA and GOSPA, and ``match_ids``.
- :mod:`fusion.metrics.gospa_time`: GOSPA over time with its switching part
  (:func:`gospa_over_time`), and point targets as a SequenceData (:func:`point_sequence`).
- :mod:`fusion.metrics.consistency`: NEES / NIS and their chi-square acceptance band.

The three multi-object tracking families have ``*_sequence`` (raw counts of one sequence) and
``*_combine`` (sum over sequences, then ratios as fractions, 1.0 = 100 %).
"""

from fusion.metrics.clear import CLEAR_COUNTS, clear_combine, clear_sequence
from fusion.metrics.consistency import (
    ConsistencyTest,
    average_nees,
    average_nis,
    chi2_band,
    chi2_quantile,
    nees,
    nis,
)
from fusion.metrics.gospa_time import GospaOverTime, gospa_over_time, point_sequence
from fusion.metrics.hota import HOTA_ALPHAS, hota_combine, hota_sequence
from fusion.metrics.identity import identity_combine, identity_sequence
from fusion.metrics.ospa import GospaResult, gospa, match_ids, ospa
from fusion.metrics.sequence import SequenceData

__all__ = [
    "CLEAR_COUNTS",
    "HOTA_ALPHAS",
    "ConsistencyTest",
    "GospaOverTime",
    "GospaResult",
    "SequenceData",
    "average_nees",
    "average_nis",
    "chi2_band",
    "chi2_quantile",
    "clear_combine",
    "clear_sequence",
    "gospa",
    "gospa_over_time",
    "hota_combine",
    "hota_sequence",
    "identity_combine",
    "identity_sequence",
    "match_ids",
    "nees",
    "nis",
    "ospa",
    "point_sequence",
]
