"""Benchmark of the aws collector against a moto server (run: .venv/bin/python bench/aws_bench.py).

Seeds 2 accounts x 2 regions with 2,000 EC2 instances, 500 security groups, 300 unattached volumes and
1,000 S3 buckets in total (the second account through sts.assume_role), then, --repeat times:
  1. a sequential hand-written boto3 lister making the same calls (the baseline; list calls, and one
     GetBucketLocation per bucket since moto's ListBuckets carries no BucketRegion),
  2. the collector's untracked scan (no CIs), in the same run,
and prints medians: wall time, resources/s, API calls per resource and per kind, the ratio to the lister.
Then, with a simulated round trip added to every API call (a botocore `before-send` hook installed by this
script's session factory — the collector is unchanged), the same scans with 1 worker and with --workers,
and the speed-up. The moto server runs in its own process so its CPU (reported) is not ours.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reconciler.collectors.aws import AwsCollector, untracked
from reconciler.collectors.base import CollectOptions
from reconciler.model import CI, Origin, Project, Settings

ACCOUNTS = ["123456789012", "210987654321"]
ROLE = "arn:aws:iam::{}:role/reconciler-readonly"
REGIONS = ["eu-west-1", "us-east-1"]
AMI = "ami-12c6146b"
KINDS = ["aws.ec2.instance", "aws.ec2.security_group", "aws.ec2.volume", "aws.ec2.eip", "aws.s3.bucket",
         "aws.iam.user", "aws.rds.instance"]


# --- the moto server, in its own process ------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("moto server did not start")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- seeding ------------------------------------------------------------------------------------------

def session_for(account: str, region: str, factory: Callable[..., boto3.Session] = boto3.Session) -> boto3.Session:
    if account == ACCOUNTS[0]:
        return factory(region_name=region)
    creds = boto3.client("sts", region_name=region).assume_role(RoleArn=ROLE.format(account),
                                                                RoleSessionName="bench")["Credentials"]
    return factory(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                   aws_session_token=creds["SessionToken"], region_name=region)


def seed_scope(account: str, region: str, instances: int, groups: int, volumes: int) -> None:
    ec2 = session_for(account, region).client("ec2")
    for start in range(0, instances, 250):
        ec2.run_instances(ImageId=AMI, MinCount=min(250, instances - start), MaxCount=min(250, instances - start),
                          TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Team", "Value": "x"}]}])
    for n in range(groups):
        ec2.create_security_group(GroupName=f"sg-{n}", Description="bench")
    for n in range(volumes):
        ec2.create_volume(Size=1, AvailabilityZone=f"{region}a")


def seed_buckets(account: str, names: list[str]) -> None:
    s3 = session_for(account, "us-east-1").client("s3")
    for name in names:
        s3.create_bucket(Bucket=name)


def seed(args: argparse.Namespace) -> None:
    scopes = [(a, r) for a in ACCOUNTS for r in REGIONS]
    per = len(scopes)
    with ThreadPoolExecutor(4) as pool:
        jobs = [pool.submit(seed_scope, a, r, args.instances // per, args.groups // per, args.volumes // per)
                for a, r in scopes]
        half = args.buckets // len(ACCOUNTS)
        jobs += [pool.submit(seed_buckets, a, [f"bench-{i}-{n}" for n in range(half)])
                 for i, a in enumerate(ACCOUNTS)]
        for job in jobs:
            job.result()


# --- the baseline: a sequential hand-written lister ----------------------------------------------

LIST_CALLS = [("ec2", "describe_instances", "Reservations[].Instances[]", 1000),
              ("ec2", "describe_security_groups", "SecurityGroups[]", 1000),
              ("ec2", "describe_volumes", "Volumes[]", 500),
              ("ec2", "describe_addresses", "Addresses[]", None),
              ("rds", "describe_db_instances", "DBInstances[]", 100)]


def count(op: str, page: dict[str, Any]) -> int:
    if op == "describe_instances":
        return sum(len(r["Instances"]) for r in page.get("Reservations", []))
    return len(next(v for k, v in page.items() if isinstance(v, list)))


def sequential_lister() -> tuple[int, int]:
    """The same calls, one after the other: one session per account, one client per service and region,
    the list calls and one GetBucketLocation per bucket, no concurrency. Returns (resources, calls)."""
    resources = calls = 0
    for account in ACCOUNTS:
        session = session_for(account, REGIONS[0])
        for region in REGIONS:
            for service, op, key, page in LIST_CALLS:
                client = session.client(service, region_name=region)
                if page is None:
                    pages = [getattr(client, op)()]
                else:
                    pages = list(client.get_paginator(op).paginate(PaginationConfig={"PageSize": page}))
                resources += sum(count(op, p) for p in pages)
                calls += len(pages)
        s3 = session.client("s3")
        buckets = s3.list_buckets()["Buckets"]
        for found in buckets:  # a bucket's region is part of its identity; moto sends no BucketRegion
            s3.get_bucket_location(Bucket=found["Name"])
        resources += len(buckets) + len(session.client("iam").list_users()["Users"])
        calls += 2 + len(buckets)
    return resources, calls


# --- the collector ------------------------------------------------------------------------------------

def collector_run(workers: int, factory: Callable[..., boto3.Session] = boto3.Session,
                  cis: list[CI] | None = None) -> tuple[float, Any]:
    aws = {"regions": REGIONS, "kinds": KINDS,
           "accounts": [{"id": ACCOUNTS[0]}, {"id": ACCOUNTS[1], "role_arn": ROLE.format(ACCOUNTS[1])}]}
    project = Project(root=Path("."), settings=Settings(aws=aws), cis=(), inventory=None)
    collector = AwsCollector(project, CollectOptions(extra={"aws_workers": workers}), session_factory=factory)
    started = time.perf_counter()
    collection = collector.collect(cis or [])
    return time.perf_counter() - started, collection


def latency_factory(seconds: float) -> Callable[..., boto3.Session]:
    def slow(**_: Any) -> None:
        time.sleep(seconds)

    def factory(**kwargs: Any) -> boto3.Session:
        session = boto3.Session(**kwargs)
        session.events.register("before-send", slow)
        return session

    return factory


def bucket_cis(count: int, per_account: int) -> list[CI]:
    """CIs declaring versioning of `count` buckets (per-resource calls: versioning + location)."""
    return [CI(id=f"b{n}", kind="aws.s3.bucket", desired={"versioning": "Disabled"},
               match={"account": ACCOUNTS[n % 2], "name": f"bench-{n % 2}-{n // 2}"},
               origin=Origin("bench", n)) for n in range(min(count, 2 * per_account))]


# --- reporting ----------------------------------------------------------------------------------------

def median(values: list[float]) -> float:
    return statistics.median(values)


def report_calls(collection: Any) -> None:
    stats = collection.stats
    print("  API calls per kind (calls / resources = calls per resource):")
    for kind in KINDS:
        calls = stats["api_calls_by_kind"].get(kind, 0)
        found = stats["resources_by_kind"].get(kind, 0)
        ratio = f"{calls / found:.4f}" if found else "-"
        print(f"    {kind:24} {calls:5} / {found:5} = {ratio}")
    others = {k: v for k, v in stats["api_calls_by_kind"].items() if k not in KINDS}
    print(f"    other (sessions)         {others}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--volumes", type=int, default=300)
    parser.add_argument("--buckets", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--latency-bucket-cis", type=int, default=0,
                        help="also time a run with this many bucket CIs declaring versioning")
    args = parser.parse_args()

    process, url = start_moto()
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION=REGIONS[0], AWS_EC2_METADATA_DISABLED="true")
    try:
        run(args, process)
    finally:
        process.terminate()
        process.wait(10)


def run(args: argparse.Namespace, process: subprocess.Popen[bytes]) -> None:
    started = time.perf_counter()
    seed(args)
    print(f"seeded in {time.perf_counter() - started:.1f}s: {args.instances} instances, {args.groups} security "
          f"groups, {args.volumes} unattached volumes, {args.buckets} buckets over 2 accounts x 2 regions")
    sequential_lister()  # warm-up: moto builds each account/region backend on first touch (seconds each)
    collector_run(args.workers)
    lister, ours, lister_cpu, ours_cpu = [], [], [], []
    for attempt in range(args.repeat):
        cpu = cpu_seconds(process.pid)
        t0 = time.perf_counter()
        resources, lister_calls = sequential_lister()
        lister.append(time.perf_counter() - t0)
        lister_cpu.append(cpu_seconds(process.pid) - cpu)
        cpu = cpu_seconds(process.pid)
        seconds, collection = collector_run(args.workers)
        ours.append(seconds)
        ours_cpu.append(cpu_seconds(process.pid) - cpu)
        items = untracked(collection)
        print(f"  run {attempt + 1}: lister {lister[-1]:.2f}s ({lister_calls} calls, {resources} resources), "
              f"collector {seconds:.2f}s ({collection.stats['api_calls']} calls, "
              f"{len(collection.observed)} observed, {len(items)} untracked)")
    total = len(collection.observed)
    print(f"\nuntracked scan, medians of {args.repeat} (workers={args.workers}):")
    print(f"  sequential boto3 lister : {median(lister):7.2f}s   (moto server CPU {median(lister_cpu):.1f}s)")
    print(f"  collector               : {median(ours):7.2f}s   (moto server CPU {median(ours_cpu):.1f}s)")
    print(f"  ratio collector/lister  : {median(ours) / median(lister):7.2f}   (target <= 0.85)")
    print(f"  resources per second    : {total / median(ours):7.0f}")
    print(f"  API calls per resource  : {collection.stats['api_calls'] / total:.4f} overall")
    report_calls(collection)
    latency(args)


def latency(args: argparse.Namespace) -> None:
    factory = latency_factory(args.latency_ms / 1000)
    cis = bucket_cis(args.latency_bucket_cis, args.buckets // 2)
    print(f"\nwith a simulated {args.latency_ms:.0f} ms round trip on every API call (medians of {args.repeat}):")
    scans = [("untracked scan", [])] + ([(f"run with {len(cis)} bucket CIs", cis)] if cis else [])
    for label, scan_cis in scans:
        sequential, concurrent = [], []
        for _ in range(args.repeat):
            sequential.append(collector_run(1, factory, scan_cis)[0])
            seconds, collection = collector_run(args.workers, factory, scan_cis)
            concurrent.append(seconds)
        speedup = median(sequential) / median(concurrent)
        print(f"  {label}: {collection.stats['api_calls']} calls; 1 worker {median(sequential):.2f}s, "
              f"{args.workers} workers {median(concurrent):.2f}s -> speed-up {speedup:.2f}x (target >= 3)")


if __name__ == "__main__":
    main()
