"""What a scan costs and what it shows for it: bucket regions without a call per bucket, owner hints of
untracked buckets from the tagging API (a page per 100), of untracked IAM users per user, retries counted
per operation, calls in flight bounded per endpoint — against a real moto server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from reconciler.collectors.aws import AwsCollector, untracked
from reconciler.collectors.base import CollectOptions

from .aws_world import bucket, collect, make_ci, project
from .moto_fixture import ACCOUNT_A, ACCOUNT_B, ROLE_B, moto, moto_server  # noqa: F401

EU, US = "eu-west-1", "us-east-1"
ONE = {"regions": [EU, US], "accounts": [{"id": ACCOUNT_A}], "kinds": ["aws.s3.bucket", "aws.iam.user"]}
BUCKETS = 130  # more than one GetResources page


def hooked(*handlers: tuple[str, Callable[..., Any]]) -> Callable[..., boto3.Session]:
    """A session factory whose sessions call `handlers` (botocore event name, handler) on their requests."""

    def factory(**kwargs: Any) -> boto3.Session:
        session = boto3.Session(**kwargs)
        for event, handler in handlers:
            session.events.register(event, handler)
        return session

    return factory


@pytest.fixture(scope="module")
def buckets(moto: Any) -> Any:
    s3 = moto.session(ACCOUNT_A, EU).client("s3")
    for n in range(BUCKETS):
        bucket(s3, f"data-{n:03}", **({"Owner": f"team-{n % 3}"} if n % 2 else {}))
    boto3.client("s3", region_name=US).create_bucket(Bucket="us-logs")
    boto3.client("s3", region_name="ap-south-1").create_bucket(
        Bucket="far", CreateBucketConfiguration={"LocationConstraint": "ap-south-1"})
    iam = boto3.client("iam")
    iam.create_user(UserName="dana", Tags=[{"Key": "Team", "Value": "billing"}, {"Key": "Shoe", "Value": "9"}])
    iam.create_user(UserName="eve")
    return moto


def test_untracked_buckets_carry_owner_hints_for_one_call_per_100_buckets(buckets: Any) -> None:
    collection = collect(ONE, [])
    found = {o.identity["name"]: o for o in untracked(collection) if o.kind == "aws.s3.bucket"}
    assert len(found) == BUCKETS + 1 and "far" not in found  # ap-south-1 is not scanned
    assert found["data-001"].facts["owner_hints"] == {"Owner": "team-1"}
    assert found["data-000"].facts["owner_hints"] == {}  # never tagged: GetResources leaves it out
    assert found["us-logs"].identity["region"] == US and found["data-000"].identity["region"] == EU
    calls = collection.stats["api_calls_by_operation"]
    # 65 tagged buckets: one page; not one GetBucketTagging, not one GetBucketLocation per bucket
    assert calls["resourcegroupstaggingapi.get_resources"] <= 2
    # the two regions' filtered listings are disjoint: the filter was applied, no bucket need be located
    assert "s3.get_bucket_tagging" not in calls and "s3.get_bucket_location" not in calls
    assert calls["s3.list_buckets"] == 1 + 2


def test_owner_hints_of_250_tagged_buckets_take_3_get_resources_calls(buckets: Any) -> None:
    session = buckets.session(ACCOUNT_B, EU)
    eu, us = session.client("s3"), session.client("s3", region_name=US)
    for n in range(250):  # one to three tags each, half in each region
        s3 = us if n % 2 else eu
        s3.create_bucket(Bucket=f"b-{n:03}", **({} if n % 2 else {"CreateBucketConfiguration": {"LocationConstraint": EU}}))
        tagset = [{"Key": "Owner", "Value": f"team-{n % 5}"}] + [{"Key": f"k{i}", "Value": "v"} for i in range(n % 3)]
        s3.put_bucket_tagging(Bucket=f"b-{n:03}", Tagging={"TagSet": tagset})
    aws = {**ONE, "accounts": [{"id": ACCOUNT_B, "role_arn": ROLE_B}], "kinds": ["aws.s3.bucket"]}
    collection = collect(aws, [])
    found = {o.identity["name"]: o for o in untracked(collection) if o.kind == "aws.s3.bucket"}
    assert len(found) == 250
    assert all(o.facts["owner_hints"] == {"Owner": f"team-{int(name[2:]) % 5}"} for name, o in found.items())
    assert found["b-001"].identity["region"] == US and found["b-002"].identity["region"] == EU
    # 100 buckets a page, whatever their tag count, and no page asked for after the last bucket came
    assert collection.stats["api_calls_by_operation"]["resourcegroupstaggingapi.get_resources"] <= 3
    assert collection.stats["retries"] == 0


def test_untracked_iam_users_carry_owner_hints_from_their_own_tags(buckets: Any) -> None:
    collection = collect(ONE, [make_ci("eve", "aws.iam.user", {"mfa_enabled": False})])
    users = {o.identity["name"]: o for o in untracked(collection) if o.kind == "aws.iam.user"}
    assert users["dana"].facts["owner_hints"] == {"Team": "billing"} and "eve" not in users
    # the tagging API does not answer for IAM users: one ListUserTags per untracked user, none for eve
    assert collection.stats["api_calls_by_operation"]["iam.list_user_tags"] == len(users)


def test_a_denied_tagging_api_leaves_the_listing_whole_and_says_why(buckets: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    iam = boto3.client("iam")
    iam.create_user(UserName="no-tags")
    # AWS names the action tag:GetResources; moto checks it under the signing name, tagging:GetResources
    denied = ["tag:GetResources", "tagging:GetResources"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
                                                     {"Effect": "Deny", "Action": denied, "Resource": "*"}]}
    iam.put_user_policy(UserName="no-tags", PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="no-tags")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    buckets.enable_iam_auth()
    try:
        collection = collect(ONE, [])
    finally:
        buckets.disable_iam_auth()
    assert {s.status for s in collection.sources} == {"ok"}
    found = [o for o in untracked(collection) if o.kind == "aws.s3.bucket"]
    assert len(found) == BUCKETS + 1 and not any("owner_hints" in o.facts for o in found)
    note = collection.stats["owner_hints_unavailable"]
    assert "GetResources" in note and "AccessDenied" in note and key["SecretAccessKey"] not in note


class Throttled503:
    """A raw HTTP answer botocore reads: the server was busy (503), which standard retries retry."""

    def stream(self, **_: Any) -> Any:
        yield b"<Error><Code>ServiceUnavailable</Code><Message>busy</Message></Error>"


def test_retries_are_counted_per_operation_and_only_for_retryable_answers(buckets: Any) -> None:
    busy = {"ListUsers": 1}
    lock = threading.Lock()

    def once_busy(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        with lock:
            if busy.get(operation):
                busy[operation] -= 1
                return AWSResponse(request.url, 503, {}, Throttled503())
        return None

    factory = hooked(("before-send", once_busy))
    options = CollectOptions(extra={"aws_max_attempts": 3})
    collection = AwsCollector(project(ONE), options, session_factory=factory).collect([])
    stats = collection.stats
    assert {s.status for s in collection.sources} == {"ok"}
    assert stats["retries"] == 1 and stats["retries_by_operation"] == {"iam.list_users": 1}
    assert stats["retried"] == "iam.list_users x1"
    assert stats["http_requests"] == stats["api_calls"] + 1


def test_calls_in_flight_are_bounded_per_endpoint(buckets: Any) -> None:
    state = {"now": 0, "most": 0}
    lock = threading.Lock()

    def sent(**_: Any) -> None:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])

    def answered(**_: Any) -> None:
        with lock:
            state["now"] -= 1

    factory = hooked(("before-send", sent), ("needs-retry", answered))  # needs-retry: once per answer

    aws = {**ONE, "kinds": ["aws.s3.bucket", "aws.ec2.instance", "aws.ec2.volume", "aws.ec2.security_group"]}
    cis = [make_ci(f"b{n}", "aws.s3.bucket", {"versioning": "Disabled"}, name=f"data-{n:03}") for n in range(40)]
    options = CollectOptions(extra={"aws_max_attempts": 2, "aws_workers": 12, "aws_endpoint_concurrency": 2})
    collection = AwsCollector(project(aws), options, session_factory=factory).collect(cis)
    assert all(collection.facts[f"b{n}"].ok for n in range(40))
    # every service answers on the one moto endpoint: never more than 2 calls in flight there
    assert 1 <= state["most"] <= 2


def test_an_endpoint_ignoring_the_bucket_region_filter_gets_each_bucket_located(buckets: Any) -> None:
    def drop_filter(params: dict[str, Any], **_: Any) -> None:
        params.pop("BucketRegion", None)  # as an S3-compatible endpoint that does not know the parameter

    factory = hooked(("provide-client-params.s3.ListBuckets", drop_filter))

    options = CollectOptions(extra={"aws_max_attempts": 2})
    collection = AwsCollector(project(ONE), options, session_factory=factory).collect([])
    found = {o.identity["name"]: o.identity["region"] for o in untracked(collection) if o.kind == "aws.s3.bucket"}
    assert found["us-logs"] == US and found["data-007"] == EU and "far" not in found
    assert len(found) == BUCKETS + 1
    # every bucket located on its own (the two regions' listings both held every bucket)
    assert collection.stats["api_calls_by_operation"]["s3.get_bucket_location"] >= BUCKETS + 2


ACCOUNT_C = "333333333333"
BY_NAME = {"regions": [EU, US], "kinds": ["aws.s3.bucket"],
           "accounts": [{"id": ACCOUNT_C, "role_arn": f"arn:aws:iam::{ACCOUNT_C}:role/reconciler-readonly"}]}


@pytest.fixture(scope="module")
def even_buckets(buckets: Any) -> Any:
    """Account C: 100 buckets in each scanned region (every fourth never tagged)."""
    session = buckets.session(ACCOUNT_C, EU)
    eu, us = session.client("s3"), session.client("s3", region_name=US)
    for n in range(200):
        s3 = us if n % 2 else eu
        s3.create_bucket(Bucket=f"c-{n:03}", **({} if n % 2 else {"CreateBucketConfiguration": {"LocationConstraint": EU}}))
        if n % 4:
            s3.put_bucket_tagging(Bucket=f"c-{n:03}", Tagging={"TagSet": [{"Key": "Owner", "Value": f"t{n % 3}"}]})
    return buckets


def test_owner_hints_by_name_go_out_at_once_at_one_call_per_100_buckets(even_buckets: Any) -> None:
    state = {"now": 0, "most": 0, "by_name": 0}
    lock = threading.Lock()

    def slow_tagging(params: dict[str, Any], **_: Any) -> None:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
            state["by_name"] += len(params.get("ResourceARNList") or ())
        time.sleep(0.3)  # a slow link: calls that wait for one another would show here
        with lock:
            state["now"] -= 1

    factory = hooked(("before-parameter-build.resource-groups-tagging-api.GetResources", slow_tagging))
    collection = AwsCollector(project(BY_NAME), CollectOptions(), session_factory=factory).collect([])
    found = {o.identity["name"]: o for o in untracked(collection) if o.kind == "aws.s3.bucket"}
    assert len(found) == 200
    assert all(o.facts["owner_hints"] == ({"Owner": f"t{int(name[2:]) % 3}"} if int(name[2:]) % 4 else {})
               for name, o in found.items())
    # 100 buckets a region: one call each, asked by name, both in flight at once (not chained pages)
    assert collection.stats["api_calls_by_operation"]["resourcegroupstaggingapi.get_resources"] == 2
    assert state["by_name"] == 200 and state["most"] == 2
    assert collection.stats["retries"] == 0 and "owner_hints_unavailable" not in collection.stats


class HtmlPage:
    """A raw HTTP answer botocore reads: a proxy's page, not the API's."""

    def stream(self, **_: Any) -> Any:
        yield b"<!DOCTYPE html><html><body>Sign in</body></html>"


def test_a_broken_tagging_answer_by_name_leaves_hints_absent_and_noted(even_buckets: Any) -> None:
    def broken(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        if event_name.endswith(".GetResources"):
            return AWSResponse(request.url, 200, {}, HtmlPage())
        return None

    factory = hooked(("before-send", broken))
    options = CollectOptions(extra={"aws_max_attempts": 1})
    collection = AwsCollector(project(BY_NAME), options, session_factory=factory).collect([])
    assert {s.status for s in collection.sources} == {"ok"}
    found = [o for o in untracked(collection) if o.kind == "aws.s3.bucket"]
    assert len(found) == 200 and not any("owner_hints" in o.facts for o in found)
    assert "GetResources" in collection.stats["owner_hints_unavailable"]
    assert "HTML" in collection.stats["owner_hints_unavailable"]
    assert collection.stats["api_calls_by_operation"]["resourcegroupstaggingapi.get_resources"] == 2
