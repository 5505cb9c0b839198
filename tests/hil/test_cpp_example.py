"""The C++-only example (issue 11 "Without Python"): csrc/examples/replay_candump.cpp replays the
RAV4 candump log with the layout that scripts/dbc_layout.py generates from the rig and its DBC
files, and its tracks equal those of the Python replay (`fusion replay LOG --rig
hil/rigs/rav4_comma2k19.toml`, tracks.csv) row by row.

Builds the example with CMake (FUSION_BUILD_EXAMPLES=ON, no Python extension, ccache when it is on
PATH) into FUSION_EXAMPLE_BUILD_DIR (default: a temporary folder). When the checkout holds the pip
build tree of this same source (build/<wheel tag>/libfusion_core.a, newer than every core
source: what the README's test command leaves) or FUSION_PREBUILT_CORE names a core library, the
example links that library and only its own file is compiled; otherwise the core is built too.
Cost (measured on the 2-core machine): see README's issue-11 paragraph; the C++ replay itself
takes 0.3 s and the Python replay of the same 60 s log about 8 s.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fusion.hil.errors import CanLogError
from fusion.hil.logs import read_log
from fusion.hil.outputs import TRACK_COLUMNS, read_tracks
from fusion.hil.replay import replay
from fusion.hil.rig import load_rig

REPO_ROOT = Path(__file__).resolve().parents[2]
RIG = REPO_ROOT / "hil" / "rigs" / "rav4_comma2k19.toml"
LOG = "comma2k19/derived/rav4_2018-08-02--08-34-47_seg40.log"
#: Largest difference allowed between the C++ and the Python track values [m, m/s, rad, 1]. Measured:
#: 3.3e-14 (the ids, times, classes and row order are identical; the last bits differ where numpy
#: sums the merged detections' mean in another order).
TOLERANCE = 1e-6


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidate = Path(sys.executable).parent / name  # installed into the venv by the test extra
    return str(candidate) if candidate.exists() else None


def _eigen_include() -> str | None:
    for p in map(Path, sys.path):
        d = p / "cmeel.prefix" / "include" / "eigen3"
        if (d / "Eigen" / "Dense").is_file():
            return str(d)
    return None


def _prebuilt_core() -> Path | None:
    """FUSION_PREBUILT_CORE, or the pip build tree's core library when it was built from the
    current sources, else None (then the core is compiled with the example)."""
    given = os.environ.get("FUSION_PREBUILT_CORE")
    if given:
        return Path(given)
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"  # the wheel tag's interpreter
    newest = max(p.stat().st_mtime for d in ("src", "include") for p in (REPO_ROOT / "csrc" / d).rglob("*")
                 if p.is_file())
    for lib in sorted((REPO_ROOT / "build").glob(f"{tag}-*/libfusion_core.a")):
        if lib.stat().st_mtime > newest:
            return lib
    return None


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The built fusion_replay_candump executable."""
    cmake = _tool("cmake")
    if cmake is None:
        pytest.fail("cmake not found: install the test extra (pip install '.[test]')")
    if not (REPO_ROOT / "csrc" / "examples" / "replay_candump.cpp").is_file():
        message = "C++ sources not present (installed package without a checkout)"
        if os.environ.get("FUSION_REQUIRE_SHARED") == "1" or os.environ.get("CI"):
            pytest.fail(message + "; CI requires the C++ example to be built")
        pytest.skip(message)
    build = Path(os.environ.get("FUSION_EXAMPLE_BUILD_DIR", tmp_path_factory.mktemp("example-build")))
    args = [cmake, "-S", str(REPO_ROOT), "-B", str(build), "-DFUSION_BUILD_PYTHON=OFF", "-DFUSION_BUILD_EXAMPLES=ON",
            "-DFUSION_WERROR=ON", "-DCMAKE_BUILD_TYPE=Release"]
    ninja = _tool("ninja")
    if ninja:
        args += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"]
    ccache = shutil.which("ccache")
    if ccache:
        args.append(f"-DCMAKE_CXX_COMPILER_LAUNCHER={ccache}")
    eigen = _eigen_include()
    if eigen:
        args.append(f"-DFUSION_EIGEN_INCLUDE_DIR={eigen}")
    core = _prebuilt_core()
    if core is not None:
        args.append(f"-DFUSION_PREBUILT_CORE={core}")
    configure = subprocess.run(args, capture_output=True, text=True)
    assert configure.returncode == 0, configure.stdout + configure.stderr
    built = subprocess.run([cmake, "--build", str(build), "--target", "fusion_replay_candump", "-j",
                            str(min(2, os.cpu_count() or 1))], capture_output=True, text=True)
    assert built.returncode == 0, (built.stdout + built.stderr)[-8000:]
    yield build / "fusion_replay_candump"


