"""Identification: which register asset an observed resource (or a declared CI) is.

Pure. classify calls `identify` for every observed resource and every CI, with an `AssetIndex` built from
the register snapshot. Keys are tried in order (SPEC §3): the CI's explicit `asset`, then serial / uuid
from facts (bogus firmware values ignored), instance id / ARN / bucket name, then hostname. The first key
that finds anything decides: one asset is a match, several are `ambiguous` (never merged silently).
The order is overridable per kind in reconciler.yml:

    identify:
      server: [asset, serial, hostname]
      aws.ec2.instance: [asset, instance_id, arn]
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .assets import Asset

DEFAULT_KEYS = ("asset", "serial", "uuid", "instance_id", "arn", "bucket", "hostname")
INDEXED = ("serial", "uuid", "instance_id", "arn", "bucket", "hostname", "mac")

# Values firmware and hypervisors put where a serial or uuid should be (dmidecode lore).
BOGUS = frozenset({
    "", "0", "none", "null", "n/a", "na", "unknown", "not specified", "not available", "not applicable",
    "to be filled by o.e.m.", "to be filled by oem", "default string", "system serial number",
    "chassis serial number", "serial number", "0123456789", "123456789", "1234567890", "invalid",
    "xxxxxxxxxx", "filled by o.e.m.", "o.e.m.", "oem", "empty", "-", "sn",
    "03000200-0400-0500-0006-000700080009", "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff",
})


@dataclass(frozen=True)
class Match:
    """The outcome of identifying one resource: no tags (unregistered), one, or several (ambiguous)."""

    tags: tuple[str, ...] = ()
    matched_by: str | None = None
    value: str | None = None

    @property
    def tag(self) -> str | None:
        return self.tags[0] if len(self.tags) == 1 else None

    @property
    def ambiguous(self) -> bool:
        return len(self.tags) > 1


NO_MATCH = Match()


# One encoder for every call: json.dumps with options builds a new JSONEncoder each time.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def canonical_json(value: Any) -> str:
    return _ENCODER.encode(value)


def resource_key(kind: str | None, identity: Mapping[str, Any]) -> str:
    """A stable text key of one resource: its kind and canonical identity."""
    return f"{kind or ''}|{canonical_json(identity)}"


def content_hash(facts: Any) -> str:
    return hashlib.blake2b(canonical_json(facts).encode(), digest_size=16).hexdigest()


def normalise(key: str, value: Any) -> str | None:
    """The comparable form of an identifier, or None when it is empty or bogus."""
    if value is None or isinstance(value, (dict, list)):
        return None
    text = value.strip() if isinstance(value, str) else str(value).strip()
    if text.lower() in BOGUS or (key in ("serial", "uuid", "mac") and _repeated(text)):
        return None
    if key == "serial":
        return text.upper()
    if key == "hostname":
        return text.lower().split(".")[0]
    if key == "mac":
        return re.sub(r"[^0-9a-f]", "", text.lower())
    return text if key == "arn" else text.lower()


def _repeated(text: str) -> bool:
    """'00000000', 'XXXXXXXX', '11111111-1111-...': one character repeated is not an identifier."""
    bare = text.replace("-", "").replace(":", "").replace(" ", "").lower()
    return not bare or not bare.strip(bare[0])


def identifiers(kind: str | None, identity: Mapping[str, Any], facts: Mapping[str, Any],
                aliases: Mapping[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """Every identifier we can read off a resource, as found (`identify` normalises the ones it tries).
    `aliases`: the kind's own identity keys that carry an identifier (Kind.identifiers)."""
    hardware = facts.get("hardware")
    # dict, not typing.Mapping: isinstance against the ABC costs more than the whole lookup
    hw = hardware if isinstance(hardware, dict) else {}
    ident, fact = identity.get, facts.get
    raw = {
        "serial": ident("serial") or hw.get("serial") or fact("serial"),
        "uuid": ident("uuid") or hw.get("uuid") or fact("uuid"),
        "instance_id": ident("instance_id") or fact("instance_id"),
        "arn": ident("arn") or fact("arn"),
        "bucket": ident("bucket"),
        "hostname": ident("host") or ident("hostname") or fact("hostname"),
        "mac": ident("mac") or fact("mac"),
    }
    for key, names in (aliases or {}).items():
        raw[key] = raw.get(key) or next((ident(name) for name in names if ident(name) is not None), None)
    return {key: value for key, value in raw.items() if value is not None}


