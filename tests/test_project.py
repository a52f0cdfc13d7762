"""Loading a project: templates, baselines, inventories, schemas — and every error in one pass."""

import pytest

from reconciler.errors import ProjectError
from reconciler.project import load_project

INVENTORY = """
[web]
web-01 nginx=1.22
web-02 nginx=1.24
[db]
db-01
"""


@pytest.fixture
def base(project):
    project.write("inventories/hosts.ini", INVENTORY)
    project.write("inventories/group_vars/web.yml", "owner_team: team-web\n")
    return project


def problems_of(project):
    with pytest.raises(ProjectError) as caught:
        load_project(project.root)
    return [str(p) for p in caught.value.problems]


def test_one_template_stamps_out_a_ci_per_host_of_a_group(base):
    base.write("desired/web.yml.j2", """
        {% for host in groups['web'] %}
        ---
        ci: {{ host }}
        kind: server
        owner: {{ hostvars[host].owner_team }}
        desired:
          packages: {nginx: "{{ hostvars[host].nginx }}.*"}
        {% endfor %}
    """)
    cis = {ci.id: ci for ci in load_project(base.root).cis}
    assert sorted(cis) == ["web-01", "web-02"]
    assert cis["web-02"].desired == {"packages": {"nginx": "1.24.*"}}
    assert cis["web-01"].owner == "team-web"          # from group_vars/web.yml
    assert cis["web-01"].match == {"host": "web-01"}  # a server CI matches its inventory host by default


def test_yaml_inventory_and_env_are_available_to_templates(project, monkeypatch):
    monkeypatch.setenv("DEPLOY_SHELL", "/bin/zsh")
    project.write("inventories/hosts.yml", "all:\n  hosts:\n    app-01: {shell: /bin/bash}\n")
    project.write("desired/app.yml", """
        ci: app-01
        kind: server
        desired:
          users:
            deploy: {shell: "{{ env.DEPLOY_SHELL }}"}
            app: {shell: "{{ hostvars['app-01'].shell }}"}
    """)
    ci = load_project(project.root).cis[0]
    assert ci.desired["users"] == {"deploy": {"shell": "/bin/zsh"}, "app": {"shell": "/bin/bash"}}


def test_baselines_are_deep_merged_in_order_and_the_ci_wins(base):
    base.write("desired/baselines/linux.yml", """
        baseline: linux
        desired:
          packages: {openssh-server: present, telnetd: absent}
          sysctl: {net.ipv4.ip_forward: "0"}
        ignore: ["packages.linux-image-*"]
        severity: {"packages.*": low}
        ---
        baseline: hardened
        extends: [linux]
        desired:
          packages: {telnetd: absent, auditd: present}
          sysctl: {kernel.kptr_restrict: "2"}
        severity: {"packages.*": high}
    """)
    base.write("desired/web-01.yml", """
        ci: web-01
        kind: server
        extends: [hardened]
        desired:
          sysctl: {net.ipv4.ip_forward: "1"}
        ignore: ["packages.vim"]
    """)
    ci = load_project(base.root).cis[0]
    assert ci.desired == {
        "packages": {"openssh-server": "present", "telnetd": "absent", "auditd": "present"},
        "sysctl": {"net.ipv4.ip_forward": "1", "kernel.kptr_restrict": "2"},
    }
    assert ci.ignore == ("packages.linux-image-*", "packages.vim")
    assert ci.severity == {"packages.*": "high"}


def test_cis_declared_alike_differ_where_their_baselines_rules_or_values_differ(base):
    """CIs stamped from one template share their validated desired state only when kind, baselines and
    own `desired` are the same: each keeps its own baselines, ignore and severity rules."""
    base.write("desired/baselines/b.yml", """
        baseline: one
        desired: {packages: {a: present}}
        ---
        baseline: two
        desired: {packages: {a: absent}}
        severity: {"packages.*": critical}
    """)
    base.write("desired/fleet.yml", """
        ci: c1
        kind: server
        extends: [one]
        desired: {packages: {b: "1"}}
        ---
        ci: c2
        kind: server
        extends: [one]
        desired: {packages: {b: "1"}}
        ignore: ["packages.b"]
        ---
        ci: c3
        kind: server
        extends: [two]
        desired: {packages: {b: "1"}}
        ---
        ci: c4
        kind: server
        extends: [one]
        desired: {packages: {b: 1}}
    """)
    cis = {ci.id: ci for ci in load_project(base.root).cis}
    assert cis["c1"].desired == cis["c2"].desired == {"packages": {"a": "present", "b": "1"}}
    assert (cis["c1"].ignore, cis["c2"].ignore) == ((), ("packages.b",))
    assert cis["c3"].desired == {"packages": {"a": "absent", "b": "1"}} and cis["c3"].severity == {"packages.*": "critical"}
    assert cis["c4"].desired == {"packages": {"a": "present", "b": 1}}  # 1 is not "1" as declared
    assert not cis["c3"].expected.satisfied({"packages": {"a": "1", "b": "1"}})
    assert cis["c1"].expected.satisfied({"packages": {"a": "1", "b": "1"}})


