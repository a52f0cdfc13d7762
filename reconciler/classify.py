"""Classification (SPEC §3): every identity gets its place in D(eclared) x R(egistered) x O(bserved).

Pure; the pipeline calls `classify` after the diff stage and before recording the run.

In:  the diff stage's Items for CIs (status in_sync / drifted / missing / unknown; `Item.asset` = the
     CI's explicit `asset:` tag), the Observed resources and scan Sources of the collectors, the FactSets
     by CI, the register snapshot (assets, stored links, past sightings) and ClassifySettings.
Out: `Classification` — the CI items with flags, plus one item per untracked resource and per asset that
     needs attention (ci None); the links found this run (to record); coverage figures.

Memberships. D: a CI. R: matched to an *active* asset (status ordered, in_stock, deployed, in_repair, lost;
retired and disposed assets are not registered any more). O: a CI with status in_sync/drifted, or a
resource observed in a scope whose scan succeeded; `unknown` CIs are neither observed nor absent.
Flags: configured_unowned (D, not R), owned_unconfigured (R, not D), unseen (R, not D, not O, and its
absence could be concluded: its last known scopes were scanned successfully this run, or — never seen —
no scope failed), untracked (O only), state_conflict (asset retired / disposed / in_stock but declared,
or observed running), stale (an in-service asset — deployed or in_repair — last observed more than
`stale_after_days` ago and not seen now), warranty_expiring (warranty ends in [today, today + 90 days]),
eol (EOL date on or before today + 90 days), licence_over (more resources with a package matching the
licence's `licence_product` glob than its `seats`), ambiguous (several assets matched; nothing linked).
unseen and stale apply to assets in service (deployed, in_repair): ordered and in_stock assets are not
expected to be seen. Licence assets (category software_licence) are entitlements, not identities: they
only get licence_over / warranty_expiring / eol.

Coverage (percentages with one decimal, None when the denominator is 0). Identities are: every CI; every
observed non-default resource not matched to a CI (several resources of one asset count once); every
active non-licence asset matched by nothing.
    declared_pct          = identities D and (R or O)   /  identities R or O      (estate under config)
    owned_pct             = identities R and (D or O)   /  identities D or O      (estate in the register)
    configured_assets_pct = identities R and D          /  identities R           (assets under config)
`by_owner` gives the three figures per owner (the CI's owner, else the asset's; "(none)" without one).
"""

from __future__ import annotations

import fnmatch
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

from .bulk import paused_gc
from .model import FactSet, Flag, Item, Observed, Source, Status
from .register.assets import Asset, Link, RegisterSnapshot
from .register.identify import (
    NO_MATCH,
    AssetIndex,
    Match,
    canonical_json,
    identifiers,
    identify,
    implied_kinds,
    keys_for,
    resource_key,
)
from .secrets import redact

SEEN_STATUSES = (Status.IN_SYNC, Status.DRIFTED)
IN_SERVICE = ("deployed", "in_repair")
CONFLICTING = ("retired", "disposed", "in_stock")
# What the owner of an account needs to decide about an untracked resource: who may own it, since when,
# and whether it is attached (an unattached volume or address costs money for nothing).
DECISION_FACTS = ("owner_hints", "tags", "created", "state", "attached", "associated", "hostname")
KEY_RANK = ("declared", "serial", "uuid", "instance_id", "arn", "bucket", "hostname", "mac", "linked")


@dataclass(frozen=True)
class ClassifySettings:
    today: date
    stale_after_days: int = 30
    warn_days: int = 90
    identify: Mapping[str, Sequence[str]] = field(default_factory=dict)  # reconciler.yml `identification:`
    include_defaults: bool = False  # `untracked --strict`: provider defaults are resources like any other
    # Kinds some collector listed in full this run (a cloud account's buckets...): only an asset of such a
    # kind can be concluded absent without a past sighting. None: every kind (callers that do not say).
    scanned_kinds: frozenset[str] | None = None
    # by kind: identity keys that carry a register identifier (Kind.identifiers); the built-in kinds' by default
    aliases: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=lambda: _builtin_aliases())


def _builtin_aliases() -> dict[str, Mapping[str, tuple[str, ...]]]:
    from .collectors import builtin_identifiers  # late: the kinds live with the collectors

    return builtin_identifiers()


@dataclass
class Classification:
    items: list[Item]
    coverage: dict[str, float | None]
    by_owner: dict[str, dict[str, float | None]]
    links: list[Link]
    observed: list[Observed]  # the run's observations, plus those made from CI facts: record these
    unevaluated: set[str]  # subjects whose state could not be established (keep their findings open)


class _Identity(NamedTuple):
    """One identity's memberships (a tuple: one is made per CI, resource and asset)."""

    declared: bool
    registered: bool
    observed: bool
    owner: str | None


