"""Fleet-scale benchmark: the real `reconcile run --facts-dir ... --format json` over a realistic fleet.

The default shape is the one users write (issue 11): a YAML inventory of 10,000 hosts in block style, in
datacentre groups under `fleet` with group_vars for each; one Jinja2 template stamping a CI per host with
30 declared package versions (from group_vars) on top of a baseline; one `setup --tree` facts file per host
with 150 packages; 5 % of hosts drifted. Each measured run is a fresh process with the register recorded
(the project's own SQLite file) and the JSON report written: *cold* starts without `.reconciler/` (no
register, no cache), *warm* repeats a run with nothing changed. Prints wall, peak memory of the child
(RUSAGE_CHILDREN), its CPU seconds (user + sys, children included: less swayed by other load than wall),
the load average beside every figure, medians; then the stages of one run in-process.

    python bench/fleet_bench.py [--hosts 10000] [--inventory yaml|ini|json|yaml-ranges] [--declared 30] [--repeat 3]
        [--shapes] [--keep DIR]

`--shapes` runs yaml/ini x declared 5/30/60, json, and yaml-ranges (groups with children and vars, hosts
written as ranges `node-[00100:00199]`) and reports the worst. Fleets are built once per shape and kept
under /tmp (`cached_project`); bench/executor_bench.py runs the same fleets on the local, processes and Dask
executors side by side, at 10,000 and 100,000 hosts.
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

PACKAGES = 150
FLEET_VERSION = 1  # bump when build_project writes a different fleet: the cached ones are keyed by it
DATACENTRES = 8
TEMPLATE = """\
{% for host in groups['fleet'] %}
---
ci: {{ host }}
kind: server
owner: {{ hostvars[host].team }}
environment: {{ hostvars[host].env_name }}
extends: [base]
desired:
  packages:
{% for name, version in hostvars[host].pinned.items() %}
    {{ name }}: "{{ version }}"
{% endfor %}
{% endfor %}
"""
BASELINE = """\
baseline: base
desired:
  os: {distribution: Debian, major_version: "12"}
  packages: {openssh-server: ">=1:9", telnetd: absent}
  services: {ssh: {state: running, enabled: true}, cron: {state: running, enabled: true}}
