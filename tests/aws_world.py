"""A small AWS world seeded with real boto3 calls on the moto server, and helpers to run the collector."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler.collectors.aws import SPEC_BY_KIND, AwsCollector
from reconciler.collectors.base import CollectOptions, Progress
from reconciler.model import CI, Collection, Origin, Project, Settings

from .moto_fixture import ACCOUNT_A, ACCOUNT_B, ROLE_B, Moto

AMI = "ami-12c6146b"  # one of moto's built-in images; never call describe_images (slow)
REGIONS = ["eu-west-1", "us-east-1"]
TWO_ACCOUNTS = {"regions": REGIONS, "accounts": [{"id": ACCOUNT_A}, {"id": ACCOUNT_B, "role_arn": ROLE_B}]}


def tags(**pairs: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in pairs.items()]


def instance(ec2: Any, name: str, type_: str = "t3.micro", **extra_tags: str) -> str:
    spec = [{"ResourceType": "instance", "Tags": tags(Name=name, **extra_tags)}]
    return ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, InstanceType=type_,
                             TagSpecifications=spec)["Instances"][0]["InstanceId"]


def volume(ec2: Any, name: str, size: int, encrypted: bool = False, **extra_tags: str) -> str:
    spec = [{"ResourceType": "volume", "Tags": tags(Name=name, **extra_tags)}]
    return ec2.create_volume(Size=size, AvailabilityZone="eu-west-1a", Encrypted=encrypted,
                             VolumeType="gp3", TagSpecifications=spec)["VolumeId"]


def group(ec2: Any, name: str, *rules: tuple[int, str]) -> str:
    gid = ec2.create_security_group(GroupName=name, Description=name)["GroupId"]
    perms = [{"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": c}]} for p, c in rules]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=perms)
    return gid


def eip(ec2: Any, name: str, to_instance: str | None = None) -> str:
    alloc = ec2.allocate_address(Domain="vpc", TagSpecifications=[{"ResourceType": "elastic-ip",
                                                                   "Tags": tags(Name=name)}])["AllocationId"]
    if to_instance:
        ec2.associate_address(AllocationId=alloc, InstanceId=to_instance)
    return alloc


def bucket(s3: Any, name: str, versioned: bool = False, **bucket_tags: str) -> None:
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if bucket_tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags(**bucket_tags)})


def database(rds: Any, name: str, multi_az: bool) -> None:
    rds.create_db_instance(DBInstanceIdentifier=name, DBInstanceClass="db.t3.micro", Engine="postgres",
                           AllocatedStorage=20, MasterUsername="admin1", MasterUserPassword="not-a-secret-1",
                           MultiAZ=multi_az, BackupRetentionPeriod=7, Tags=tags(Team="orders"))


def seed_world(moto: Moto) -> dict[str, str]:
    """Account A eu-west-1: EC2 + S3; account B (assumed role) us-east-1: RDS + IAM, eu-west-1: a stray."""
    ids: dict[str, str] = {}
    a = moto.session(ACCOUNT_A, "eu-west-1")
    ec2 = a.client("ec2")
    ids["web-ok"] = instance(ec2, "web-ok", "t3.micro", Owner="team-web", Role="web")
    ids["web-drift"] = instance(ec2, "web-drift", "t2.micro", Role="web")
    ids["stray"] = instance(ec2, "stray", "t2.nano", Team="data")
    ids["web-sg"] = group(ec2, "web-sg", (22, "10.0.0.0/8"), (443, "0.0.0.0/0"))
    ids["db-sg"] = group(ec2, "db-sg", (5432, "0.0.0.0/0"))
    ids["data-ok"] = volume(ec2, "data-ok", 10, encrypted=True)
    ec2.attach_volume(VolumeId=ids["data-ok"], InstanceId=ids["web-ok"], Device="/dev/sdf")
    ids["data-drift"] = volume(ec2, "data-drift", 20)
    ids["orphan-vol"] = volume(ec2, "orphan", 5, CostCenter="42")
    ids["ip-ok"] = eip(ec2, "ip-ok", ids["web-ok"])
    ids["ip-drift"] = eip(ec2, "ip-drift")
    ids["orphan-ip"] = eip(ec2, "orphan-ip")
    s3 = a.client("s3")
    bucket(s3, "logs-ok", versioned=True)
    bucket(s3, "logs-drift")
    bucket(s3, "tmp-export", Owner="alice")
    b = moto.session(ACCOUNT_B, "us-east-1")
    database(b.client("rds"), "orders-ok", multi_az=False)
    database(b.client("rds"), "orders-drift", multi_az=False)
    iam = b.client("iam")
    for user in ("alice", "bob"):
        iam.create_user(UserName=user)
    ids["b-stray"] = instance(moto.session(ACCOUNT_B, "eu-west-1").client("ec2"), "b-stray")
    return ids


def make_ci(ci_id: str, kind: str, desired: Mapping[str, Any], **match: Any) -> CI:
    """A CI as the project loader hands it over: desired normalised by its Kind."""
    normalise = SPEC_BY_KIND[kind].kind.normalise_desired
    wanted = normalise(dict(desired)) if normalise else dict(desired)
    return CI(id=ci_id, kind=kind, desired=wanted, match=match, origin=Origin(f"desired/{ci_id}.yml", 0))


def project(aws: Mapping[str, Any], root: Path | None = None) -> Project:
    return Project(root=root or Path("."), settings=Settings(aws=dict(aws), raw={"aws": dict(aws)}), cis=(),
                   inventory=None)


def collect(aws: Mapping[str, Any], cis: list[CI], progress: Progress | None = None,
            **extra: Any) -> Collection:
    options = CollectOptions(progress=progress or Progress(), extra={"aws_max_attempts": 2, **extra})
    return AwsCollector(project(aws), options).collect(cis)


def differing(facts: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The declared keys whose facts differ — lists as sets, mappings as declared subsets (test oracle)."""
    out = {}
    for key, want in desired.items():
        have = facts.get(key)
        if isinstance(want, list) and isinstance(have, list):
            same = sorted(map(str, want)) == sorted(map(str, have))
        elif isinstance(want, dict) and isinstance(have, dict):
            same = not differing(have, want)
        else:
            same = want == have
        if not same:
            out[key] = have
    return out
