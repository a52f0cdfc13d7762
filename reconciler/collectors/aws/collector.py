"""The aws collector: CIs of aws kinds in, one Collection out (facts per CI, sources, observed, stats).

Order of a collection, all I/O on one bounded thread pool:
  accounts (verify / assume role) -> list every kind in every account x region scope (one paginated list
  call per kind and scope) -> per-resource calls matching needs (tags, bucket regions) -> match CIs ->
  per-resource calls for attributes matched CIs declare -> Collection.
Failures stay in their scope: a failed account fails its scopes, an AccessDenied fails one kind in one
scope; CIs that could live there become unknown and nothing there is observed (so never untracked).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError

from ...errors import CollectorError
from ...model import CI, Collection, FactSet, Observed, Project, Settings, Source
from ..base import CollectOptions, Collector, Job
from . import ec2_eip, ec2_instance, ec2_security_group, ec2_volume, iam_user, rds_instance, s3_bucket
from .hints import tagging_hints
from .jobs import run_scope, scope_jobs, scope_results
from .matching import Outcome, candidates, prepare, resolve
from .scan import (
    Resource,
    ScopeResult,
    fail_unlocated,
    fetch_details,
    list_scope,
    outside,
    scope_label,
    submit_details,
    unlocated,
)
from .sessions import (
    CONNECT_TIMEOUT,
    DEFAULT_REGION,
    ENDPOINT_CONCURRENCY,
    READ_TIMEOUT,
    Account,
    BaseSessions,
    CallCounter,
    Clients,
    Redactor,
    SessionFactory,
    client_config,
    open_account,
    parse_accounts,
)
from .spec import KindSpec, owner_hints

SPECS: tuple[KindSpec, ...] = (ec2_instance.SPEC, ec2_security_group.SPEC, ec2_volume.SPEC, ec2_eip.SPEC,
                               s3_bucket.SPEC, iam_user.SPEC, rds_instance.SPEC)
SPEC_BY_KIND = {spec.name: spec for spec in SPECS}


class AwsCollector(Collector):
    name = "aws"
    kinds = tuple(spec.kind for spec in SPECS)

    def __init__(self, project: Project, options: CollectOptions,
                 session_factory: SessionFactory | None = None):
        super().__init__(project, options)
        self.session_factory: SessionFactory = session_factory or boto3.Session
        self.aws: Mapping[str, Any] = project.settings.aws or {}
        extra = options.extra
        self.workers = int(extra.get("aws_workers", self.aws.get("workers", 16)))
        attempts = int(extra.get("aws_max_attempts", self.aws.get("max_attempts", 5)))
        read_timeout = float(self.aws.get("read_timeout", self.aws.get("timeout", READ_TIMEOUT)))
        config = client_config(attempts, self.workers, read_timeout,
                               float(self.aws.get("connect_timeout", CONNECT_TIMEOUT)))
        per_endpoint = int(extra.get("aws_endpoint_concurrency", self.aws.get("endpoint_concurrency",
                                                                            ENDPOINT_CONCURRENCY)))
        self.clients = Clients(config, per_endpoint=max(1, min(per_endpoint, self.workers)))
        self.redact = Redactor()

    # --- what to scan ---------------------------------------------------------------------------

    @classmethod
    def scans(cls, settings: Settings) -> bool:
        return bool(settings.aws)  # an `aws:` section: list its accounts even with no AWS CI declared

    def specs(self, cis: Sequence[CI]) -> list[KindSpec]:
        names = list(self.options.extra.get("kinds") or self.aws.get("kinds") or SPEC_BY_KIND)
        unknown = [name for name in names if name not in SPEC_BY_KIND]
        if unknown:
            raise CollectorError(f"aws.kinds: unknown kind {unknown[0]!r} (known: {', '.join(SPEC_BY_KIND)})")
        names += [ci.kind for ci in cis if ci.kind not in names]
        return [SPEC_BY_KIND[name] for name in dict.fromkeys(names)]

    def regions(self, cis: Sequence[CI]) -> list[str]:
        configured = list(self.aws.get("regions") or [self.default_region()])
        # a CI pinned to a region nobody listed is still looked for there
        declared = [str(ci.match["region"]) for ci in cis if (ci.match or {}).get("region")]
        return list(dict.fromkeys(configured + declared))

    def default_region(self) -> str:
        try:
            return self.session_factory().region_name or DEFAULT_REGION
        except BotoCoreError:  # a broken profile: the account will fail with the reason, in a scope
            return DEFAULT_REGION

    # --- as a job (reconciler.executors) ------------------------------------------------------------

    def prepare(self, cis: Sequence[CI]) -> list[Job]:
        """One job per account x region x kind scope (aws/jobs.py); a bad `aws.kinds` stops the run here."""
        specs, self._regions = self.specs(cis), self.regions(cis)
        self._jobs = scope_jobs(self.aws, self.options.extra, specs, self._regions)
        return self._jobs

    @classmethod
    def run_job(cls, job: Job) -> Any:
        aws, extra = job.payload[0], job.payload[1]
        project = Project(root=Path("."), settings=Settings(aws=aws), cis=(), inventory=None)
        return run_scope(cls(project, CollectOptions(extra=extra)), job, SPEC_BY_KIND)

    def merge(self, cis: Sequence[CI], parts: Sequence[Any]) -> Collection:
        """The scopes' listings -> matching, the calls matched CIs need, the Collection: as `collect`."""
        started, regions = time.monotonic(), self._regions
        with ThreadPoolExecutor(self.workers, thread_name_prefix="aws") as pool:
            bases = BaseSessions(self.session_factory, self.redact)
            accounts = list(pool.map(lambda c: open_account(c, bases, self.clients, regions[0]),
                                     parse_accounts(self.aws)))
            results = scope_results(self._jobs, parts, SPEC_BY_KIND, accounts, self.clients.counter)
            outcomes = self.match(pool, cis, accounts, results, regions[0])
        return self.assemble(outcomes, results, set(regions), time.monotonic() - started)

    # --- the collection -------------------------------------------------------------------------

    def collect(self, cis: Sequence[CI]) -> Collection:
        started = time.monotonic()
        specs, regions = self.specs(cis), self.regions(cis)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="aws") as pool:
            bases = BaseSessions(self.session_factory, self.redact)
            accounts = list(pool.map(lambda c: open_account(c, bases, self.clients, regions[0]),
                                     parse_accounts(self.aws)))
            results, hinted = self.scan(pool, accounts, specs, regions)
            outcomes = self.match(pool, cis, accounts, results, regions[0])
            for job in hinted:  # owner hints (untracked view only) go on while CIs are matched and fetched
                job.result()
        return self.assemble(outcomes, results, set(regions), time.monotonic() - started)

    def scan(self, pool: Executor, accounts: list[Account], specs: list[KindSpec],
             regions: list[str]) -> tuple[list[ScopeResult], list[Future[None]]]:
        results: list[ScopeResult] = []
        futures: dict[Future[ScopeResult], str] = {}
        # kind-major order: the heaviest listings (instances first) start first, so the endpoint is kept
        # busy while earlier answers are parsed here
        for spec in specs:
            for account in accounts:
                for region in ([regions[0]] if spec.account_level else regions):
                    where = None if spec.account_level else region
                    if account.error:
                        results.append(ScopeResult(account.label, where, spec, error=account.error))
                        continue
                    future = pool.submit(list_scope, account, spec, region, self.clients, self.redact, regions)
                    futures[future] = scope_label(account.label, where)
        listed, hinted = self.wait_scopes(pool, futures, results, {a.id: a for a in accounts if a.id}, regions[0])
        return results + listed, hinted

    def wait_scopes(self, pool: Executor, futures: Mapping[Future[ScopeResult], str], failed: list[ScopeResult],
                    accounts: dict[str, Account], home: str) -> tuple[list[ScopeResult], list[Future[None]]]:
        """Collect list results, advancing progress once per account/region when its last kind is done.
        Bucket regions (identity, when the listing could not tell them) and owner-hint tags are asked for
        as soon as a bucket listing arrives, while EC2 still lists; the hints' futures are returned, not
        waited for (matching does not need them)."""
        remaining: dict[str, int] = defaultdict(int)
        for label in futures.values():
            remaining[label] += 1
        progress = self.options.progress
        progress.start(len(remaining) + len({r.label for r in failed}), "aws account/region scopes")
        progress.advance(len({r.label for r in failed}))
        done, located, hinted = [], [], []
        for future in as_completed(futures):
            result = future.result()
            done.append(result)
            pending = submit_details(pool, unlocated(result), accounts, self.clients, home, self.redact)
            located += [(result, job) for job in pending]
            if not pending and result.spec.tagging_type:
                hinted.append(pool.submit(tagging_hints, result, accounts[result.account], self.clients, self.redact))
            remaining[futures[future]] -= 1
            if remaining[futures[future]] == 0:
                progress.advance()
        for result, job in located:
            job.result()
        for result in done:
            fail_unlocated(result)
        for result in {id(r): r for r, _ in located}.values():  # located one by one: hints only now
            hinted.append(pool.submit(tagging_hints, result, accounts[result.account], self.clients, self.redact))
        progress.finish()
        return done, hinted

    def match(self, pool: Executor, cis: Sequence[CI], accounts: list[Account], results: list[ScopeResult],
              home: str) -> list[Outcome]:
        unverified = {a.label for a in accounts if a.error and not a.config.id}
        by_id = {a.id: a for a in accounts if a.id}
        outcomes = [prepare(ci, SPEC_BY_KIND[ci.kind], results, unverified) for ci in cis]
        fetch_details(pool, matching_wants(outcomes), by_id, self.clients, home, self.redact)
        for outcome in outcomes:
            resolve(outcome)
        fetch_details(pool, declared_wants(outcomes), by_id, self.clients, home, self.redact)
        fetch_details(pool, hint_wants(outcomes, results), by_id, self.clients, home, self.redact)
        return outcomes

    # --- the result -----------------------------------------------------------------------------

    def assemble(self, outcomes: list[Outcome], results: list[ScopeResult], regions: set[str],
                 seconds: float) -> Collection:
        facts = {o.ci.id: fact_set(o) for o in outcomes}
        matched: dict[int, str] = {}
        for outcome in sorted(outcomes, key=lambda o: o.ci.id, reverse=True):
            if outcome.resource is not None and facts[outcome.ci.id].error is None:
                matched[id(outcome.resource)] = outcome.ci.id
        # global kinds report what lives in the scanned regions (a CI may still match a bucket elsewhere)
        observed = tuple(observe(r, matched.get(id(r))) for s in results if s.ok for r in s.resources or ()
                         if (r.region is None and not outside(r)) or r.region in regions or id(r) in matched)
        stats = run_stats(self.clients.counter, results, seconds)
        return Collection(facts=facts, sources=sources(results), observed=observed, stats=stats)


