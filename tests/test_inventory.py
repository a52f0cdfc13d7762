"""Inventories through Ansible's own parser, and host variables equal to what Ansible itself computes."""

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
