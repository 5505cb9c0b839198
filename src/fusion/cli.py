"""The ``fusion`` command line.

    fusion demo [--seed N] [--plot out/demo.png]
    fusion kitti eval --labels DIR --results DIR --seqmap FILE [--category car ...]
    fusion scenarios [--scenario NAME] [--json FILE]
    fusion replay LOG... --rig RIG.toml --out DIR [--realtime] [--speed X] [--to-bus IF:CH] [--report FILE]
    fusion live --rig RIG.toml --bus IF:CH [--to-bus IF:CH] [--out DIR]

Run ``fusion COMMAND --help`` for the options of each command.
"""

from __future__ import annotations

import argparse
import sys

from fusion import __version__


def _demo(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="fusion demo",
        description="Track a simulated vehicle from radar with fusion's EKF/UKF banks and a "
        "filterpy-compatible Kalman filter; print position error, consistency and speed.",
    )
    p.add_argument("--seed", type=int, default=0, help="scenario seed (default 0; same seed, same result)")
    p.add_argument("--plot", metavar="PNG", help="also draw the tracks to this PNG (needs matplotlib)")
    args = p.parse_args(argv)
    from fusion.demo import run

    return run(seed=args.seed, plot=args.plot)


def _kitti(argv: list[str]) -> int:
    from fusion.kitti.cli import main as kitti_main

    return kitti_main(argv)


def _replay(argv: list[str]) -> int:
    from fusion.hil.cli import replay_main

    return replay_main(argv)


def _live(argv: list[str]) -> int:
    from fusion.hil.cli import live_main

    return live_main(argv)


def _scenarios(argv: list[str]) -> int:
    from fusion.scenarios.cli import main as scenarios_main

    return scenarios_main(argv)


COMMANDS = {
    "demo": (_demo, "track a simulated vehicle from radar and report accuracy and speed"),
    "kitti": (_kitti, "KITTI 3D multi-object tracking: evaluate results (kitti eval)"),
    "scenarios": (_scenarios, "simulated drives through the engine: GOSPA, HOTA, NEES per sensor set"),
    "replay": (_replay, "replay CAN logs and sensor streams through the fusion (HIL harness)"),
    "live": (_live, "fuse sensor frames live from a CAN bus and publish the tracks (HIL harness)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    epilog = "commands:\n" + "\n".join(f"  {name:<11}{help_}" for name, (_, help_) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="fusion",
        description="Sensor fusion and multi-target tracking for automated vehicles.",
        epilog=epilog + "\n\nRun 'fusion COMMAND --help' for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fusion {__version__}")
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="command", help="one of: " + ", ".join(COMMANDS))
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    if not argv:
        parser.print_help()
        return 2
    ns = parser.parse_args(argv[:1])
    return COMMANDS[ns.command][0](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
