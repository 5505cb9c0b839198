"""Data association: exact minimum-cost linear assignment (dense, sparse CSR and gated) and
maximum-weight matching over positive weights."""

from fusion.assoc.linear_assignment import (
    GatedAssignment,
    gated_assignment,
    linear_sum_assignment,
    sparse_assignment,
    sparse_gated_assignment,
)
from fusion.assoc.matching import max_weight_matching

__all__ = [
    "GatedAssignment",
    "gated_assignment",
    "linear_sum_assignment",
    "max_weight_matching",
    "sparse_assignment",
    "sparse_gated_assignment",
]
