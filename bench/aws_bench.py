"""Cloud scan, side by side: `reconcile untracked` vs Cloud Custodian vs a sequential boto3 lister.

    .venv/bin/python bench/aws_bench.py [--instances 1000 --groups 250 --volumes 150 --buckets 1000]

One moto server (bench/moto_counter.py, its own process, counting the requests it serves by action) is
seeded with one account, 2 regions x (instances, security groups, unattached volumes) and buckets (half in
each region, each with an Owner tag). Then, --repeat times and interleaved (each round in a rotated
order), every tool runs as its own process against that server:
  * `reconcile untracked --format json` over the 4 kinds, 2 regions (owner hints included);
  * Cloud Custodian (`custodian run`, installed from PyPI into bench/.venv-c7n on first use), lean
    policies: ec2 `tag:Owner: absent`, ebs `State: available`, security groups unfiltered, s3 with
    `augment-keys: none` (which still fetches each bucket's location and tags), cache off;
  * a sequential plain boto3 lister making the calls a script would (the list calls, then per bucket
    GetBucketLocation and GetBucketTagging for its region and owner).
Printed: medians of wall time and of the server's CPU, the requests the server saw per tool and per
action, server calls per resource for the EC2 kinds, our retries, and the load average before each figure.
Then, with 30 ms added to every call on the client side (real-AWS round trips), our scan with one worker
and with the default workers, in-process: the untracked scan over 2 and 4 regions, and runs with 50 and
200 bucket CIs declaring versioning (one call per declared bucket); beside each ratio, the serial CPU per
call (ours and the server's) and the best ratio that CPU allows on this box; the worst shape last.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reconciler.collectors.aws import AwsCollector
from reconciler.collectors.aws.sessions import ENDPOINT_CONCURRENCY
from reconciler.collectors.base import CollectOptions
from reconciler.model import CI, Origin, Project, Settings

ACCOUNT = "123456789012"
REGIONS = ["eu-west-1", "us-east-1"]
KINDS = ["aws.ec2.instance", "aws.ec2.security_group", "aws.ec2.volume", "aws.s3.bucket"]
AMI = "ami-12c6146b"
C7N_VENV = ROOT / "bench" / ".venv-c7n"
C7N_VERSION = "0.9.53"
POLICIES = """policies:
  - name: ec2-no-owner
    resource: ec2
    filters: [{"tag:Owner": absent}]
  - name: ebs-unattached
    resource: ebs
    filters: [{State: available}]
  - name: security-groups
    resource: security-group
  - name: buckets
    resource: s3
    query: [{augment-keys: none}]
