"""CAN log input (fusion.hil.logs): every python-can format, several logs merged, channel
remapping, and damaged files reported as typed errors naming the file (and line)."""

from __future__ import annotations

import gzip
import importlib.util
import warnings
from pathlib import Path

import can
import pytest

from fusion.hil.errors import CanLogError, MissingExtraError
from fusion.hil.logs import LogFrame, read_log, read_logs

T0 = 1_700_000_000.0  # epoch seconds: python-can's float timestamps keep ~0.5 us here
N = 60

# What each writer keeps: timestamp resolution (ns) and the channel as read back for channel 0/1.
FORMATS = {
    ".asc": (1_000, ("0", "1")),  # read with relative_timestamp=False
    ".blf": (1_000, ("0", "1")),
    ".csv": (1_000, ("", "")),  # the CSV format has no channel column
    ".db": (1_000, ("", "")),  # nor has python-can's SQLite table
    ".log": (1_000, ("can0", "can1")),
    ".trc": (1_000, ("1", "2")),  # TRC buses are numbered from 1
    ".mf4": (1_000, ("0", "1")),
}


def _messages(n: int = N, t0: float = T0, step: float = 0.0123457) -> list[can.Message]:
    out = []
    for i in range(n):
        ext = i % 3 == 0
        out.append(can.Message(timestamp=t0 + i * step, arbitration_id=(0x18FF0000 + i) if ext else 0x100 + i,
                               is_extended_id=ext, data=bytes((i * k) % 256 for k in range(1, 1 + (i % 9))),
                               channel=i % 2))
    return out


