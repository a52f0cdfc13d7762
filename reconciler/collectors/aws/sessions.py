"""Accounts, sessions and clients for one aws collection; the only place credentials are handled.

In: the `aws:` section of reconciler.yml (accounts with a profile and/or role_arn, regions) and an
injected `session_factory` (boto3.Session by default; tests and the benchmark pass their own).
Out: one `Account` per configured account — a session whose account id has been verified, or the
reason it could not be had (a value, never an exception) — and a thread-safe client cache that counts
every API call and every HTTP request (so retries, per operation) through botocore's event hooks, turns an
answer that is not AWS's (a captive proxy's HTML page) into an error before botocore parses it, and bounds
the calls in flight per endpoint. Secrets seen here are kept only to redact messages.

Timeouts and retries: a read timeout sized for the heaviest page we ask for (1,000 instances), so that a
slow but working endpoint is waited for rather than asked again — a retried list page is rendered twice by
the server; botocore's standard retries then only cover what fails before the work is done or is meant to
be retried (throttling, 5xx, connection errors).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import boto3
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ...errors import CollectorError

SessionFactory = Callable[..., boto3.Session]
DEFAULT_REGION = "us-east-1"
CONNECT_TIMEOUT = 10.0
# a 1,000-instance DescribeInstances page takes seconds on AWS and tens of seconds on a busy moto server;
# waiting is cheaper than a retry that makes the server render the page again
READ_TIMEOUT = 120.0
# calls in flight per endpoint; a listing page weighs LIST_WEIGHT (so at most 8 of them at once): small
# per-resource calls are bound by the round trip, not by the server, and 16 of them keep a 30 ms link
# twice as busy as 8 (measured: bench/aws_bench.py, 200 bucket CIs)
ENDPOINT_CONCURRENCY = 16
LIST_WEIGHT = 2


class NotAwsAnswer(BotoCoreError):
    """An HTTP answer that is no AWS API response (a captive proxy's or a login page's HTML, status 200)."""

    fmt = "{operation}: the endpoint answered with {what}, not an AWS API response (a proxy or login page?)"


def check_answer(response_dict: Mapping[str, Any], operation_model: Any, **_: Any) -> None:
    """`before-parse` hook: botocore parses an HTML page answered with 200 into an empty result (or a
    KeyError). Sniffed from the body, not the content type: moto labels some XML answers text/html."""
    body = response_dict.get("body") or b""
    start = body[:256].lstrip().lower() if isinstance(body, bytes) else b""
    if int(response_dict.get("status_code") or 0) < 300 and start.startswith((b"<!doctype html", b"<html")):
        raise NotAwsAnswer(operation=operation_model.name,
                           what=f"an HTML page (HTTP {response_dict.get('status_code')})")


@dataclass(frozen=True)
class AccountConfig:
    id: str | None = None  # None: whichever account the default credential chain reaches
    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None

    @property
    def label(self) -> str:
        return self.id or self.profile or "default"


@dataclass
class Account:
    config: AccountConfig
    id: str | None = None  # verified account id
    session: boto3.Session | None = None
    # an assumed role's temporary credentials, passed per client: clients of every account then share the
    # base session's loaded service models (loading the EC2 model costs ~0.3 s per session here)
    credentials: dict[str, str] = field(default_factory=dict, repr=False)
    error: str | None = None

    @property
    def label(self) -> str:
        return self.id or self.config.label


def parse_accounts(aws: Mapping[str, Any]) -> list[AccountConfig]:
    entries = aws.get("accounts") or [{}]
    if not isinstance(entries, list):
        raise CollectorError("aws.accounts in reconciler.yml must be a list")
    accounts = []
    for entry in entries:
        entry = entry if isinstance(entry, dict) else {"id": entry}
        ident = entry.get("id")
        accounts.append(AccountConfig(id=str(ident) if ident is not None else None,
                                      profile=entry.get("profile"), role_arn=entry.get("role_arn"),
                                      external_id=entry.get("external_id")))
    return accounts


def describe_error(error: BaseException) -> str:
    """One line: the API operation and AWS's own code and message, or botocore's reason."""
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{error.operation_name}: {info.get('Code', 'Error')}: {info.get('Message', '')}".rstrip(": ")
    return f"{type(error).__name__}: {error}"


class Redactor:
    """Removes every credential this run has handled from a message before it leaves the collector."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def remember_session(self, session: boto3.Session) -> None:
        try:
            credentials = session.get_credentials()
        except BotoCoreError:
            return
        if credentials is not None:
            frozen = credentials.get_frozen_credentials()
            self.remember(frozen.access_key, frozen.secret_key, frozen.token)

    def remember(self, *secrets: str | None) -> None:
        with self._lock:
            self._secrets.update(s for s in secrets if s and len(s) >= 8)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