"""
EC2_ACTIONS = {"aws.ec2.instance": "DescribeInstances", "aws.ec2.security_group": "DescribeSecurityGroups",
               "aws.ec2.volume": "DescribeVolumes"}


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


# --- the counting moto server ---------------------------------------------------------------------------

class Server:
    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "moto_counter.py"), str(port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                self.counts(reset=True)
                return
            except OSError:
                time.sleep(0.1)
        self.process.kill()
        raise SystemExit("moto server did not start")

    def counts(self, reset: bool = False) -> dict[str, int]:
        request = urllib.request.Request(self.url + "/_bench/counts", method="POST" if reset else "GET")
        with urllib.request.urlopen(request, timeout=30) as answer:
            return dict(json.loads(answer.read()))

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# --- seeding --------------------------------------------------------------------------------------------

def seed_region(region: str, instances: int, groups: int, volumes: int) -> None:
    ec2 = boto3.client("ec2", region_name=region)
    for start in range(0, instances, 250):
        n = min(250, instances - start)
        ec2.run_instances(ImageId=AMI, MinCount=n, MaxCount=n,
                          TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Team", "Value": "x"}]}])
    for n in range(groups):
        ec2.create_security_group(GroupName=f"sg-{n}", Description="bench")
    for n in range(volumes):
        ec2.create_volume(Size=1, AvailabilityZone=f"{region}a")


def seed_buckets(region: str, names: list[str]) -> None:
    s3 = boto3.client("s3", region_name=region)
    where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    for name in names:
        s3.create_bucket(Bucket=name, **where)
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "Owner", "Value": f"team-{len(name) % 7}"}]})


def seed(args: argparse.Namespace) -> None:
    half = args.buckets // 2
    with ThreadPoolExecutor(4) as pool:
        jobs = [pool.submit(seed_region, r, args.instances, args.groups, args.volumes) for r in REGIONS]
        jobs += [pool.submit(seed_buckets, region, [f"bench-{i}-{n}" for n in range(half)])
                 for i, region in enumerate(REGIONS)]
        for job in jobs:
            job.result()


# --- the tools, each one process -------------------------------------------------------------------------

def run_lister() -> dict[str, Any]:
    """The sequential lister (run in a child process: `aws_bench.py --lister`)."""
    calls = [("describe_instances", "Reservations[].Instances[]", 1000),
             ("describe_security_groups", "SecurityGroups[]", 1000), ("describe_volumes", "Volumes[]", 500)]
    found: dict[str, int] = {}
    session = boto3.Session()
    for region in REGIONS:
        ec2 = session.client("ec2", region_name=region)
        for op, key, size in calls:
            pages = ec2.get_paginator(op).paginate(PaginationConfig={"PageSize": size})
            found[op] = found.get(op, 0) + len(list(pages.search(key)))
    s3 = session.client("s3", region_name=REGIONS[0])
    owners = 0
    for bucket in s3.list_buckets()["Buckets"]:
        s3.get_bucket_location(Bucket=bucket["Name"])
        try:
            tags = s3.get_bucket_tagging(Bucket=bucket["Name"])["TagSet"]
        except s3.exceptions.ClientError:
            tags = []
        owners += any(t["Key"] == "Owner" for t in tags)
        found["buckets"] = found.get("buckets", 0) + 1
    found["buckets_with_owner"] = owners
    return found


def timed(command: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 2, 3):
        raise SystemExit(f"{command[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, done.stdout


def ours(env: dict[str, str], project: Path) -> tuple[float, dict[str, Any]]:
    seconds, out = timed([str(ROOT / ".venv" / "bin" / "reconcile"), "--project", str(project), "untracked",
                          "--format", "json"], env)
    report = json.loads(out)
    stats = report["run"].get("stats", {}).get("aws", {})
    hinted = sum(1 for item in report["items"] if item.get("kind") == "aws.s3.bucket"
                 and (item.get("details") or {}).get("owner_hints"))
    return seconds, {"stats": stats, "untracked": len(report["items"]), "bucket_hints": hinted, "report": report}


def custodian(env: dict[str, str], policies: Path) -> tuple[float, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="c7n-out-") as out:
        command = [str(C7N_VENV / "bin" / "custodian"), "run", "-s", out, "--cache-period", "0"]
        command += [arg for region in REGIONS for arg in ("--region", region)] + [str(policies)]
        seconds, _ = timed(command, env)
        found: dict[str, int] = {}
        for path in Path(out).glob("**/resources.json"):
            policy = path.parent.name if path.parent.name in POLICIES else path.parent.parent.name
            found[policy] = found.get(policy, 0) + len(json.loads(path.read_text()))
    return seconds, found


def lister(env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    seconds, out = timed([sys.executable, __file__, "--lister"], env)
    return seconds, json.loads(out)


def ensure_custodian() -> None:
    if (C7N_VENV / "bin" / "custodian").exists():
        return
    print(f"installing c7n {C7N_VERSION} into {C7N_VENV} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(C7N_VENV)], check=True)
    subprocess.run([str(C7N_VENV / "bin" / "pip"), "install", "-q", f"c7n=={C7N_VERSION}"], check=True)


# --- the side-by-side runs ---------------------------------------------------------------------------------

def make_project(where: Path) -> Path:
    aws = {"regions": REGIONS, "kinds": KINDS, "accounts": [{"id": ACCOUNT}]}
    (where / "reconciler.yml").write_text(json.dumps({"aws": aws, "register": f"sqlite:///{where}/register.db"}))
    (where / "desired").mkdir(exist_ok=True)
    (where / "policies.yml").write_text(POLICIES)
    return where


def measure(server: Server, run: Callable[[], tuple[float, dict[str, Any]]]) -> dict[str, Any]:
    server.counts(reset=True)
    before, cpu, own = load(), server.cpu(), children_cpu()
    seconds, details = run()
    return {"wall": seconds, "cpu": server.cpu() - cpu, "client": children_cpu() - own,
            "counts": server.counts(reset=True), "load": before, "details": details}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the tool's process, once it has been waited for
    return usage.ru_utime + usage.ru_stime


def side_by_side(args: argparse.Namespace, server: Server, env: dict[str, str], project: Path) -> dict[str, list]:
    tools: dict[str, Callable[[], tuple[float, dict[str, Any]]]] = {
        "sequential boto3 lister": lambda: lister(env),
        "Cloud Custodian (lean)": lambda: custodian(env, project / "policies.yml"),
        "reconcile untracked": lambda: ours(env, project)}
    names = list(tools)
    for name in names:  # warm-up: moto builds each region's backend and caches on first touch
        tools[name]()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for round_ in range(args.repeat):
        order = names[round_ % len(names):] + names[:round_ % len(names)]
        for name in order:
            runs[name].append(measure(server, tools[name]))
            last = runs[name][-1]
            print(f"  round {round_ + 1} {name:24} {last['wall']:6.2f}s  server CPU {last['cpu']:5.1f}s  client CPU "
                  f"{last['client']:5.1f}s  {sum(last['counts'].values()):5} requests  ({last['load']})", flush=True)
    return runs


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]]) -> None:
    print(f"\nside by side, medians of {args.repeat} (one account, {len(REGIONS)} regions x ({args.instances} "
          f"instances, {args.groups} security groups, {args.volumes} unattached volumes), {args.buckets} buckets)")
    print(f"  {'tool':24} {'wall':>8} {'server CPU':>11} {'client CPU':>11} {'requests':>9}")
    for name, measured in runs.items():
        requests = median([sum(m["counts"].values()) for m in measured])
        print(f"  {name:24} {median([m['wall'] for m in measured]):7.2f}s {median([m['cpu'] for m in measured]):10.1f}s"
              f" {median([m['client'] for m in measured]):10.1f}s {requests:9.0f}")
    walls = {name: median([m["wall"] for m in measured]) for name, measured in runs.items()}
    mine = walls["reconcile untracked"]
    print(f"  ratio to the sequential lister: {mine / walls['sequential boto3 lister']:.2f} (target <= 0.7); "
          f"to Custodian: {mine / walls['Cloud Custodian (lean)']:.2f} (target < 1)")
    for name, measured in runs.items():
        print(f"  requests by action, {name} (last run): {dict(sorted(measured[-1]['counts'].items()))}")
    last = runs["reconcile untracked"][-1]
    stats, counts = last["details"]["stats"], last["counts"]
    per_kind = stats.get("resources_by_kind", {})
    for kind, action in EC2_ACTIONS.items():
        print(f"  server calls per resource, {kind:24} {counts.get(action, 0)} / {per_kind.get(kind, 0)} = "
              f"{counts.get(action, 0) / max(1, per_kind.get(kind, 0)):.4f} (target <= 1.01)")
    retried = [m["details"]["stats"].get("retries", 0) for m in runs["reconcile untracked"]]
    seen = [sum(m["counts"].values()) - m["details"]["stats"].get("api_calls", 0) for m in runs["reconcile untracked"]]
    print(f"  our retries per run: {retried} (by operation, last run: {stats.get('retries_by_operation')}); "
          f"server requests minus our API calls: {seen}")
    buckets = per_kind.get("aws.s3.bucket", 0)
    hints = counts.get("GetResources", 0)
    print(f"  owner hints: {last['details']['bucket_hints']} untracked buckets with hints, {hints} GetResources "
          f"calls for {buckets} buckets = {100 * hints / max(1, buckets):.2f} per 100 (target <= 1)")


# --- with a simulated round trip ---------------------------------------------------------------------------

def latency_factory(seconds: float) -> Callable[..., boto3.Session]:
    def slow(**_: Any) -> None:
        time.sleep(seconds)

    def factory(**kwargs: Any) -> boto3.Session:
        session = boto3.Session(**kwargs)
        session.events.register("before-send", slow)
        return session

    return factory


def collector_run(workers: int | None, factory: Callable[..., boto3.Session], cis: list[CI],
                  kinds: list[str], regions: list[str]) -> tuple[float, Any]:
    project = Project(root=Path("."), settings=Settings(aws={"regions": regions, "kinds": kinds}), cis=(),
                      inventory=None)
    extra = {"aws_workers": workers} if workers else {}
    collector = AwsCollector(project, CollectOptions(extra=extra), session_factory=factory)
    started = time.perf_counter()
    collection = collector.collect(cis)
    return time.perf_counter() - started, collection


def bucket_cis(count: int, per_region: int) -> list[CI]:
    return [CI(id=f"b{n}", kind="aws.s3.bucket", desired={"versioning": "Disabled"},
               match={"account": ACCOUNT, "name": f"bench-{n % 2}-{n // 2}"}, origin=Origin("bench", n))
            for n in range(min(count, 2 * per_region))]


def timed_run(server: Server, workers: int | None, factory: Callable[..., boto3.Session], cis: list[CI],
              kinds: list[str], regions: list[str]) -> dict[str, Any]:
    """One in-process collection: wall, our CPU (this process), the server's CPU, the requests it saw."""
    server.counts(reset=True)
    ours_before, server_before = time.process_time(), server.cpu()
    seconds, collection = collector_run(workers, factory, cis, kinds, regions)
    return {"wall": seconds, "client": time.process_time() - ours_before, "server": server.cpu() - server_before,
            "requests": sum(server.counts(reset=True).values()), "calls": collection.stats["api_calls"],
            "retries": collection.stats["retries"]}