def test_file_modes_are_octal_strings_and_absent_files_do_not_exist(base):
    base.write("desired/web-01.yml", """
        ci: web-01
        kind: server
        desired:
          files:
            /etc/a: {mode: 0600}
            /etc/b: {mode: "644"}
            /etc/telnet.conf: absent
    """)
    files = load_project(base.root).cis[0].desired["files"]
    assert files == {"/etc/a": {"mode": "0600"}, "/etc/b": {"mode": "0644"}, "/etc/telnet.conf": {"exists": False}}


BROKEN = {
    "desired/unclosed.yml.j2": ("ci: a\nkind: server\ndesired: {% if %}\n", "desired/unclosed.yml.j2:3: template syntax error"),
    "desired/undefined.yml": ("ci: b\nkind: server\nowner: \"{{ nobody }}\"\n", "desired/undefined.yml:3: undefined variable in template: 'nobody' is undefined"),
    "desired/syntax.yml": ("ci: c\nkind: server\ndesired:\n  packages: [a, b\n", "desired/syntax.yml:5: YAML syntax error"),
    "desired/wrongtype.yml": ("ci: d\nkind: server\ndesired:\n  services:\n    nginx: {state: runing}\n",
                              "desired/wrongtype.yml:5 (document 1) at 'desired.services.nginx.state': 'runing' is not one of"),
    "desired/kind.yml": ("ci: e\nkind: sever\n", "desired/kind.yml:2 (document 1) at 'kind': unknown kind 'sever' (known: aws.ec2.eip, "),
    "desired/dup.yml": ("ci: web-01\nkind: server\n---\nci: web-01\nkind: server\n",
                        "at 'ci': duplicate CI id 'web-01', also declared in desired/dup.yml (document 1"),
    "desired/nobase.yml": ("ci: f\nkind: server\nextends: [debian-13]\n",
                           "desired/nobase.yml:3 (document 1) at 'extends': baseline 'debian-13' does not exist"),
    "desired/typo.yml": ("ci: g\nkind: server\ndesired:\n  pakages: {nginx: present}\n",
                         "desired/typo.yml:4 (document 1) at 'desired': unknown key(s) ('pakages' was unexpected; did you mean 'packages'?)"),
    "desired/second-doc.yml": ("ci: h\nkind: server\n---\nci: i\nkind: server\ndesired: {listening_ports: 22}\n",
                               "desired/second-doc.yml:6 (document 2) at 'desired.listening_ports'"),
    "inventories/broken.ini": ("[web\n", "inventories/broken.ini: not a valid INI inventory"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_broken_input_is_named_with_file_line_and_key(base, name):
    text, expected = BROKEN[name]
    base.write(name, text)
    assert any(expected in problem for problem in problems_of(base)), problems_of(base)


def test_every_problem_is_reported_in_one_pass(base):
    for name, (text, _) in BROKEN.items():
        base.write(name, text)
    problems = problems_of(base)
    for name, (_, expected) in BROKEN.items():
        assert any(expected in problem for problem in problems), (name, problems)


def test_a_settings_file_with_an_unknown_key_or_bad_value_is_reported(base):
    base.write("reconciler.yml", "ansible: {forks: 0}\nregsiter: x\n")
    problems = problems_of(base)
    assert "reconciler.yml:1 at 'ansible.forks': 0 is less than the minimum of 1" in problems
    assert "reconciler.yml:2: unknown key(s) ('regsiter' was unexpected; did you mean 'register'?)" in problems


def test_aws_timeouts_and_concurrency_are_checked_as_documented(base):
    base.write("reconciler.yml", "aws:\n  read_timeout: 60\n  connect_timeout: 5\n  endpoint_concurrency: 4\n")
    assert load_project(base.root).settings.aws == {"read_timeout": 60, "connect_timeout": 5,
                                                    "endpoint_concurrency": 4}
    base.write("reconciler.yml", "aws:\n  read_timout: 60\n  connect_timeout: soon\n")
    problems = problems_of(base)
    assert any(p.startswith("reconciler.yml:2") and "'read_timout' was unexpected" in p for p in problems), problems
    assert any(p.startswith("reconciler.yml:3") and "'soon' is not of type 'number'" in p for p in problems), problems


def test_a_missing_inventory_source_is_an_error(project):
    project.write("reconciler.yml", "inventories: [nowhere/]\n")
    assert any("nowhere" in p and "does not exist" in p for p in problems_of(project))