def _write(path: Path, msgs: list[can.Message]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # asammdf/python-can writer deprecation chatter, not ours
        with can.Logger(path) as writer:
            for m in msgs:
                writer.on_message_received(m)


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_round_trip_through_each_python_can_writer(tmp_path: Path, suffix: str) -> None:
    if suffix == ".mf4" and importlib.util.find_spec("asammdf") is None:
        pytest.skip("MF4 needs asammdf (pip install 'fusion[mf4]')")
    resolution_ns, channels = FORMATS[suffix]
    msgs = _messages()
    path = tmp_path / f"drive{suffix}"
    _write(path, msgs)
    kwargs = {"relative_timestamp": False} if suffix == ".asc" else {}
    back = list(read_log(path, {channels[0]: "radar", channels[1]: "vehicle"} if channels[0] else None, **kwargs))
    assert len(back) == N
    for i, (f, m) in enumerate(zip(back, msgs)):
        assert (f.arbitration_id, f.is_extended_id, f.data, f.dlc) == (m.arbitration_id, m.is_extended_id,
                                                                       bytes(m.data), m.dlc)
        assert abs(f.t_ns - round(m.timestamp * 1e9)) <= resolution_ns
        assert f.frame_index == i and f.source == 0
        if channels[0]:
            assert f.channel == ("radar" if m.channel == 0 else "vehicle")


def test_python_can_fixtures_read_as_can_logreader_does(shared_data: Path) -> None:
    folder = shared_data / "can" / "python-can-testdata"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")  # the can_data fixture covers the strict CI case
    files = sorted(p for p in folder.iterdir() if p.name != "LICENSE.txt")
    assert len(files) >= 14
    for path in files:
        ours = list(read_log(path))
        with can.LogReader(path) as reader:
            ref = list(reader)
        assert len(ours) == len(ref) > 0, path.name
        for f, m in zip(ours, ref):
            assert (f.arbitration_id, f.data, f.is_fd, f.is_error_frame, f.is_remote_frame, f.channel) == (
                m.arbitration_id, bytes(m.data), m.is_fd, m.is_error_frame, m.is_remote_frame,
                "" if m.channel is None else str(m.channel)), path.name
            assert f.t_ns == round(m.timestamp * 1e9)


def test_fixture_folder_is_present_in_ci(can_data: Path) -> None:
    assert (can_data / "python-can-testdata" / "logfile.asc").is_file()


def test_mf4_drive_reads_through_asammdf(can_data: Path) -> None:
    if importlib.util.find_spec("asammdf") is None:
        with pytest.raises(MissingExtraError, match=r"fusion\[mf4\]"):
            next(read_log(next((can_data / "css-electronics").rglob("*.MF4"))))
        return
    path = can_data / "css-electronics" / "3BA199E2" / "00000164" / "00000005-60FEB5A8.MF4"
    frames = list(read_log(path, {2: "gnss_imu"}))
    assert len(frames) == 5477
    assert {f.channel for f in frames} == {"gnss_imu", "1"}
    assert sum(f.arbitration_id == 0x9 for f in frames if f.channel == "gnss_imu") > 4000  # gnss_imu ~100 Hz


def test_merge_is_by_time_and_stable_for_equal_times(tmp_path: Path) -> None:
    a = _messages(30, T0, 0.01)
    b = _messages(30, T0 + 0.005, 0.01)  # interleaves with a
    c = _messages(10, T0, 0.01)  # the same times as a's first 10
    for name, msgs in (("a.blf", a), ("b.log", b), ("c.asc", c)):
        _write(tmp_path / name, msgs)
    merged = list(read_logs([tmp_path / "a.blf", tmp_path / "b.log", tmp_path / "c.asc"],
                            [{"0": "front"}, {"can0": "front"}, None], relative_timestamp=False))
    assert len(merged) == 70
    keys = [(f.t_ns, f.source, f.frame_index) for f in merged]
    assert keys == sorted(keys)
    # equal times: a's frame (source 0) before c's (source 2), each file's own order kept
    ties = [(f.source, f.frame_index) for f in merged if f.t_ns == merged[0].t_ns]
    assert ties == [(0, 0), (2, 0)]
    assert {f.channel for f in merged if f.source in (0, 1)} == {"front", "1", "can1"}
    assert merged == list(read_logs([tmp_path / "a.blf", tmp_path / "b.log", tmp_path / "c.asc"],
                                    [{"0": "front"}, {"can0": "front"}, None], relative_timestamp=False))
    with pytest.raises(ValueError, match="one mapping per log"):
        read_logs([tmp_path / "a.blf"], [None, None])


def test_empty_log_yields_nothing(tmp_path: Path) -> None:
    _write(tmp_path / "empty.log", [])
    assert list(read_log(tmp_path / "empty.log")) == []


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "x.pcap").write_bytes(b"\x00")
    with pytest.raises(CanLogError, match=r"x\.pcap: unknown log format '\.pcap': python-can reads .*\.blf"):
        list(read_log(tmp_path / "x.pcap"))
    with pytest.raises(CanLogError, match="no such file"):
        list(read_log(tmp_path / "nothere.asc"))


