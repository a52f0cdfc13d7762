"""Fleet-scale benchmark: `reconcile run --facts-dir` over 10,000 inventory hosts.

One Jinja2 template stamps a CI per host of a group; one `setup --tree` facts file per host with ~150
packages; 5 % of hosts drifted. Prints the wall time and peak memory of the real command (JSON report
written), then where the time goes, stage by stage, measured in-process on the same project.

    python bench/fleet_bench.py [--hosts 10000] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE = """\
{% for host in groups['fleet'] %}
---
ci: {{ host }}
kind: server
owner: {{ hostvars[host].team }}
extends: [base]
desired:
  packages:
    nginx: "{{ hostvars[host].nginx_version }}"
{% for i in range(20) %}
    pkg-{{ i }}: present
{% endfor %}
{% endfor %}
"""
BASELINE = """\
baseline: base
desired:
  os: {distribution: Debian, major_version: "12"}
  packages: {openssh-server: ">=1:9", telnetd: absent, sudo: "1.9.*"}
  services: {ssh: {state: running, enabled: true}, cron: {state: running, enabled: true}}
"""


def build_project(root: Path, hosts: int, drifted_share: float = 0.05) -> None:
    rng = random.Random(11)
    (root / "desired/baselines").mkdir(parents=True)
    (root / "inventories/group_vars").mkdir(parents=True)
    (root / "facts").mkdir()
    (root / "desired/fleet.yml.j2").write_text(TEMPLATE)
    (root / "desired/baselines/base.yml").write_text(BASELINE)
    (root / "inventories/group_vars/fleet.yml").write_text('nginx_version: "1.22.*"\nteam: team-fleet\n')
    names = [f"node-{n:05d}" for n in range(hosts)]
    inventory = {"all": {"children": {"fleet": {"hosts": {n: {"ansible_host": "192.0.2.1"} for n in names}}}}}
    (root / "inventories/hosts.yml").write_text(json.dumps(inventory))  # JSON is YAML
    for name in names:
        packages = {f"pkg-{i}": [{"name": f"pkg-{i}", "version": f"{rng.randint(1, 9)}.{i}.0-1", "source": "apt"}]
                    for i in range(145)}
        for pkg, version in (("nginx", "1.22.1-9"), ("openssh-server", "1:9.2p1-2"), ("sudo", "1.9.13p3-1"),
                             ("bash", "5.2.15-2"), ("coreutils", "9.1-1")):
            packages[pkg] = [{"name": pkg, "version": version, "source": "apt"}]
        if rng.random() < drifted_share:
            packages["nginx"] = [{"name": "nginx", "version": "1.18.0-6", "source": "apt"}]
        facts = {"ansible_distribution": "Debian", "ansible_distribution_major_version": "12",
                 "ansible_hostname": name, "ansible_product_serial": f"SN{name}", "packages": packages,
                 "services": {f"{s}.service": {"name": f"{s}.service", "state": "running", "status": "enabled"}
                              for s in ("ssh", "cron", "nginx", "rsyslog")}}
        (root / "facts" / name).write_text(json.dumps({"ansible_facts": facts, "changed": False}))


def run_command(root: Path) -> tuple[float, float, int]:
    """Wall seconds and peak RSS (MB) of one `reconcile run` in a fresh process."""
    script = ("import resource, sys, time\nfrom reconciler.cli import main\nstart = time.perf_counter()\n"
              "code = main(sys.argv[1:])\n"
              "print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, code, "
              "file=sys.stderr)\n")
    started = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k != "RECONCILER_REGISTER"}  # the project's own register
    done = subprocess.run([sys.executable, "-c", script, "--project", str(root), "run", "--facts-dir",
                           str(root / "facts"), "--format", "json", "--output", str(root / "report.json")],
                          capture_output=True, text=True, timeout=600, env=env)
    wall = time.perf_counter() - started
    _, rss_kb, code = done.stderr.strip().splitlines()[-1].split()
    return wall, int(rss_kb) / 1024, int(code)


def stage_times(root: Path) -> dict[str, float]:
    """The same run in-process, stage by stage: loading (timed here) then the pipeline's own timings."""
    from dataclasses import replace

    from reconciler import pipeline
    from reconciler.collectors import load_registry
    from reconciler.inventory import load_inventory
    from reconciler.model import Project
    from reconciler.project import load_cis, load_settings
    from reconciler.register.store import open_register
    from reconciler.report.json import render_json

    times: dict[str, float] = {}

    def timed(name, call):
        start = time.perf_counter()
        value = call()
        times[name] = time.perf_counter() - start
        return value

    problems: list = []
    settings = replace(load_settings(root, problems), facts_dir=str(root / "facts"))
    inventory = timed("inventory (Ansible InventoryManager)", lambda: load_inventory(root, settings.inventories))
    registry = load_registry(root, problems)
    cis = timed("rendering + YAML + baselines + schema", lambda: load_cis(root, settings, inventory, registry, problems))
    project = Project(root, settings, tuple(cis), inventory, registry)
    with open_register(f"sqlite:///{root}/.reconciler/stages.db", root) as register:
        result = pipeline.run(project, pipeline.RunOptions(facts_dir=settings.facts_dir), register)
    times.update({f"{stage} (pipeline)": seconds for stage, seconds in result.timings.items()})
    timed("JSON report", lambda: render_json(result))
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", help="build the project here and keep it")
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="fleet-bench-"))
    try:
        if not (root / "facts").exists():
            start = time.perf_counter()
            build_project(root, args.hosts)
            print(f"built a {args.hosts}-host project in {time.perf_counter() - start:.1f} s ({root})")
        runs = [run_command(root) for _ in range(args.repeat)]
        report = json.loads((root / "report.json").read_text())
        print(f"reconcile run --facts-dir, {report['summary']['cis']} CIs "
              f"({report['summary']['drifted']} drifted), exit {runs[0][2]}")
        print(f"  wall (median of {len(runs)}): {statistics.median(r[0] for r in runs):.2f} s   (target <= 20 s)")
        print(f"  peak RSS (median)    : {statistics.median(r[1] for r in runs):.0f} MB  (target <= 1536 MB)")
        print("where the time goes (in-process, one run):")
        for stage, seconds in stage_times(root).items():
            print(f"  {stage:40s} {seconds:6.2f} s")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
