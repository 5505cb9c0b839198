"""fusion.hil.rig: a rig file that does not validate is a ConfigurationError naming the file, the
table and the key (unknown keys list the known ones), a DBC that is not found lists the places
searched, in the documented order, and one that does not parse is a DbcError naming it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fusion.errors import ConfigurationError
from fusion.hil.errors import DbcError
from fusion.hil.rig import load_rig, package_dbc

DBC = """VERSION ""
BU_: R V
BO_ 256 OBJ_0: 8 R
 SG_ X : 0|16@1+ (0.01,0) [0|655.35] "m" R
 SG_ Y : 16|16@1- (0.01,0) [-327.68|327.67] "m" R
 SG_ RR : 32|16@1- (0.01,0) [-327.68|327.67] "m/s" R
BO_ 512 MOTION: 4 V
 SG_ SPEED : 0|16@1+ (0.01,0) [0|655.35] "m/s" V
 SG_ YAW_RATE : 16|16@1- (0.001,0) [-32.768|32.767] "rad/s" V
"""

RIG = """
name = "schema"
[channels]
"0" = "radar"
[engine]
motion = "cv_point2d"
[sensors.radar]
bus = "radar"
dbc = "sensors.dbc"
decoder = "dbc_object_list"
[sensors.radar.decoder_config]
slots = { messages = ["OBJ_0"] }
polar_from_xy = true
fields = { x = "X", y = "Y", range_rate = "RR" }
[sensors.radar.engine]
model = "radar"
mount_t = [3.0, 0.0, 0.5]
[ego]
bus = "vehicle"
dbc = "sensors.dbc"
[ego.decoder_config]
speed = { message = "MOTION", signal = "SPEED" }
yaw_rate = { message = "MOTION", signal = "YAW_RATE" }
[output]
budget_ms = 20.0
"""


def write(folder: Path, rig: str = RIG, dbc: str | None = DBC) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if dbc is not None:
        (folder / "sensors.dbc").write_text(dbc)
    (folder / "rig.toml").write_text(rig)
    return folder / "rig.toml"


def test_valid_rig(tmp_path: Path) -> None:
    rig = load_rig(write(tmp_path))
    assert rig.name == "schema" and rig.channels == {"0": "radar"} and rig.path == tmp_path / "rig.toml"
    (radar,) = rig.sensors
    assert radar.source == "can" and radar.bus == "radar" and radar.dbc == tmp_path / "sensors.dbc"
    assert radar.engine.model == "radar" and radar.engine.mount_t == [3.0, 0.0, 0.5] and radar.merge is None
    assert rig.engine.motion == "cv_point2d" and [s.name for s in rig.engine.sensors] == ["radar"]
    assert rig.ego is not None and rig.ego.decoder == "vehicle_motion" and rig.ego.bus == "vehicle"
    out = rig.output
    assert out.budget_ms == 20.0 and out.fd is False and out.bus == "tracks" and out.tracks == "csv"
    assert out.dbc.name == "fusion_tracks.dbc" and out.bev is True and out.mcap is False


@pytest.mark.parametrize("edit, pattern", [
    # missing field
    (lambda s: s.replace('bus = "radar"\n', ""), r"\[sensors\.radar\] bus: missing"),
    (lambda s: s.replace('[sensors.radar.engine]\nmodel = "radar"\nmount_t = [3.0, 0.0, 0.5]\n', ""),
     r"\[sensors\.radar\] engine: missing"),
    (lambda s: s.replace('[ego]\nbus = "vehicle"\ndbc = "sensors.dbc"\n', '[ego]\nbus = "vehicle"\n'),
     r"\[ego\] dbc: missing"),
    # mistyped field
    (lambda s: s.replace("budget_ms = 20.0", 'budget_ms = "fast"'), r"\[output\] budget_ms: expected a finite"),
    (lambda s: s.replace('[output]\n', '[output]\nfd = "yes"\n'), r"\[output\] fd: expected true or false"),
    (lambda s: s.replace('"0" = "radar"', '"0" = 5'), r"\[channels\] 0: expected a bus name"),
    (lambda s: s.replace('mount_t = [3.0, 0.0, 0.5]', 'mount_t = "front"'), r"\[sensors\.radar\.engine\].*mount_t"),
    (lambda s: s.replace('motion = "cv_point2d"', 'motion = "warp"'), r"\[engine\].*motion: unknown key 'warp'"),
    (lambda s: s.replace('[output]\n', '[output]\ntracks = "xlsx"\n'), r"\[output\] tracks: expected one of"),
    (lambda s: s.replace('bus = "radar"\n', 'bus = "radar"\nsource = "udp"\n'), r"\[sensors\.radar\] source"),
    # unknown keys, listing the known ones
    (lambda s: "colour = 1\n" + s, r"\(top level\): unknown key\(s\) 'colour'; known keys: name, dbc_paths"),
    (lambda s: s.replace('[output]\n', '[output]\nbudget = 3\n'),
     r"\[output\]: unknown key\(s\) 'budget'; known keys: dbc, fd, bus, budget_ms"),
    (lambda s: s.replace('bus = "radar"\n', 'bus = "radar"\nbaud = 500000\n'),
     r"\[sensors\.radar\]: unknown key\(s\) 'baud'; known keys: source, bus, dbc"),
    (lambda s: s.replace('[engine]\n', '[engine]\nsensors = 1\n'), r"\[engine\] sensors: the sensors are"),
    # decoders
    (lambda s: s.replace('decoder = "dbc_object_list"', 'decoder = "magic"'),
     r"\[sensors\.radar\] decoder: unknown decoder 'magic'; available: dbc_object_list, vehicle_motion"),
    (lambda s: s.replace('fields = { x = "X"', 'fields = { x = "NOPE"'),
     r"\[sensors\.radar\.decoder_config\].*NOPE"),
    (lambda s: s.replace('[ego]\n', '[ego]\ndecoder = "magic"\n'), r"\[ego\] decoder: unknown decoder 'magic'"),
])
def test_schema_errors_name_file_table_and_key(tmp_path: Path, edit: object, pattern: str) -> None:
    path = write(tmp_path, edit(RIG))  # type: ignore[operator]
    with pytest.raises(ConfigurationError) as ei:
        load_rig(path)
    msg = str(ei.value)
    assert msg.startswith(str(path)), msg
    assert re.search(pattern, msg), msg


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, RIG + "\n[output\n")
    with pytest.raises(ConfigurationError, match=re.escape(str(path)) + ": invalid TOML"):
        load_rig(path)
    with pytest.raises(ConfigurationError, match="rig file not found"):
        load_rig(tmp_path / "nope.toml")


def test_dbc_that_does_not_parse(tmp_path: Path) -> None:
    path = write(tmp_path, dbc='VERSION ""\nBO_ 256 OBJ_0: 8 R\n SG_ X : 0|16@1+ (0.01,0) [0|655.35 "m" R\n')
    with pytest.raises(DbcError) as ei:
        load_rig(path)
    msg = str(ei.value)
    assert msg.startswith(str(path)) and "[sensors.radar] dbc" in msg and "does not parse" in msg
    assert str(tmp_path / "sensors.dbc") in msg


def test_dbc_not_found_lists_the_places_searched(tmp_path: Path) -> None:
    rigdir = tmp_path / "rigs"
    text = 'dbc_paths = ["../extra"]\n' + RIG
    path = write(rigdir, text, dbc=None)
    log = tmp_path / "data" / "drives" / "a.blf"
    with pytest.raises(DbcError) as ei:
        load_rig(path, logs=[log], dbc_dirs=[tmp_path / "cli"])
    msg = str(ei.value)
    assert msg.startswith(str(path)) and "'sensors.dbc' not found; searched:" in msg
    places = [str(rigdir / "sensors.dbc"), str(rigdir / ".." / "extra" / "sensors.dbc"),
              str(tmp_path / "data" / "drives" / "sensors.dbc"), str(tmp_path / "data" / "sensors.dbc"),
              str(tmp_path / "cli" / "sensors.dbc")]
    found = [msg.index(p + " (") for p in places]
    assert found == sorted(found)  # in the documented order


@pytest.mark.parametrize("where", ["rig", "dbc_paths", "log", "cli"])
def test_dbc_resolution_order(tmp_path: Path, where: str) -> None:
    rigdir, extra, data, cli = tmp_path / "rigs", tmp_path / "extra", tmp_path / "data", tmp_path / "cli"
    path = write(rigdir, 'dbc_paths = ["../extra"]\n' + RIG, dbc=None)
    log = data / "drives" / "a.blf"
    order = ["rig", "dbc_paths", "log", "cli"]
    folders = {"rig": rigdir, "dbc_paths": extra, "log": data, "cli": cli}
    for name in order[order.index(where):]:  # the file in this place and every later one: the first wins
        folders[name].mkdir(parents=True, exist_ok=True)
        (folders[name] / "sensors.dbc").write_text(DBC)
    rig = load_rig(path, logs=[log], dbc_dirs=[cli])
    assert rig.sensors[0].dbc is not None and rig.sensors[0].dbc.resolve() == (folders[where] / "sensors.dbc").resolve()


def test_package_dbc(tmp_path: Path) -> None:
    with pytest.raises(DbcError, match=r"fusion:nope: the package has no fusion_nope\.dbc"):
        package_dbc("nope")
    text = RIG.replace('dbc = "sensors.dbc"\ndecoder = "dbc_object_list"',
                       'dbc = "fusion:nope"\ndecoder = "dbc_object_list"')
    path = write(tmp_path, text)
    with pytest.raises(DbcError, match=r"\[sensors\.radar\] dbc: fusion:nope"):
        load_rig(path)


def test_stream_sensor_takes_no_can_keys(tmp_path: Path) -> None:
    text = RIG + '[sensors.lidar]\nsource = "stream"\nbus = "x"\n[sensors.lidar.engine]\nmodel = "position2d"\n'
    with pytest.raises(ConfigurationError, match=r"\[sensors\.lidar\] bus: a sensor with source = \"stream\""):
        load_rig(write(tmp_path, text))


def test_merge_table(tmp_path: Path) -> None:
    text = RIG.replace("[sensors.radar.engine]", "[sensors.radar.merge]\ndistance_m = 1.5\n[sensors.radar.engine]")
    rig = load_rig(write(tmp_path, text))
    assert rig.sensors[0].merge == (1.5, float("inf"))
    bad = RIG.replace("[sensors.radar.engine]", "[sensors.radar.merge]\ndistance_m = -1\n[sensors.radar.engine]")
    with pytest.raises(ConfigurationError, match=r"\[sensors\.radar\.merge\] distance_m: expected a number > 0"):
        load_rig(write(tmp_path / "b", bad))


def test_rigs_load_and_replay_from_several_threads(tmp_path: Path) -> None:
    # Thread safety: load_rig shares only the lock-guarded DBC cache; a Rig is frozen and each
    # Replayer copies its engine configuration, so one Rig drives replays in several threads.
    import threading

    from fusion.hil.replay import Replayer

    path = write(tmp_path)
    rigs: list[object] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            rig = load_rig(path)
            rep = Replayer(rig)
            rep.flush()
            rigs.append(rig)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors and len(rigs) == 6 and all(r == rigs[0] for r in rigs)


def test_ego_only_rig(tmp_path: Path) -> None:
    from fusion.hil.rig import EGO_ONLY_SENSOR

    text = RIG[: RIG.index("[sensors.radar]")] + RIG[RIG.index("[ego]"):]
    rig = load_rig(write(tmp_path, text))
    assert rig.sensors == () and rig.ego is not None
    assert [s.name for s in rig.engine.sensors] == [EGO_ONLY_SENSOR]
    no_ego = RIG[: RIG.index("[sensors.radar]")] + RIG[RIG.index("[output]"):]
    with pytest.raises(ConfigurationError, match=r"\(top level\) sensors: missing: at least one \[sensors\.NAME\]"):
        load_rig(write(tmp_path / "b", no_ego))


def test_fd_output_defaults_to_the_fd_track_dbc(tmp_path: Path) -> None:
    # fd = true without a dbc line: the project's CAN FD track DBC (the classic one cannot carry
    # FD frames: TrackEncoder refuses it), and the encoder built from the rig accepts it.
    from fusion.hil.publish import TrackEncoder

    rig = load_rig(write(tmp_path, RIG.replace("budget_ms = 20.0", "budget_ms = 20.0\nfd = true")))
    assert rig.output.fd is True and rig.output.dbc.name == "fusion_tracks_fd.dbc"
    TrackEncoder(rig.output.dbc, fd=True)
    explicit = load_rig(write(tmp_path / "x", RIG.replace("budget_ms = 20.0", 'fd = true\ndbc = "fusion:tracks_fd"')))
    assert explicit.output.dbc == rig.output.dbc