class _Run:
    """The working state of one classification."""

    def __init__(self, snapshot: RegisterSnapshot, sources: Sequence[Source], settings: ClassifySettings):
        self.snapshot, self.settings = snapshot, settings
        self.index = AssetIndex(snapshot.assets.values())
        self.ok = {s.scope for s in sources if s.status == "ok"}
        self.failed = {s.scope for s in sources if s.status != "ok"}
        self.claimed: dict[str, str] = {}  # asset tag -> subject that holds it
        self.candidates: set[str] = set()  # assets of ambiguous matches: neither linked nor unseen
        self.stored_by_ci = {link.ci: link for link in snapshot.links.values() if link.ci}
        self.links: list[Link] = []
        self.keys_of: dict[str | None, tuple[str, ...]] = {}
        self.identities: list[_Identity] = []
        self.unevaluated: set[str] = set()
        self.not_covered = 0  # registered assets no collector looked for: neither seen nor unseen
        self.stale_before = datetime.combine(settings.today, time(), UTC) - timedelta(
            days=settings.stale_after_days)

    def keys(self, kind: str | None) -> tuple[str, ...]:
        if kind not in self.keys_of:  # once per kind, not per resource
            self.keys_of[kind] = keys_for(kind, {"identify": self.settings.identify})
        return self.keys_of[kind]

    def asset(self, match: Match) -> Asset | None:
        return self.snapshot.assets.get(match.tag) if match.tag else None


@paused_gc()
def classify(items: Sequence[Item], observed: Sequence[Observed], sources: Sequence[Source],
             snapshot: RegisterSnapshot, settings: ClassifySettings,
             facts: Mapping[str, FactSet] | None = None) -> Classification:
    run = _Run(snapshot, sources, settings)
    seen = [o for o in observed if o.source in run.ok or not sources]
    seen += _from_facts(items, seen, facts or {})
    by_ci = {o.ci: o for o in reversed(seen) if o.ci}
    result = [_classify_ci(run, item, by_ci.get(item.ci or "")) for item in items]
    result += _classify_resources(run, [o for o in seen if o.ci is None and (settings.include_defaults or not o.default)])
    result += _classify_assets(run)
    result += _licences(run, seen)
    _date_flags(run, result)
    # A CI id is unique: only items without one need their identity to sort (SPEC §5 order).
    result.sort(key=lambda i: (i.kind or "", i.ci or "", "" if i.ci else canonical_json(i.identity),
                               i.asset or ""))
    coverage, by_owner = coverage_of(run.identities)
    registered = sum(1 for identity in run.identities if identity.registered)
    coverage["not_covered_pct"] = _pct(run.not_covered, registered)
    return Classification(result, coverage, by_owner, run.links, seen, run.unevaluated)


def _from_facts(items: Sequence[Item], seen: Sequence[Observed], facts: Mapping[str, FactSet]
                ) -> list[Observed]:
    """CIs seen through their FactSet but not reported as Observed still are observed resources."""
    covered = {o.ci for o in seen if o.ci}
    made = []
    for item in items:
        factset = facts.get(item.ci or "")
        if item.ci not in covered and item.status in SEEN_STATUSES and factset and factset.ok:
            made.append(Observed(kind=item.kind or "", identity=dict(factset.identity or item.identity),
                                 facts=dict(factset.facts or {}), source=factset.scope, ci=item.ci))
    return made


# --- CIs ------------------------------------------------------------------------------------------

def _classify_ci(run: _Run, item: Item, found: Observed | None) -> Item:
    # A copy with lists of its own: the diff stage's item stays as it was (faster than copy.copy).
    item = Item(**{**vars(item), "flags": list(item.flags), "drift": list(item.drift)})
    found = found if item.status in SEEN_STATUSES else None
    match = _identify_ci(run, item, found)
    asset = run.asset(match)
    observed = item.status in SEEN_STATUSES
    if item.status == Status.UNKNOWN:
        run.unevaluated.add(item.ci or "")
    if match.ambiguous:
        item.flags.append(Flag.AMBIGUOUS)
        run.candidates.update(match.tags)
    elif asset is not None:
        _link(run, asset, match, item.ci, found, item)
        item.asset, item.owner = asset.asset_tag, item.owner or asset.owner
        _asset_flags(run, item, asset, observed, running=True, declared=True)
    registered = match.ambiguous or (asset is not None and asset.active)
    if not registered:
        item.flags.append(Flag.CONFIGURED_UNOWNED)
    run.identities.append(_Identity(True, registered, observed, item.owner))
    return item


