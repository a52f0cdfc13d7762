"""Drift engine benchmark: 10,000 CIs of ~40 declared attributes, 5 % drifted.

The CIs' expectations are parsed once, before timing (as project load does). Prints the whole drift
computation, the average per in-sync CI, the same CIs through DeepDiff on every
CI (the naive way, side by side in this run), and peak memory. Medians of --repeat runs.

    python bench/diff_bench.py [--cis 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import time

from deepdiff import DeepDiff

from reconciler.diff import compute_drift
from reconciler.model import CI, Origin


def make_fleet(count: int, drifted_share: float, seed: int = 7) -> list[tuple[CI, dict]]:
    rng = random.Random(seed)
    fleet = []
    for n in range(count):
        installed = {f"pkg-{i}": f"{rng.randint(1, 3)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}-{i % 4}"
                     for i in range(150)}
        facts = {
            "os": {"distribution": "Debian", "major_version": "12", "kernel": "6.1.0-37-amd64"},
            "packages": installed,
            "services": {f"svc-{i}": {"state": "running", "enabled": True} for i in range(8)},
            "files": {f"/etc/app/conf-{i}.conf": {"exists": True, "mode": "0640", "owner": "root",
                                                   "contains": ["a = 1"]} for i in range(4)},
            "sysctl": {f"net.ipv4.key_{i}": str(i % 2) for i in range(10)},
            "listening_ports": [22, 80, 443, 9100],
        }
        desired = {
            "os": {"distribution": "Debian", "major_version": 12},
            "packages": {**{name: installed[name].rsplit(".", 2)[0] + ".*" for name in list(installed)[:12]},
                         **{name: ">=" + installed[name].split(".")[0] for name in list(installed)[12:16]},
                         "telnetd": "absent", "openssh-server-x": "absent"},
            "services": {f"svc-{i}": {"state": "running", "enabled": True} for i in range(5)},
            "files": {f"/etc/app/conf-{i}.conf": {"mode": "0640", "owner": "root", "contains": ["a = 1"]}
                      for i in range(3)},
            "sysctl": {f"net.ipv4.key_{i}": i % 2 for i in range(5)},
            "listening_ports": [443, 80, 22, 9100],
        }
        if rng.random() < drifted_share:
            facts["packages"]["pkg-0"] = "0.1.0"
            facts["services"]["svc-1"]["state"] = "stopped"
        fleet.append((CI(f"host-{n:05d}", "server", desired, {"host": f"host-{n:05d}"}, Origin("bench", n)), facts))
    return fleet


def declared_leaves(tree: dict) -> int:
    return sum(declared_leaves(v) if isinstance(v, dict) else 1 for v in tree.values())


def naive_projection(desired: dict, facts: dict) -> dict:
    return {k: naive_projection(v, facts.get(k) or {}) if isinstance(v, dict) else facts.get(k)
            for k, v in desired.items()}


def time_engine(fleet) -> tuple[float, float, int]:
    in_sync_time, in_sync, start = 0.0, 0, time.perf_counter()
    for ci, facts in fleet:
        t = time.perf_counter()
        drift = compute_drift(ci, facts)
        if not drift:
            in_sync_time += time.perf_counter() - t
            in_sync += 1
    return time.perf_counter() - start, in_sync_time / max(in_sync, 1), in_sync


def time_deepdiff_everywhere(fleet) -> float:
    start = time.perf_counter()
    for ci, facts in fleet:
        DeepDiff(dict(ci.desired), naive_projection(ci.desired, facts), threshold_to_diff_deeper=0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cis", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    fleet = make_fleet(args.cis, 0.05)
    print(f"{len(fleet)} CIs, {declared_leaves(fleet[0][0].desired)} declared attributes each, "
          f"{sum(1 for ci, f in fleet if compute_drift(ci, f))} drifted")
    runs = [time_engine(fleet) for _ in range(args.repeat)]
    total = statistics.median(r[0] for r in runs)
    per_sync = statistics.median(r[1] for r in runs)
    naive = statistics.median(time_deepdiff_everywhere(fleet) for _ in range(args.repeat))
    print(f"drift computation, whole fleet : {total:.3f} s   (target <= 1.0 s)")
    print(f"per in-sync CI                 : {per_sync * 1e6:.1f} us (target <= 50 us)")
    print(f"DeepDiff on every CI           : {naive:.3f} s")
    print(f"speed-up vs DeepDiff everywhere: {naive / total:.1f}x (target >= 10x)")
    print(f"peak memory (max RSS)          : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB "
          "(target <= 500 MB)")
    print("load average (1, 5, 15 min)    : " + " ".join(f"{load:.2f}" for load in os.getloadavg()))


if __name__ == "__main__":
    main()
