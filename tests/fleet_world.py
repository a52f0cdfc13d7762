"""A server fleet written to disk for report tests: inventory groups, a baseline, facts files.

`fleet(project, hosts)` declares web-NN CIs (group web, baseline debian-12) whose facts come from a
facts directory; `drift` says which hosts run an old nginx or still carry telnetd.
"""

from __future__ import annotations

from collections.abc import Iterable


def package(name: str, version: str) -> list[dict[str, str]]:
    return [{"name": name, "version": version, "arch": "amd64", "source": "apt"}]


def write_fleet(project, hosts: int, old_nginx: Iterable[int] = (), telnetd: Iterable[int] = (),
                teams: tuple[str, ...] = ("team-web", "team-shop"), notify: str = "") -> list[str]:
    names = [f"web-{n:02d}" for n in range(hosts)]
    old, telnet = set(old_nginx), set(telnetd)
    project.write("reconciler.yml", f"facts_dir: facts/\ninventories: [inventories/]\n{notify}")
    project.write("inventories/hosts.yml", "all:\n  children:\n    web:\n      hosts:\n"
                  + "".join(f"        {name}: {{}}\n" for name in names))
    project.write("desired/baselines/debian-12.yml",
                  "baseline: debian-12\ndesired:\n  packages: {telnetd: absent, nginx: '>=1.22'}\n")
    project.write("desired/web.yml", "".join(
        f"---\nci: {name}\nkind: server\nowner: {teams[n % len(teams)]}\nextends: [debian-12]\n"
        f"match: {{host: {name}}}\n" for n, name in enumerate(names)))
    for n, name in enumerate(names):
        packages = {"nginx": package("nginx", "1.18.0-6" if n in old else "1.22.1-9")}
        if n in telnet:
            packages["telnetd"] = package("telnetd", "0.17-44")
        project.facts(name, {"ansible_hostname": name, "ansible_distribution": "Debian",
                             "ansible_distribution_major_version": "12", "packages": packages})
    return names
