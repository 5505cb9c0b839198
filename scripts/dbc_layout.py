"""Generate the frame layout and engine configuration that the C++-only example reads
(csrc/examples/replay_candump.cpp; issue 11 "Without Python", docs/cpp_api.md).

    python scripts/dbc_layout.py --rig hil/rigs/rav4_comma2k19.toml \\
        --log ../shared/data/can/comma2k19/derived/rav4_2018-08-02--08-34-47_seg40.log \\
        --out build/examples/rav4_comma2k19.layout

Runs on the HOST (the developer's machine), once per rig: it reads the rig TOML with the harness's
own loader (fusion.hil.rig.load_rig: the same DBC search, the same engine defaults as ``fusion
replay``), reads the DBC files with cantools, and writes one small text file with

  * the log channel -> bus map (``channel``),
  * the engine configuration, flattened from ``EngineConfig.to_spec()`` (``spec KEY VALUES``),
  * per CAN sensor: its model, bus, measurement components and merge gates (``sensor``), its
    object slots (``slot``: frame id, extended, DLC) and, per slot, the bit layout of each field
    signal and of the valid signal (``field`` / ``valid``), plus ``polar`` for polar_from_xy,
  * the ego-motion inputs (``ego``, ``ego_input``),
  * ``fd BUS FRAME_ID EXTENDED`` for each of those messages that the DBC declares CAN FD (the
    example decodes a CAN FD frame only for these and counts the others as CAN FD on a classic
    message, as ``fusion replay`` does).

Nothing Python runs on the board: the example parses this file.  The DBC files are never
copied: they stay in the log's data folder (or the ``opendbc`` package) and only the layout
derived from them is written, to a build/temp folder (do not commit it).

Supported decoders: ``dbc_object_list`` with fixed slots (``slots = {...}``) and
``vehicle_motion``; anything else is refused with a message naming it.  Signal ranges
(``check_ranges``) are not carried over: they only count out-of-range values in the Python
report and do not change the tracks.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FORMAT = "fusion-rig-layout 1"
CONFIG_FORMAT = "fusion-engine-config 1"


def _num(x: float) -> str:
    """A float as the shortest text that reads back to the same double (inf, -inf, nan too)."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


