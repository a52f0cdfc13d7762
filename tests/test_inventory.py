"""Inventories through Ansible's own parser, and host variables equal to what Ansible itself computes."""

import json
import subprocess
import sys
from pathlib import Path

from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.manager import VariableManager

from reconciler.inventory import Inventory

RUN_LEVEL = {"ansible_config_file", "ansible_facts", "ansible_playbook_python", "ansible_version", "groups",
             "playbook_dir", "omit"}


def test_host_variables_follow_ansible_precedence(project):
    project.write("inventories/hosts.ini", """
        [web]
        web-01 port=8080
        web-02
        [web:vars]
        port=80
        tier=front
        [db]
        db-01
        [prod:children]
        web
        db
    """)
    project.write("inventories/group_vars/all.yml", "port: 1\ndomain: example.org\n")
    project.write("inventories/group_vars/prod.yml", "tier: prod\nbackup: true\n")
    project.write("inventories/group_vars/web.yml", "tier: web-from-file\n")
    project.write("inventories/host_vars/web-02.yml", "port: 9090\n")
    sources = [str(project.root / "inventories")]
    ours = Inventory(sources)
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=sources)
    reference = VariableManager(loader=loader, inventory=manager)
    for host in ["web-01", "web-02", "db-01"]:
        theirs = reference.get_vars(host=manager.get_host(host), include_hostvars=False)
        expected = {k: v for k, v in theirs.items() if k not in RUN_LEVEL}
        assert ours.host_vars(host) == expected
    assert ours.host_vars("web-01")["port"] == 8080 and ours.host_vars("web-02")["port"] == 9090
    assert ours.host_vars("web-01")["tier"] == "web-from-file" and ours.host_vars("db-01")["tier"] == "prod"
    assert ours.groups["prod"] == ["web-01", "web-02", "db-01"]


def _assert_as_ansible_computes(sources: list[str], hosts: list[str]) -> Inventory:
    ours = Inventory(sources)
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=sources)
    reference = VariableManager(loader=loader, inventory=manager)
    for host in hosts:
        theirs = reference.get_vars(host=manager.get_host(host), include_hostvars=False)
        assert ours.host_vars(host) == {k: v for k, v in theirs.items() if k not in RUN_LEVEL}
    assert ours.groups == {name: list(members) for name, members in manager.get_groups_dict().items()}
    return ours


def test_yaml_inventory_read_once_keeps_ansible_precedence(project):
    """YAML inventories are read with libyaml once (not through Ansible's deep-copying loader): groups,
    children, inline and file variables come out as Ansible computes them."""
    project.write("inventories/hosts.yml", """
        all:
          vars: {port: 1, domain: example.org}
          children:
            prod:
              vars: {tier: prod, backup: true}
              children:
                web:
                  vars: {port: 80, tier: front, since: 2024-01-31, ratio: 0.5}
                  hosts:
                    web-01: {port: 8080, roles: [nginx, php]}
                    web-02:
                db:
                  hosts:
                    db-01: {ansible_host: 10.0.0.5}
    """)
    project.write("inventories/group_vars/web.yml", "tier: web-from-file\n")
    project.write("inventories/host_vars/web-02.yml", "port: 9090\n")
    ours = _assert_as_ansible_computes([str(project.root / "inventories")], ["web-01", "web-02", "db-01"])
    assert ours.host_vars("web-01")["port"] == 8080 and ours.host_vars("web-02")["port"] == 9090
    assert ours.host_vars("web-01")["tier"] == "web-from-file" and ours.host_vars("db-01")["tier"] == "prod"


def test_yaml_inventory_with_ansible_tags_goes_through_ansible(project):
    """What libyaml's safe loader refuses (Ansible's `!unsafe`) is read by Ansible's own loader, unchanged."""
    project.write("inventories/hosts.yml", """
        all:
          hosts:
            web-01:
              motd: !unsafe "{{ not a template }}"
    """)
    ours = _assert_as_ansible_computes([str(project.root / "inventories")], ["web-01"])
    assert ours.host_vars("web-01")["motd"] == "{{ not a template }}"


