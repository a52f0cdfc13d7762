"""Register benchmark: 100,000 assets, 100,000 observed resources (80% linked), on SQLite and PostgreSQL.

Prints, per backend, the median of --repeat rounds of:
  import     CSV import of 100,000 rows into an empty register           (target <= 10 s)
  classify   snapshot read + classification of every identity            (target <= 5 s)
  record     recording a run of 100,000 observations, 1% of them changed (target <= 10 s)
and the history rows that run added (should be 1% of the CIs), and the peak memory (<= 1 GB) of the
process that benchmarked that backend (each backend runs in a process of its own). PostgreSQL runs in a
throwaway cluster (tests/pg_fixture.py); skipped when its binaries are absent. The load average is printed
before and after: the figures are only comparable under similar load.

    .venv/bin/python bench/register_bench.py [--repeat 3] [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from reconciler.classify import ClassifySettings, classify
from reconciler.model import FactSet, Item, Observed, RunResult, Source, Status
from reconciler.register import schema as t
from reconciler.register.importer import apply_import, plan_import, read_assets
from reconciler.register.recording import record_run
from reconciler.register.store import open_register

N = 100_000
LINKED = 80_000  # observed resources that are CIs matching an asset; the rest are untracked


def write_csv(path: Path) -> None:
    lines = ["Asset Tag,Name,Serial,Hostname,Owner,Status,Purchase Date,Purchase Cost,Warranty Months"]
    lines += [f"T-{i:06d},server {i},SN{i:06d},host-{i},team-{i % 20},deployed,2023-01-01,{1000 + i % 900}.00,36"
              for i in range(N)]
    path.write_text("\n".join(lines) + "\n")


def fleet(changed_every: int | None) -> tuple[list[Item], list[Observed], dict[str, FactSet], list[Source]]:
    items, observed, facts = [], [], {}
    sources = [Source("ansible", f"batch-{b}", "ok") for b in range(100)]
    for i in range(N):
        host = f"host-{i}" if i < LINKED else f"stray-{i}"
        version = "1.24" if changed_every and i % changed_every == 0 else "1.22"
        fact = {"hostname": host, "hardware": {"serial": f"SN{i:06d}" if i < LINKED else f"X{i}"},
                "packages": {"nginx": version, "openssl": "3.0"}}
        ci = host if i < LINKED else None
        observed.append(Observed("server", {"host": host}, fact, f"batch-{i % 100}", ci))
        if ci:
            items.append(Item(ci, "server", Status.IN_SYNC, {"host": host}, owner=f"team-{i % 20}"))
            facts[ci] = FactSet(ci, "ansible", f"batch-{i % 100}", fact, identity={"host": host})
    return items, observed, facts, sources


def one_round(dsn: str, root: Path, csv_path: Path) -> dict[str, float]:
    reg = open_register(dsn, root)
    figures = {}
    started = time.perf_counter()
    apply_import(reg, plan_import(reg, read_assets(csv_path)))
    figures["import"] = time.perf_counter() - started
    one_run(reg, 0, None)
    figures.update(one_run(reg, 1, 100))  # the second run is the steady state: 1% changed
    reg.close()
    return figures


def one_run(reg, number: int, changed: int | None) -> dict[str, float]:
    """One run of the tool: its fleet, snapshot and result are gone when it returns (as in the CLI)."""
    items, observed, facts, sources = fleet(changed)
    started = time.perf_counter()
    snapshot = reg.snapshot()
    read = time.perf_counter() - started
    result = classify(items, observed, sources, snapshot, ClassifySettings(today=date(2025, 6, 1)), facts)
    classified = time.perf_counter() - started
    run = RunResult(f"run-{number}", "2025-06-01T10:00:00+00:00", "2025-06-01T10:05:00+00:00", sources,
                    result.items, result.coverage)
    versions_before = len(reg.rows(t.ci_versions))
    started = time.perf_counter()
    record_run(reg, run, observed=result.observed, facts=facts, links=result.links,
               unevaluated=result.unevaluated)
    recorded = time.perf_counter() - started
    return {"classify": classified, "record": recorded, "snapshot": read, "items": len(result.items),
            "history_rows": len(reg.rows(t.ci_versions)) - versions_before}


def backend_dsns(backend: str, base: Path, rounds: int):
    if backend == "sqlite":
        return [f"sqlite:///{base}/sqlite-{r}/register.db" for r in range(rounds)], None
    import pg_fixture

    try:
        cluster = pg_fixture.start_cluster()
    except BaseException as skip:  # noqa: BLE001 -- pytest.skip raises a BaseException subclass
        print(f"postgresql: skipped ({skip})")
        return [], None
    return [cluster.new_database() for _ in range(rounds)], cluster


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", default="both", choices=["sqlite", "postgresql", "both"])
    options = parser.parse_args()
    if options.backend == "both":
        # One process per backend: the memory target is per run of the tool, and a process that ran
        # one backend before the other would report the larger of the two heaps, not either.
        for backend in ("sqlite", "postgresql"):
            subprocess.run([sys.executable, __file__, "--backend", backend, "--repeat", str(options.repeat)],
                           check=True)
    else:
        bench_backend(options.backend, options.repeat)


def load() -> str:
    return f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)"


def bench_backend(backend: str, repeat: int) -> None:
    print(f"{backend}: load average at start {load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="register-bench-") as tmp:
        base = Path(tmp)
        write_csv(base / "assets.csv")
        dsns, cluster = backend_dsns(backend, base, repeat)
        try:
            rounds = [one_round(dsn, base, base / "assets.csv") for dsn in dsns]
        finally:
            if cluster:
                cluster.stop()
        if rounds:
            report(backend, rounds)
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"  peak memory (RSS, this backend's process) {peak_mb:.0f} MB (target <= 1024 MB)")
            print(f"  load average at end {load()}", flush=True)


def report(backend: str, rounds: list[dict[str, float]]) -> None:
    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    print(f"{backend} ({len(rounds)} rounds, medians; {N:,} assets, {N:,} observed, {LINKED:,} linked)")
    print(f"  import of {N:,} CSV rows        {median('import'):6.2f} s   (target <= 10 s)")
    print(f"  classification of all ids      {median('classify'):6.2f} s   (target <= 5 s; "
          f"{int(median('items')):,} items; of which snapshot read {median('snapshot'):.2f} s)")
    print(f"  record run, 1% changed         {median('record'):6.2f} s   (target <= 10 s)")
    print(f"  history rows added by that run {int(median('history_rows')):,} "
          f"(= {100 * median('history_rows') / LINKED:.1f}% of {LINKED:,} CIs)")


if __name__ == "__main__":
    main()
