"""Keeping secrets out of what we print and store: register DSN credentials and secret-looking facts.

`mask` is applied to every message the CLI prints (and every error built from a DSN); `redact` to facts
before the register keeps them (configuration history, hence `show`).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***"
# Whole words of a key (separated by _ . - / or the key's ends): "db_password", "api-token", but not
# "libsecret-1-0" or "tokenizers".
SECRET_KEY = re.compile(r"(?:^|[_.\-/])(password|passwd|secret|token|private_key|api_key|apikey|"
                        r"credentials?)(?:$|[_.\-/])", re.IGNORECASE)
# The password runs to the '@' before the host, so a raw '@' inside it (not URL-encoded) is masked too.
_USERINFO = re.compile(r"(?P<head>[a-zA-Z][\w+.\-]*://[^:/@\s]*:)(?P<secret>\S*?)(?=@[^@\s/?#]*(?:[/?#\s]|$))")
_QUERY = re.compile(r"(?P<head>[?&;\s](?:password|passwd|pwd|sslpassword)=)(?P<secret>[^&\s'\"]*)",
                    re.IGNORECASE)
_KEYWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<secret>'[^']*'|[^\s&;'\"]+)", re.IGNORECASE)
_ENV_SECRETS = ("PGPASSWORD",)


@functools.lru_cache(maxsize=65536)
def _secret(key: str) -> bool:
    """Keys repeat across a fleet (150 package names x 10,000 hosts): each is searched once. An absolute
    path (`files` facts: /etc/passwd, /etc/pam.d/common-password) names a file whose facts are its mode,
    owner and such, never its content: not a secret."""
    return not key.startswith("/") and SECRET_KEY.search(key) is not None


def mask(text: str) -> str:
    """`text` with DSN passwords (user:PASS@, ?password=PASS, password=PASS) and $PGPASSWORD masked."""
    for pattern in (_USERINFO, _KEYWORD, _QUERY):  # quoted keyword values first
        text = pattern.sub(lambda m: m.group("head") + REDACTED, text)
    for name in _ENV_SECRETS:
        value = os.environ.get(name)
        if value and len(value) >= 3:
            text = text.replace(value, REDACTED)
    return text


_SCALARS = frozenset({str, int, float, bool, type(None)})


def redact(value: Any) -> Any:
    """A copy of `value` with the value of every secret-looking key replaced by '***'."""
    if isinstance(value, Mapping):
        # scalars are taken as they are, without a call each (most of a host's facts are strings)
        return {k: REDACTED if isinstance(k, str) and _secret(k) else v if v.__class__ in _SCALARS else redact(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value
