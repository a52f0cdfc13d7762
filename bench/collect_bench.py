"""Benchmark: reconcile's server collection vs what a user would run with Ansible today.

Same hosts, same desired state per host (5 packages present, 1 absent, 4 files with mode/owner/2 required
lines each, 2 sysctl values; half the hosts drifted), forks 10, medians of --runs runs:

  ours         AnsibleCollector.collect(): one reconciler_facts task per host
  check-diff   ansible-playbook --check --diff with a playbook declaring that state
  facts        a bare ansible-playbook running the builtin fact modules (setup, package_facts, stat and
               slurp per file, slurp of /proc/sys-like values)

over local connection and over SSH on loopback (a private sshd, see tests/ssh_fixture.py), at 1, 10, 20
hosts for ours and --peer-hosts for the peers. Prints seconds, seconds per host, ratios, and how our time
splits between Ansible (ansible-runner wall time; module time on hosts) and our own code.

    .venv/bin/python bench/collect_bench.py [--runs 3] [--hosts 1,10,20] [--peer-hosts 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.collectors.ansible import AnsibleCollector
from reconciler.collectors.base import CollectOptions
from tests.ssh_fixture import Sshd, free_port, loopback_addresses, make_project, server_ci

PRESENT = ["bash", "coreutils", "openssh-server", "procps", "tar"]
ABSENT = "telnetd"
LINES = ["listen = 8080", "tls = on"]
SYSCTL = {"net.ipv4.ip_forward": "0", "vm.swappiness": "10"}
FORKS = 10
PYTHON = "/usr/bin/python3"
MAX_LISTEN = 15  # sshd listens on at most 16 sockets: hosts beyond share an address (and an SSH master)

CHECK_DIFF = [{"hosts": "bench", "gather_facts": False, "tasks": [
    {"package": {"name": PRESENT, "state": "present"}},
    {"package": {"name": ABSENT, "state": "absent"}},
    {"file": {"path": "{{ state_dir }}/f{{ item }}.conf", "mode": "0600", "owner": "root"},
     "loop": [1, 2, 3, 4]},
    {"lineinfile": {"path": "{{ state_dir }}/f{{ item.0 }}.conf", "line": "{{ item.1 }}"},
     "loop": f"{{{{ [1, 2, 3, 4] | product({LINES!r}) | list }}}}"},
    {"copy": {"dest": "{{ state_dir }}/sys/{{ item.key | replace('.', '/') }}", "content": "{{ item.value }}\n"},
     "loop": f"{{{{ {SYSCTL!r} | dict2items }}}}"},
]}]
FACTS = [{"hosts": "bench", "gather_facts": True, "tasks": [
    {"package_facts": {}},
    {"stat": {"path": "{{ state_dir }}/f{{ item }}.conf"}, "loop": [1, 2, 3, 4]},
    {"slurp": {"src": "{{ state_dir }}/f{{ item }}.conf"}, "loop": [1, 2, 3, 4]},
    {"slurp": {"src": "{{ state_dir }}/sys/{{ item | replace('.', '/') }}"}, "loop": list(SYSCTL)},
]}]


def make_state(state: Path, drifted: bool) -> None:
    (state / "sys" / "net" / "ipv4").mkdir(parents=True, exist_ok=True)
    (state / "sys" / "vm").mkdir(parents=True, exist_ok=True)
    (state / "sys" / "net" / "ipv4" / "ip_forward").write_text("1\n" if drifted else "0\n")
    (state / "sys" / "vm" / "swappiness").write_text("10\n")
    for i in range(1, 5):
        path = state / f"f{i}.conf"
        lines = LINES[:1] if drifted and i == 2 else LINES
        path.write_text("".join(line + "\n" for line in lines))
        path.chmod(0o644 if drifted and i == 1 else 0o600)


def desired(state: Path) -> dict[str, Any]:
    return {"packages": {**{name: "present" for name in PRESENT}, ABSENT: "absent"},
            "files": {str(state / f"f{i}.conf"): {"mode": "0600", "owner": "root", "contains": LINES}
                      for i in range(1, 5)},
            "sysctl": dict(SYSCTL)}


def inventory(tmp: Path, count: int, sshd: Sshd | None) -> tuple[Path, list[str]]:
    hosts = {}
    addresses = loopback_addresses(min(count, MAX_LISTEN))
    for i in range(1, count + 1):
        address = addresses[(i - 1) % len(addresses)]
        state = tmp / f"h{i}"
        make_state(state, drifted=i % 2 == 0)
        how = sshd.host_vars(address) if sshd else {"ansible_connection": "local"}
        hosts[f"h{i}"] = {**how, "ansible_python_interpreter": PYTHON, "state_dir": str(state),
                          "reconciler_sysctl_root": str(state / "sys")}
    path = tmp / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"bench": {"hosts": hosts}}}}))
    return path, list(hosts)


def run_ours(tmp: Path, inv: Path, hosts: list[str]) -> tuple[float, dict[str, Any]]:
    project = make_project(tmp, inv, forks=FORKS, timeout=60)
    cis = [server_ci(host, host, desired(tmp / host)) for host in hosts]
    began = time.monotonic()
    got = AnsibleCollector(project, CollectOptions()).collect(cis)
    elapsed = time.monotonic() - began
    failed = [f"{ci}: {fs.error}" for ci, fs in got.facts.items() if fs.error]
    if failed:
        raise SystemExit("collection failed: " + "; ".join(failed[:3]))
    drifted = sum(fs.facts["files"][str(tmp / ci / "f1.conf")]["mode"] != "0600" for ci, fs in got.facts.items())
    assert drifted == len(hosts) // 2, f"expected {len(hosts) // 2} drifted hosts, saw {drifted}"
    return elapsed, dict(got.stats)


def run_playbook(tmp: Path, inv: Path, playbook: list[dict[str, Any]], *extra: str) -> float:
    path = tmp / "playbook.yml"
    path.write_text(yaml.safe_dump(playbook))
    env = dict(os.environ, ANSIBLE_PIPELINING="True", ANSIBLE_NOCOLOR="1",
               PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    began = time.monotonic()
    done = subprocess.run(["ansible-playbook", "-i", str(inv), "-f", str(FORKS), *extra, str(path)],
                          env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - began
    if "unreachable=0" not in done.stdout or "failed=0" not in done.stdout:
        raise SystemExit(f"peer playbook failed:\n{done.stdout[-2000:]}")
    return elapsed


def median_of(runs: int, measure) -> tuple[float, Any]:
    results = [measure() for _ in range(runs)]
    times = [r[0] if isinstance(r, tuple) else r for r in results]
    last = results[-1][1] if isinstance(results[-1], tuple) else None
    return statistics.median(times), last


def bench_connection(label: str, sshd: Sshd | None, args: argparse.Namespace) -> None:
    print(f"\n== {label} ==")
    print(f"{'what':<12}{'hosts':>6}{'median s':>10}{'s/host':>9}   time split (ours)")
    for count in sorted(set(args.hosts) | set(args.peer_hosts)):
        with tempfile.TemporaryDirectory(prefix="collect-bench-") as tmp_name:
            tmp = Path(tmp_name)
            inv, hosts = inventory(tmp, count, sshd)
            ours, stats = median_of(args.runs, lambda t=tmp, i=inv, h=hosts: run_ours(t, i, h))
            split = (f"ansible-runner {stats['ansible_seconds']:.2f} s (module on hosts {stats['module_seconds']:.2f}"
                     f" s summed), our code {stats['seconds'] - stats['ansible_seconds']:.3f} s")
            print(f"{'ours':<12}{count:>6}{ours:>10.2f}{ours / count:>9.3f}   {split}")
            if count not in args.peer_hosts:
                continue
            for name, playbook, extra in (("facts", FACTS, ()), ("check-diff", CHECK_DIFF, ("--check", "--diff"))):
                peer, _ = median_of(args.runs, lambda t=tmp, i=inv, p=playbook, x=extra: run_playbook(t, i, p, *x))
                print(f"{name:<12}{count:>6}{peer:>10.2f}{peer / count:>9.3f}   ours is {peer / ours:.1f}x faster")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hosts", type=lambda s: [int(x) for x in s.split(",")], default=[1, 10, 20])
    parser.add_argument("--peer-hosts", type=lambda s: [int(x) for x in s.split(",") if x], default=[10])
    parser.add_argument("--connections", default="local,ssh")
    args = parser.parse_args()
    print(f"forks {FORKS}, medians of {args.runs} runs, python {PYTHON} on the targets")
    if "local" in args.connections:
        bench_connection("local connection", None, args)
    if "ssh" in args.connections:
        addresses = loopback_addresses(min(max(args.hosts + args.peer_hosts), MAX_LISTEN))
        with tempfile.TemporaryDirectory(prefix="bench-sshd-") as root:
            sshd = Sshd(Path(root), free_port(addresses), addresses).start()
            try:
                bench_connection("SSH on loopback (private sshd, pipelining, ControlPersist)", sshd, args)
            finally:
                sshd.stop()


if __name__ == "__main__":
    main()
