"""Executor benchmark: one facts-file fleet (bench/fleet_bench.py's shape) reconciled on the local executor,
a process pool, and a Dask LocalCluster of 2 worker processes, side by side, at one or more fleet sizes.

Each run is a fresh process on a cold project (no `.reconciler/`: no cache, an empty register): load, run
(collect → merge → diff → classify → record) and the JSON report, timed stage by stage; wall and CPU time
of the orchestrator, its peak RSS and that of its largest child (a pool or Dask worker). The Dask cluster
is started before the clock starts (a scheduled run connects to a standing cluster) and reported on its
own line. Runs are interleaved (a busy spell on the shared machine hits every executor) and the run of
median wall time is shown, with the load average (1 min) each figure was taken under. The fleets are
built once and cached under /tmp (fleet_bench.cached_project): 100,000 hosts take minutes to write.

    .venv/bin/python bench/executor_bench.py --hosts 10000 100000 --repeat 3 [--repeat-large 1]

Targets (issue 11): 100,000 hosts <= 100 s and <= 4 GB locally; per host at 100,000 <= 1.2x per host at
10,000; on Dask, merge + register write <= 20 % of the run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet_bench import cached_project

EXECUTORS = ("local", "processes", "dask")
CHILD = r"""
import json, os, resource, sys, time
root, executor = sys.argv[1], sys.argv[2]
cluster, started = None, time.perf_counter()
if executor == "dask":
    from distributed import LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, silence_logs=50)
    executor = "dask://" + cluster.scheduler_address.removeprefix("tcp://")
boot = time.perf_counter() - started
from reconciler import pipeline
from reconciler.project import load_project
from reconciler.register.store import open_register
from reconciler.report.json import render_json
times = {}
start, cpu = time.perf_counter(), time.process_time()
project = load_project(root, facts_dir=root + "/facts")
times["load"] = time.perf_counter() - start
options = pipeline.RunOptions(facts_dir=root + "/facts", executor=executor)
with open_register(f"sqlite:///{root}/.reconciler/register.db", project.root) as register:
    result = pipeline.run(project, options, register)
times.update(result.timings)
mark = time.perf_counter()
report = render_json(result)
times["JSON report"] = time.perf_counter() - mark
wall, cpu = time.perf_counter() - start, time.process_time() - cpu
summary = json.loads(report)["summary"]
if cluster is not None:
    cluster.close()
usage = lambda who: resource.getrusage(who).ru_maxrss / 1024
print(json.dumps({"wall": wall, "cpu": cpu, "boot": boot, "times": times, "rss": usage(resource.RUSAGE_SELF),
                  "child_rss": usage(resource.RUSAGE_CHILDREN), "statuses": summary}))
"""


def one_run(root: Path, executor: str) -> dict:
    """One cold run in a fresh process, with the load average it ran under (the worse of start and end)."""
    shutil.rmtree(root / ".reconciler", ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k != "RECONCILER_REGISTER"}
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, "-c", CHILD, str(root), executor], capture_output=True, text=True,
                          timeout=3600, env=env)
    shutil.rmtree(root / ".reconciler", ignore_errors=True)
    if done.returncode != 0:
        raise SystemExit(f"{executor}: {done.stderr.strip().splitlines()[-3:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["load"] = max(load, os.getloadavg()[0])
    return figures


def median_run(runs: list[dict]) -> dict:
    """The run of median wall time (its stage times belong together)."""
    return sorted(runs, key=lambda run: run["wall"])[len(runs) // 2]


def share(run: dict) -> float:
    return (run["times"].get("merge", 0.0) + run["times"].get("record", 0.0)) / run["wall"]


def show(hosts: int, results: dict[str, list[dict]]) -> dict[str, dict]:
    picked = {name: median_run(runs) for name, runs in results.items()}
    stages = list(dict.fromkeys(stage for run in picked.values() for stage in run["times"]))
    print(f"\n{hosts} facts-file hosts, cold, run of median wall of {len(next(iter(results.values())))} "
          f"(load average now {', '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print(f"  {'':30}" + "".join(f"{name:>12}" for name in picked))
    rows = [("load average (1 min)", lambda r: r["load"]), ("wall (s)", lambda r: r["wall"]),
            ("CPU of the orchestrator (s)", lambda r: r["cpu"]),
            ("per host (ms)", lambda r: 1000 * r["wall"] / hosts),
            ("peak RSS orchestrator (MB)", lambda r: r["rss"]), ("peak RSS a child (MB)", lambda r: r["child_rss"])]
    rows += [(f"  {stage} (s)", lambda r, s=stage: r["times"].get(s, 0.0)) for stage in stages]
    rows += [("merge + record share", share)]
    for label, value in rows:
        print(f"  {label:30}" + "".join(f"{value(run):>12.3f}" for run in picked.values()))
    if "dask" in picked:
        print(f"  (Dask LocalCluster start-up, not in the wall: {picked['dask']['boot']:.1f} s)")
    for name, runs in results.items():
        walls = ", ".join(f"{r['wall']:.1f} s (load {r['load']:.1f})" for r in runs)
        print(f"  {name}: walls {walls}")
    counts = {name: run["statuses"] for name, run in picked.items()}
    same = len({json.dumps(c, sort_keys=True) for c in counts.values()}) == 1
    print(f"  summaries identical across executors: {same} ({next(iter(counts.values()))})")
    return picked


def scaling(picked: dict[int, dict[str, dict]]) -> None:
    """Per-host cost of the largest fleet against the smallest, per executor (target <= 1.2x)."""
    small, large = min(picked), max(picked)
    if small == large:
        return
    print(f"\nper-host cost at {large} against {small} hosts (target <= 1.2x; wall is load-sensitive, "
          "CPU of the orchestrator less so):")
    for name in picked[small]:
        a, b = picked[small][name], picked[large][name]
        wall = (b["wall"] / large) / (a["wall"] / small)
        cpu = (b["cpu"] / large) / (a["cpu"] / small)
        print(f"  {name:10} wall {wall:5.2f}x  CPU {cpu:5.2f}x  (load {a['load']:.1f} / {b['load']:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, nargs="+", default=[10_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--repeat-large", type=int, default=1, help="repeats for fleets over 50,000 hosts")
    parser.add_argument("--executors", nargs="+", default=list(EXECUTORS), choices=EXECUTORS)
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    picked = {}
    for hosts in args.hosts:
        start = time.perf_counter()
        root = cached_project(hosts)
        print(f"{hosts}-host project at {root} ({time.perf_counter() - start:.1f} s to find or build)")
        results: dict[str, list[dict]] = {name: [] for name in args.executors}
        for _ in range(args.repeat if hosts <= 50_000 else args.repeat_large):
            for name in args.executors:  # interleaved, so a busy spell on the machine hits every executor
                results[name].append(one_run(root, name))
        picked[hosts] = show(hosts, results)
    scaling(picked)


if __name__ == "__main__":
    main()