@pytest.fixture(scope="module")
def rav4_log(can_data: Path) -> Path:
    path = can_data / LOG
    if not path.is_file():
        pytest.fail(f"{path}: the RAV4 candump log is missing from the CAN data folder")
    return path


@pytest.fixture(scope="module")
def layout(rav4_log: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(layout, engine config) generated on the host from the rig and the log's DBC files."""
    out = tmp_path_factory.mktemp("layout")
    gen = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "dbc_layout.py"), "--rig", str(RIG),
                          "--log", str(rav4_log), "--out", str(out / "rav4.layout"),
                          "--config-out", str(out / "rav4.cfg")], capture_output=True, text=True)
    assert gen.returncode == 0, gen.stdout + gen.stderr
    return out / "rav4.layout", out / "rav4.cfg"


def _run(exe: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=300)


def test_layout_is_derived_not_a_copy(layout: tuple[Path, Path], can_data: Path) -> None:
    text = layout[0].read_text(encoding="ascii")
    # the frame layout of the radar's 16 TRACK_A slots (0x210..0x21F) and the ego inputs, no DBC text
    assert [int(line.split()[2]) for line in text.splitlines() if line.startswith("slot ")] == list(
        range(0x210, 0x220))
    assert "ego_input yaw_rate 36 " in text and "BO_ " not in text and "SG_ " not in text
    assert "spec lifecycle.confirm_hits 3" in text and "spec sensors.0.mount_t 2.7 0.0 0.5" in text


def test_cpp_tracks_equal_python_replay(example: Path, layout: tuple[Path, Path], rav4_log: Path,
                                        tmp_path: Path) -> None:
    cpp_csv = tmp_path / "cpp_tracks.csv"
    # --threads 2: the log again in two threads at once, one engine each, checked against this run
    run = _run(example, "--log", rav4_log, "--layout", layout[0], "--out", cpp_csv, "--threads", "2")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "cycles 1200," in run.stdout, run.stdout  # 20 Hz radar over 60 s
    assert "threads 2: 2 of 2 replays equal the single-threaded run" in run.stdout, run.stdout
    # the board path's steady state: the engine's calls (process, add_ego_motion, exports) allocate
    # nothing once warm (the example counts operator new around them)
    assert "engine heap allocations after 50 warm-up cycles: 0\n" in run.stdout, run.stdout

    rig = load_rig(RIG, logs=[rav4_log])
    rig = dataclasses.replace(rig, output=dataclasses.replace(rig.output, bev=False))
    replay([rav4_log], rig, tmp_path / "py")
    py = read_tracks(tmp_path / "py" / "tracks.csv")
    cpp = read_tracks(cpp_csv)

    assert len(py["t_ns"]) > 5000  # the drive's confirmed tracks, every cycle
    assert len(cpp["t_ns"]) == len(py["t_ns"])
    for col in ("t_ns", "track_id", "class"):
        np.testing.assert_array_equal(cpp[col], py[col], err_msg=col)
    for col in TRACK_COLUMNS:
        if col in ("t_ns", "track_id", "class"):
            continue
        np.testing.assert_allclose(cpp[col], py[col], rtol=0.0, atol=TOLERANCE, err_msg=col)
    assert len(np.unique(py["track_id"])) > 20


def test_config_file_replaces_the_layouts_engine(example: Path, layout: tuple[Path, Path], rav4_log: Path,
                                                 tmp_path: Path) -> None:
    base = _run(example, "--log", rav4_log, "--layout", layout[0], "--out", tmp_path / "a.csv")
    same = _run(example, "--log", rav4_log, "--layout", layout[0], "--config", layout[1], "--out", tmp_path / "b.csv")
    assert base.returncode == 0 and same.returncode == 0, base.stderr + same.stderr
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    # a stricter confirmation rule from the --config file: fewer confirmed rows
    cfg = layout[1].read_text(encoding="ascii").replace("spec lifecycle.confirm_hits 3",
                                                        "spec lifecycle.confirm_hits 5")
    (tmp_path / "strict.cfg").write_text(cfg, encoding="ascii")
    strict = _run(example, "--log", rav4_log, "--layout", layout[0], "--config", tmp_path / "strict.cfg",
                  "--out", tmp_path / "c.csv")
    assert strict.returncode == 0, strict.stderr
    n = [len(read_tracks(tmp_path / f)["t_ns"]) for f in ("a.csv", "c.csv")]
    assert 0 < n[1] < n[0], n


