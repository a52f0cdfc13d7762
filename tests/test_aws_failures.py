"""Failures are values: a bad role, a missing profile, an AccessDenied on one API, a closed endpoint make
only their scope failed and its CIs unknown — never missing, never untracked — and no credential leaks."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from reconciler.collectors.aws import AwsCollector, untracked
from reconciler.collectors.base import CollectOptions
from reconciler.model import Collection

from .aws_world import REGIONS, bucket, collect, database, instance, make_ci, project
from .moto_fixture import ACCOUNT_A, ACCOUNT_B, ROLE_B, closed_port, moto, moto_server  # noqa: F401

EU = "eu-west-1"


@pytest.fixture(scope="module")
def small_world(moto: Any) -> Any:
    a = moto.session(ACCOUNT_A, EU)
    instance(a.client("ec2"), "app")
    bucket(a.client("s3"), "app-data", versioned=True, Owner="team-app")
    bucket(a.client("s3"), "app-stray")
    database(a.client("rds"), "app-db", multi_az=False)
    b = moto.session(ACCOUNT_B, "us-east-1")
    database(b.client("rds"), "b-db", multi_az=True)
    instance(moto.session(ACCOUNT_B, EU).client("ec2"), "b-app")
    return moto


def statuses(collection: Collection) -> dict[str, tuple[str, str | None]]:
    return {s.scope: (s.status, s.error) for s in collection.sources}


def test_a_role_reaching_the_wrong_account_fails_that_account_only(small_world: Any) -> None:
    aws = {"regions": REGIONS, "accounts": [{"id": ACCOUNT_A},
                                            {"id": ACCOUNT_B, "role_arn": "arn:aws:iam::role/mistyped-role"}]}
    cis = [make_ci("b-db", "aws.rds.instance", {"multi_az": True}, account=ACCOUNT_B, region="us-east-1"),
           make_ci("app-data", "aws.s3.bucket", {"versioning": "Enabled"}, account=ACCOUNT_A)]
    collection = collect(aws, cis)
    status, error = statuses(collection)[f"{ACCOUNT_B}/us-east-1"]
    assert status == "failed" and f"not {ACCOUNT_B}" in (error or "")
    assert collection.facts["b-db"].error and collection.facts["b-db"].facts is None  # unknown, not missing
    assert collection.facts["app-data"].ok
    assert not [o for o in collection.observed if o.identity["account"] == ACCOUNT_B]
    assert statuses(collection)[f"{ACCOUNT_A}/{EU}"] == ("ok", None)


def test_a_named_profile_assuming_a_role_reaches_its_account(small_world: Any, tmp_path: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config").write_text(f"[profile ops-b]\nrole_arn = {ROLE_B}\nsource_profile = base\n")
    (tmp_path / "credentials").write_text("[base]\naws_access_key_id = base-key\naws_secret_access_key = x\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    aws = {"regions": [EU], "accounts": [{"id": ACCOUNT_B, "profile": "ops-b"}]}
    collection = collect(aws, [make_ci("b-app", "aws.ec2.instance", {"instance_type": "t3.micro"})])
    assert statuses(collection)[f"{ACCOUNT_B}/{EU}"] == ("ok", None)
    assert collection.facts["b-app"].ok and collection.facts["b-app"].identity["account"] == ACCOUNT_B


def test_a_profile_that_does_not_exist_fails_its_account_with_the_reason(small_world: Any) -> None:
    aws = {"regions": [EU], "accounts": [{"id": ACCOUNT_B, "profile": "no-such-profile"}]}
    ci = make_ci("b-app", "aws.ec2.instance", {"instance_type": "t3.micro"}, account=ACCOUNT_B)
    collection = collect(aws, [ci])
    assert {s.status for s in collection.sources} == {"failed"}
    assert "no-such-profile" in (collection.sources[0].error or "")
    assert collection.facts["b-app"].error and not collection.observed


def test_missing_credentials_make_every_scope_failed_and_nothing_untracked(
        small_world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    ci = make_ci("app", "aws.ec2.instance", {"instance_type": "t3.micro"})
    collection = collect({"regions": [EU]}, [ci])
    assert {s.status for s in collection.sources} == {"failed"}
    assert "credentials" in (collection.sources[0].error or "").lower()
    assert collection.facts["app"].error and untracked(collection) == []


def test_a_closed_endpoint_fails_its_kinds_and_leaves_the_others_working(
        small_world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", f"http://127.0.0.1:{closed_port()}")
    cis = [make_ci("app", "aws.ec2.instance", {"instance_type": "t3.micro"}, account=ACCOUNT_A),
           make_ci("app-data", "aws.s3.bucket", {"versioning": "Enabled"}, account=ACCOUNT_A)]
    collection = collect({"regions": [EU], "accounts": [{"id": ACCOUNT_A}]}, cis)
    found = statuses(collection)
    assert found[f"{ACCOUNT_A}/{EU}"][0] == "ok"  # RDS still answers in that region
    assert found[f"{ACCOUNT_A}/{EU}/aws.ec2.instance"][0] == "failed"
    assert "Could not connect" in (found[f"{ACCOUNT_A}/{EU}/aws.ec2.instance"][1] or "")
    assert collection.facts["app"].error and collection.facts["app"].facts is None
    assert collection.facts["app-data"].ok
    kinds = {o.kind for o in untracked(collection)}
    assert kinds == {"aws.s3.bucket", "aws.rds.instance"}


def limited_user(name: str, denied: list[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An IAM user of account A allowed everything but `denied`; the collector runs with its keys."""
    iam = boto3.client("iam")
    iam.create_user(UserName=name)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": denied, "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName="readonly-but", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    return key