class CallCounter:
    """API calls (operations, not retries) and HTTP requests (retries included), by `service.operation`."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def requests(self) -> int:
        return sum(self.sent.values())

    def retries(self) -> dict[str, int]:
        """HTTP requests beyond the first of each call, per operation (botocore's retries)."""
        return {op: self.sent[op] - self.calls[op] for op in sorted(self.sent) if self.sent[op] > self.calls[op]}

    def on_call(self, model: Any, **_: Any) -> None:
        key = f"{model.service_model.service_name}.{xform_name(model.name)}"
        with self._lock:
            self.calls[key] += 1

    def on_send(self, service: str, event_name: str = "", **_: Any) -> None:
        # before-send.<service-id>.<Operation>: the operation is the event name's last part
        key = f"{service}.{xform_name(event_name.rsplit('.', 1)[-1])}"
        with self._lock:
            self.sent[key] += 1


class EndpointSlots:
    """At most `capacity` units in flight on one endpoint; each call holds `weight` of them."""

    def __init__(self, capacity: int):
        self.capacity, self.used = capacity, 0
        self._ready = threading.Condition()

    @contextmanager
    def hold(self, weight: int) -> Iterator[None]:
        weight = min(weight, self.capacity)
        with self._ready:
            self._ready.wait_for(lambda: self.used + weight <= self.capacity)
            self.used += weight
        try:
            yield
        finally:
            with self._ready:
                self.used -= weight
                self._ready.notify_all()


@dataclass
class Clients:
    """boto3 clients per (account, service, region), created once, shared by the worker threads."""

    config: Config
    per_endpoint: int = ENDPOINT_CONCURRENCY
    counter: CallCounter = field(default_factory=CallCounter)
    _cache: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    _slots: dict[str, EndpointSlots] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, session: boto3.Session, key: str, service: str, region: str,
            credentials: Mapping[str, str] | None = None) -> Any:
        # botocore sessions are not thread-safe while creating clients; the clients themselves are
        with self._lock:
            client = self._cache.get((key, service, region))
            if client is None:
                client = session.client(service, region_name=region, config=self.config, **(credentials or {}))
                client.meta.events.register("before-call", self.counter.on_call)
                client.meta.events.register("before-send", partial(self.counter.on_send, service))
                client.meta.events.register("before-parse", check_answer)
                self._cache[(key, service, region)] = client
            return client

    @contextmanager
    def slot(self, client: Any, weight: int = 1) -> Iterator[None]:
        """Hold `weight` of the endpoint's slots: at most `per_endpoint` per-resource calls in flight per
        endpoint, a listing (LIST_WEIGHT) counting for more (one endpoint per service and region on AWS;
        a single one behind AWS_ENDPOINT_URL)."""
        url = str(client.meta.endpoint_url)
        with self._lock:
            slots = self._slots.setdefault(url, EndpointSlots(self.per_endpoint))
        with slots.hold(weight):
            yield

    def for_account(self, account: Account, service: str, region: str) -> Any:
        assert account.session is not None and account.id is not None
        return self.get(account.session, account.id, service, region, account.credentials)


class BaseSessions:
    """One base session per profile for the whole run, made by the injected factory."""

    def __init__(self, factory: SessionFactory, redact: Redactor):
        self.factory, self.redact = factory, redact
        self._sessions: dict[str | None, boto3.Session] = {}
        self._lock = threading.Lock()

    def get(self, profile: str | None) -> boto3.Session:
        with self._lock:
            if profile not in self._sessions:
                session = self.factory(profile_name=profile) if profile else self.factory()
                self.redact.remember_session(session)
                self._sessions[profile] = session
            return self._sessions[profile]


def client_config(max_attempts: int, workers: int, read_timeout: float = READ_TIMEOUT,
                  connect_timeout: float = CONNECT_TIMEOUT) -> Config:
    return Config(retries={"mode": "standard", "max_attempts": max_attempts},
                  max_pool_connections=max(10, workers * 2), connect_timeout=connect_timeout,
                  read_timeout=read_timeout, user_agent_extra="reconciler")


def open_account(config: AccountConfig, bases: BaseSessions, clients: Clients, region: str) -> Account:
    """A verified session for one account, or the reason why not (missing credentials, bad role, ...)."""
    redact = bases.redact
    try:
        base = bases.get(config.profile)
        sts = clients.get(base, f"base:{config.profile}", "sts", region)
        credentials, reached = _assume(config, sts, redact) if config.role_arn else ({}, None)
        reached = reached or sts.get_caller_identity()["Account"]
    except (BotoCoreError, ClientError) as error:
        return Account(config, error=redact(describe_error(error)))
    if config.id and reached != config.id:
        how = f"role {config.role_arn}" if config.role_arn else "the credentials"
        return Account(config, error=f"{how} reach account {reached}, not {config.id}")
    return Account(config, id=reached, session=base, credentials=credentials)


def _assume(config: AccountConfig, sts: Any, redact: Redactor) -> tuple[dict[str, str], str]:
    extra = {"ExternalId": config.external_id} if config.external_id else {}
    answer = sts.assume_role(RoleArn=config.role_arn, RoleSessionName="reconciler-readonly", **extra)
    creds = answer["Credentials"]
    redact.remember(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    credentials = {"aws_access_key_id": creds["AccessKeyId"], "aws_secret_access_key": creds["SecretAccessKey"],
                   "aws_session_token": creds["SessionToken"]}
    # arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION — the account the role really lives in
    return credentials, answer["AssumedRoleUser"]["Arn"].split(":")[4]