"""


def _version(i: int) -> str:
    return f"{1 + i % 7}.{i}.{i % 5}-1"


def build_project(root: Path, hosts: int, inventory: str = "yaml", declared: int = 30,
                  drifted_share: float = 0.05) -> None:
    rng = random.Random(11)
    for directory in ("desired/baselines", "inventories/group_vars", "facts"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "reconciler.yml").write_text("inventories: [inventories/]\n")
    (root / "desired/fleet.yml.j2").write_text(TEMPLATE)
    (root / "desired/baselines/base.yml").write_text(BASELINE)
    pinned = "".join(f'  pkg-{i}: "{_version(i)}"\n' for i in range(declared))
    (root / "inventories/group_vars/fleet.yml").write_text(f"team: team-fleet\npinned:\n{pinned}")
    (root / "inventories/group_vars/all.yml").write_text("ansible_user: ops\nenv_name: prod\n")
    names = [f"node-{n:05d}" for n in range(hosts)]
    groups = {f"dc{d}": names[d::DATACENTRES] for d in range(DATACENTRES)}
    for group in groups:
        (root / f"inventories/group_vars/{group}.yml").write_text(f"datacentre: {group}\nntp: ntp.{group}.example\n")
    if inventory == "yaml-ranges":  # datacentres of consecutive hosts, written as ranges of 100
        groups = {f"dc{d}": names[d * hosts // DATACENTRES:(d + 1) * hosts // DATACENTRES]
                  for d in range(DATACENTRES)}
    writer = {"yaml": _yaml_inventory, "ini": _ini_inventory, "json": _json_inventory,
              "yaml-ranges": _yaml_ranges_inventory}[inventory]
    writer(root / "inventories", groups)
    for n, name in enumerate(names):
        _write_facts(root / "facts" / name, name, n, declared, rng.random() < drifted_share)


def cached_project(hosts: int, inventory: str = "yaml", declared: int = 30) -> Path:
    """The fleet of this shape, built once into /tmp and reused by later runs (100,000 hosts take minutes
    to write). Built beside its final name and renamed, so a half-built fleet is never reused. Runs
    write only under its `.reconciler/`, which the benchmarks remove for a cold run."""
    root = Path(tempfile.gettempdir()) / f"reconciler-fleet-{FLEET_VERSION}-{hosts}-{inventory}-{declared}"
    if not root.exists():
        building = Path(tempfile.mkdtemp(prefix=root.name + ".building-", dir=root.parent))
        build_project(building, hosts, inventory, declared)
        building.rename(root)
    return root


def _address(name: str) -> str:
    n = int(name.rsplit("-", 1)[1])
    return f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"


def _yaml_inventory(directory: Path, groups: dict[str, list[str]]) -> None:
    lines = ["all:", "  vars:", "    ansible_python_interpreter: /usr/bin/python3", "  children:",
             "    fleet:", "      vars:", "        tier: app", "      children:"]
    for group, members in groups.items():
        lines += [f"        {group}:", "          hosts:"]
        lines += [f"            {name}:\n              ansible_host: {_address(name)}\n"
                  f"              rack: r{int(name[-2:]) % 40}" for name in members]
    (directory / "hosts.yml").write_text("\n".join(lines) + "\n")


def _yaml_ranges_inventory(directory: Path, groups: dict[str, list[str]]) -> None:
    """Groups with children and vars, hosts as ranges (`node-[00100:00199]: {rack: r1}`)."""
    lines = ["all:", "  vars: {ansible_python_interpreter: /usr/bin/python3}", "  children:",
             "    fleet:", "      vars: {tier: app}", "      children:"]
    for group, members in groups.items():
        lines += [f"        {group}:", f"          vars: {{zone: {group}-a}}", "          hosts:"]
        for start in range(0, len(members), 100):
            first, last = members[start], members[min(start + 100, len(members)) - 1]
            prefix, low, high = first.rsplit("-", 1)[0], first.rsplit("-", 1)[1], last.rsplit("-", 1)[1]
            lines.append(f"            {prefix}-[{low}:{high}]: {{rack: r{start // 100 % 40}}}")
    (directory / "hosts.yml").write_text("\n".join(lines) + "\n")


def _ini_inventory(directory: Path, groups: dict[str, list[str]]) -> None:
    lines = ["[all:vars]", "ansible_python_interpreter=/usr/bin/python3", ""]
    for group, members in groups.items():
        lines += [f"[{group}]"] + [f"{name} ansible_host={_address(name)} rack=r{int(name[-2:]) % 40}"
                                   for name in members] + [""]
    lines += ["[fleet:children]"] + list(groups) + ["", "[fleet:vars]", "tier=app", ""]
    (directory / "hosts.ini").write_text("\n".join(lines))


def _json_inventory(directory: Path, groups: dict[str, list[str]]) -> None:  # JSON is YAML too
    children = {group: {"hosts": {n: {"ansible_host": _address(n), "rack": f"r{int(n[-2:]) % 40}"}
                                  for n in members}} for group, members in groups.items()}
    data = {"all": {"vars": {"ansible_python_interpreter": "/usr/bin/python3"},
                    "children": {"fleet": {"vars": {"tier": "app"}, "children": children}}}}
    (directory / "hosts.yml").write_text(json.dumps(data))


def _write_facts(path: Path, name: str, n: int, declared: int, drifted: bool) -> None:
    packages = {f"pkg-{i}": [{"name": f"pkg-{i}", "version": _version(i), "arch": "amd64", "source": "apt"}]
                for i in range(PACKAGES - 1)}
    packages["openssh-server"] = [{"name": "openssh-server", "version": "1:9.2p1-2", "source": "apt"}]
    if drifted:
        wrong = f"pkg-{n % max(declared, 1)}"
        packages[wrong] = [{"name": wrong, "version": "0.0.1-1", "arch": "amd64", "source": "apt"}]
    facts = {"ansible_distribution": "Debian", "ansible_distribution_major_version": "12",
             "ansible_hostname": name, "ansible_product_serial": f"SN{name}", "packages": packages,
             "services": {f"{s}.service": {"name": f"{s}.service", "state": "running", "status": "enabled"}
                          for s in ("ssh", "cron", "nginx", "rsyslog")}}
    path.write_text(json.dumps({"ansible_facts": facts, "changed": False}))


# --- measuring ----------------------------------------------------------------------------------------

_CHILD = ("import resource, subprocess, sys, time\nstart = time.perf_counter()\n"
          "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
          "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
          "print(time.perf_counter() - start, usage.ru_maxrss, code, usage.ru_utime + usage.ru_stime)\n")


def run_command(root: Path, cold: bool) -> dict[str, float]:
    """One `reconcile run` in a fresh process: wall seconds, peak RSS (MB) of that process, exit code."""
    if cold:
        shutil.rmtree(root / ".reconciler", ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k != "RECONCILER_REGISTER"}  # the project's own register
    command = [sys.executable, "-m", "reconciler", "--project", str(root), "run", "--facts-dir",
               str(root / "facts"), "--format", "json", "--output", str(root / "report.json")]
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, "-c", _CHILD, *command], capture_output=True, text=True,
                          timeout=900, env=env, check=True)
    wall, rss_kb, code, cpu = done.stdout.split()
    return {"wall": float(wall), "rss": int(rss_kb) / 1024, "code": int(code), "cpu": float(cpu),
            "load": max(load, os.getloadavg()[0])}


def measure(root: Path, repeat: int) -> dict[str, dict[str, float]]:
    """Medians of `repeat` cold runs, and of `repeat` warm runs (each after a run with nothing changed)."""
    figures = {}
    for mode in ("cold", "warm"):
        runs = []
        for _ in range(repeat):
            if mode == "warm":
                run_command(root, cold=False)  # the cache (and register) as a scheduled run finds them
            runs.append(run_command(root, cold=mode == "cold"))
        figures[mode] = {key: statistics.median(r[key] for r in runs) for key in ("wall", "rss", "load", "cpu")}
        figures[mode]["code"] = runs[0]["code"]
    return figures


def stage_times(root: Path) -> dict[str, float]:
    """One cold run in-process, stage by stage: loading (timed here) then the pipeline's own timings."""
    from reconciler import pipeline
    from reconciler.project import load_project
    from reconciler.register.store import open_register
    from reconciler.report.json import render_json

    shutil.rmtree(root / ".reconciler", ignore_errors=True)
    times: dict[str, float] = {}
    start = time.perf_counter()
    project = load_project(root, facts_dir=str(root / "facts"))
    times["load project (inventory, render, parse, validate)"] = time.perf_counter() - start
    with open_register(f"sqlite:///{root}/.reconciler/register.db", root) as register:
        result = pipeline.run(project, pipeline.RunOptions(facts_dir=str(root / "facts")), register)
    times.update({f"{stage} (pipeline)": seconds for stage, seconds in result.timings.items()})
    start = time.perf_counter()
    render_json(result)
    times["JSON report"] = time.perf_counter() - start
    return times