def _ansible_inventory_list(source: str) -> dict:
    """What `ansible-inventory --list` (Ansible's own CLI, unpatched) says each host's variables are."""
    command = [str(Path(sys.executable).parent / "ansible-inventory"), "-i", source, "--list"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=True, cwd=source)
    return json.loads(done.stdout)


def _assert_as_ansible_inventory_lists(source: str) -> Inventory:
    ours = Inventory([source])
    assert ours.problems == []
    listed = _ansible_inventory_list(source)
    theirs = listed["_meta"]["hostvars"]
    listed_hosts = {host for name, group in listed.items() if name != "_meta" for host in group.get("hosts", [])}
    assert sorted(ours.hosts) == sorted(listed_hosts)
    for host in ours.hosts:
        mine = {k: v for k, v in ours.host_vars(host).items() if k not in MAGIC}
        assert json.loads(json.dumps(mine, default=str)) == theirs.get(host, {}), host
    for group, members in ours.groups.items():
        assert sorted(members) == sorted(_members(listed, group)), group
    return ours


def _members(listed: dict, group: str) -> set[str]:
    """A group's hosts in ansible-inventory's listing: its own and its children's, recursively."""
    entry = listed.get(group, {})
    return set(entry.get("hosts", [])).union(*(_members(listed, child) for child in entry.get("children", [])))


MAGIC = {"inventory_file", "inventory_dir", "inventory_hostname", "inventory_hostname_short", "group_names"}


def test_ini_inventory_means_what_ansible_inventory_lists(project):
    """Quotes, comments, escapes, tabs, ranges, ports, Python literals and non-ASCII names: our resolved
    host variables are the ones `ansible-inventory --list` prints for the same INI file."""
    project.write("inventories/hosts.ini", """
        # a comment
        [all:vars]
        ntp=ntp.example.org
        ratio=0.5

        [web]
        web-01 port=8080 roles="['nginx', 'php']"   # trailing comment
        web-02\tansible_host=10.0.0.2\tmotd='hello world'
        web[03:05] tier=front flag=True count=007 empty= eq=a=b
        web-06:2222 list=[1,2] dict={'a':1} neg=-3 sci=1e3 none=None
        wëb-07 name=ünïcode
        web-08 quoted="a # not comment" esc=a\\ b
        web-09 flag=True count=007 tier=front

        [db]
        db-[a:c].example.org ansible_port=5432

        [prod:children]
        web
        db

        [prod:vars]
        tier=prod
        backup=yes
        lst=[1, 2]
    """)
    project.write("inventories/group_vars/all.yml", "domain: example.org\nport: 1\n")
    project.write("inventories/group_vars/web.yml", "tier: web-from-file\n")
    project.write("inventories/host_vars/web-02.yml", "port: 9090\n")
    ours = _assert_as_ansible_inventory_lists(str(project.root / "inventories"))
    assert ours.host_vars("web04")["count"] == "007" and ours.host_vars("web-06")["list"] == [1, 2]
    assert ours.host_vars("web-08")["quoted"] == "a # not comment" and ours.host_vars("web-02")["port"] == 9090
    ours.host_vars("web-06")["list"].append(3)  # a list literal is each host's own, as in Ansible
    assert ours.host_vars("web-01")["lst"] == [1, 2]


def test_yaml_inventory_with_groups_and_ranges_means_what_ansible_inventory_lists(project):
    project.write("inventories/hosts.yml", """
        all:
          vars: {ntp: ntp.example.org}
          children:
            prod:
              vars: {tier: prod, backup: true}
              children:
                web:
                  vars: {port: 80, since: 2024-01-31}
                  hosts:
                    web[001:012]:
                    web-[a:c]: {ansible_port: 2222}
                    "web[013:020:4]": {role: canary}
                db:
                  hosts:
                    db-01: {ansible_host: 10.0.0.5, pool: [a, b]}
            staging:
              hosts:
                web005:
                stage-[1:2]:
    """)
    project.write("inventories/group_vars/web.yml", "tier: web-from-file\n")
    project.write("inventories/host_vars/web007.yml", "port: 9090\n")
    ours = _assert_as_ansible_inventory_lists(str(project.root / "inventories"))
    assert len(ours.groups["web"]) == 12 + 3 + 2 and ours.host_vars("web007")["port"] == 9090
    assert "staging" in ours.host_vars("web005")["group_names"]
