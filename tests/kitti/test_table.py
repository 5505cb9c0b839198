"""The fixed-width tables of ``fusion kitti eval`` and ``python -m fusion.kitti.report``: one
renderer, output unchanged from the two renderers it replaced (expected text captured from them)."""

from __future__ import annotations

import math

from fusion.kitti.cli import format_table
from fusion.kitti.report import format_comparison
from fusion.kitti.table import format_cell, render_table

EVAL_RESULTS = {
    "car": {"HOTA": 0.73614, "DetA": 0.5, "AssA": 1.0, "MOTA": -0.39941, "MOTP": 0.87, "IDSW": 20, "FRAG": 3.0,
            "IDF1": math.nan, "sAMOTA": 0.8895, "AMOTA": 0.41245},  # no AMOTP: printed as "-"
    "cyclist": {"HOTA": 0.0, "DetA": 0.0, "AssA": 0.0, "MOTA": 0.0, "MOTP": 0.0, "IDSW": 0, "FRAG": 0, "IDF1": 0.0,
                "sAMOTA": 0.0, "AMOTA": 0.0, "AMOTP": 0.0},
}
EVAL_TABLE = [
    'category       HOTA    DetA    AssA    MOTA    MOTP    IDSW    FRAG    IDF1  sAMOTA   AMOTA   AMOTP',
    '---------------------------------------------------------------------------------------------------',
    'car           73.61   50.00  100.00  -39.94   87.00      20       3     nan   88.95   41.24       -',
    'cyclist        0.00    0.00    0.00    0.00    0.00       0       0    0.00    0.00    0.00    0.00',
]

COMPARISON = {
    "ours": {"car": {"HOTA": 0.7361, "DetA": 0.6977, "AssA": 0.7781, "MOTA": 0.7865, "IDSW": 20, "sAMOTA": 0.8895,
                     "AMOTA": 0.4124},
             "pedestrian": {"HOTA": 0.4138, "DetA": 0.3534, "AssA": 0.4869, "MOTA": 0.4077, "IDSW": 6,
                            "sAMOTA": 0.6599, "AMOTA": 0.2465}},
    "baseline": {"car": {"HOTA": 0.6907, "DetA": 0.6491, "AssA": 0.7368, "MOTA": 0.7012, "IDSW": 96,
                         "sAMOTA": 0.8704, "AMOTA": 0.4024},
                 "pedestrian": {"HOTA": 0.3187, "DetA": 0.2289, "AssA": 0.4466, "MOTA": -0.3994, "IDSW": 15,
                                "sAMOTA": 0.6216, "AMOTA": 0.2362}},
    "fps": {"ours": 12345.6, "baseline": 23456.7},
}
COMPARISON_TABLE = [
    'category   tracker       HOTA    DetA    AssA    MOTA    IDSW  sAMOTA   AMOTA',
    '-----------------------------------------------------------------------------',
    'car        ours         73.61   69.77   77.81   78.65      20   88.95   41.24',
    'car        baseline     69.07   64.91   73.68   70.12      96   87.04   40.24',
    'car        delta        +4.54   +4.86   +4.13   +8.53     -76   +1.91   +1.00',
    'pedestrian ours         41.38   35.34   48.69   40.77       6   65.99   24.65',
    'pedestrian baseline     31.87   22.89   44.66  -39.94      15   62.16   23.62',
    'pedestrian delta        +9.51  +12.45   +4.03  +80.71      -9   +3.83   +1.03',
    'tracking FPS (frames / s inside Tracker.step, all categories): ours 12346, baseline 23457',
]


def test_eval_table_text() -> None:
    assert format_table(EVAL_RESULTS).split("\n") == EVAL_TABLE


def test_comparison_table_text() -> None:
    assert format_comparison(COMPARISON).split("\n") == COMPARISON_TABLE


def test_cells_and_layout() -> None:
    assert [format_cell(None, "%"), format_cell(7.0, "n"), format_cell(-3, "n", signed=True),
            format_cell(0.12345, "%"), format_cell(0.0, "%", signed=True), format_cell(math.nan, "%")] == \
        ["-", "7", "-3", "12.35", "+0.00", "nan"]
    text = render_table([("a", 3), ("bb", 4)], ["x", "yy"], [(["1", "2"], ["3", "4"])])
    assert text.splitlines() == ["a  bb         x      yy", "-" * 23, "1  2          3       4"]
