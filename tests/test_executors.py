"""Executors: the same project gives the same report on the local executor, a process pool and a Dask
LocalCluster of 2 worker processes (loopback only, no dashboard); a worker killed mid-run makes its jobs'
targets `unknown` with the reason, never `missing`, and the recorded run is the reported one."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import pytest
from distributed import Client, LocalCluster

from reconciler.collectors import ansible, facts_dir

from .aws_world import bucket, instance
from .conftest import REPO, assert_valid_report
from .moto_fixture import ACCOUNT_A, moto, moto_server  # noqa: F401
from .ssh_fixture import Sshd, free_port, sshd, write_inventory  # noqa: F401

PACKAGES = {"nginx": "1.22.1", "bash": "5.2.15", "openssl": "3.0.11"}
BOX_PLUGIN = '''
import os
from reconciler.collectors.base import Collector, Job, Kind, Target
from reconciler.model import Collection, FactSet, Source

class BoxCollector(Collector):
    """Test-only: one job a box; a `doomed` box's job kills the worker process that runs it."""
    name = "boxes"
    kinds = (Kind("test.box", {"type": "object", "properties": {"colour": {"type": "string"}}}),)

    def collect(self, cis):
        return self.collect_by_jobs(cis)

    def prepare(self, cis):
        return [Job(self.name, "box " + ci.id, (Target(ci.id, ci.id),), (ci.id,),
                    (ci.id, bool(ci.match.get("doomed")), os.getpid())) for ci in cis]

    @classmethod
    def run_job(cls, job):
        ci, doomed, orchestrator = job.payload
        if doomed and os.getpid() != orchestrator:  # never the test's own process
            os.kill(os.getpid(), 9)
        return Collection(facts={ci: FactSet(ci, cls.name, ci, facts={"colour": "blue"})},
                          sources=(Source(cls.name, ci, "ok"),))