# The CI kind an identifier implies, most specific first; an ARN by its service and resource type.
_KIND_BY_ARN = {"ec2:instance": "aws.ec2.instance", "ec2:security-group": "aws.ec2.security_group",
                "ec2:volume": "aws.ec2.volume", "ec2:elastic-ip": "aws.ec2.eip", "iam:user": "aws.iam.user",
                "rds:db": "aws.rds.instance", "s3:": "aws.s3.bucket"}
_KIND_BY_IDENTIFIER = (("instance_id", "aws.ec2.instance"), ("bucket", "aws.s3.bucket"),
                       ("hostname", "server"), ("serial", "server"), ("uuid", "server"), ("mac", "server"))


def implied_kinds(asset: Asset) -> list[str]:
    """The CI kinds an asset's identifiers say it is, most specific first: an ARN's own kind (or
    `aws.SERVICE.*` when no built-in kind has its resource type), then instance_id, bucket, and the
    hardware or host identifiers a server's facts carry. Empty for a licence."""
    kinds = []
    if asset.arn:
        parts = str(asset.arn).split(":", 5)
        if len(parts) == 6:
            resource = parts[5].split("/", 1)[0].split(":", 1)[0] if parts[2] != "s3" else ""
            kinds.append(_KIND_BY_ARN.get(f"{parts[2]}:{resource}", f"aws.{parts[2]}.*"))
    kinds += [kind for key, kind in _KIND_BY_IDENTIFIER if getattr(asset, key, None) and kind not in kinds]
    return kinds


class AssetIndex:
    """Assets by each normalised identifier, built once per run, one key when it is first looked up:
    a fleet is usually identified by one or two keys, and the others are never built."""

    def __init__(self, assets: Iterable[Asset]):
        self.assets = list(assets)
        self.tags: set[str] = {asset.asset_tag for asset in self.assets}
        self.by: dict[str, dict[str, list[str]]] = {}

    def lookup(self, key: str, value: str) -> tuple[str, ...]:
        index = self.by.get(key)
        if index is None:
            index = self.by[key] = self._index(key) if key in INDEXED else {}
        return tuple(index.get(value, ()))

    def _index(self, key: str) -> dict[str, list[str]]:
        # Most assets lack most identifiers: a comprehension skips them cheaply.
        present = [(a.asset_tag, value) for a in self.assets if (value := getattr(a, key)) is not None]
        index: dict[str, list[str]] = defaultdict(list)
        for tag, value in present:
            value = normalise(key, value)
            if value:
                index[value].append(tag)
        return index


def keys_for(kind: str | None, settings_raw: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The ordered keys for a kind: reconciler.yml `identify: {kind: [...]}` or the defaults."""
    configured = ((settings_raw or {}).get("identify") or {}).get(kind or "")
    return tuple(configured) if configured else DEFAULT_KEYS


def identify(ids: Mapping[str, str], declared: str | None, index: AssetIndex,
             keys: Iterable[str] = DEFAULT_KEYS) -> Match:
    """Try each key in order; the first that finds assets decides."""
    for key in keys:
        if key == "asset":
            if declared:
                # An explicit tag is the user's word: it decides even when the tag is not registered.
                return Match((declared,), "declared", declared) if declared in index.tags else NO_MATCH
            continue
        value = ids.get(key)
        value = normalise(key, value) if value is not None else None
        tags = index.lookup(key, value) if value else ()
        if tags:
            return Match(tuple(sorted(set(tags))), key, value)
    return NO_MATCH