def _identify_ci(run: _Run, item: Item, found: Observed | None) -> Match:
    ids = identifiers(item.kind, item.identity, {}, run.settings.aliases.get(item.kind or ""))
    if found is not None:
        aliases = run.settings.aliases.get(found.kind)
        ids = {**ids, **identifiers(found.kind, found.identity, found.facts, aliases)}
    match = identify(ids, item.asset, run.index, run.keys(item.kind))
    if match is NO_MATCH and not item.asset:
        stored = run.stored_by_ci.get(item.ci or "")
        if stored is not None and stored.asset_tag in run.snapshot.assets:
            return Match((stored.asset_tag,), "linked", stored.matched_value)
    return match


def _link(run: _Run, asset: Asset, match: Match, ci: str | None, found: Observed | None, item: Item) -> None:
    identity = dict(found.identity) if found else dict(item.identity)
    kind = found.kind if found else item.kind
    matched_by = match.matched_by if match.matched_by != "linked" else \
        run.snapshot.links[asset.asset_tag].matched_by
    run.claimed[asset.asset_tag] = ci or resource_key(kind, identity)
    run.links.append(Link(asset.asset_tag, matched_by or "declared", ci, kind,
                          resource_key(kind, identity), identity, match.value))


# --- observed resources that are no CI ------------------------------------------------------------

def _classify_resources(run: _Run, resources: Sequence[Observed]) -> list[Item]:
    matches = [(o, identify(identifiers(o.kind, o.identity, o.facts, run.settings.aliases.get(o.kind)), None, run.index, run.keys(o.kind)))
               for o in resources]
    matches.sort(key=lambda pair: KEY_RANK.index(pair[1].matched_by or "linked"))  # strongest key first
    contested = _contested(run, matches)
    result, counted = [], set()
    for resource, match in matches:
        if match.tag in run.claimed and match.tag not in contested:
            continue  # another view of an asset a CI already holds (e.g. the EC2 instance of a server)
        item = _resource_item(run, resource, match, match.tag in contested)
        if item is not None:
            result.append(item)
        if match.tag is None or match.tag not in counted:
            counted.add(match.tag)
            asset = run.asset(match)
            registered = match.ambiguous or (asset is not None and asset.active)
            run.identities.append(_Identity(False, registered, True, asset.owner if asset else None))
    return result


def _contested(run: _Run, matches: Sequence[tuple[Observed, Match]]) -> set[str]:
    """Assets claimed by several resources with the same key (and no CI): ambiguous, not merged."""
    claims: dict[str, list[int]] = defaultdict(list)
    for _resource, match in matches:
        if match.tag and match.tag not in run.claimed:
            claims[match.tag].append(KEY_RANK.index(match.matched_by or "linked"))
    return {tag for tag, ranks in claims.items() if len(ranks) > 1 and ranks.count(min(ranks)) > 1}


def _resource_item(run: _Run, resource: Observed, match: Match, contested: bool) -> Item | None:
    item = Item(ci=None, kind=resource.kind, status=None, identity=dict(resource.identity))
    asset = run.asset(match)
    if match.ambiguous or contested:
        item.flags.append(Flag.AMBIGUOUS)
        run.candidates.update(match.tags)
        return item
    if asset is None:
        item.flags.append(Flag.UNTRACKED)
        item.details = redact({key: resource.facts[key] for key in DECISION_FACTS
                               if resource.facts.get(key) is not None})  # tags may be named "db_password"
        return item
    if asset.asset_tag in run.claimed:
        return None  # a weaker view of an asset another resource holds
    _link(run, asset, match, None, resource, item)
    item.asset, item.owner = asset.asset_tag, asset.owner
    if asset.active:
        item.flags.append(Flag.OWNED_UNCONFIGURED)
    running = str(resource.facts.get("state", "running")).lower() == "running"
    _asset_flags(run, item, asset, observed=True, running=running, declared=False)
    return item if item.flags else None


# --- assets nothing matched -----------------------------------------------------------------------

def _classify_assets(run: _Run) -> list[Item]:
    result = []
    for tag, asset in run.snapshot.assets.items():
        if tag in run.claimed or not asset.active or _is_licence(asset):
            continue
        if tag in run.candidates:
            run.unevaluated.add(tag)
            continue
        item = Item(ci=None, kind=None, status=None, identity=_asset_identity(asset), asset=tag,
                    owner=asset.owner, flags=[Flag.OWNED_UNCONFIGURED])
        _asset_flags(run, item, asset, observed=False, running=False, declared=False)
        run.identities.append(_Identity(False, True, False, asset.owner))
        result.append(item)
    return result


def _absence_concluded(run: _Run, tag: str) -> bool:
    sighting = run.snapshot.sightings.get(tag)
    if sighting is None:
        return bool(run.ok) and not run.failed and _covered(run, run.snapshot.assets[tag])
    return any(s in run.ok for s in sighting.sources) and not any(s in run.failed for s in sighting.sources)