COLLECTORS = [BoxCollector]
'''


@pytest.fixture(scope="module")
def cluster(moto: Any) -> Iterator[str]:
    """A Dask LocalCluster of 2 worker processes on loopback, dashboard off; a killed task is not retried."""
    with (dask.config.set({"distributed.scheduler.allowed-failures": 0}),
          LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                       dashboard_address=None, silence_logs=50) as local):
        yield "dask://" + local.scheduler_address.removeprefix("tcp://")


def facts(host: str, packages: dict[str, str]) -> dict[str, Any]:
    return {"ansible_facts": {
        "ansible_hostname": host, "ansible_distribution": "Debian",
        "ansible_distribution_major_version": "12",
        "packages": {name: [{"name": name, "version": version, "source": "apt"}]
                     for name, version in packages.items()}}}


@pytest.fixture
def estate(project: Any, moto: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """12 inventory hosts (10 with CIs, 2 drifted, 1 without a facts file, 1 with facts but no CI), a CI on
    a host the inventory lacks, and one AWS account with an instance, a bucket and an undeclared instance."""
    monkeypatch.setattr(facts_dir, "SHARD_SIZE", 3)  # several jobs a collector, so several workers take part
    moto.reset()
    session = moto.session(ACCOUNT_A, "eu-west-1")
    instance(session.client("ec2"), "web-ok", "t3.micro", Owner="team-web")
    instance(session.client("ec2"), "stray", "t2.nano")
    bucket(session.client("s3"), "logs-ok", versioned=True)
    hosts = [f"web-{n:02}" for n in range(12)]
    project.write("inventories/hosts.ini", "[web]\n" + "\n".join(hosts) + "\n")
    project.write("reconciler.yml", f"aws:\n  regions: [eu-west-1]\n  accounts: [{{id: '{ACCOUNT_A}'}}]\n")
    documents = [f"ci: {host}\nkind: server\nmatch: {{host: {host}}}\n"
                 f"desired:\n  packages: {json.dumps(PACKAGES)}"
                 for host in hosts[:10] + ["ghost-01"]]
    documents += [("ci: web-ok\nkind: aws.ec2.instance\nmatch: {tags: {Name: web-ok}}\n"
                   "desired: {instance_type: t3.micro}"),
                  "ci: logs\nkind: aws.s3.bucket\nmatch: {name: logs-ok}\ndesired: {versioning: Enabled}"]
    project.write("desired/estate.yml", "\n---\n".join(documents) + "\n")
    for number, host in enumerate(hosts):
        if number != 9:  # web-09: declared, no facts file
            drifted = {"nginx": "1.18.0"} if number in (2, 7) else {}
            project.facts(host, facts(host, {**PACKAGES, **drifted}))
    return project


def run(cli: Any, project: Any, *extra: str) -> dict[str, Any]:
    result = cli("--project", str(project.root), "run", "--facts-dir", str(project.root / "facts"),
                 "--format", "json", *extra)
    assert result.code in (0, 2, 3), result.err
    return result.json()


def findings(report: dict[str, Any]) -> dict[str, Any]:
    """What a user reads of a run: items (status, drift, flags, errors), sources, summary — not ids/times."""
    items = sorted(json.dumps(item, sort_keys=True) for item in report["items"])
    sources = sorted(json.dumps(source, sort_keys=True) for source in report["run"]["sources"])
    causes = [{k: v for k, v in cause.items() if k != "first_seen"} for cause in report.get("causes", [])]
    return {"items": items, "sources": sources, "summary": report["summary"], "causes": causes,
            "exit_code": report["run"]["exit_code"]}


def test_processes_and_a_dask_cluster_report_what_the_local_executor_reports(cli, estate, cluster):
    local = run(cli, estate)
    statuses = {item["ci"]: item["status"] for item in local["items"] if item.get("ci")}
    assert statuses["web-02"] == statuses["web-07"] == "drifted" and statuses["web-00"] == "in_sync"
    assert statuses["web-09"] == statuses["ghost-01"] == "unknown"
    assert statuses["web-ok"] == statuses["logs"] == "in_sync"
    assert any("untracked" in item["flags"] and item["kind"] == "aws.ec2.instance" for item in local["items"])
    assert findings(run(cli, estate, "--executor", "processes")) == findings(local)
    assert findings(run(cli, estate, "--executor", cluster)) == findings(local)


def test_executor_from_reconciler_yml(cli, estate, cluster):
    local = run(cli, estate)
    estate.write("reconciler.yml", (estate.root / "reconciler.yml").read_text() + f"executor: {cluster}\n")
    assert findings(run(cli, estate)) == findings(local)


@pytest.fixture
def boxes(project: Any) -> Any:
    project.write("plugins/boxes.py", BOX_PLUGIN)
    project.write("desired/boxes.yml", "\n---\n".join(
        f"ci: box-{n}\nkind: test.box\nmatch: {{doomed: {str(n == 1).lower()}}}\ndesired: {{colour: blue}}"
        for n in range(4)) + "\n")
    # a collector that runs after the boxes: its jobs get a working pool or worker again
    project.write("inventories/hosts.ini", "web-00\n")
    project.write("desired/web.yml", "ci: web-00\nkind: server\nmatch: {host: web-00}\n"
                  f"desired:\n  packages: {json.dumps(PACKAGES)}\n")
    project.facts("web-00", facts("web-00", PACKAGES))
    project.write("reconciler.yml", "facts_dir: facts\n")
    return project


@pytest.mark.parametrize("where", ["processes", "dask"])
def test_a_worker_killed_mid_run_leaves_its_targets_unknown_and_the_register_consistent(cli, boxes, cluster,
                                                                                        where):
    executor = cluster if where == "dask" else "processes"
    result = cli("--project", str(boxes.root), "run", "--executor", executor, "--format", "json")
    report = result.json()
    items = {item["ci"]: item for item in report["items"]}
    assert items["box-1"]["status"] == "unknown" and "lost" in items["box-1"]["error"]
    assert items.pop("web-00")["status"] == "in_sync"
    assert result.code == 3
    for item in items.values():  # a job lost beside it may be unknown too, never missing
        assert item["status"] == "in_sync" or (item["status"] == "unknown" and "lost" in item["error"])
    assert any(s["scope"] == "box-1" and s["status"] == "failed" for s in report["run"]["sources"])
    recorded = cli("--project", str(boxes.root), "report", report["run"]["id"], "--format", "json").json()
    assert findings(recorded) == findings(report)
    if where == "dask":  # the cluster replaced the killed worker: the next run works as before
        again = cli("--project", str(boxes.root), "run", "--executor", executor, "--limit", "[bw]*[023]",
                    "--format", "json").json()
        assert {item["status"] for item in again["items"]} == {"in_sync"}


def test_the_local_executor_runs_the_same_jobs_in_process(cli, boxes):
    report = cli("--project", str(boxes.root), "run", "--format", "json").json()
    statuses = {item["ci"]: item["status"] for item in report["items"]}
    assert statuses == {**{f"box-{n}": "in_sync" for n in range(4)}, "web-00": "in_sync"}


def test_a_bad_executor_is_refused_in_one_line(cli, project):
    result = cli("--project", str(project.root), "run", "--executor", "ray://x")
    assert result.code == 1 and "not local, processes or dask://HOST:PORT" in result.err
    project.write("reconciler.yml", "executor: threads\n")
    result = cli("--project", str(project.root), "validate")
    assert result.code == 1 and "executor" in result.err


def test_ansible_jobs_over_ssh_report_what_the_local_executor_reports(cli, project, sshd,
                                                                     cluster, monkeypatch):
    """Three hosts over the test sshd (one drifted), a closed port: one host a job, each job carrying its
    hosts' inventory variables (no worker reads the project's inventory)."""
    monkeypatch.setattr(ansible, "HOSTS_PER_FORK", 1)
    hosts = {}
    for number, address in enumerate(["127.0.0.1", "127.0.0.2", "127.0.0.3"]):
        root = project.root / "sys" / f"web-{number}"
        (root / "net" / "ipv4").mkdir(parents=True)
        (root / "net" / "ipv4" / "ip_forward").write_text("1\n" if number == 1 else "0\n")
        hosts[f"web-{number}"] = sshd.host_vars(address, reconciler_sysctl_root=str(root))
    hosts["closed"] = dict(sshd.host_vars("127.0.0.5"), ansible_port=free_port(["127.0.0.5"]))
    (project.root / "inventories").mkdir()
    write_inventory(project.root / "inventories" / "hosts.yml", hosts)
    project.write("reconciler.yml", "ansible: {forks: 1, timeout: 10}\n")
    project.write("desired/servers.yml", "\n---\n".join(
        f"ci: {host}\nkind: server\nmatch: {{host: {host}}}\n"
        "desired: {sysctl: {net.ipv4.ip_forward: '0'}}"
        for host in [*hosts, "ghost"]) + "\n")

    def run_with(*extra: str) -> dict[str, Any]:
        result = cli("--project", str(project.root), "run", "--format", "json", *extra)
        assert result.code in (2, 3), result.err
        return result.json()

    local = run_with()
    statuses = {item["ci"]: item["status"] for item in local["items"]}
    assert statuses == {"web-0": "in_sync", "web-1": "drifted", "web-2": "in_sync", "closed": "unknown",
                        "ghost": "unknown"}
    assert findings(run_with("--executor", cluster)) == findings(local)
    assert findings(run_with("--executor", "processes")) == findings(local)


def test_a_lost_aws_scope_job_fails_its_scope_and_its_cis_are_unknown_not_missing(moto):
    """Scope jobs run one by one here; the EC2-instance scope's answer is replaced by a lost job's."""
    from reconciler.collectors.aws.collector import AwsCollector
    from reconciler.collectors.base import CollectOptions, lost_job

    from .aws_world import make_ci, project

    moto.reset()
    ec2 = moto.session(ACCOUNT_A, "eu-west-1").client("ec2")
    instance(ec2, "web-ok", "t3.micro")
    instance(ec2, "stray", "t2.nano")
    bucket(moto.session(ACCOUNT_A, "eu-west-1").client("s3"), "logs-ok", versioned=True)
    aws = {"regions": ["eu-west-1"], "accounts": [{"id": ACCOUNT_A}]}
    cis = [make_ci("web-ok", "aws.ec2.instance", {"instance_type": "t3.micro"}, tags={"Name": "web-ok"}),
           make_ci("logs", "aws.s3.bucket", {"versioning": "Enabled"}, name="logs-ok")]
    collector = AwsCollector(project(aws), CollectOptions())
    jobs = collector.prepare(cis)
    assert len(jobs) == 7 and all(not job.targets for job in jobs)  # one job per kind in the one scope
    parts = [lost_job(job, "the Dask worker running it was lost") if job.label.endswith("aws.ec2.instance")
             else AwsCollector.run_job(job) for job in jobs]
    collection = collector.merge(cis, parts)
    assert "lost" in collection.facts["web-ok"].error and collection.facts["web-ok"].facts is None
    assert collection.facts["logs"].facts["versioning"] == "Enabled"
    assert not [seen for seen in collection.observed if seen.kind == "aws.ec2.instance"]  # never untracked
    failed = [s for s in collection.sources if s.status == "failed"]
    assert [s.scope for s in failed] == [f"{ACCOUNT_A}/eu-west-1/aws.ec2.instance"]
    assert "lost" in failed[0].error


# docs/scale-out.md's own command lines, run as written but on loopback: a scheduler and workers started with
# `dask scheduler` / `dask worker`, the systemd unit's ExecStart, the crontab line.
SCALE_OUT = (REPO / "docs" / "scale-out.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent


def doc_line(starts: str) -> str:
    """The line of scale-out.md's code blocks that starts with `starts`, backslash continuations joined."""
    text = "\n".join(re.findall(r"```(?:sh|ini|cron)\n(.*?)```", SCALE_OUT, re.DOTALL)).replace("\\\n", " ")
    [line] = [line for line in text.splitlines() if line.startswith(starts)]
    return line


def substituted(line: str, values: dict[str, str]) -> list[str]:
    for old, new in values.items():
        line = line.replace(old, new)
    return shlex.split(line)


@pytest.fixture
def doc_cluster(tmp_path: Path) -> Iterator[str]:
    """The scheduler and a worker machine's workers of scale-out.md, on 127.0.0.1 with free ports and two
    worker processes (this machine's cores) instead of four."""
    port, dashboard = free_port(["127.0.0.1"]), free_port(["127.0.0.1"])
    local = {".venv/bin/dask": str(BIN / "dask"), "--port 8786": f"--port {port}", "10.0.0.5:8786": f"127.0.0.1:{port}",
             "10.0.0.5": "127.0.0.1", "127.0.0.1:8787": f"127.0.0.1:{dashboard}", "--nworkers 4": "--nworkers 2"}
    started = []
    try:
        for name in ("scheduler", "worker"):
            words = substituted(doc_line(f".venv/bin/dask {name} "), local)
            assert "10.0.0.5" not in " ".join(words) and "8786" not in " ".join(words), words
            with (tmp_path / f"{name}.log").open("w") as log:
                started.append(subprocess.Popen(words, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        with Client(f"tcp://127.0.0.1:{port}", timeout=60, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
        yield f"127.0.0.1:{port}"
    finally:
        for process in reversed(started):  # each process group this fixture started: worker, then scheduler
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def test_scale_out_md_dask_cluster_and_systemd_exec_start_as_written(cli, fleet, doc_cluster, tmp_path):
    local = cli("--project", str(fleet), "run", "--format", "json").json()
    exec_start = doc_line("ExecStart=").removeprefix("ExecStart=")
    words = substituted(exec_start, {"/srv/ops/.venv/bin/reconcile": "reconcile", "10.0.0.5:8786": doc_cluster,
                                     "/var/lib/reconcile": str(tmp_path)})
    assert words[:2] == ["reconcile", "run"] and f"dask://{doc_cluster}" in words
    result = cli("--project", str(fleet), *words[1:])
    assert (result.code, result.out) == (2, ""), result.err
    report = json.loads((tmp_path / "last-run.json").read_text())
    assert findings(report) == findings(local)
    with Client(f"tcp://{doc_cluster}", timeout=30, set_as_default=False) as client:
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert sum(executed.values()) >= 1  # the facts files were read by the workers, not by this process
    # "Choose it per run with --executor (run, untracked, plan)". (Not `processes` in-process here: a pool's
    # forkserver outlives the test and keeps the environment of the first one that started it.)
    executor = ("--executor", f"dask://{doc_cluster}")
    untracked = cli("--project", str(fleet), "untracked", *executor)
    assert untracked.code == 2 and "untracked: server build-07" in untracked.out
    planned = cli("--project", str(fleet), "plan", *executor, "--format", "json", "--quiet")
    assert planned.code == 2 and len(planned.json()["plan"]["steps"]) == 4


def test_scale_out_md_crontab_line_as_written(fleet, tmp_path):
    cron = doc_line("30 2 * * * ").split(" ", 5)[5]
    command = cron.replace("/srv/ops", shlex.quote(str(fleet))).replace("/tmp/reconcile.lock", str(tmp_path / "lock"))
    command = command.replace(".venv/bin/reconcile", shlex.quote(str(BIN / "reconcile")))
    command = command.replace("/var/lib/reconcile", str(tmp_path)).replace("/var/log", str(tmp_path))
    assert "flock -n" in command and "--executor processes --quiet --format json" in command
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, (tmp_path / "reconcile.log").read_text()
    assert (tmp_path / "reconcile.log").read_text() == ""  # quiet, and the report went to --output
    report = json.loads((tmp_path / "last-run.json").read_text())
    assert_valid_report(report)
    assert report["summary"]["drifted"] == 1 and report["run"]["exit_code"] == 2
