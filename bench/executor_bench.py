"""Executor benchmark: one facts-file fleet (bench/fleet_bench.py's shape) reconciled on the local executor,
a process pool, and a Dask LocalCluster of 2 worker processes, side by side.

Each executor runs in a fresh process: load, run (collect → merge → diff → classify → record) and the JSON
report, timed stage by stage; peak RSS of the orchestrator and of its largest child (a pool or Dask worker).
The Dask cluster is started before the clock starts (a scheduled run connects to a standing cluster) and
reported on its own line. Prints the load average: the machine is shared, read the figures with it.

    .venv/bin/python bench/executor_bench.py --hosts 10000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet_bench import build_project

EXECUTORS = ("local", "processes", "dask")
CHILD = r"""
import json, resource, sys, time
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
start = time.perf_counter()
project = load_project(root, facts_dir=root + "/facts")
times["load"] = time.perf_counter() - start
options = pipeline.RunOptions(facts_dir=root + "/facts", executor=executor)
dsn = f"sqlite:///{root}/.reconciler/{sys.argv[2]}-{time.time_ns()}.db"
with open_register(dsn, project.root) as register:
    result = pipeline.run(project, options, register)
times.update(result.timings)
mark = time.perf_counter()
report = render_json(result)
times["JSON report"] = time.perf_counter() - mark
wall = time.perf_counter() - start
if cluster is not None:
    cluster.close()
usage = lambda who: resource.getrusage(who).ru_maxrss / 1024
print(json.dumps({"wall": wall, "boot": boot, "times": times, "rss": usage(resource.RUSAGE_SELF),
                  "child_rss": usage(resource.RUSAGE_CHILDREN), "statuses": json.loads(report)["summary"]}))
"""


def one_run(root: Path, executor: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RECONCILER_REGISTER"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(root), executor], capture_output=True, text=True,
                          timeout=1800, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{executor}: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_run(runs: list[dict]) -> dict:
    """The run of median wall time (its stage times belong together)."""
    return sorted(runs, key=lambda run: run["wall"])[len(runs) // 2]


def show(hosts: int, results: dict[str, list[dict]]) -> None:
    picked = {name: median_run(runs) for name, runs in results.items()}
    stages = list(dict.fromkeys(stage for run in picked.values() for stage in run["times"]))
    print(f"\n{hosts} facts-file hosts, median of {len(next(iter(results.values())))} runs "
          f"(load average {', '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print(f"  {'':28}" + "".join(f"{name:>12}" for name in picked))
    rows = [("wall (s)", lambda r: r["wall"]), ("per host (ms)", lambda r: 1000 * r["wall"] / hosts),
            ("peak RSS orchestrator (MB)", lambda r: r["rss"]),
            ("peak RSS a child (MB)", lambda r: r["child_rss"])]
    rows += [(f"  {stage} (s)", lambda r, s=stage: r["times"].get(s, 0.0)) for stage in stages]
    rows += [("merge + record share", lambda r: (r["times"].get("merge", 0) + r["times"].get("record", 0))
              / r["wall"])]
    for label, value in rows:
        print(f"  {label:28}" + "".join(f"{value(run):>12.3f}" for run in picked.values()))
    if "dask" in picked:
        print(f"  (Dask LocalCluster start-up, not in the wall: {picked['dask']['boot']:.1f} s)")
    counts = {name: run["statuses"] for name, run in picked.items()}
    same = len({json.dumps(c, sort_keys=True) for c in counts.values()}) == 1
    print(f"  summaries identical across executors: {same} ({next(iter(counts.values()))})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, nargs="+", default=[10_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--executors", nargs="+", default=list(EXECUTORS), choices=EXECUTORS)
    args = parser.parse_args()
    for hosts in args.hosts:
        with tempfile.TemporaryDirectory(prefix="executor-bench-") as where:
            root = Path(where)
            start = time.perf_counter()
            build_project(root, hosts)
            print(f"built a {hosts}-host project in {time.perf_counter() - start:.1f} s")
            results: dict[str, list[dict]] = {name: [] for name in args.executors}
            for _ in range(args.repeat):  # interleaved, so a busy spell on the machine hits every executor
                for name in args.executors:
                    results[name].append(one_run(root, name))
            show(hosts, results)


if __name__ == "__main__":
    main()
