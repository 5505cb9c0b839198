"""Data association: exact minimum-cost linear assignment (dense, sparse CSR and gated)."""

from fusion.assoc.linear_assignment import (
    GatedAssignment,
    gated_assignment,
    linear_sum_assignment,
    sparse_assignment,
    sparse_gated_assignment,
)

__all__ = [
    "GatedAssignment",
    "gated_assignment",
    "linear_sum_assignment",
    "sparse_assignment",
    "sparse_gated_assignment",
]
