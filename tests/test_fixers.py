"""Fixers, table-driven: which drift becomes which step, and which becomes manual with which reason."""

from __future__ import annotations

import pytest

from reconciler.fixers import NOT_EXACT, Need, server_play
from reconciler.fixers import aws as aws_fixers
from reconciler.fixers import server as server_fixers

DEBIAN = {
    "os": {"family": "Debian"},
    "services": {"nginx": {"state": "stopped", "enabled": False}},
    "files": {"/etc/app.conf": {"exists": True, "mode": "0644"}, "/etc/gone": {"exists": False}},
}


def need(kind: str, parts: tuple, exact, actual=None, facts=DEBIAN, why=None, disruptive=False) -> Need:
    return Need("ci", kind, parts, "changed", exact, exact, why, actual, facts, {}, disruptive)


@pytest.mark.parametrize(
    ("parts", "exact", "actual", "action", "args"),
    [
        (
            ("packages", "nginx"),
            "1.22.1-1",
            "1.18.0-6",
            "package",
            {"name": "nginx=1.22.1-1", "state": "present"},
        ),
        (("packages", "telnetd"), "absent", "0.17-44", "package", {"name": "telnetd", "state": "absent"}),
        (
            ("services", "nginx", "state"),
            "running",
            "stopped",
            "service",
            {"name": "nginx", "state": "started"},
        ),
        (("services", "nginx", "enabled"), True, False, "service", {"name": "nginx", "enabled": True}),
        (
            ("files", "/etc/app.conf", "mode"),
            "0600",
            "0644",
            "file",
            {"path": "/etc/app.conf", "mode": "0600"},
        ),
        (
            ("sysctl", "net.ipv4.ip_forward"),
            "0",
            "1",
            "sysctl",
            {"key": "net.ipv4.ip_forward", "value": "0", "file": "/etc/sysctl.d/90-reconciler.conf"},
        ),
    ],
)
def test_server_drift_becomes_one_builtin_task(parts, exact, actual, action, args):
    (fix,) = server_fixers.fix(need("server", parts, exact, actual))
    assert (fix.manual, fix.action, dict(fix.args)) == (False, action, args)



@pytest.mark.parametrize(
    ("manager", "use"), [("systemd", {"use": "systemd"}), ("sysv", {"use": "service"}), (None, {})]
)
def test_a_service_step_names_the_module_of_the_service_manager_seen(manager, use):
    facts = {**DEBIAN, "service_manager": manager} if manager else DEBIAN
    (fix,) = server_fixers.fix(need("server", ("services", "nginx", "state"), "running", "stopped", facts))
    assert dict(fix.args) == {"name": "nginx", "state": "started", **use}

def test_each_missing_line_is_its_own_step():
    fixes = server_fixers.fix(need("server", ("files", "/etc/app.conf", "contains"), ["a", "b", "c"], ["b"]))
    assert [(f.action, f.args["line"], f.element) for f in fixes] == [
        ("lineinfile", "a", "add"),
        ("lineinfile", "c", "add"),
    ]


@pytest.mark.parametrize(
    ("parts", "exact", "actual", "why", "reason"),
    [
        (("packages", "nginx"), NOT_EXACT, "1.18", "'>=1.22' is a version constraint", "version constraint"),
        (("packages", "nginx"), "1.10-1", "1.18.0-6", None, "downgrades nginx from 1.18.0-6 to 1.10-1"),
        (("services", "apache2", "state"), "running", None, None, "not installed"),
        (("files", "/etc/gone", "mode"), "0600", None, None, "does not exist"),
        (("listening_ports",), [22, 443], [22, 8080], None, "8080"),
        (("os", "distribution"), "Debian", "Ubuntu", None, "not something a fixer changes"),
    ],
)
def test_what_cannot_be_fixed_safely_is_manual_with_its_reason(parts, exact, actual, why, reason):
    (fix,) = server_fixers.fix(need("server", parts, exact, actual, why=why))
    assert fix.manual and reason in fix.reason


def test_a_disruptive_fix_is_automatic_when_allowed_and_stays_high_risk():
    (fix,) = server_fixers.fix(need("server", ("packages", "nginx"), "1.10-1", "1.18.0-6", disruptive=True))
    assert not fix.manual and fix.risk == "high" and "downgrades" in fix.why


