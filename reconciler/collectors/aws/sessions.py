"""Accounts, sessions and clients for one aws collection; the only place credentials are handled.

In: the `aws:` section of reconciler.yml (accounts with a profile and/or role_arn, regions) and an
injected `session_factory` (boto3.Session by default; tests and the benchmark pass their own).
Out: one `Account` per configured account — a session whose account id has been verified, or the
reason it could not be had (a value, never an exception) — and a thread-safe client cache that counts
every API call through botocore's event hooks. Secrets seen here are kept only to redact messages.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import boto3
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ...errors import CollectorError

SessionFactory = Callable[..., boto3.Session]
DEFAULT_REGION = "us-east-1"


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
        self.requests = 0
        self._lock = threading.Lock()

    def on_call(self, model: Any, **_: Any) -> None:
        key = f"{model.service_model.service_name}.{xform_name(model.name)}"
        with self._lock:
            self.calls[key] += 1

    def on_send(self, **_: Any) -> None:
        with self._lock:
            self.requests += 1


@dataclass
class Clients:
    """boto3 clients per (account, service, region), created once, shared by the worker threads."""

    config: Config
    counter: CallCounter = field(default_factory=CallCounter)
    _cache: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, session: boto3.Session, key: str, service: str, region: str,
            credentials: Mapping[str, str] | None = None) -> Any:
        # botocore sessions are not thread-safe while creating clients; the clients themselves are
        with self._lock:
            client = self._cache.get((key, service, region))
            if client is None:
                client = session.client(service, region_name=region, config=self.config, **(credentials or {}))
                client.meta.events.register("before-call", self.counter.on_call)
                client.meta.events.register("before-send", self.counter.on_send)
                self._cache[(key, service, region)] = client
            return client

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


def client_config(max_attempts: int, workers: int, timeout: float) -> Config:
    return Config(retries={"mode": "adaptive", "max_attempts": max_attempts},
                  max_pool_connections=max(10, workers * 2), connect_timeout=timeout, read_timeout=timeout,
                  user_agent_extra="reconciler")


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