def matching_wants(outcomes: Iterable[Outcome]) -> Iterable[tuple[Resource, str]]:
    """Per-resource facts matching needs: tags, when a CI matches by tags and the listing has none; the
    region of a bucket found in no scanned region that a CI could mean (its region is part of identity)."""
    for outcome in outcomes:
        if outcome.error:
            continue
        if "tags" in outcome.match:
            yield from ((r, "tags") for s in outcome.scopes if s.ok for r in s.resources or ())
        yield from ((r, "region") for r in candidates(outcome, check_region=False) if outside(r))


def hint_wants(outcomes: Iterable[Outcome], results: Iterable[ScopeResult]) -> Iterable[tuple[Resource, str]]:
    """Owner-hint tags of the unmatched resources of kinds the tagging API does not answer for (IAM users):
    one call each, after matching, so never for a resource a CI declares."""
    matched = {id(o.resource) for o in outcomes if o.resource is not None}
    for result in results:
        spec = result.spec
        if result.ok and spec.account_level and not spec.tagging_type and spec.detail_for("tags"):
            yield from ((r, "tags") for r in result.resources or ()
                        if id(r) not in matched and not spec.is_default(r.raw))


def declared_wants(outcomes: Iterable[Outcome]) -> Iterable[tuple[Resource, str]]:
    for outcome in outcomes:
        if outcome.resource is not None:
            yield from ((outcome.resource, key) for key in outcome.ci.desired)


