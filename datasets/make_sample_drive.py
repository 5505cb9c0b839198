#!/usr/bin/env python3
"""Writes the sample drive (fusion.datasets.sample_drive.make_sample_drive): a simulated highway
drive as a HIL rig records it (drive.blf on CAN with the project's sensor DBCs, lidar.csv as a
sensor stream, truth.npz, rig.toml), ready for `fusion replay`.

    python datasets/make_sample_drive.py --out out/sample/drive --seed 0 --duration 30
    fusion replay out/sample/drive/drive.blf out/sample/drive/lidar.csv \\
        --rig out/sample/drive/rig.toml --out out/sample

`--package-rig` rewrites src/fusion/hil/rigs/sample_drive.toml (the package's copy of the rig,
generated from the scenario's sensors; tests/datasets/test_sample_drive.py compares them).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fusion.datasets import make_scenario
from fusion.datasets.sample_drive import make_sample_drive, rig_toml

PACKAGE_RIG = Path(__file__).resolve().parents[1] / "src" / "fusion" / "hil" / "rigs" / "sample_drive.toml"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("out/sample/drive"), help="output folder (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="scenario seed (default %(default)s)")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of driving (default %(default)s)")
    ap.add_argument("--scenario", default="highway", help="fusion.datasets.driving scenario (default %(default)s)")
    ap.add_argument("--package-rig", action="store_true", help=f"rewrite {PACKAGE_RIG} and exit")
    args = ap.parse_args(argv)
    if args.package_rig:
        PACKAGE_RIG.write_text(rig_toml(make_scenario("highway", 0, 1.0)), encoding="utf-8")
        print(f"wrote {PACKAGE_RIG}")
        return 0
    t0 = time.perf_counter()
    drive = make_sample_drive(args.out, scenario=args.scenario, seed=args.seed, duration_s=args.duration)
    wall = time.perf_counter() - t0
    for p in (drive.can_log, *drive.streams, drive.truth, drive.rig):
        print(f"{p}  ({p.stat().st_size / 1024:.0f} KiB)")
    print(f"{args.scenario} seed {args.seed}, {args.duration:g} s drive written in {wall:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
