"""The aws collector against a real moto server: two accounts (the second through sts.assume_role) x two
regions, one CI of each kind in sync and one drifted, untracked resources, provider defaults."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.collectors.aws import untracked
from reconciler.collectors.base import Progress
from reconciler.model import CI, Collection

from .aws_world import TWO_ACCOUNTS, collect, differing, make_ci, seed_world
from .moto_fixture import ACCOUNT_A, ACCOUNT_B, moto, moto_server  # noqa: F401

EU, US = "eu-west-1", "us-east-1"


def world_cis(ids: dict[str, str]) -> list[CI]:
    a, b = {"account": ACCOUNT_A, "region": EU}, {"account": ACCOUNT_B, "region": US}
    return [
        make_ci("web-ok", "aws.ec2.instance", {"instance_type": "t3.micro", "state": "running",
                                               "tags": {"Owner": "team-web"}, "imds_v2_required": False}, **a),
        make_ci("web-drift", "aws.ec2.instance", {"instance_type": "t3.micro"}, **a, id=ids["web-drift"]),
        make_ci("web-sg", "aws.ec2.security_group",
                {"ingress": ["tcp/22 from 10.0.0.0/8", "TCP/443  from 0.0.0.0/0"]}, **a),
        make_ci("db-sg", "aws.ec2.security_group", {"ingress": ["tcp/5432 from 10.0.0.0/8"]}, **a),
        make_ci("data-ok", "aws.ec2.volume", {"size": 10, "encrypted": True, "attached_to": ids["web-ok"]}, **a),
        make_ci("data-drift", "aws.ec2.volume", {"size": 20, "encrypted": True}, **a),
        make_ci("ip-ok", "aws.ec2.eip", {"associated_to": ids["web-ok"]}, **a),
        make_ci("ip-drift", "aws.ec2.eip", {"associated": True}, **a),
        make_ci("logs-ok", "aws.s3.bucket", {"versioning": "Enabled", "encryption": "AES256"}, account=ACCOUNT_A),
        make_ci("logs-drift", "aws.s3.bucket", {"versioning": "Enabled"}, account=ACCOUNT_A),
        make_ci("orders-ok", "aws.rds.instance", {"engine": "postgres", "multi_az": False,
                                                  "backup_retention_period": 7, "tags": {"Team": "orders"}}, **b),
        make_ci("orders-drift", "aws.rds.instance", {"multi_az": True}, **b),
        make_ci("alice", "aws.iam.user", {"console_access": False, "mfa_enabled": False,
                                          "access_keys": []}, account=ACCOUNT_B),
        make_ci("bob", "aws.iam.user", {"mfa_enabled": True}, account=ACCOUNT_B),
    ]


@pytest.fixture(scope="module")
def world(moto: Any) -> tuple[dict[str, str], list[CI], Collection]:
    ids = seed_world(moto)
    cis = world_cis(ids)
    return ids, cis, collect(TWO_ACCOUNTS, cis)


def test_every_kind_in_sync_ci_has_exactly_its_declared_facts(world: Any) -> None:
    _, cis, collection = world
    for ci in cis:
        if ci.id.endswith("ok") or ci.id in ("web-sg", "alice"):
            fact_set = collection.facts[ci.id]
            assert fact_set.ok, (ci.id, fact_set.error)
            assert differing(fact_set.facts, ci.desired) == {}, ci.id


def test_every_kind_drifted_ci_shows_the_actual_value(world: Any) -> None:
    _, _, collection = world
    actual = {name: collection.facts[name].facts for name in collection.facts}
    assert differing(actual["web-drift"], {"instance_type": "t3.micro"}) == {"instance_type": "t2.micro"}
    assert actual["db-sg"]["ingress"] == ["tcp/5432 from 0.0.0.0/0"]
    assert actual["data-drift"]["encrypted"] is False
    assert actual["ip-drift"]["associated"] is False
    assert actual["logs-drift"]["versioning"] == "Disabled"
    assert actual["orders-drift"]["multi_az"] is False
    assert actual["bob"]["mfa_enabled"] is False


def test_identity_carries_account_region_id_and_aliases(world: Any) -> None:
    ids, _, collection = world
    web = collection.facts["web-ok"].identity
    assert web["account"] == ACCOUNT_A and web["region"] == EU and web["id"] == ids["web-ok"]
    assert web["name"] == "web-ok" and web["arn"].endswith(f":{ACCOUNT_A}:instance/{ids['web-ok']}")
    assert collection.facts["logs-ok"].identity["region"] == EU  # from GetBucketLocation
    orders = collection.facts["orders-ok"].identity
    assert orders["account"] == ACCOUNT_B and orders["arn"] == f"arn:aws:rds:{US}:{ACCOUNT_B}:db:orders-ok"


def test_second_account_is_scanned_through_the_assumed_role(world: Any) -> None:
    _, _, collection = world
    scopes = {s.scope: s.status for s in collection.sources}
    assert scopes == {f"{acct}/{where}": "ok" for acct in (ACCOUNT_A, ACCOUNT_B) for where in (EU, US, "global")}
    b_instances = [o for o in collection.observed if o.identity["account"] == ACCOUNT_B
                   and o.kind == "aws.ec2.instance"]
    assert [o.identity["name"] for o in b_instances] == ["b-stray"]


def test_untracked_lists_the_undeclared_bucket_instance_volume_and_eip(world: Any) -> None:
    ids, _, collection = world
    found = {(o.kind, o.identity["id"]): o for o in untracked(collection)}
    assert set(found) == {("aws.ec2.instance", ids["stray"]), ("aws.ec2.instance", ids["b-stray"]),
                          ("aws.ec2.volume", ids["orphan-vol"]), ("aws.ec2.eip", ids["orphan-ip"]),
                          ("aws.s3.bucket", "tmp-export")}


def test_untracked_items_show_owner_hints_creation_and_attachment(world: Any) -> None:
    ids, _, collection = world
    found = {o.identity["id"]: o for o in untracked(collection)}
    stray = found[ids["stray"]]
    assert stray.facts["owner_hints"] == {"Team": "data"} and stray.facts["created"]
    assert stray.identity == {"account": ACCOUNT_A, "region": EU, "id": ids["stray"], "name": "stray",
                              "arn": f"arn:aws:ec2:{EU}:{ACCOUNT_A}:instance/{ids['stray']}"}
    orphan = found[ids["orphan-vol"]]
    assert orphan.facts["attached"] is False and orphan.facts["owner_hints"] == {"CostCenter": "42"}
    assert found[ids["orphan-ip"]].facts["associated"] is False
    assert found["tmp-export"].facts["created"]
    assert found["tmp-export"].identity == {"account": ACCOUNT_A, "region": EU, "id": "tmp-export",
                                            "name": "tmp-export", "arn": "arn:aws:s3:::tmp-export"}


def test_provider_defaults_are_left_out_unless_strict(world: Any) -> None:
    _, _, collection = world
    defaults = [o for o in collection.observed if o.default and o.kind == "aws.ec2.security_group"]
    # one default security group per scanned account/region (moto creates them like AWS does)
    assert sorted((o.identity["account"], o.identity["region"]) for o in defaults) == sorted(
        (acct, region) for acct in (ACCOUNT_A, ACCOUNT_B) for region in (EU, US))
    assert all(o.identity["name"] == "default" for o in defaults)
    assert not any(o.default for o in untracked(collection))
    strict = {o.identity["id"] for o in untracked(collection, strict=True)}
    lenient = {o.identity["id"] for o in untracked(collection)}
    # + 4 default groups + the root volumes of the 4 instances (attached: part of their instance)
    assert len(strict - lenient) == 8 and lenient < strict


def test_matched_resources_are_not_untracked_and_name_their_ci(world: Any) -> None:
    ids, cis, collection = world
    by_ci = {o.ci: o for o in collection.observed if o.ci}
    assert set(by_ci) == {ci.id for ci in cis}
    assert by_ci["web-ok"].identity["id"] == ids["web-ok"]


def test_only_list_calls_for_ec2_and_declared_calls_per_bucket_and_user(world: Any) -> None:
    _, _, collection = world
    calls = collection.stats["api_calls_by_operation"]
    for op in ("describe_instances", "describe_security_groups", "describe_volumes", "describe_addresses"):
        assert calls[f"ec2.{op}"] == 4, op  # 2 accounts x 2 regions, one page each
    assert calls["iam.list_users"] == 2
    # moto's ListBuckets carries no BucketRegion: account A's buckets are listed once unfiltered and once per
    # scanned region (B has none); two regions' disjoint answers show the filter was applied, so no
    # GetBucketLocation at all (never one per bucket); then only what the two bucket CIs declare
    assert calls["s3.list_buckets"] == 1 + 2 + 1
    assert "s3.get_bucket_location" not in calls
    assert calls["s3.get_bucket_versioning"] == 2 and calls["s3.get_bucket_encryption"] == 1
    assert "s3.get_bucket_tagging" not in calls
    # owner hints of the untracked bucket: one GetResources page for account A's one bucket region
    assert calls["resourcegroupstaggingapi.get_resources"] == 1
    assert calls["iam.list_mfa_devices"] == 2 and calls["iam.get_login_profile"] == 1
    assert collection.stats["api_calls"] == sum(calls.values())
    assert collection.stats["api_calls_by_kind"]["aws.ec2.instance"] == 4


def test_a_ci_matched_by_tags_finds_its_resource(world: Any) -> None:
    ids, _, _ = world
    ci = make_ci("by-owner", "aws.ec2.instance", {"instance_type": "t3.micro"}, tags={"Owner": "team-web"})
    collection = collect(TWO_ACCOUNTS, [ci])
    assert collection.facts["by-owner"].identity["id"] == ids["web-ok"]


def test_a_tag_match_finding_several_resources_is_an_error_naming_them(world: Any) -> None:
    ids, _, _ = world
    ci = make_ci("web", "aws.ec2.instance", {"instance_type": "t3.micro"}, tags={"Role": "web"})
    fact_set = collect(TWO_ACCOUNTS, [ci]).facts["web"]
    assert fact_set.error and not fact_set.ok
    assert ids["web-ok"] in fact_set.error and ids["web-drift"] in fact_set.error


def test_a_bucket_matched_by_tags_costs_one_tagging_call_per_bucket(world: Any) -> None:
    ci = make_ci("export", "aws.s3.bucket", {"versioning": "Disabled"}, account=ACCOUNT_A, tags={"Owner": "alice"})
    collection = collect(TWO_ACCOUNTS, [ci])
    assert collection.facts["export"].identity["name"] == "tmp-export"
    assert collection.stats["api_calls_by_operation"]["s3.get_bucket_tagging"] == 3


def test_a_declared_resource_that_does_not_exist_is_missing(world: Any) -> None:
    ci = make_ci("ghost", "aws.s3.bucket", {"versioning": "Enabled"}, account=ACCOUNT_A)
    fact_set = collect(TWO_ACCOUNTS, [ci]).facts["ghost"]
    assert fact_set.facts is None and fact_set.error is None


def test_progress_is_reported_per_account_and_region(world: Any) -> None:
    class Recorder(Progress):
        def __init__(self) -> None:
            self.total, self.done, self.finished = 0, 0, False

        def start(self, total: int, label: str) -> None:
            self.total = total

        def advance(self, count: int = 1) -> None:
            self.done += count

        def finish(self) -> None:
            self.finished = True

    recorder = Recorder()
    collect(TWO_ACCOUNTS, [], progress=recorder)
    assert recorder.total == 6 and recorder.done == 6 and recorder.finished  # 2 x (2 regions + global)


def test_facts_are_plain_json(world: Any) -> None:
    import json

    _, _, collection = world
    json.dumps([fs.facts for fs in collection.facts.values()])
    json.dumps([(o.identity, o.facts) for o in collection.observed])
