"""The fixed-width text table of ``fusion kitti eval`` and ``python -m fusion.kitti.report``.

Label columns are left aligned at their own widths; value columns are right aligned, 8
characters wide; a dashed rule follows the header.  :func:`format_cell` formats one metric:
``"%"`` kinds are fractions printed in percent with two decimals, ``"n"`` kinds are counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["CELL_WIDTH", "format_cell", "render_table"]

CELL_WIDTH = 8


def format_cell(value: float | None, kind: str, signed: bool = False) -> str:
    """One value as text: ``-`` for None, an integer for ``kind == "n"``, else ``100 * value``
    with two decimals (``nan`` stays ``nan``); ``signed`` adds a ``+`` to non-negative values."""
    if value is None:
        return "-"
    sign = "+" if signed else ""
    if kind == "n":
        return f"{int(value):{sign}d}"
    return f"{100.0 * value:{sign}.2f}"


def render_table(labels: Sequence[tuple[str, int]], columns: Sequence[str],
                 rows: Iterable[tuple[Sequence[str], Sequence[str]]]) -> str:
    """Render a table.

    Args:
        labels: ``(header, width)`` of each left-aligned label column.
        columns: headers of the right-aligned value columns.
        rows: ``(label cells, value cells)`` per row, already formatted (see :func:`format_cell`).
    """
    def line(left: Sequence[str], right: Sequence[str]) -> str:
        return "".join(f"{c:<{w}}" for c, (_, w) in zip(left, labels)) + "".join(f"{c:>{CELL_WIDTH}}" for c in right)

    head = line([h for h, _ in labels], columns)
    return "\n".join([head, "-" * len(head)] + [line(left, right) for left, right in rows])
