"""fusion.hil.streams: the non-CAN sensor stream format (CSV / Parquet), frames grouped by
(t_ns, sensor), bad rows (strict raises, lenient skips + counts + bounded warnings), and parity
with pyarrow's own CSV reader on the same file."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from pathlib import Path

import can
import numpy as np
import pytest

from fusion.hil.errors import MissingExtraError, StreamError
from fusion.hil.streams import MAX_WARNINGS, StreamFrame, StreamWarning, is_stream_file, read_stream, write_stream

LIDAR = ("x", "y", "z", "yaw", "l", "w", "h")
CAM = ("x1", "y1", "x2", "y2")
COMP = {"lidar": LIDAR, "cam": CAM}
HEAD = "t_ns,sensor,x,y,z,yaw,l,w,h,score,class_id\n"


def _frames(rng: np.random.Generator, n_frames: int = 30) -> list[StreamFrame]:
    out = []
    for k in range(n_frames):
        t = 1_000_000_000 + 50_000_000 * k
        for name, comp in COMP.items():
            if name == "cam" and k % 2:
                continue
            n = int(rng.integers(0, 5))
            out.append(StreamFrame(t, name, rng.normal(0, 30, (n, len(comp))), rng.uniform(0, 1, n),
                                   rng.integers(-1, 3, n).astype(np.int32)))
    return out


def _equal(a: list[StreamFrame], b: list[StreamFrame]) -> None:
    assert len(a) == len(b)
    for fa, fb in zip(a, b):
        assert (fa.t_ns, fa.sensor) == (fb.t_ns, fb.sensor)
        assert fb.z.dtype == np.float64 and fb.class_id.dtype == np.int32
        np.testing.assert_array_equal(fa.z, fb.z)  # exact: the shortest repr reads back to the same double
        np.testing.assert_array_equal(fa.score, fb.score)
        np.testing.assert_array_equal(fa.class_id, fb.class_id)


def _write(tmp_path: Path, text: str, name: str = "s.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_csv_round_trip_is_exact_and_deterministic(tmp_path: Path) -> None:
    frames = _frames(np.random.default_rng(1))
    n = write_stream(tmp_path / "a.csv", frames, components=COMP)
    write_stream(tmp_path / "b.csv", frames, components=COMP)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert n == sum(max(len(f.z), 1) for f in frames)  # an empty frame is one row
    _equal(frames, list(read_stream(tmp_path / "a.csv", components=COMP)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]  # no temporary left


def test_parquet_round_trip_and_same_frames_as_csv(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    frames = _frames(np.random.default_rng(2))
    write_stream(tmp_path / "a.parquet", frames, components=COMP)
    write_stream(tmp_path / "a.csv", frames, components=COMP)
    assert is_stream_file(tmp_path / "a.parquet")
    _equal(frames, list(read_stream(tmp_path / "a.parquet", components=COMP)))
    _equal(list(read_stream(tmp_path / "a.csv", components=COMP)),
           list(read_stream(tmp_path / "a.parquet", components=COMP)))


def test_values_match_pyarrows_csv_reader(tmp_path: Path) -> None:
    """Parity with an independent reader of the same file: pyarrow.csv gives the same numbers."""
    pacsv = pytest.importorskip("pyarrow.csv")
    frames = _frames(np.random.default_rng(3))
    path = tmp_path / "s.csv"
    write_stream(path, frames, components=COMP)
    table = pacsv.read_csv(path).to_pydict()
    ours = list(read_stream(path, components=COMP))
    rows = [(f.t_ns, f.sensor, tuple(z), s, c) for f in ours for z, s, c in zip(f.z.tolist(), f.score, f.class_id)]
    ref = []
    for i in range(len(table["t_ns"])):
        comp = COMP[table["sensor"][i]]
        if table[comp[0]][i] is None:
            continue  # an empty-frame row
        ref.append((table["t_ns"][i], table["sensor"][i], tuple(table[c][i] for c in comp), table["score"][i],
                    table["class_id"][i]))
    assert rows == ref


def test_rows_grouped_into_frames_by_time_and_sensor(tmp_path: Path) -> None:
    p = _write(tmp_path, HEAD.replace(",score,class_id", ",x1,y1,x2,y2,score,class_id") +
               "100,lidar,1,2,3,0,4,2,1.5,,,,,0.9,0\n"
               "100,cam,,,,,,,,10,20,30,40,,2\n"
               "100,lidar,5,6,7,0,4,2,1.5,,,,,,\n"
               "\n"
               "200,lidar,,,,,,,,,,,,,\n"       # an empty lidar frame
               "200,cam,,,,,,,,1,2,3,4,0.5,1\n"
               "300,cam,,,,,,,,1,2,3,5,0.5,1\n"
               "300,cam,,,,,,,,1,2,3,6,0.5,1\n")
    frames = list(read_stream(p, components=COMP))
    assert [(f.t_ns, f.sensor, len(f.z)) for f in frames] == [(100, "lidar", 2), (100, "cam", 1), (200, "lidar", 0),
                                                             (200, "cam", 1), (300, "cam", 2)]
    np.testing.assert_array_equal(frames[0].z, [[1, 2, 3, 0, 4, 2, 1.5], [5, 6, 7, 0, 4, 2, 1.5]])
    np.testing.assert_array_equal(frames[0].score, [0.9, 1.0])    # an empty score is 1.0
    np.testing.assert_array_equal(frames[0].class_id, [0, -1])    # an empty class is -1 (unknown)
    assert frames[2].z.shape == (0, 7) and frames[4].z[:, 3].tolist() == [5.0, 6.0]


def test_optional_columns_may_be_absent(tmp_path: Path) -> None:
    p = _write(tmp_path, "t_ns,sensor,x1,y1,x2,y2\n5,cam,1,2,3,4\n")
    (f,) = read_stream(p, components={"cam": CAM})
    assert f.score.tolist() == [1.0] and f.class_id.tolist() == [-1]


def test_integral_float_class_ids_are_accepted(tmp_path: Path) -> None:
    """pandas stores an integer column with empty cells as float64: 2.0 is class 2."""
    p = _write(tmp_path, "t_ns,sensor,x1,y1,x2,y2,class_id\n5,cam,1,2,3,4,2.0\n5,cam,1,2,3,4,\n")
    (f,) = read_stream(p, components={"cam": CAM}, strict=True)
    assert f.class_id.tolist() == [2, -1]
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"t_ns": [5, 6], "sensor": ["cam", "cam"], "x1": [1.0, 1.0], "y1": [2.0, 2.0],
                             "x2": [3.0, 3.0], "y2": [4.0, 4.0], "class_id": [1.0, None]}), tmp_path / "c.parquet")
    assert [f.class_id.tolist() for f in read_stream(tmp_path / "c.parquet", components={"cam": CAM},
                                                     strict=True)] == [[1], [-1]]
    with pytest.raises(StreamError, match="t_ns"):  # never a float timestamp
        list(read_stream(_write(tmp_path, "t_ns,sensor,x1,y1,x2,y2\n5.0,cam,1,2,3,4\n"), components={"cam": CAM},
                         strict=True))


BAD_ROWS = [
    ("10,lidar,1,2,3,0,4,2,abc,0.9,0\n", "h", "expected a number", "not_a_number"),
    ("10,lidar,1,2,3,0,4,2,nan,0.9,0\n", "h", "finite", "not_finite"),
    ("10,lidar,1,2,3,0,4,2,inf,0.9,0\n", "h", "finite", "not_finite"),
    ("10,lidar,1,2,,0,4,2,1,0.9,0\n", "z", "empty where a number is required", "empty"),
    ("10,lidar,1,2,3,0,4,2,1,0.9\n", None, "expected 11 columns", "columns"),
    ("10,lidar,1,2,3,0,4,2,1,0.9,0,7\n", None, "expected 11 columns", "columns"),
    ("10,radar,1,2,3,0,4,2,1,0.9,0\n", "sensor", "unknown sensor 'radar'", "unknown_sensor"),
    ("1.5e9,lidar,1,2,3,0,4,2,1,0.9,0\n", "t_ns", "expected an integer", "not_a_number"),
    ("10,lidar,1,2,3,0,4,2,1,high,0\n", "score", "expected a number", "not_a_number"),
    ("10,lidar,1,2,3,0,4,2,1,0.9,car\n", "class_id", "expected a number", "not_a_number"),
    ("10,lidar,1,2,3,0,4,2,1,0.9,1.5\n", "class_id", "expected an integer", "not_a_number"),
    ("5,lidar,1,2,3,0,4,2,1,0.9,0\n", "t_ns", "goes backwards", "backwards"),
]


@pytest.mark.parametrize(("row", "column", "reason", "kind"), BAD_ROWS)
def test_bad_row_strict_raises_naming_file_line_column(tmp_path: Path, row: str, column: str | None, reason: str,
                                                       kind: str) -> None:
    p = _write(tmp_path, HEAD + "8,lidar,1,2,3,0,4,2,1,0.9,0\n" + row + "20,lidar,1,2,3,0,4,2,1,0.9,0\n")
    got: list[StreamFrame] = []
    with pytest.raises(StreamError, match=reason) as ei:
        for f in read_stream(p, components={"lidar": LIDAR}, strict=True):
            got.append(f)
    e = ei.value
    assert (e.path, e.line, e.column) == (p, 3, column)
    assert str(e).startswith(f"{p}:3")
    assert [f.t_ns for f in got] == [8]  # the frame before the bad row was delivered


@pytest.mark.parametrize(("row", "column", "reason", "kind"), BAD_ROWS)
def test_bad_row_lenient_skips_counts_and_warns(tmp_path: Path, row: str, column: str | None, reason: str,
                                                kind: str) -> None:
    p = _write(tmp_path, HEAD + "8,lidar,1,2,3,0,4,2,1,0.9,0\n" + row + "20,lidar,1,2,3,0,4,2,1,0.9,0\n")
    stats: Counter[str] = Counter()
    with pytest.warns(StreamWarning, match=f"{p.name}:3.*row skipped"):
        frames = list(read_stream(p, components={"lidar": LIDAR}, stats=stats))
    assert [f.t_ns for f in frames] == [8, 20]
    assert stats["bad_rows"] == 1 and stats[f"bad_rows.{kind}"] == 1 and stats["rows"] == 3
    assert stats["frames"] == 2


def test_warnings_are_bounded(tmp_path: Path) -> None:
    p = _write(tmp_path, HEAD + "".join(f"{10 + i},lidar,1,2,x,0,4,2,1,,\n" for i in range(40)) +
               "99,lidar,1,2,3,0,4,2,1,,\n")
    stats: Counter[str] = Counter()
    with pytest.warns(StreamWarning) as rec:
        frames = list(read_stream(p, components={"lidar": LIDAR}, stats=stats))
    assert len(rec) == MAX_WARNINGS + 1 and "more than" in str(rec[-1].message)
    assert stats["bad_rows"] == 40 and [f.t_ns for f in frames] == [99]


def test_not_utf8_and_nul_lines_are_bad_rows(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_bytes(HEAD.encode() + b"1,lidar,1,2,3,0,4,2,1,,\n2,li\xffdar,1,2,3,0,4,2,1,,\n3,lidar,1,2,\x00,0,4,2,1,,\n"
                  b"4,lidar,1,2,3,0,4,2,1,,\n")
    with pytest.raises(StreamError, match="not UTF-8") as ei:
        list(read_stream(p, components={"lidar": LIDAR}, strict=True))
    assert ei.value.line == 3
    stats: Counter[str] = Counter()
    with pytest.warns(StreamWarning):
        frames = list(read_stream(p, components={"lidar": LIDAR}, stats=stats))
    assert [f.t_ns for f in frames] == [1, 4] and stats["bad_rows"] == 2


@pytest.mark.parametrize(("text", "match"), [
    ("", "empty file"),
    ("time,sensor,x\n1,lidar,2\n", "start with t_ns,sensor"),
    ("t_ns,sensor,x,x\n", "more than once"),
    ("t_ns,sensor,x,y,z\n1,lidar,1,2,3\n", "needs component column"),
])
def test_bad_header_raises_in_both_modes(tmp_path: Path, text: str, match: str) -> None:
    p = _write(tmp_path, text)
    for strict in (True, False):
        with pytest.raises(StreamError, match=match) as ei:
            list(read_stream(p, components={"lidar": LIDAR}, strict=strict))
        assert ei.value.line == 1


def test_is_stream_file(tmp_path: Path) -> None:
    stream = _write(tmp_path, HEAD + "1,lidar,1,2,3,0,4,2,1,,\n")
    assert is_stream_file(stream)
    quoted = _write(tmp_path, '\ufeff"t_ns","sensor","x"\n', "q.csv")
    assert is_stream_file(quoted)
    log = tmp_path / "log.csv"  # python-can's own CSV log format
    with can.CSVWriter(str(log)) as w:
        w.on_message_received(can.Message(timestamp=1.0, arbitration_id=0x100, data=b"\x01\x02"))
    assert not is_stream_file(log)
    assert not is_stream_file(_write(tmp_path, HEAD, "s.asc"))
    assert not is_stream_file(tmp_path / "missing.csv")
    assert not is_stream_file(tmp_path)


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    frames = _frames(np.random.default_rng(4), 2)
    for call in (lambda: write_stream(tmp_path / "a.parquet", frames, components=COMP),
                 lambda: list(read_stream(tmp_path / "a.parquet", components=COMP)),
                 lambda: is_stream_file(tmp_path / "a.parquet")):
        with pytest.raises(MissingExtraError, match=r"fusion\[parquet\]"):
            call()
    assert list(tmp_path.iterdir()) == []


def test_write_stream_refuses_bad_frames_and_leaves_nothing(tmp_path: Path) -> None:
    good = StreamFrame(5, "cam", np.ones((1, 4)), np.ones(1), np.zeros(1, np.int32))
    cases = [
        (StreamFrame(5, "radar", np.ones((1, 3)), np.ones(1), np.zeros(1, np.int32)), "unknown sensor"),
        (StreamFrame(6, "cam", np.ones((1, 3)), np.ones(1), np.zeros(1, np.int32)), "expected z"),
        (StreamFrame(6, "cam", np.full((1, 4), np.nan), np.ones(1), np.zeros(1, np.int32)), "finite"),
        (StreamFrame(4, "cam", np.ones((1, 4)), np.ones(1), np.zeros(1, np.int32)), "backwards"),
    ]
    for bad, match in cases:
        with pytest.raises(ValueError, match=match):
            write_stream(tmp_path / "s.csv", [good, bad], components=COMP)
    with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
        write_stream(tmp_path / "s.txt", [good], components=COMP)
    assert list(tmp_path.iterdir()) == []


def test_concurrent_readers_of_one_file_agree(tmp_path: Path) -> None:
    """Thread safety (module docstring): readers of the same file in several threads."""
    frames = _frames(np.random.default_rng(5), 200)
    write_stream(tmp_path / "s.csv", frames, components=COMP)
    results: list[list[StreamFrame]] = [[] for _ in range(4)]

    def run(i: int) -> None:
        results[i] = list(read_stream(tmp_path / "s.csv", components=COMP))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        _equal(frames, r)
