"""The drift engine: only declared paths, matchers at the leaves, sets vs ordered lists, rules."""

import pytest

from reconciler.diff import Rules, compute_drift
from reconciler.model import CI, Change, Origin


def make_ci(desired, ignore=(), severity=None, kind="server", id="web-01"):
    return CI(id=id, kind=kind, desired=desired, match={"host": id}, origin=Origin("desired/x.yml", 0),
              ignore=tuple(ignore), severity=severity or {})


def drift_of(desired, facts, **kwargs):
    rules = kwargs.pop("rules", Rules())
    return [(d.path, d.change, d.desired, d.actual) for d in compute_drift(make_ci(desired, **kwargs), facts, rules)]


FACTS = {
    "os": {"distribution": "Debian", "major_version": "12"},
    "packages": {"nginx": "1.22.1-9", "openssh-server": "1:9.2p1-2", "telnetd": "0.17-44", "vim": "9.0"},
    "sysctl": {"net.ipv4.ip_forward": "1", "vm.swappiness": 60},
    "files": {"/etc/ssh/sshd_config": {"exists": True, "mode": "0644", "owner": "root",
                                       "contains": ["PermitRootLogin no"]}},
    "listening_ports": [443, 22, 80],
    "users": {"deploy": {"shell": "/bin/bash", "groups": ["www-data", "deploy"]}},
}


@pytest.mark.parametrize("desired, expected", [
    # in sync: no drift at all
    ({"os": {"major_version": 12}}, []),
    ({"packages": {"nginx": "1.22.*", "openssh-server": ">=1:9", "telnet": "absent"}}, []),
    ({"listening_ports": [22, 80, 443]}, []),                       # a list is a set
    ({"users": {"deploy": {"groups": ["deploy", "www-data"]}}}, []),
    ({"sysctl": {"vm.swappiness": "60"}}, []),                       # "60" equals 60
    # drift, each kind of change
    ({"packages": {"nginx": "1.24.*"}}, [("packages.nginx", Change.CHANGED, "1.24.*", "1.22.1-9")]),
    ({"packages": {"telnetd": "absent"}}, [("packages.telnetd", Change.UNEXPECTED, "absent", "0.17-44")]),
    ({"packages": {"curl": "present"}}, [("packages.curl", Change.MISSING, "present", None)]),
    ({"packages": {"nginx": ">=1.100"}}, [("packages.nginx", Change.CHANGED, ">=1.100", "1.22.1-9")]),
    ({"sysctl": {"net.ipv4.ip_forward": "0"}}, [('sysctl["net.ipv4.ip_forward"]', Change.CHANGED, "0", "1")]),
    ({"files": {"/etc/ssh/sshd_config": {"mode": "0600"}}},
     [("files./etc/ssh/sshd_config.mode", Change.CHANGED, "0600", "0644")]),
    ({"files": {"/etc/ssh/sshd_config": {"contains": ["PermitRootLogin no", "PasswordAuthentication no"]}}},
     [("files./etc/ssh/sshd_config.contains", Change.CHANGED,
       ["PermitRootLogin no", "PasswordAuthentication no"], ["PermitRootLogin no"])]),
    ({"listening_ports": [22, 443]}, [("listening_ports", Change.CHANGED, [22, 443], [443, 22, 80])]),
    ({"listening_ports": {"ordered": [22, 80, 443]}},
     [("listening_ports", Change.CHANGED, {"ordered": [22, 80, 443]}, [443, 22, 80])]),
    ({"users": {"deploy": {"shell": {"regex": "zsh$"}}}},
     [("users.deploy.shell", Change.CHANGED, {"regex": "zsh$"}, "/bin/bash")]),
    ({"users": {"deploy": "absent"}},
     [("users.deploy", Change.UNEXPECTED, "absent", FACTS["users"]["deploy"])]),
    ({"os": "Debian"}, [("os", Change.TYPE, "Debian", FACTS["os"])]),
    ({"files": {"/etc/ssh/sshd_config": "absent"}},
     [("files./etc/ssh/sshd_config", Change.UNEXPECTED, "absent", FACTS["files"]["/etc/ssh/sshd_config"])]),
    ({"services": {"nginx": {"state": "running"}}},
     [("services", Change.MISSING, {"nginx": {"state": "running"}}, None)]),
])
def test_drift(desired, expected):
    assert drift_of(desired, FACTS) == expected


def test_facts_nobody_declared_are_never_reported():
    drift = drift_of({"packages": {"nginx": "1.0"}}, FACTS)
    assert [path for path, *_ in drift] == ["packages.nginx"]  # not vim, not sysctl, not os


def test_several_drifts_come_sorted_by_path():
    paths = [p for p, *_ in drift_of({"packages": {"vim": "8.*", "nginx": "1.0"}, "os": {"distribution": "RedHat"}},
                                     FACTS)]
    assert paths == ["os.distribution", "packages.nginx", "packages.vim"]


@pytest.mark.parametrize("ignore, rules, left", [
    (["packages.nginx"], Rules(), ["packages.vim"]),
    (["packages.*"], Rules(), []),
    ([], Rules(ignore=("server:web-01:packages.vim",)), ["packages.nginx"]),
    ([], Rules(ignore=("server:*:packages.*",)), []),
    ([], Rules(ignore=("aws.*:*:packages.*",)), ["packages.nginx", "packages.vim"]),  # other kind: no effect
    (["packages"], Rules(), []),                                                     # a prefix covers below
])
def test_ignore_globs(ignore, rules, left):
    drift = drift_of({"packages": {"nginx": "1.0", "vim": "8.*"}}, FACTS, ignore=ignore, rules=rules)
    assert [path for path, *_ in drift] == left


def test_severity_rules_ci_local_first_then_project_then_default():
    ci = make_ci({"packages": {"nginx": "1.0", "vim": "8.*"}, "sysctl": {"vm.swappiness": "10"}},
                 severity={"packages.nginx": "critical"})
    rules = Rules(severity={"server:*:packages.*": "high"}, default_severity="low")
    levels = {str(d.path): d.severity for d in compute_drift(ci, FACTS, rules)}
    assert levels == {"packages.nginx": "critical", "packages.vim": "high", 'sysctl["vm.swappiness"]': "low"}


def test_in_sync_ci_never_walks_for_drift(monkeypatch):
    from reconciler import diff

    def fail(*args, **kwargs):
        raise AssertionError("drift walk run for a CI in sync")

    monkeypatch.setattr(diff, "_walk", fail)
    assert compute_drift(make_ci({"packages": {"nginx": "1.22.*"}, "listening_ports": [80, 22, 443]}), FACTS) == []
