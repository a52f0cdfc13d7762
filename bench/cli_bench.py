"""CLI start-up benchmark: wall time of whole `reconcile` processes, as a user at a terminal pays it.

Each shape runs --repeat times as a fresh process (the installed `reconcile` entry point of the running
interpreter's environment); the median is printed with the worst and best run, the load average before
and after. Targets (issue 13): `reconcile --help` <= 0.3 s, `reconcile validate` on the bundled example
(the repository root) <= 1.5 s. Other shapes show what a command that loads more pays.

    .venv/bin/python bench/cli_bench.py [--repeat 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RECONCILE = Path(sys.executable).parent / "reconcile"

# (label, arguments, target seconds or None)
SHAPES = [
    ("reconcile --help", ["--help"], 0.3),
    ("reconcile run --help", ["run", "--help"], 0.3),
    ("reconcile register list --help", ["register", "list", "--help"], 0.3),
    ("reconcile validate (repo root example)", ["--project", str(REPO), "validate"], 1.5),
    ("reconcile validate (examples/fleet)", ["--project", str(REPO / "examples" / "fleet"), "validate"], 1.5),
    ("reconcile history (empty register)", ["--project", str(REPO), "history"], None),
]


def timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run([str(RECONCILE), *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"reconcile {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=9)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "RECONCILER_REGISTER": f"sqlite:///{scratch}/register.db"}
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average before: {load}  ({os.cpu_count()} cores)")
        timed(["--help"], env)  # warm the file cache and the bytecode once
        misses = []
        for label, args, target in SHAPES:
            runs = sorted(timed(args, env) for _ in range(options.repeat))
            median = statistics.median(runs)
            verdict = "" if target is None else \
                f"  target <= {target} s: " + ("ok" if median <= target else "MISSED")
            print(f"{label:<42} median {median:.3f} s  (best {runs[0]:.3f}, worst {runs[-1]:.3f}, "
                  f"n={len(runs)}){verdict}")
            if target is not None and median > target:
                misses.append(label)
        print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("all targets met" if not misses else f"targets missed: {', '.join(misses)}")


if __name__ == "__main__":
    main()