def _msb0(start: int) -> int:
    """DBC start bit of a big-endian signal (its MSB, sawtooth numbering) -> msb0 bit index."""
    return 8 * (start // 8) + (7 - start % 8)


def _signal(msg: Any, name: str, where: str) -> str:
    """``start length big signed float scale offset`` of a signal, as the compiled decoder takes it."""
    sig = next((s for s in msg.signals if s.name == name), None)
    if sig is None:
        raise SystemExit(f"dbc_layout: {where}: signal {name!r} is not in message {msg.name} "
                         f"(signals: {', '.join(s.name for s in msg.signals)})")
    big = sig.byte_order == "big_endian"
    if sig.is_float and sig.length not in (32, 64):
        raise SystemExit(f"dbc_layout: {msg.name}.{sig.name}: float signal of {sig.length} bits")
    start = _msb0(sig.start) if big else sig.start
    return (f"{start} {sig.length} {int(big)} {int(bool(sig.is_signed))} {int(bool(sig.is_float))} "
            f"{_num(float(sig.scale))} {_num(float(sig.offset))}")


def _message(db: Any, name: str, where: str) -> Any:
    try:
        msg = db.get_message_by_name(name)
    except KeyError:
        raise SystemExit(f"dbc_layout: {where}: message {name!r} is not in the DBC") from None
    if msg.is_multiplexed():
        raise SystemExit(f"dbc_layout: {where}: message {name} is multiplexed (not supported)")
    return msg


def _frame(msg: Any) -> str:
    return f"{msg.frame_id} {int(bool(getattr(msg, 'is_extended_frame', False)))} {msg.length}"


def _fd(bus: str, msg: Any) -> list[str]:
    """The ``fd`` line of a CAN FD message (none for a classic one)."""
    if not getattr(msg, "is_fd", False):
        return []
    return [f"fd {bus} {msg.frame_id} {int(bool(getattr(msg, 'is_extended_frame', False)))}"]


def _field_spec(where: str, spec: Any) -> tuple[str, float, float]:
    """(signal, scale, offset) of an object-list field, as fusion.hil.decoders.object_list reads it."""
    from fusion.hil.decoders.base import config_number, unit_scale

    if isinstance(spec, str):
        return spec, 1.0, 0.0
    if not isinstance(spec, Mapping) or not isinstance(spec.get("signal"), str):
        raise SystemExit(f"dbc_layout: {where}: expected a signal name or {{signal, scale, offset, unit}}")
    scale = config_number(f"{where}.scale", spec.get("scale", 1.0)) * unit_scale(where, spec.get("unit", "1"))
    return spec["signal"], scale, config_number(f"{where}.offset", spec.get("offset", 0.0))


def _flatten(prefix: str, value: Any, out: list[str]) -> None:
    """``spec KEY VALUES`` lines of the engine spec (nested dicts by dotted keys, sensors by index)."""
    if value is None:
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
        return
    if prefix == "sensors":
        for i, s in enumerate(value):
            _flatten(f"sensors.{i}", s, out)
        return
    if isinstance(value, bool):
        out.append(f"spec {prefix} {'true' if value else 'false'}")
    elif isinstance(value, (int, float)):
        out.append(f"spec {prefix} {value if isinstance(value, int) else _num(value)}")
    elif isinstance(value, str):
        if not value or any(c.isspace() for c in value):
            raise SystemExit(f"dbc_layout: engine spec {prefix}: {value!r} cannot be written (empty or spaces)")
        out.append(f"spec {prefix} {value}")
    else:  # a (nested) list of numbers: row-major
        flat: list[float] = []

        def walk(v: Any) -> None:
            if isinstance(v, (list, tuple)):
                for e in v:
                    walk(e)
            else:
                flat.append(float(v))

        walk(value)
        out.append(f"spec {prefix} " + " ".join(_num(x) for x in flat))


def layout_lines(rig_path: Path, logs: list[Path], dbc_dirs: list[Path]) -> list[str]:
    from fusion.engine.registry import SENSOR_MODELS
    from fusion.hil.rig import load_rig, rig_dbc

    rig = load_rig(rig_path, logs=logs, dbc_dirs=dbc_dirs)
    lines = [f"# {FORMAT}", f"# generated by scripts/dbc_layout.py from {rig_path} (rig {rig.name!r});",
             "# derived from the rig's DBC files: do not edit, do not commit (regenerate instead)", f"rig {rig.name}"]
    for ch, bus in rig.channels.items():
        lines.append(f"channel {ch} {bus}")
    _flatten("", rig.engine.to_spec(), lines)
    for k, s in enumerate(rig.sensors):
        where = f"sensors.{s.name}"
        if s.source != "can":
            raise SystemExit(f"dbc_layout: {where}: source {s.source!r}: the C++ example reads CAN sensors only")
        if s.decoder != "dbc_object_list":
            raise SystemExit(f"dbc_layout: {where}: decoder {s.decoder!r}: the C++ example supports "
                             "dbc_object_list (fixed slots) only")
        cfg = s.decoder_config
        if "slots" not in cfg:
            raise SystemExit(f"dbc_layout: {where}: a header + objects list is not supported by the C++ example "
                             "(fixed slots only)")
        assert s.dbc is not None and s.bus is not None
        db = rig_dbc(s.dbc)
        slots = cfg["slots"]
        names = slots["messages"]
        if isinstance(names, str):
            names = [names.format(i=i) for i in range(int(slots["count"]))]
        comps = SENSOR_MODELS[s.engine.model].components
        merge = f"{_num(s.merge[0])} {_num(s.merge[1])}" if s.merge is not None else "- -"
        lines.append(f"sensor {k} {s.name} {s.engine.model} {s.bus} {','.join(comps)} {merge}")
        fields = [(str(n), *_field_spec(f"{where}.decoder_config.fields.{n}", v)) for n, v in cfg["fields"].items()]
        if cfg.get("polar_from_xy"):
            lines.append(f"polar {k}")
        for name in names:
            msg = _message(db, name, where)
            lines.append(f"slot {k} {_frame(msg)}")
            lines += _fd(s.bus, msg)
            for out, sig, scale, offset in fields:
                lines.append(f"field {k} {msg.frame_id} {out} {_num(scale)} {_num(offset)} "
                             f"{_signal(msg, sig, where)}")
            if cfg.get("valid"):
                lines.append(f"valid {k} {msg.frame_id} {_signal(msg, cfg['valid'], where)}")
    if rig.ego is not None:
        from fusion.hil.decoders.base import config_number, unit_scale

        e = rig.ego
        if e.decoder != "vehicle_motion":
            raise SystemExit(f"dbc_layout: ego: decoder {e.decoder!r}: the C++ example supports vehicle_motion only")
        db = rig_dbc(e.dbc)
        cfg = e.decoder_config
        emit_on = cfg.get("emit_on", "yaw_rate")
        lines.append(f"ego {e.bus} {_message(db, cfg[emit_on]['message'], 'ego').frame_id}")
        for inp in ("yaw_rate", "speed", "wheel_speeds"):
            if inp not in cfg:
                continue
            spec = cfg[inp]
            msg = _message(db, spec["message"], f"ego.{inp}")
            fd_line = _fd(e.bus, msg)
            if fd_line and fd_line[0] not in lines:
                lines += fd_line
            sigs = spec["signals"] if inp == "wheel_speeds" else [spec["signal"]]
            scale = unit_scale(f"ego.{inp}.unit", spec.get("unit", "1")) * config_number(
                f"ego.{inp}.scale", spec.get("scale", 1.0))
            offset = config_number(f"ego.{inp}.offset", spec.get("offset", 0.0))
            for sig in sigs:
                lines.append(f"ego_input {inp} {_frame(msg)} {_num(scale)} {_num(offset)} "
                             f"{_signal(msg, sig, f'ego.{inp}')}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rig", required=True, type=Path, help="rig TOML (e.g. hil/rigs/rav4_comma2k19.toml)")
    ap.add_argument("--log", action="append", default=[], type=Path,
                    help="the log the layout is for (its folders are searched for the DBC files)")
    ap.add_argument("--dbc-dir", action="append", default=[], type=Path, help="extra DBC search folder")
    ap.add_argument("--out", required=True, type=Path, help="layout file to write (a build/temp folder)")
    ap.add_argument("--config-out", type=Path,
                    help="also write the engine configuration alone (the example's --config file)")
    a = ap.parse_args(argv)
    from fusion.errors import FusionError

    # a mistyped --log is not searched, so the DBC files could silently come from elsewhere
    for log in a.log:
        if not log.is_file():
            print(f"dbc_layout: --log {log}: no such file", file=sys.stderr)
            return 1
    try:
        lines = layout_lines(a.rig, a.log, a.dbc_dir)
    except FusionError as exc:  # the rig loader's ConfigurationError / DbcError name the file and key
        print(f"dbc_layout: {exc}", file=sys.stderr)
        return 1
    try:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text("\n".join(lines) + "\n", encoding="ascii")
        print(f"dbc_layout: wrote {a.out} ({len(lines)} lines)", file=sys.stderr)
        if a.config_out is not None:
            specs = [line for line in lines if line.startswith("spec ")]
            a.config_out.parent.mkdir(parents=True, exist_ok=True)
            a.config_out.write_text(f"# {CONFIG_FORMAT}\n# engine configuration of rig {a.rig} "
                                    "(scripts/dbc_layout.py)\n" + "\n".join(specs) + "\n", encoding="ascii")
            print(f"dbc_layout: wrote {a.config_out} ({len(specs)} keys)", file=sys.stderr)
    except OSError as exc:  # an unwritable --out / --config-out: one line, not a traceback
        print(f"dbc_layout: cannot write: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