def test_bad_input_names_file_and_line(example: Path, layout: tuple[Path, Path], tmp_path: Path) -> None:
    log = tmp_path / "bad.log"
    log.write_text("(1.000000) can1 210#0000000000000000\n(1.001000) can1 zz#00\n", encoding="ascii")
    run = _run(example, "--log", log, "--layout", layout[0])
    assert run.returncode == 1 and f"{log}:2: expected ID#DATA" in run.stderr, run.stderr

    bad_layout = tmp_path / "bad.layout"
    bad_layout.write_text(layout[0].read_text(encoding="ascii").replace("spec lifecycle.confirm_window 5",
                                                                         "spec lifecycle.confirm_windw 5"),
                          encoding="ascii")
    run = _run(example, "--log", log, "--layout", bad_layout)
    assert run.returncode == 1 and "unknown engine key 'lifecycle.confirm_windw'" in run.stderr, run.stderr
    assert f"{bad_layout}:" in run.stderr

    cfg = tmp_path / "bad.cfg"  # an invalid engine value: the core's ConfigurationError, no crash
    cfg.write_text(layout[1].read_text(encoding="ascii").replace("spec sensors.0.pd 0.9", "spec sensors.0.pd 1.5"),
                   encoding="ascii")
    run = _run(example, "--log", log, "--layout", layout[0], "--config", cfg)
    assert run.returncode == 1 and "pd" in run.stderr, run.stderr

    run = _run(example, "--log", log)
    assert run.returncode == 2 and "--layout" in run.stderr


def test_one_radar_rig_without_ego_matches_python(example: Path, tmp_path: Path) -> None:
    """A second rig, made here: one little-endian signed object slot, no ego motion, no merge (the
    paths the RAV4 rig does not take), a target crossing in front of the radar for 10 s."""
    from _one_radar_rig import DBC, RIG

    (tmp_path / "sensors.dbc").write_text(DBC, encoding="ascii")
    (tmp_path / "rig.toml").write_text(RIG, encoding="ascii")
    lines = []
    for k in range(200):  # 20 Hz; a target at 40 m closing at 3 m/s, drifting left
        t = 1000.0 + 0.05 * k
        x, y, rr = 40.0 - 0.15 * k, -4.0 + 0.04 * k, -3.0
        raw = [round(x / 0.01), round(y / 0.01) & 0xFFFF, round(rr / 0.01) & 0xFFFF]
        data = b"".join(v.to_bytes(2, "little") for v in raw) + b"\0\0"
        lines.append(f"({t:.6f}) 0 100#{data.hex().upper()}")  # channel "0": the rig's radar bus
    lines.insert(50, "(1002.480000) 0 7FF#00")  # an id of no decoder: skipped by both
    log = tmp_path / "one.log"
    log.write_text("\n".join(lines) + "\n", encoding="ascii")
    gen = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "dbc_layout.py"), "--rig",
                          str(tmp_path / "rig.toml"), "--out", str(tmp_path / "one.layout")],
                         capture_output=True, text=True)
    assert gen.returncode == 0, gen.stderr
    run = _run(example, "--log", log, "--layout", tmp_path / "one.layout", "--out", tmp_path / "cpp.csv")
    assert run.returncode == 0, run.stdout + run.stderr
    replay([log], tmp_path / "rig.toml", tmp_path / "py")
    py, cpp = read_tracks(tmp_path / "py" / "tracks.csv"), read_tracks(tmp_path / "cpp.csv")
    assert len(py["t_ns"]) > 150 and len(cpp["t_ns"]) == len(py["t_ns"])
    for col in TRACK_COLUMNS:
        np.testing.assert_allclose(cpp[col], py[col], rtol=0.0, atol=TOLERANCE, err_msg=col)
    np.testing.assert_allclose(cpp["x_vehicle"][-1], 40.0 - 0.15 * 199, atol=0.5)  # it tracks the target


