"""Damaged copies of a real MF4 log through ``fusion.hil.logs.read_log`` (session-7 review).

Each copy has 1-8 random bytes replaced (70 % of them in the first 20 kB: the blocks and the
start of the records); every copy is read to the end. A ``CanLogError`` is the documented
outcome for a damaged file; anything else (another exception, or a crash of the process) is a
finding. Each copy is read in a child process, so a segfault is counted rather than fatal.

    PYTHONPATH=src python scripts/mf4_byte_flips.py --copies 400 --seed 1 \
        ../shared/data/can/css-electronics/3BA199E2/00000164/00000005-60FEB5A8.MF4

Prints the counts per outcome (``ok`` = read whole, ``CanLogError``, ``OTHER <type>``,
``CRASH <signal>``) and the copies that were not ``ok`` or ``CanLogError``.
"""

from __future__ import annotations

import argparse
import collections
import random
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = """
import sys, warnings
warnings.simplefilter("ignore")
from fusion.hil.errors import CanLogError
from fusion.hil.logs import read_log
try:
    n = sum(1 for _ in read_log(sys.argv[1]))
    print("ok", n)
except CanLogError:
    print("CanLogError")
except BaseException as exc:
    print("OTHER", type(exc).__name__)
"""


def damaged(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(0, min(len(b), 20_000)) if rng.random() < 0.7 else rng.randrange(len(b))
        b[i] = rng.randrange(256)
    return bytes(b)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", type=Path, help="an MF4 log (read only; the copies go to a temporary folder)")
    ap.add_argument("--copies", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    data = args.log.read_bytes()
    counts: collections.Counter[str] = collections.Counter()
    findings: list[tuple[int, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.copies):
            rng = random.Random(k * 7919 + args.seed)
            path = Path(tmp) / f"copy{k}.mf4"
            path.write_bytes(damaged(data, rng))
            proc = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True,
                                  timeout=120, check=False)
            out = proc.stdout.strip().splitlines()
            outcome = out[-1] if proc.returncode == 0 and out else f"CRASH {proc.returncode}"
            kind = "ok" if outcome.startswith("ok") else outcome
            counts[kind] += 1
            if kind not in ("ok", "CanLogError"):
                findings.append((k, outcome))
    print(dict(counts))
    for k, outcome in findings:
        print(f"copy {k} (seed {args.seed}): {outcome}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