def fact_set(outcome: Outcome) -> FactSet:
    resource, spec, ci = outcome.resource, outcome.spec, outcome.ci
    scope = resource.scope if resource else (outcome.scopes[0].label if outcome.scopes else "aws")
    if resource is None:
        identity = {k: v for k, v in outcome.match.items() if k != "tags"}
        return FactSet(ci=ci.id, collector="aws", scope=scope, error=outcome.error, identity=identity)
    errors = [f"{key}: {resource.detail_errors[key]}" for key in ci.desired if key in resource.detail_errors]
    if errors:
        return FactSet(ci=ci.id, collector="aws", scope=scope, error="; ".join(errors),
                       identity=resource.identity)
    facts = spec.tailor(dict(resource.facts), ci.desired) if spec.tailor else dict(resource.facts)
    return FactSet(ci=ci.id, collector="aws", scope=scope, facts=facts, identity=resource.identity)


def observe(resource: Resource, ci: str | None) -> Observed:
    facts = dict(resource.facts)
    spec = resource.spec
    facts["created"] = facts.get(spec.created_key) if spec.created_key else None
    tags = facts.get("tags", resource.hint_tags)
    if tags is not None:
        facts["owner_hints"] = owner_hints(tags)
    return Observed(kind=spec.name, identity=resource.identity, facts=facts, source=resource.scope, ci=ci,
                    default=bool(spec.is_default(resource.raw)))


