"""`reconcile init`: a new project with a commented reconciler.yml, a baseline, one server CI, an
inventory and an asset register export to import. Never overwrites a file that exists."""

from __future__ import annotations

from pathlib import Path

from .errors import UsageError

FILES = {
    "reconciler.yml": """\
# reconciler project settings. Every key is optional; the values shown are the defaults or examples.
# register: sqlite:///.reconciler/register.db   # or postgresql://user@host/db (env: RECONCILER_REGISTER)
inventories: [inventories/]                     # Ansible inventories (INI or YAML, group_vars/, host_vars/)
# facts_dir: facts/                             # read server facts gathered elsewhere (ansible --tree, fact cache)
ansible:
  forks: 25
  timeout: 30                                   # seconds per host
# aws:
#   regions: [eu-west-1]
#   accounts:
#     - id: "123456789012"                      # default credential chain
ignore: []                                      # globs on "kind:ci:path" that are never drift
default_severity: medium
severity:                                       # globs on "kind:ci:path" -> low|medium|high|critical
  "server:*:files./etc/ssh/*": high
stale_after: 30d
""",
    "inventories/hosts.ini": """\
# Ansible inventory: reconciler reads it with Ansible's own parser.
[web]
localhost ansible_connection=local
""",
    "inventories/group_vars/web.yml": """\
ssh_port: 22
""",
    "desired/baselines/linux.yml": """\
# A baseline: CIs pull it in with `extends: [linux]`; their own keys win.
baseline: linux
desired:
  packages:
    openssh-server: present
    telnetd: absent
  files:
    /etc/passwd: {mode: "0644", owner: root}
ignore: ["packages.linux-image-*"]
""",
    "desired/servers.yml.j2": """\
# One CI per host of the `web` group, rendered with Jinja2 (inventory variables, groups, hostvars, env).
{% for host in groups['web'] %}
---
ci: {{ host }}
kind: server
owner: team-web
extends: [linux]
match: {host: {{ host }}}
desired:
  listening_ports: [{{ hostvars[host].ssh_port }}]
{% endfor %}
""",
    "assets.csv": """\
Asset Tag,Name,Category,Owner,Status,Hostname,Purchase Date,Purchase Cost,Currency,Warranty Months
ASSET-0001,this machine,hardware,team-web,deployed,localhost,2024-06-01,1900.00,EUR,36
ASSET-0002,backup-01,hardware,team-ops,deployed,backup-01,2022-09-15,6100.00,EUR,36
""",
}


def create_project(target: Path) -> Path:
    existing = [name for name in FILES if (target / name).exists()]
    if existing:
        raise UsageError(f"{target} already has {', '.join(existing)}; refusing to overwrite")
    for name, text in FILES.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target.resolve()
