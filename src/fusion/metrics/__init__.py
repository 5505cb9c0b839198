"""Tracking and estimation metrics, independent of any dataset (numpy in, numpy out).

- :mod:`fusion.metrics.sequence`: :class:`SequenceData`, per-frame ids plus a similarity
  matrix, the input of the three multi-object tracking families below.
- :mod:`fusion.metrics.clear`: CLEAR MOT (MOTA, MOTP, IDSW, FRAG, MT/PT/ML).
- :mod:`fusion.metrics.hota`: HOTA (DetA, AssA, LocA and their recall/precision parts).
- :mod:`fusion.metrics.identity`: Identity (IDF1, IDR, IDP).

Each family has ``*_sequence`` (raw counts of one sequence) and ``*_combine`` (sum over
sequences, then ratios as fractions, 1.0 = 100 %).
"""

from fusion.metrics.clear import CLEAR_COUNTS, clear_combine, clear_sequence
from fusion.metrics.hota import HOTA_ALPHAS, hota_combine, hota_sequence
from fusion.metrics.identity import identity_combine, identity_sequence
from fusion.metrics.sequence import SequenceData

__all__ = [
    "SequenceData",
    "CLEAR_COUNTS", "clear_sequence", "clear_combine",
    "HOTA_ALPHAS", "hota_sequence", "hota_combine",
    "identity_sequence", "identity_combine",
]
