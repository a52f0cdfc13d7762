"""The aws collector as jobs: one job per account x region x kind scope (reconciler.executors runs them).

prepare (on the orchestrator, pure): the scopes a collection lists, as picklable Jobs carrying the aws
settings, the account's index in `aws.accounts`, the kind and the region: never a session. run (anywhere):
open the account with the worker's own credentials, list the scope, locate its global resources, fetch
owner-hint tags -> a ScopeResult and the calls it made. merge (on the orchestrator): a lost job becomes a
failed scope (so nothing there is missing or untracked); then matching and the per-resource calls matched
CIs declare run here, as in `collect`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...model import Collection
from ..base import Job
from .hints import tagging_hints
from .scan import ScopeResult, fail_unlocated, list_scope, scope_label, submit_details, unlocated
from .sessions import AccountConfig, BaseSessions, open_account, parse_accounts
from .spec import KindSpec


def scope_jobs(aws: Mapping[str, Any], extra: Mapping[str, Any], specs: Sequence[KindSpec],
               regions: Sequence[str]) -> list[Job]:
    """Kind-major (the heaviest listings first), as `AwsCollector.scan` orders them."""
    jobs = []
    for spec in specs:
        for number, config in enumerate(parse_accounts(aws)):
            for region in ([regions[0]] if spec.account_level else regions):
                where = None if spec.account_level else region
                label = f"{scope_label(config.label, where)}/{spec.name}"
                payload = (dict(aws), dict(extra), number, spec.name, region, tuple(regions))
                jobs.append(Job("aws", label, (), (scope_label(config.label, where),), payload))
    return jobs


def run_scope(collector: Any, job: Job, specs: Mapping[str, KindSpec]) -> tuple[ScopeResult, dict, dict]:
    """One scope, listed by `collector` (an AwsCollector built on the worker from the job's settings)."""
    _, _, number, kind, region, regions = job.payload
    spec = specs[kind]
    config: AccountConfig = parse_accounts(collector.aws)[number]
    bases = BaseSessions(collector.session_factory, collector.redact)
    account = open_account(config, bases, collector.clients, regions[0])
    where = None if spec.account_level else region
    if account.error or account.id is None:
        result = ScopeResult(account.label, where, spec, error=account.error or "no account id")
    else:
        result = list_scope(account, spec, region, collector.clients, collector.redact, regions)
        with ThreadPoolExecutor(collector.workers, thread_name_prefix="aws") as pool:
            for pending in submit_details(pool, unlocated(result), {account.id: account}, collector.clients,
                                          regions[0], collector.redact):
                pending.result()
        fail_unlocated(result)
        if result.spec.tagging_type:
            tagging_hints(result, account, collector.clients, collector.redact)
    counter = collector.clients.counter
    return result, dict(counter.calls), dict(counter.sent)


def scope_results(jobs: Sequence[Job], parts: Sequence[Any], specs: Mapping[str, KindSpec],
                  accounts: Sequence[Any], counter: Any) -> list[ScopeResult]:
    """Each job's ScopeResult, its kind the orchestrator's own KindSpec again (matching compares them by
    identity); a lost job -> its scope failed with the reason. Worker calls are added to `counter`."""
    results = []
    for job, part in zip(jobs, parts, strict=True):
        _, _, number, kind, region, _ = job.payload
        spec = specs[kind]
        if isinstance(part, Collection):  # lost: no answer from this scope
            where = None if spec.account_level else region
            reason = part.sources[0].error if part.sources else "no answer"
            results.append(ScopeResult(accounts[number].label, where, spec, error=reason))
            continue
        result, calls, sent = part
        result.spec = spec
        for resource in result.resources or ():
            resource.spec = spec
        counter.calls.update(calls)
        counter.sent.update(sent)
        results.append(result)
    return results
