"""Classification as SPEC §3 says: one case per row of the table, then each extra flag."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from reconciler.classify import ClassifySettings, classify
from reconciler.model import FactSet, Item, Observed, Source, Status
from reconciler.register.assets import Asset, RegisterSnapshot, Sighting, parse_asset

TODAY = date(2025, 6, 1)
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def asset(tag: str, **fields) -> Asset:
    return parse_asset({"asset_tag": tag, **fields})


def ci(name: str, status: Status, **extra) -> Item:
    return Item(ci=name, kind="server", status=status, identity={"host": name}, **extra)


def seen(host: str, ci_id: str | None = None, scope: str | None = None, **facts) -> Observed:
    return Observed(kind="server", identity={"host": host}, facts=facts, source=scope or host, ci=ci_id)


def ok(*scopes: str) -> list[Source]:
    return [Source("ansible", scope, "ok") for scope in scopes]


def run(items=(), observed=(), sources=(), assets=(), sightings=None, **settings):
    snapshot = RegisterSnapshot({a.asset_tag: a for a in assets}, {}, sightings or {})
    return classify(list(items), list(observed), list(sources), snapshot,
                    ClassifySettings(today=TODAY, **settings))


def flags_of(result, *, ci=None, asset=None, host=None):
    for item in result.items:
        if (ci and item.ci == ci) or (asset and item.asset == asset and item.ci is None) or \
                (host and item.ci is None and item.identity.get("host") == host):
            return (item.status, sorted(item.flags))
    return None


# D R O -> expected (status, flags); the subject is web-01 in every row.
TABLE = [
    ("D R O", True, True, True, (Status.IN_SYNC, [])),
    ("D R -", True, True, False, (Status.MISSING, [])),
    ("D - O", True, False, True, (Status.DRIFTED, ["configured_unowned"])),
    ("D - -", True, False, False, (Status.MISSING, ["configured_unowned"])),
    ("- R O", False, True, True, (None, ["owned_unconfigured"])),
    ("- R -", False, True, False, (None, ["owned_unconfigured", "unseen"])),
    ("- - O", False, False, True, (None, ["untracked"])),
]


@pytest.mark.parametrize("row, declared, registered, observed, expected", TABLE, ids=[r[0] for r in TABLE])
def test_every_row_of_the_classification_table(row, declared, registered, observed, expected):
    status = (Status.IN_SYNC if expected[0] == Status.IN_SYNC else Status.DRIFTED) if observed else Status.MISSING
    items = [ci("web-01", status)] if declared else []
    resources = [seen("web-01", "web-01" if declared else None)] if observed else []
    assets = [asset("A-1", hostname="web-01", owner="team-web")] if registered else []
    result = run(items, resources, ok("web-01", "other"), assets)
    found = flags_of(result, ci="web-01") if declared else flags_of(result, asset="A-1") or \
        flags_of(result, host="web-01")
    assert found == expected


def test_a_declared_registered_ci_carries_its_asset_tag_and_link():
    result = run([ci("web-01", Status.IN_SYNC)], [seen("web-01", "web-01")], ok("web-01"),
                 [asset("A-1", hostname="web-01.example.com")])
    assert result.items[0].asset == "A-1"
    assert [(l.asset_tag, l.ci, l.matched_by) for l in result.links] == [("A-1", "web-01", "hostname")]


def test_the_ci_explicit_asset_tag_wins_over_other_keys():
    item = ci("web-01", Status.IN_SYNC, asset="A-2")
    result = run([item], [seen("web-01", "web-01")], ok("web-01"),
                 [asset("A-1", hostname="web-01"), asset("A-2")])
    item = next(i for i in result.items if i.ci == "web-01")
    assert item.asset == "A-2" and result.links[0].matched_by == "declared"
    assert flags_of(result, asset="A-1") == (None, ["owned_unconfigured", "unseen"])


def test_a_ci_seen_only_through_its_facts_is_identified_by_serial():
    facts = {"web-01": FactSet("web-01", "facts_dir", "web-01", {"hardware": {"serial": "SN-9"}},
                               identity={"host": "web-01"})}
    snapshot = RegisterSnapshot({"A-9": asset("A-9", serial="sn-9")})
    result = classify([ci("web-01", Status.IN_SYNC)], [], ok("web-01"), snapshot,
                      ClassifySettings(today=TODAY), facts)
    assert result.items[0].asset == "A-9" and result.links[0].matched_by == "serial"
    assert [o.ci for o in result.observed] == ["web-01"]


@pytest.mark.parametrize("status, observed_state, expected", [
    ("retired", "running", ["state_conflict"]),
    ("disposed", "running", ["state_conflict"]),
    ("in_stock", "running", ["owned_unconfigured", "state_conflict"]),
    ("retired", "stopped", None),
    ("deployed", "running", ["owned_unconfigured"]),
])
def test_state_conflict_when_a_retired_or_stocked_asset_is_observed_running(status, observed_state, expected):
    resource = Observed(kind="aws.ec2.instance", identity={"id": "i-0abc"}, facts={"state": observed_state},
                        source="123/eu-west-1")
    result = run([], [resource], ok("123/eu-west-1"), [asset("A-1", instance_id="i-0abc", status=status)])
    found = flags_of(result, asset="A-1")
    assert (found[1] if found else None) == expected


def test_state_conflict_when_a_retired_asset_is_declared():
    result = run([ci("web-01", Status.IN_SYNC)], [seen("web-01", "web-01")], ok("web-01"),
                 [asset("A-1", hostname="web-01", status="retired")])
    assert "state_conflict" in result.items[0].flags


@pytest.mark.parametrize("days_ago, expected", [(40, ["owned_unconfigured", "stale", "unseen"]),
                                                (5, ["owned_unconfigured", "unseen"])])
def test_stale_when_not_observed_for_stale_after(days_ago, expected):
    sightings = {"A-1": Sighting(NOW - timedelta(days=days_ago), ("web-05",))}
    result = run([], [], ok("web-05"), [asset("A-1", hostname="web-05")], sightings, stale_after_days=30)
    assert flags_of(result, asset="A-1")[1] == expected


def test_a_missing_ci_long_unseen_is_stale():
    sightings = {"A-1": Sighting(NOW - timedelta(days=90), ("web-01",))}
    result = run([ci("web-01", Status.MISSING)], [], ok("other"), [asset("A-1", hostname="web-01")], sightings)
    assert result.items[0].status == Status.MISSING and result.items[0].flags == ["stale"]


@pytest.mark.parametrize("field, offset, flag", [
    ("warranty_end", 30, "warranty_expiring"), ("warranty_end", 200, None), ("warranty_end", -10, None),
    ("eol_date", 10, "eol"), ("eol_date", -400, "eol"), ("eol_date", 120, None),
])
def test_warranty_and_eol_within_90_days(field, offset, flag):
    when = (TODAY + timedelta(days=offset)).isoformat()
    result = run([ci("web-01", Status.IN_SYNC)], [seen("web-01", "web-01")], ok("web-01"),
                 [asset("A-1", hostname="web-01", **{field: when})])
    assert result.items[0].flags == ([flag] if flag else [])


@pytest.mark.parametrize("seats, expected", [(1, ["licence_over"]), (2, None)])
def test_licence_over_counts_installations_against_seats(seats, expected):
    hosts = [seen(f"h{i}", packages={"oracle-client": "19.3", "bash": "5"}) for i in range(2)]
    hosts.append(seen("h9", packages={"bash": "5"}))
    licence = asset("L-1", category="software_licence", licence_product="Oracle-*", seats=seats)
    result = run([], hosts, ok("h0", "h1", "h9"), [licence])
    found = flags_of(result, asset="L-1")
    assert (found[1] if found else None) == expected


def test_several_matching_assets_make_ambiguous_never_a_merge():
    twins = [asset("A-1", hostname="web-20"), asset("A-2", hostname="web-20.prod")]
    result = run([ci("web-20", Status.IN_SYNC)], [seen("web-20", "web-20"), seen("web-21")], ok("web-20", "web-21"),
                 twins + [asset("A-3", hostname="web-21"), asset("A-4", hostname="web-21")])
    assert flags_of(result, ci="web-20") == (Status.IN_SYNC, ["ambiguous"])
    assert flags_of(result, host="web-21") == (None, ["ambiguous"])
    assert result.links == [] and all(i.asset is None for i in result.items)
    assert {"A-1", "A-2"} <= result.unevaluated  # candidates are neither linked nor called unseen


def test_bogus_serials_are_ignored_and_the_next_key_decides():
    result = run([], [seen("web-30", serial="To be filled by O.E.M.", hardware={"serial": "0"})], ok("web-30"),
                 [asset("A-1", serial="To be filled by O.E.M.", hostname="x"),
                  asset("A-2", serial="To be filled by O.E.M.", hostname="web-30")])
    assert [(l.asset_tag, l.matched_by) for l in result.links] == [("A-2", "hostname")]


def test_keys_are_tried_in_order_and_overridable_per_kind():
    resource = seen("web-40", hardware={"serial": "SN-1"})
    assets = [asset("A-1", serial="SN-1"), asset("A-2", hostname="web-40")]
    assert run([], [resource], ok("web-40"), assets).links[0].asset_tag == "A-1"
    overridden = run([], [resource], ok("web-40"), assets, identify={"server": ["hostname"]})
    assert overridden.links[0].asset_tag == "A-2"


def test_a_failed_scope_never_produces_missing_unseen_or_untracked():
    sources = ok("web-01") + [Source("ansible", "web-02", "failed", "unreachable")]
    sightings = {"A-2": Sighting(NOW - timedelta(days=60), ("web-02",))}
    leftover = seen("web-77", scope="web-02")  # a stray observation of the failed scope
    result = run([ci("web-02", Status.UNKNOWN, error="unreachable")], [leftover], sources,
                 [asset("A-2", hostname="web-02"), asset("A-3", hostname="web-03")], sightings)
    assert flags_of(result, ci="web-02") == (Status.UNKNOWN, [])
    assert flags_of(result, asset="A-3") == (None, ["owned_unconfigured"])  # never seen, a scope failed
    assert flags_of(result, host="web-77") is None
    assert {"web-02", "A-3"} <= result.unevaluated


def test_an_unseen_asset_whose_last_scope_failed_is_not_unseen():
    sources = ok("web-01") + [Source("ansible", "web-05", "failed", "timeout")]
    sightings = {"A-1": Sighting(NOW - timedelta(days=60), ("web-05",))}
    result = run([], [], sources, [asset("A-1", hostname="web-05")], sightings)
    assert flags_of(result, asset="A-1") == (None, ["owned_unconfigured"])


def test_provider_defaults_are_never_untracked():
    default = Observed(kind="aws.ec2.security_group", identity={"id": "sg-1"}, source="s", default=True)
    assert run([], [default], ok("s")).items == []


def test_coverage_figures_and_per_owner():
    items = [ci("web-01", Status.IN_SYNC, owner="team-web"), ci("web-02", Status.MISSING, owner="team-web")]
    resources = [seen("web-01", "web-01"), seen("db-09"), seen("tmp-1")]
    assets = [asset("A-1", hostname="web-01", owner="team-web"), asset("A-9", hostname="db-09", owner="team-db"),
              asset("A-5", hostname="old-5", owner="team-db")]
    result = run(items, resources, ok("web-01", "db-09", "tmp-1"), assets)
    # identities: web-01 (D R O), web-02 (D), db-09 (R O), tmp-1 (O), A-5 (R)
    assert result.coverage == {"declared_pct": 25.0, "owned_pct": 50.0, "configured_assets_pct": 33.3,
                               "not_covered_pct": 0.0}
    assert result.by_owner["team-web"] == {"declared_pct": 100.0, "owned_pct": 50.0,
                                           "configured_assets_pct": 100.0}
    assert result.by_owner["team-db"]["configured_assets_pct"] == 0.0


def test_items_are_sorted_and_cis_keep_their_drift_and_status():
    items = [ci("b", Status.DRIFTED), ci("a", Status.IN_SYNC)]
    result = run(items, [seen("a", "a"), seen("b", "b")], ok("a", "b"))
    assert [i.ci for i in result.items] == ["a", "b"]
    assert [i.status for i in result.items] == [Status.IN_SYNC, Status.DRIFTED]


def test_unseen_only_for_assets_of_a_kind_a_collector_listed():
    """A registered bucket is unseen when buckets were listed; a server nobody looked for is not covered."""
    assets = [asset("A-1", bucket="old-exports"), asset("A-2", hostname="backup-01")]
    result = run([], [], ok("123/eu-west-1"), assets, scanned_kinds=frozenset({"aws.s3.bucket"}))
    assert flags_of(result, asset="A-1") == (None, ["owned_unconfigured", "unseen"])
    assert flags_of(result, asset="A-2") == (None, ["owned_unconfigured"])
    assert result.coverage["not_covered_pct"] == 50.0
    nothing_listed = run([], [], ok("web-01"), assets, scanned_kinds=frozenset())
    assert [flags_of(nothing_listed, asset=a)[1] for a in ("A-1", "A-2")] == [["owned_unconfigured"]] * 2


def test_secret_looking_tags_are_redacted_in_an_untracked_resource_details():
    bucket = Observed(kind="aws.s3.bucket", identity={"name": "tmp"}, source="123/eu-west-1",
                      facts={"tags": {"Owner": "data", "db_password": "hunter2", "api-token": "t0k"}})
    item = run([], [bucket], ok("123/eu-west-1")).items[0]
    assert item.flags == ["untracked"]
    assert item.details["tags"] == {"Owner": "data", "db_password": "***", "api-token": "***"}


@pytest.mark.parametrize("identifiers, kind, covered_by", [
    ({"serial": "SN-7781"}, "server", "server"),
    ({"mac": "52:54:00:12:34:56"}, "server", "server"),
    ({"instance_id": "i-0abc"}, "aws.ec2.instance", "aws.ec2.instance"),
    ({"arn": "arn:aws:rds:eu-west-1:123456789012:db:orders"}, "aws.rds.instance", "aws.rds.instance"),
    ({"arn": "arn:aws:lambda:eu-west-1:123456789012:function:f"}, None, "aws.lambda.function"),
])
def test_the_kind_an_asset_lists_under_is_the_kind_whose_scan_covers_it(identifiers, kind, covered_by):
    """`register list --kind` and "was it looked for" read an unlinked asset's kind by one rule."""
    from reconciler.register.commands import asset_kind
    subject = asset("A-1", **identifiers)
    assert asset_kind(subject, None) == kind
    looked = run([], [], ok("scope"), [subject], scanned_kinds=frozenset({covered_by}))
    assert flags_of(looked, asset="A-1") == (None, ["owned_unconfigured", "unseen"])
    elsewhere = run([], [], ok("scope"), [subject], scanned_kinds=frozenset({"aws.s3.bucket"}))
    assert flags_of(elsewhere, asset="A-1") == (None, ["owned_unconfigured"])