def collect_with_iam_auth(moto: Any, cis: list[Any]) -> Collection:
    moto.enable_iam_auth()
    try:
        return collect({"regions": [EU], "accounts": [{"id": ACCOUNT_A}]}, cis)
    finally:
        moto.disable_iam_auth()


def test_access_denied_on_one_api_fails_only_that_kind_in_that_scope(small_world: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    key = limited_user("scanner", ["rds:DescribeDBInstances", "s3:GetBucketVersioning"], monkeypatch)
    cis = [make_ci("app-db", "aws.rds.instance", {"multi_az": False}, account=ACCOUNT_A, region=EU),
           make_ci("app-data", "aws.s3.bucket", {"versioning": "Enabled"}, account=ACCOUNT_A),
           make_ci("app-stray", "aws.s3.bucket", {"logging": {"enabled": False}}, account=ACCOUNT_A)]
    collection = collect_with_iam_auth(small_world, cis)
    found = statuses(collection)
    assert found[f"{ACCOUNT_A}/{EU}"] == ("ok", None)
    status, error = found[f"{ACCOUNT_A}/{EU}/aws.rds.instance"]
    assert status == "failed" and "AccessDenied" in (error or "")
    assert "AccessDenied" in (collection.facts["app-db"].error or "")  # unknown, not missing
    assert "GetBucketVersioning" in (collection.facts["app-data"].error or "")
    assert collection.facts["app-stray"].ok
    assert not [o for o in collection.observed if o.kind == "aws.rds.instance"]
    assert {o.kind for o in collection.observed} >= {"aws.ec2.instance", "aws.s3.bucket"}
    assert key["SecretAccessKey"] not in repr(collection)


def test_bucket_regions_denied_fail_the_bucket_scope_and_report_no_bucket(small_world: Any,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    limited_user("no-location", ["s3:GetBucketLocation"], monkeypatch)
    cis = [make_ci("app-data", "aws.s3.bucket", {"versioning": "Enabled"}, account=ACCOUNT_A),
           make_ci("app", "aws.ec2.instance", {"instance_type": "t3.micro"}, account=ACCOUNT_A)]
    collection = collect_with_iam_auth(small_world, cis)
    status, error = statuses(collection)[f"{ACCOUNT_A}/global/aws.s3.bucket"]
    assert status == "failed" and "GetBucketLocation" in (error or "")
    assert collection.facts["app-data"].error and collection.facts["app"].ok
    assert not [o for o in collection.observed if o.kind == "aws.s3.bucket"]


def test_assumed_role_credentials_never_appear_in_the_collection(small_world: Any) -> None:
    tokens: set[str] = set()

    def watch(request: Any, **_: Any) -> None:
        token = request.headers.get("X-Amz-Security-Token")
        tokens.add(token.decode() if isinstance(token, bytes) else token) if token else None

    def factory(**kwargs: Any) -> boto3.Session:
        session = boto3.Session(**kwargs)
        session.events.register("before-send", watch)  # the session tokens that really went on the wire
        return session

    iam_b = small_world.session(ACCOUNT_B, "us-east-1").client("iam")
    iam_b.create_user(UserName="carol")
    full_key = iam_b.create_access_key(UserName="carol")["AccessKey"]["AccessKeyId"]
    aws = {"regions": [EU], "accounts": [{"id": ACCOUNT_B, "role_arn": ROLE_B}]}
    ci = make_ci("carol", "aws.iam.user", {"access_keys": [{"status": "Active", "age_days": 0}]}, account=ACCOUNT_B)
    options = CollectOptions(extra={"aws_max_attempts": 2})
    collection = AwsCollector(project(aws), options, session_factory=factory).collect([ci])
    assert len(tokens) == 1  # the assumed role's session token, used for every call in account B
    text = repr(collection)
    assert not [token for token in tokens if token in text]
    keys = collection.facts["carol"].facts["access_keys"]
    assert keys[0]["status"] == "Active" and keys[0]["age_days"] == 0
    assert full_key not in text and keys[0]["access_key_id"].endswith(full_key[-4:])


def test_a_bucket_outside_the_scanned_regions_is_not_untracked_but_can_be_declared(small_world: Any) -> None:
    s3 = boto3.client("s3", region_name="ap-south-1")
    s3.create_bucket(Bucket="far-away", CreateBucketConfiguration={"LocationConstraint": "ap-south-1"})
    aws = {"regions": [EU], "accounts": [{"id": ACCOUNT_A}]}
    assert "far-away" not in {o.identity["id"] for o in collect(aws, []).observed}
    ci = make_ci("far", "aws.s3.bucket", {"versioning": "Disabled"}, account=ACCOUNT_A, name="far-away")
    collection = collect(aws, [ci])
    assert collection.facts["far"].ok and collection.facts["far"].identity["region"] == "ap-south-1"
    assert [o.ci for o in collection.observed if o.identity["id"] == "far-away"] == ["far"]


class CaptivePortal(http.server.BaseHTTPRequestHandler):
    """Answers every request with HTTP 200 and a login page, as a captive proxy does."""

    PAGE = b"<!DOCTYPE html>\n<html><head><title>Guest Wi-Fi</title></head><body>Please sign in</body></html>"

    def answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.PAGE)))
        self.end_headers()
        self.wfile.write(self.PAGE)

    do_GET = do_POST = do_HEAD = answer

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture()
def captive_portal() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CaptivePortal)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_an_html_page_answered_for_ec2_and_s3_fails_those_kinds_only(
        small_world: Any, captive_portal: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", captive_portal)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", captive_portal)
    cis = [make_ci("app", "aws.ec2.instance", {"instance_type": "t3.micro"}, account=ACCOUNT_A),
           make_ci("app-data", "aws.s3.bucket", {"versioning": "Enabled"}, account=ACCOUNT_A),
           make_ci("app-db", "aws.rds.instance", {"multi_az": False}, account=ACCOUNT_A, region=EU)]
    aws = {"regions": [EU], "accounts": [{"id": ACCOUNT_A}],
           "kinds": ["aws.ec2.instance", "aws.ec2.security_group", "aws.s3.bucket", "aws.rds.instance", "aws.iam.user"]}
    collection = collect(aws, cis)
    found = statuses(collection)
    for scope in (f"{EU}/aws.ec2.instance", f"{EU}/aws.ec2.security_group", "global/aws.s3.bucket"):
        status, error = found[f"{ACCOUNT_A}/{scope}"]
        assert status == "failed" and "HTML page" in (error or ""), scope
    assert "DescribeSecurityGroups" in (found[f"{ACCOUNT_A}/{EU}/aws.ec2.security_group"][1] or "")
    assert "ListBuckets" in (found[f"{ACCOUNT_A}/global/aws.s3.bucket"][1] or "")
    # unknown, never missing: no facts and an error; nothing from those scopes is observed (so never untracked)
    for ci in ("app", "app-data"):
        assert collection.facts[ci].error and collection.facts[ci].facts is None
    assert collection.facts["app-db"].ok and found[f"{ACCOUNT_A}/{EU}"] == ("ok", None)
    assert {o.kind for o in collection.observed} <= {"aws.rds.instance", "aws.iam.user"}
    assert collection.stats["retries"] == 0  # a page is no reason to ask again


def test_an_html_page_answered_for_sts_fails_the_account_with_the_reason(
        small_world: Any, captive_portal: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", captive_portal)
    collection = collect({"regions": [EU], "accounts": [{"id": ACCOUNT_A}]},
                         [make_ci("app", "aws.ec2.instance", {"instance_type": "t3.micro"})])
    assert {s.status for s in collection.sources} == {"failed"}
    assert "GetCallerIdentity" in (collection.sources[0].error or "") and "HTML" in (collection.sources[0].error or "")
    assert collection.facts["app"].error and not collection.observed
