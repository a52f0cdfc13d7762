"""boto3 clients for apply's cloud steps, per (account, region, service), through the collector's sessions.

The accounts of reconciler.yml (`aws.accounts`, with role_arn to assume) are opened the way the collector
opens them (collectors/aws/sessions.py), so credentials are handled in one place and never written out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3

from ..collectors.aws.sessions import (
    DEFAULT_REGION,
    Account,
    AccountConfig,
    BaseSessions,
    Clients,
    Redactor,
    client_config,
    open_account,
    parse_accounts,
)
from ..errors import CollectorError


class CloudClients:
    def __init__(self, aws: Mapping[str, Any], session_factory: Any = None):
        self.configs = parse_accounts(aws)
        self.regions = list(aws.get("regions") or [])
        self.bases = BaseSessions(session_factory or boto3.Session, Redactor())
        self.clients = Clients(client_config(3, 4, float(aws.get("timeout", 20))))
        self.accounts: dict[str | None, Account] = {}

    def _config(self, account: str | None) -> AccountConfig:
        for config in self.configs:
            if config.id == account:
                return config
        return next((c for c in self.configs if c.id is None), AccountConfig(id=account))

    def client(self, target: Mapping[str, Any], service: str) -> Any:
        region = target.get("region") or (self.regions[0] if self.regions else DEFAULT_REGION)
        key = target.get("account")
        if key not in self.accounts:
            self.accounts[key] = open_account(self._config(key), self.bases, self.clients, region)
        account = self.accounts[key]
        if account.error:
            raise CollectorError(f"account {account.label}: {account.error}")
        return self.clients.for_account(account, service, region)