def best_ratio(one: float, runs: list[dict[str, Any]], latency_s: float) -> tuple[float, str]:
    """The ratio the box allows: with any number of workers a run still needs the server's CPU (one
    process), ours (one interpreter), both on os.cpu_count() cores, and every round trip at 16 in flight.
    Optimistic: calls that must follow one another (GetResources pages chained by their token, a listing
    before the calls it enables) are not counted, nor is the CPU other processes on the box take."""
    server, client = median([r["server"] for r in runs]), median([r["client"] for r in runs])
    calls = median([r["calls"] for r in runs])
    floor = max(server, client, (server + client) / (os.cpu_count() or 1),
                calls * latency_s / ENDPOINT_CONCURRENCY)
    per_call = f"serial CPU per call {1000 * client / calls:.1f} ms ours + {1000 * server / calls:.1f} ms server"
    return one / floor, per_call


def latency(args: argparse.Namespace, server: Server) -> None:
    """The untracked scan is a few dozen calls, most of its time the moto server's CPU (one process: it
    serialises what AWS does in parallel); per-resource calls (bucket CIs) show what concurrency buys.
    Shapes: the untracked scan over 2 and 4 regions (the 2 extra ones empty), 50 and 200 bucket CIs."""
    factory = latency_factory(args.latency_ms / 1000)
    print(f"\nwith {args.latency_ms:.0f} ms added to every call, 1 worker vs the default {ENDPOINT_CONCURRENCY}"
          f" per endpoint, medians of {args.repeat} ({load()}):")
    four = REGIONS + ["us-west-2", "ap-southeast-2"]
    shapes = [("untracked scan, 4 kinds, 2 regions", [], KINDS, REGIONS),
              ("untracked scan, 4 kinds, 4 regions", [], KINDS, four)]
    shapes += [(f"{n} bucket CIs declaring versioning", bucket_cis(n, args.buckets // 2), ["aws.s3.bucket"],
                REGIONS) for n in args.latency_bucket_cis]
    worst = None
    for label, cis, kinds, regions in shapes:
        one, many = [], []
        for _ in range(args.repeat):
            one.append(timed_run(server, 1, factory, cis, kinds, regions))
            many.append(timed_run(server, None, factory, cis, kinds, regions))
        t1, tn = median([r["wall"] for r in one]), median([r["wall"] for r in many])
        bound, per_call = best_ratio(t1, many, args.latency_ms / 1000)
        requests = sorted({r["requests"] for r in one + many})
        print(f"  {label}: {many[-1]['calls']} calls (server saw {requests}, retries "
              f"{sum(r['retries'] for r in one + many)}); 1 worker {t1:.2f}s, concurrent {tn:.2f}s -> "
              f"{t1 / tn:.2f}x (target >= 4); {per_call}: best ratio this box allows {bound:.2f}x  ({load()})",
              flush=True)
        if worst is None or t1 / tn < worst[1]:
            worst = (label, t1 / tn, bound)
    if worst:
        print(f"  worst shape: {worst[0]}: {worst[1]:.2f}x measured, {worst[2]:.2f}x the bound")


def main() -> None:
    if sys.argv[1:] == ["--lister"]:
        print(json.dumps(run_lister()))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000, help="per region")
    parser.add_argument("--groups", type=int, default=250, help="per region")
    parser.add_argument("--volumes", type=int, default=150, help="unattached, per region")
    parser.add_argument("--buckets", type=int, default=1000, help="in all, half per region")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--latency-bucket-cis", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--only-latency", action="store_true", help="seed, then only the simulated round trips")
    args = parser.parse_args()
    ensure_custodian()
    server = Server()
    env = dict(os.environ, AWS_ENDPOINT_URL=server.url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               AWS_DEFAULT_REGION=REGIONS[0], AWS_EC2_METADATA_DISABLED="true")
    env.pop("AWS_PROFILE", None)
    os.environ.update(env)
    workdir = Path(tempfile.mkdtemp(prefix="aws-bench-"))
    try:
        started = time.perf_counter()
        seed(args)
        print(f"seeded in {time.perf_counter() - started:.1f}s ({load()})", flush=True)
        if not args.only_latency:
            report(args, side_by_side(args, server, env, make_project(workdir)))
        if not args.skip_latency:
            latency(args, server)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
