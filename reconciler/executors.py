"""Executors: where a collector's jobs run. They know nothing of kinds, only of Jobs (collectors/base.py).

Place in the pipeline: pipeline.collect asks each collector for its jobs (`prepare`), hands them to the
executor of this run, and merges what comes back; classification and the register write stay on the
orchestrator. `local` runs each collector whole, here (the default); `processes` runs jobs in a pool of
worker processes on this machine; `dask://HOST:PORT` sends them to the workers of a Dask distributed
scheduler (docs/scale-out.md). A job travels as cloudpickle bytes — a plugin's collector class too, since
its module cannot be imported on the worker — and comes back as a partial Collection, or as the reason it
failed. A job whose worker is lost makes its targets `unknown` with that reason: never `missing`.
"""

from __future__ import annotations

import multiprocessing
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any, Self

from .collectors.base import Collector, Job, lost_job
from .errors import CollectorError, UsageError
from .userdata import clip

LOCAL, PROCESSES, DASK = "local", "processes", "dask://"
_DASK_ADDRESS = re.compile(r"^dask://(?P<host>[^\s:/]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")
CONNECT_TIMEOUT = "10s"
Done = Callable[[Job], None]


def check_executor(text: str) -> str:
    """`local`, `processes` or `dask://HOST:PORT`, else a UsageError saying what is accepted."""
    if text in (LOCAL, PROCESSES) or _DASK_ADDRESS.match(text):
        return text
    raise UsageError(f"executor '{clip(text)}' is not one of local, processes, dask://HOST:PORT")


def run_blob(blob: bytes) -> bytes:
    """On the worker: one job -> ("ok", partial Collection) or ("failed", reason), as cloudpickle bytes.
    A collector's own exception is its targets' reason (the collector boundary, as pipeline._collect_one)."""
    import cloudpickle

    collector, job = cloudpickle.loads(blob)
    try:
        return cloudpickle.dumps(("ok", collector.run_job(job)))
    except Exception as exc:  # noqa: BLE001 -- reported as each target's error, never a lost run
        why = f"collector '{collector.name}' failed in job {job.label}: {type(exc).__name__}: {clip(str(exc))}"
        return cloudpickle.dumps(("failed", why))


def _answer(job: Job, blob: bytes) -> Any:
    import cloudpickle

    status, value = cloudpickle.loads(blob)
    return value if status == "ok" else lost_job(job, value)


def _pack(collector: type[Collector], job: Job) -> bytes:
    import cloudpickle

    return cloudpickle.dumps((collector, job))


class Executor:
    """Runs jobs; `in_process` executors let collectors run whole (`collect`) instead."""

    in_process = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None: ...

    def run(self, collector: type[Collector], jobs: Sequence[Job], done: Done) -> list[Any]:
        raise NotImplementedError


class LocalExecutor(Executor):
    in_process = True

    def run(self, collector: type[Collector], jobs: Sequence[Job], done: Done) -> list[Any]:
        parts = []
        for job in jobs:  # the same round trip as the other executors: a job is data, wherever it runs
            parts.append(_answer(job, run_blob(_pack(collector, job))))
            done(job)
        return parts


def _in_order(jobs: Sequence[Job], futures: dict[Any, int], wait: Iterable[Any],
              result: Callable[[Any], bytes], lost: str, done: Done) -> list[Any]:
    """Each job's answer, in job order; a future that raises (its worker died) is that job lost."""
    parts: list[Any] = [None] * len(jobs)
    for future in wait:
        number = futures[future]
        try:
            parts[number] = _answer(jobs[number], result(future))
        except Exception as exc:  # noqa: BLE001 -- a lost worker, a broken pool: the job's targets unknown
            parts[number] = lost_job(jobs[number], f"{lost}: {type(exc).__name__}: {clip(str(exc))}"
                                                  f" (job {jobs[number].label})")
        done(jobs[number])
    return [part for part in parts if part is not None]


class ProcessExecutor(Executor):
    """A pool of worker processes on this machine, one a core (forkserver: no threads or locks inherited
    from the orchestrator, and a worker's crash breaks only the pool, never the run)."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 2
        self.pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["reconciler.executors", "reconciler.collectors"])
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=context)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def run(self, collector: type[Collector], jobs: Sequence[Job], done: Done) -> list[Any]:
        if getattr(self.pool, "_broken", False):  # a worker died under an earlier collector: a fresh pool
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._start()
        futures: dict[Future[bytes], int] = {self.pool.submit(run_blob, _pack(collector, job)): number
                                             for number, job in enumerate(jobs)}
        return _in_order(jobs, futures, as_completed(futures), lambda f: f.result(),
                         "its worker process was lost", done)


class DaskExecutor(Executor):
    """The workers of a Dask distributed scheduler. The orchestrator only connects as a client."""

    def __init__(self, address: str):
        from distributed import Client

        self.address = address
        try:
            self.client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise CollectorError(f"cannot reach the Dask scheduler at {address}: {clip(str(exc))}") from None

    def close(self) -> None:
        self.client.close()

    def run(self, collector: type[Collector], jobs: Sequence[Job], done: Done) -> list[Any]:
        run = os.urandom(4).hex()
        futures = {self.client.submit(run_blob, _pack(collector, job), pure=False,
                                      key=f"reconciler-{run}-{collector.name}-{number}"): number
                   for number, job in enumerate(jobs)}
        try:
            # in job order (distributed's as_completed wants a default client; ours is private to this run)
            return _in_order(jobs, futures, list(futures), lambda f: f.result(),
                             f"the Dask worker running it was lost ({self.address})", done)
        finally:
            self.client.cancel(list(futures))


def open_executor(spec: str | None) -> Executor:
    spec = check_executor(spec or LOCAL)
    if spec == LOCAL:
        return LocalExecutor()
    if spec == PROCESSES:
        return ProcessExecutor()
    return DaskExecutor("tcp://" + spec.removeprefix(DASK))