def bench_shape(hosts: int, inventory: str, declared: int, repeat: int, keep: str | None,
                stages: bool) -> dict[str, dict[str, float]]:
    root = Path(keep) if keep else cached_project(hosts, inventory, declared)
    try:
        if not (root / "facts").exists():
            build_project(root, hosts, inventory, declared)
        figures = measure(root, repeat)
        report = json.loads((root / "report.json").read_text())
        summary = report["summary"]
        print(f"\n{hosts} hosts, {inventory} inventory, {declared} declared versions: {summary['cis']} CIs, "
              f"{summary['drifted']} drifted, {summary['unknown']} unknown, exit {figures['cold']['code']}")
        for mode, f in figures.items():
            print(f"  {mode:4s} wall {f['wall']:6.2f} s   cpu {f['cpu']:6.2f} s   peak {f['rss']:5.0f} MB   "
                  f"(load {f['load']:.1f}, median of {repeat})")
        print(f"  warm/cold {figures['warm']['wall'] / figures['cold']['wall']:.0%}   "
              "(targets: cold <= 10 s and <= 1024 MB; warm <= 50 % of cold)")
        if stages:
            print(f"  stages of one cold run, in-process (load {os.getloadavg()[0]:.1f}):")
            for stage, seconds in stage_times(root).items():
                print(f"    {stage:52s} {seconds:6.2f} s")
        return figures
    finally:
        if not keep:  # the cached fleet stays for the next benchmark; what runs wrote into it goes
            shutil.rmtree(root / ".reconciler", ignore_errors=True)
            (root / "report.json").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--inventory", choices=("yaml", "ini", "json", "yaml-ranges"), default="yaml")
    parser.add_argument("--declared", type=int, default=30, help="package versions each CI declares")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shapes", action="store_true", help="yaml/ini x declared 5/30/60, json, yaml-ranges")
    parser.add_argument("--no-stages", action="store_true")
    parser.add_argument("--keep", help="build the project here (or reuse it) and keep it")
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    if not args.shapes:
        bench_shape(args.hosts, args.inventory, args.declared, args.repeat, args.keep, not args.no_stages)
        return
    shapes = [(inv, n) for inv in ("yaml", "ini") for n in (5, 30, 60)] + [("json", 30), ("yaml-ranges", 60)]
    results = {shape: bench_shape(args.hosts, *shape, args.repeat, None, False) for shape in shapes}
    worst = max(results, key=lambda shape: results[shape]["cold"]["wall"])
    print("\nshape                    cold s   warm s  (cpu cold  warm)  peak MB   load")
    for shape, f in results.items():
        print(f"{shape[0]:11s} declared {shape[1]:3d} {f['cold']['wall']:7.2f}  {f['warm']['wall']:7.2f}  "
              f"({f['cold']['cpu']:8.2f} {f['warm']['cpu']:5.2f})  "
              f"{max(f['cold']['rss'], f['warm']['rss']):8.0f}  {f['cold']['load']:5.1f}")
    print(f"worst: {worst[0]} inventory, {worst[1]} declared: {results[worst]['cold']['wall']:.2f} s cold")


if __name__ == "__main__":
    main()