def test_generator_refuses_what_the_example_cannot_decode(tmp_path: Path) -> None:
    from _one_radar_rig import DBC, RIG

    (tmp_path / "sensors.dbc").write_text(DBC + 'BO_ 512 OBJ_HDR: 1 R\n SG_ N : 0|8@1+ (1,0) [0|0] "" R\n',
                                          encoding="ascii")
    rig = RIG.replace('slots = { messages = ["OBJ_0"] }', 'header = { message = "OBJ_HDR", count = "N" }\n'
                      'objects = { message = "OBJ_0" }')
    (tmp_path / "rig.toml").write_text(rig, encoding="ascii")
    gen = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "dbc_layout.py"), "--rig",
                          str(tmp_path / "rig.toml"), "--out", str(tmp_path / "x.layout")],
                         capture_output=True, text=True)
    assert gen.returncode != 0 and "header + objects list is not supported" in gen.stderr, gen.stderr
    assert not (tmp_path / "x.layout").exists()


@pytest.mark.parametrize("line", ["(1.1) can1 210#00G1", "(1.1) can1 210#0011 X junk", "(1.1) can1 210#R9Z"])
def test_damaged_frame_text_is_refused_as_the_python_reader_refuses_it(example: Path, layout: tuple[Path, Path],
                                                                        tmp_path: Path, line: str) -> None:
    """Text after the data (other than one T/R direction flag) is a damaged line: fusion.hil.logs
    (python-can's reader) raises CanLogError naming the line; the example used to take the hex
    digits before the damage as a shorter frame and carry on."""
    log = tmp_path / "damaged.log"
    log.write_text(f"(1.0) can1 210#R\n(1.05) can1 210#0011 T\n{line}\n", encoding="ascii")
    with pytest.raises(CanLogError, match=r"damaged.log:3"):
        list(read_log(log))
    run = _run(example, "--log", log, "--layout", layout[0])
    assert run.returncode == 1 and f"{log}:3: unexpected text after the frame" in run.stderr, run.stderr


def test_generator_refuses_a_missing_log_and_an_unwritable_out(tmp_path: Path) -> None:
    """A mistyped --log was silently not searched (the layout was written from whatever DBC files
    were found elsewhere); an unwritable --out was an OSError traceback."""
    script = str(REPO_ROOT / "scripts" / "dbc_layout.py")
    gen = subprocess.run([sys.executable, script, "--rig", str(RIG), "--log", str(tmp_path / "typo.log"),
                          "--out", str(tmp_path / "x.layout")], capture_output=True, text=True)
    assert gen.returncode == 1 and f"--log {tmp_path / 'typo.log'}: no such file" in gen.stderr, gen.stderr
    assert not (tmp_path / "x.layout").exists()
    (tmp_path / "file").write_text("", encoding="ascii")
    gen = subprocess.run([sys.executable, script, "--rig", str(RIG), "--out", str(tmp_path / "file" / "x.layout")],
                         capture_output=True, text=True)
    assert gen.returncode == 1 and "dbc_layout: cannot write" in gen.stderr and "Traceback" not in gen.stderr, (
        gen.stderr)


#: The one-radar DBC with OBJ_0 declared a 12-byte CAN FD message (cantools reads VFrameFormat).
_FD_ATTRIBUTES = """
BA_DEF_ BO_ "VFrameFormat" ENUM "StandardCAN","ExtendedCAN","reserved","reserved","reserved","reserved","reserved",\
"reserved","reserved","reserved","reserved","reserved","reserved","reserved","StandardCAN_FD","ExtendedCAN_FD";
BA_DEF_DEF_ "VFrameFormat" "StandardCAN";
BA_ "VFrameFormat" BO_ 256 14;
"""


def _one_radar_frames(n: int, fd: bool) -> list[str]:
    """n radar cycles (20 Hz) of a target closing from 40 m, as candump lines on channel 0: classic
    8-byte frames "100#..." or 12-byte CAN FD frames "100##1..." (flags 1: bit-rate switch)."""
    lines = []
    for k in range(n):
        t = 1000.0 + 0.05 * k
        x, y, rr = 40.0 - 0.15 * k, -4.0 + 0.04 * k, -3.0
        raw = [round(x / 0.01), round(y / 0.01) & 0xFFFF, round(rr / 0.01) & 0xFFFF]
        data = b"".join(v.to_bytes(2, "little") for v in raw) + bytes(6 if fd else 2)
        lines.append(f"({t:.6f}) 0 {'100##1' if fd else '100#'}{data.hex().upper()}")
    return lines