@pytest.mark.parametrize(
    ("rule", "permission"),
    [
        (
            "tcp/22 from 10.0.0.0/8",
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
        ),
        (
            "tcp/8000-8080 from sg-0abc",
            {
                "IpProtocol": "tcp",
                "FromPort": 8000,
                "ToPort": 8080,
                "UserIdGroupPairs": [{"GroupId": "sg-0abc"}],
            },
        ),
        (
            "icmp/8:0 from ::/0",
            {"IpProtocol": "icmp", "FromPort": 8, "ToPort": 0, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        ),
        ("all to 0.0.0.0/0", {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}),
        ("tcp/22 from nowhere", None),
    ],
)
def test_rule_strings_read_back_into_ip_permissions(rule, permission):
    assert aws_fixers.parse_rule(rule) == permission


def test_security_group_steps_are_exactly_the_differing_rules():
    fixes = aws_fixers.fix(
        need(
            "aws.ec2.security_group",
            ("ingress",),
            ["tcp/443 from 0.0.0.0/0", "tcp/22 from 10.0.0.0/8"],
            ["tcp/443 from 0.0.0.0/0", "tcp/22 from 0.0.0.0/0", "tcp/80 from 0.0.0.0/0"],
        )
    )
    assert sorted((f.action, f.args["rule"], f.manual) for f in fixes) == [
        ("authorize_rule", "tcp/22 from 10.0.0.0/8", False),
        ("revoke_rule", "tcp/22 from 0.0.0.0/0", False),
        ("revoke_rule", "tcp/80 from 0.0.0.0/0", False),
    ]


def test_revoking_the_last_ssh_rule_is_disruptive():
    (fix,) = aws_fixers.fix(need("aws.ec2.security_group", ("ingress",), [], ["tcp/22 from 10.0.0.0/8"]))
    assert fix.manual and "last rule admitting tcp/22" in fix.reason


def test_opening_to_the_internet_is_high_risk():
    (fix,) = aws_fixers.fix(need("aws.ec2.security_group", ("ingress",), ["tcp/80 from 0.0.0.0/0"], []))
    assert fix.risk == "high" and "opens network access" in fix.why


@pytest.mark.parametrize(
    ("kind", "parts", "exact", "reason"),
    [
        ("aws.iam.user", ("mfa_enabled",), True, "MFA"),
        ("aws.iam.user", ("console_access",), False, "console access"),
        ("aws.rds.instance", ("engine",), "mysql", "migration"),
        ("aws.ec2.instance", ("instance_type",), "t3.large", "stopped"),
        ("aws.s3.bucket", ("versioning",), "Disabled", "Enabled or Suspended"),
        ("aws.ec2.eip", ("associated",), True, "provisioning tool"),
    ],
)
def test_cloud_drift_that_stays_manual(kind, parts, exact, reason):
    (fix,) = aws_fixers.fix(need(kind, parts, exact))
    assert fix.manual and reason in fix.reason


def test_a_file_attribute_step_rides_on_the_first_line_step_of_its_path():
    def step(number, action, **args):
        return {"id": f"s{number:03d}", "target": {"host": "web"}, "action": action, "args": args}

    steps = [
        step(1, "file", path="/a", mode="0600"),
        step(2, "file", path="/b", mode="0600"),
        step(3, "file", path="/c", state="touch"),
        step(4, "lineinfile", path="/a", line="x"),
        step(5, "lineinfile", path="/a", line="y"),
        step(6, "lineinfile", path="/c", line="z"),
    ]
    actions = server_play.host_steps(steps)["web"]
    assert actions["lineinfile"] == [
        {"id": "s004", "args": {"path": "/a", "line": "x", "mode": "0600"}, "also": ["s001"]},
        {"id": "s005", "args": {"path": "/a", "line": "y"}},
        {"id": "s006", "args": {"path": "/c", "line": "z"}},
    ]
    assert [item["id"] for item in actions["file"]] == ["s002", "s003"]
    assert steps[0]["args"] == {"path": "/a", "mode": "0600"}  # the plan's own steps are left as they were


def test_a_host_lost_during_a_loop_is_reported_with_the_items_reason_not_ansibles_summary():
    """A host that goes away mid-run: Ansible ends the looped task with "All items completed" and puts the
    reason in each item; that reason is what the plan's preview and the register show."""
    events = server_play.StepEvents()
    item = {"unreachable": True, "msg": "Failed to connect to the host via ssh: Connection refused",
            "item": {"id": "s1"}}
    events({"event": "runner_on_unreachable",
            "event_data": {"host": "web", "task": "file",
                           "res": {"unreachable": True, "msg": "All items completed", "results": [item]}}})
    step = {"id": "s1", "target": {"host": "web"}}
    assert events.outcome(step) == "unreachable: Failed to connect to the host via ssh: Connection refused"
