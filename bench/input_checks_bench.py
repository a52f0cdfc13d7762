"""What the input checks cost: the bounded YAML loader (duplicate keys, alias bombs) against plain libyaml,
the inventory shape check before Ansible reads a big YAML inventory, and how fast an alias bomb is refused.

Shapes vary (CI documents with few or many declared packages; inventories of 1,000 and 10,000 hosts);
medians of --repeat runs, the worst shape's overhead printed last, with the load average.

    python bench/input_checks_bench.py [--cis 3000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from reconciler.inventory_check import check_sources
from reconciler.userdata import load_all

BOMB = "a: &a [" + ",".join(['"lol"'] * 9) + "]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))


def median(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def paired(first: Callable[[], object], second: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Medians of both, run alternately: a shared machine's load shifts both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for run, into in ((first, times[0]), (second, times[1])):
            began = time.perf_counter()
            run()
            into.append(time.perf_counter() - began)
    return statistics.median(times[0]), statistics.median(times[1])


def documents(count: int, packages: int) -> str:
    declared = "".join(f"    pkg-{j}: '1.{j}.*'\n" for j in range(packages))
    return "---\n".join(f"ci: web-{i}\nkind: server\nowner: team\ndesired:\n  packages:\n{declared}"
                        f"  sysctl: {{vm.swappiness: '10'}}\n" for i in range(count))


def inventory(directory: Path, hosts: int) -> str:
    lines = ["all:", "  children:", "    web:", "      hosts:"]
    lines += [f"        web-{i:05d}: {{ansible_host: 10.0.{i // 256}.{i % 256}, rack: r{i % 40}}}"
              for i in range(hosts)]
    (directory / "hosts.yml").write_text("\n".join(lines) + "\n")
    return str(directory)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cis", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    plain = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    overheads = []
    for packages in (2, 30):
        text = documents(args.cis, packages)
        base, ours = paired(lambda text=text: list(yaml.load_all(text, Loader=plain)),
                            lambda text=text: load_all(text), args.repeat)
        overheads.append((ours - base) / base * 100)
        print(f"{args.cis} CI documents x {packages} packages: libyaml {base:.3f} s, bounded loader {ours:.3f} s "
              f"({overheads[-1]:+.0f} %)")
    for hosts in (1000, 10000):
        with tempfile.TemporaryDirectory() as tmp:
            source = inventory(Path(tmp), hosts)
            took = median(lambda source=source: check_sources([source]), args.repeat)
        print(f"inventory shape check, {hosts} hosts: {took:.3f} s")
    refused = median(lambda: _refuse(BOMB), args.repeat)
    print(f"alias bomb (9^9 values) refused in {refused * 1000:.1f} ms")
    print(f"worst loader overhead {max(overheads):+.0f} %; load average {os.getloadavg()}")


def _refuse(text: str) -> None:
    try:
        load_all(text)
    except yaml.YAMLError:
        return
    raise AssertionError("the alias bomb was accepted")


if __name__ == "__main__":
    main()