def _one_radar_layout(tmp_path: Path, fd: bool) -> Path:
    from _one_radar_rig import DBC, RIG

    dbc = DBC.replace("BO_ 256 OBJ_0: 8 R", "BO_ 256 OBJ_0: 12 R") + _FD_ATTRIBUTES if fd else DBC
    (tmp_path / "sensors.dbc").write_text(dbc, encoding="ascii")
    (tmp_path / "rig.toml").write_text(RIG, encoding="ascii")
    gen = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "dbc_layout.py"), "--rig",
                          str(tmp_path / "rig.toml"), "--out", str(tmp_path / "one.layout")],
                         capture_output=True, text=True)
    assert gen.returncode == 0, gen.stderr
    return tmp_path / "one.layout"


def test_standard_id_above_7ff_is_refused_naming_the_line(example: Path, tmp_path: Path) -> None:
    """candump writes standard (11-bit) ids with 3 hex digits and extended ones with 8: "FFF#.." is
    no CAN frame. The example used to mask it to 0x7FF (a real id of some rigs) and decode it."""
    layout = _one_radar_layout(tmp_path, fd=False)
    frames = _one_radar_frames(3, fd=False)
    log = tmp_path / "bad_id.log"
    log.write_text("\n".join([*frames[:2], "(1000.120000) 0 900#0100000000000000", frames[2]]) + "\n",
                   encoding="ascii")
    run = _run(example, "--log", log, "--layout", layout)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"{log}:3: standard CAN id above 0x7FF" in run.stderr and "900#" in run.stderr, run.stderr
    # the same id written as an extended id (8 digits) is a frame of no decoder: skipped, counted
    log.write_text("\n".join([*frames[:2], "(1000.120000) 0 00000900#0100000000000000", frames[2]]) + "\n",
                   encoding="ascii")
    run = _run(example, "--log", log, "--layout", layout)
    assert run.returncode == 0 and "frames 4, " in run.stdout and "unknown/error/remote 1," in run.stdout, (
        run.stdout + run.stderr)
    # and 7FF, the largest standard id, is a frame (of no decoder here), not an error
    log.write_text("\n".join([*frames[:2], "(1000.120000) 0 7FF#01", frames[2]]) + "\n", encoding="ascii")
    run = _run(example, "--log", log, "--layout", layout)
    assert run.returncode == 0 and "unknown/error/remote 1," in run.stdout, run.stdout + run.stderr


@pytest.mark.parametrize("fd_message", [False, True], ids=["classic-message", "fd-message"])
def test_can_fd_frames_as_the_python_replay(example: Path, tmp_path: Path, fd_message: bool) -> None:
    """CAN FD frames ("ID##<flags><data>"): decoded when the DBC declares the message CAN FD (the
    layout's `fd` line, a 12-byte message here), otherwise skipped and counted as the Python
    replay's fd_on_classic. The example used to decode an FD frame as a classic one. Both cases:
    tracks equal to the Python replay of the same log, row by row."""
    layout = _one_radar_layout(tmp_path, fd=fd_message)
    text = layout.read_text(encoding="ascii")
    assert ("fd radar 256 0" in text.splitlines()) == fd_message, text
    lines = _one_radar_frames(200, fd=fd_message)
    if not fd_message:  # 8-byte FD frames of the classic message's id, far-off data: must not be decoded
        for k in (60, 40, 20):
            lines.insert(k, f"({1000.0 + 0.05 * k - 0.01:.6f}) 0 100##1{'7F' * 8}")
    log = tmp_path / "fd.log"
    log.write_text("\n".join(lines) + "\n", encoding="ascii")
    run = _run(example, "--log", log, "--layout", layout, "--out", tmp_path / "cpp.csv")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"CAN FD on a classic message {0 if fd_message else 3}," in run.stdout, run.stdout
    assert "cycles 200," in run.stdout and "wrong length 0," in run.stdout, run.stdout
    report = replay([log], tmp_path / "rig.toml", tmp_path / "py")
    assert report["decode_errors"] == ({} if fd_message else {"0x100": {"fd_on_classic": 3}}), report
    py, cpp = read_tracks(tmp_path / "py" / "tracks.csv"), read_tracks(tmp_path / "cpp.csv")
    assert len(py["t_ns"]) > 150 and len(cpp["t_ns"]) == len(py["t_ns"])
    for col in TRACK_COLUMNS:
        np.testing.assert_allclose(cpp[col], py[col], rtol=0.0, atol=TOLERANCE, err_msg=col)
    np.testing.assert_allclose(cpp["x_vehicle"][-1], 40.0 - 0.15 * 199, atol=0.5)  # it tracks the target