def _asset_flags(run: _Run, item: Item, asset: Asset, observed: bool, running: bool, declared: bool) -> None:
    if asset.status in CONFLICTING and (declared or (observed and running)):
        item.flags.append(Flag.STATE_CONFLICT)
    if observed or asset.status not in IN_SERVICE:
        return
    if item.status == Status.UNKNOWN or (item.ci is None and not _absence_concluded(run, asset.asset_tag)):
        run.unevaluated.add(item.ci or asset.asset_tag)
        if item.ci is None and asset.asset_tag not in run.snapshot.sightings and not _covered(run, asset):
            run.not_covered += 1
        return
    if item.ci is None:
        item.flags.append(Flag.UNSEEN)
    sighting = run.snapshot.sightings.get(asset.asset_tag)
    if sighting is not None and sighting.last_seen < run.stale_before:
        item.flags.append(Flag.STALE)


def _covered(run: _Run, asset: Asset) -> bool:
    scanned = run.settings.scanned_kinds
    if scanned is None:
        return True
    return any(fnmatch.fnmatchcase(kind, pattern) for pattern in implied_kinds(asset) for kind in scanned)


def _asset_identity(asset: Asset) -> dict[str, Any]:
    keys = ("serial", "hostname", "instance_id", "arn", "bucket", "uuid", "mac")
    return {key: getattr(asset, key) for key in keys if getattr(asset, key)}


# --- licences and dates ---------------------------------------------------------------------------

def _is_licence(asset: Asset) -> bool:
    return asset.category == "software_licence" or bool(asset.licence_product)


def installations(pattern: str, seen: Iterable[Observed]) -> int:
    """Resources whose package facts hold a package matching the licence's glob (case-insensitive)."""
    pattern, found = pattern.lower(), set()
    for resource in seen:
        packages = resource.facts.get("packages")
        if isinstance(packages, Mapping) and any(fnmatch.fnmatchcase(str(n).lower(), pattern) for n in packages):
            found.add(resource_key(resource.kind, resource.identity))
    return len(found)


def _licences(run: _Run, seen: Sequence[Observed]) -> list[Item]:
    result = []
    for tag, asset in run.snapshot.assets.items():
        if not _is_licence(asset) or not asset.active:
            continue
        item = Item(ci=None, kind=None, status=None, asset=tag, owner=asset.owner,
                    identity={"licence_product": asset.licence_product or asset.name or tag})
        if asset.licence_product and asset.seats is not None:
            used = installations(asset.licence_product, seen)
            if used > asset.seats:
                item.flags.append(Flag.LICENCE_OVER)
                item.identity = {**item.identity, "installations": used, "seats": asset.seats}
        result.append(item)
    return result


def _date_flags(run: _Run, items: list[Item]) -> None:
    horizon = run.settings.today + timedelta(days=run.settings.warn_days)
    for item in items:
        asset = run.snapshot.assets.get(item.asset or "")
        if asset is None or not asset.active:
            continue
        if asset.warranty_end and run.settings.today <= asset.warranty_end <= horizon:
            item.flags.append(Flag.WARRANTY_EXPIRING)
        if asset.eol_date and asset.eol_date <= horizon:
            item.flags.append(Flag.EOL)
    items[:] = [i for i in items if i.ci is not None or i.flags]


# --- coverage -------------------------------------------------------------------------------------

def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


Counts = Mapping[tuple[bool, bool, bool], int]  # (declared, registered, observed) -> identities


def _figures(counts: Counts) -> dict[str, float | None]:
    def number(test: Callable[[bool, bool, bool], bool]) -> int:
        return sum(count for (d, r, o), count in counts.items() if test(d, r, o))

    return {"declared_pct": _pct(number(lambda d, r, o: d and (r or o)), number(lambda d, r, o: r or o)),
            "owned_pct": _pct(number(lambda d, r, o: r and (d or o)), number(lambda d, r, o: d or o)),
            "configured_assets_pct": _pct(number(lambda d, r, o: r and d), number(lambda d, r, o: r))}


def coverage_of(identities: Sequence[_Identity]) -> tuple[dict[str, float | None], dict[str, dict[str, float | None]]]:
    """Identities are counted once into (owner, membership) buckets: the figures then sum eight numbers
    per owner instead of walking 100,000 identities six times for each owner."""
    groups: dict[str, Counter[tuple[bool, bool, bool]]] = defaultdict(Counter)
    for identity in identities:
        groups[identity.owner or "(none)"][(identity.declared, identity.registered, identity.observed)] += 1
    total: Counter[tuple[bool, bool, bool]] = sum(groups.values(), Counter())
    return _figures(total), {owner: _figures(group) for owner, group in sorted(groups.items())}