def sources(results: list[ScopeResult]) -> tuple[Source, ...]:
    """One Source per account/region; failed kinds in an otherwise working scope get their own."""
    by_label: dict[str, list[ScopeResult]] = defaultdict(list)
    for result in results:
        by_label[result.label].append(result)
    found = []
    for label, group in sorted(by_label.items()):
        failed = [r for r in group if not r.ok]
        if failed and len(failed) == len(group):
            errors = list(dict.fromkeys(r.error for r in failed if r.error))
            found.append(Source("aws", label, "failed", "; ".join(errors)))
            continue
        found.append(Source("aws", label, "ok"))
        found += [Source("aws", f"{label}/{r.spec.name}", "failed", r.error) for r in failed]
    return tuple(found)


def run_stats(counter: CallCounter, results: list[ScopeResult], seconds: float) -> dict[str, Any]:
    owner = {f"{spec.service}.{op}": spec.name for spec in SPECS for op in spec.operations()}
    by_kind: dict[str, int] = defaultdict(int)
    for operation, count in counter.calls.items():
        by_kind[owner.get(operation, operation.split(".")[0])] += count
    resources: dict[str, int] = defaultdict(int)
    for result in results:
        resources[result.spec.name] += len(result.resources or ())
    retries = counter.retries()
    stats = {"api_calls": sum(counter.calls.values()), "http_requests": counter.requests,
             "retries": sum(retries.values()), "retries_by_operation": retries,
             "api_calls_by_kind": dict(sorted(by_kind.items())),
             "api_calls_by_operation": dict(sorted(counter.calls.items())),
             "resources_by_kind": dict(sorted(resources.items())),
             "scopes_failed": sum(1 for r in results if not r.ok), "scopes": len(results),
             "seconds": round(seconds, 3)}
    if retries:  # also as one line of text: the text summary shows only scalar figures
        stats["retried"] = ", ".join(f"{op} x{count}" for op, count in retries.items())
    notes = sorted({f"{r.label}: {r.note}" for r in results if r.note})
    if notes:
        stats["owner_hints_unavailable"] = "; ".join(notes)
    return stats