@pytest.mark.parametrize("suffix", [".asc", ".log", ".trc", ".csv"])
def test_binary_garbage_in_a_text_log_names_file_and_line(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"bad{suffix}"
    _write(path, _messages(20))
    lines = path.read_bytes().splitlines(keepends=True)
    bad_line = len(lines) // 2
    lines[bad_line] = b"\xff\xfe\x00garbage\x9c\n"
    path.write_bytes(b"".join(lines))
    frames: list[LogFrame] = []
    with pytest.raises(CanLogError) as info:
        frames.extend(read_log(path))
    err = info.value
    assert err.path == path and err.line == bad_line + 1
    assert f"{path}:{bad_line + 1}" in str(err)
    assert err.frame_index == len(frames) > 0  # the frames before the damage were delivered


def test_malformed_line_in_candump_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.log"
    path.write_text("(1.000000) can0 123#0102\n(1.100000) can0 12G#zz\n")
    frames: list[LogFrame] = []
    with pytest.raises(CanLogError, match=r"bad\.log:2 \(after 1 frames\)"):
        frames.extend(read_log(path))
    assert [f.arbitration_id for f in frames] == [0x123]


def test_standard_id_above_7ff_in_candump_names_the_line(tmp_path: Path) -> None:
    """candump writes 3 hex digits for an 11-bit id and 8 for a 29-bit one: '900' is no CAN frame
    (python-can reads it as a standard id of 0x900); the extended 00000900 and 7FF are fine."""
    path = tmp_path / "ids.log"
    path.write_text("(1.000000) can0 7FF#01\n(1.050000) can0 00000900#02\n(1.100000) can0 900#03\n")
    frames: list[LogFrame] = []
    with pytest.raises(CanLogError, match=r"ids\.log:3 \(after 2 frames\).*0x900 is above 0x7FF.*8 hex digits"):
        frames.extend(read_log(path))
    assert [(f.arbitration_id, f.is_extended_id) for f in frames] == [(0x7FF, False), (0x900, True)]


def test_gzip_text_log_and_its_corruption(tmp_path: Path) -> None:
    plain = tmp_path / "d.asc"
    _write(plain, _messages(10))
    gz = tmp_path / "d.asc.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    assert len(list(read_log(gz))) == 10
    gz.write_bytes(gzip.compress(plain.read_bytes())[:-30])  # truncated stream
    with pytest.raises(CanLogError, match=r"d\.asc\.gz"):
        list(read_log(gz))


@pytest.mark.parametrize("cut", [0.3, 0.7, 0.95])
def test_truncated_blf_is_a_typed_error_after_the_intact_frames(tmp_path: Path, cut: float) -> None:
    path = tmp_path / "d.blf"
    msgs = _messages(3000)
    _write(path, msgs)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    frames: list[LogFrame] = []
    with pytest.raises(CanLogError, match="truncated or corrupt BLF") as info:
        frames.extend(read_log(path))
    assert info.value.path == path and info.value.frame_index == len(frames)
    # what was delivered is an exact prefix of what was written
    assert len(frames) < 3000
    assert [f.data for f in frames] == [bytes(m.data) for m in msgs[: len(frames)]]


def test_corrupt_blf_and_sqlite_are_typed_errors(tmp_path: Path) -> None:
    for name in ("x.blf", "x.db", "x.mf4"):
        path = tmp_path / name
        path.write_bytes(b"LOGG" + bytes(range(256)) * 8)
        if name == "x.mf4" and importlib.util.find_spec("asammdf") is None:
            continue
        with pytest.raises(CanLogError, match=str(path)):
            list(read_log(path))


@pytest.mark.parametrize("damage", ["   9)  garbage line here !!", "      9        90.000 DT"])
def test_damaged_trc_line_is_a_typed_error_not_a_silent_skip(tmp_path: Path, damage: str) -> None:
    # python-can's TRC reader logs and drops a line it cannot parse (a wrong record type, a line
    # cut short); read_log reports it as damage naming the line, after the intact frames.
    path = tmp_path / "d.trc"
    _write(path, _messages(5))
    lines = path.read_text().splitlines()
    first_data = next(i for i, line in enumerate(lines) if not line.startswith(";"))
    lines.insert(first_data + 3, damage)
    path.write_text("\n".join(lines) + "\n")
    frames: list[LogFrame] = []
    with pytest.raises(CanLogError, match=rf"d\.trc:{first_data + 4} \(after 3 frames\): damaged line"):
        frames.extend(read_log(path))
    assert len(frames) == 3


def test_trc_status_records_are_skipped_on_purpose(tmp_path: Path) -> None:
    # PCAN status/error-counter records are not frames: python-can skips them, and so do we.
    path = tmp_path / "s.trc"
    _write(path, _messages(4))
    lines = path.read_text().splitlines()
    first_data = next(i for i, line in enumerate(lines) if not line.startswith(";"))
    cols = lines[first_data].split()
    cols[2] = "ST"
    lines.insert(first_data + 1, "  ".join(cols))
    path.write_text("\n".join(lines) + "\n")
    assert [f.arbitration_id for f in read_log(path)] == [m.arbitration_id for m in _messages(4)]


def test_a_path_that_is_not_a_path_is_a_configuration_error() -> None:
    from fusion.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="path: expected a log file path"):
        list(read_log(5))  # type: ignore[arg-type]
