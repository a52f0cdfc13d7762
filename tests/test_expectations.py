"""Typed desired state (issue 9): names that equal matcher keywords, literals with glob characters, keys
with dots, patterns inside list members, invalid patterns as load errors, exact values for fixes."""

import pytest

from reconciler.diff import Rules, compute_drift
from reconciler.expectations import NO_EXACT, SET, VALUE, Absent, Glob, Literal, LoadError, Present, parse
from reconciler.model import CI, Change, Origin
from reconciler.paths import covers, display, parse_path

KEYWORDS = ("regex", "literal", "glob", "ordered", "present", "absent")


def drift(desired, facts, kind="server", ignore=()):
    ci = CI(id="h", kind=kind, desired=desired, match={}, origin=Origin("x.yml", 0), ignore=tuple(ignore))
    return [(tuple(d.path), d.change, d.desired, d.actual) for d in compute_drift(ci, facts, Rules())]


FACTS = {
    "packages": {"nginx": "1.22.1-9", "python3.11": "3.11.2-6", "[a]": "1", "a*": "2"},
    "sysctl": {"net.ipv4.ip_forward": "1"},
    "files": {"/etc/app.d/x.conf": {"exists": True, "mode": "0644", "owner": "root"}},
    "users": {"deploy": {"shell": "/bin/bash", "groups": ["www-data", "deploy-1"]}},
    "services": {"nginx": {"state": "running", "enabled": True}},
    "listening_ports": [22, 80, 443],
    "os": {"distribution": "Debian"},
    "groups": {"www-data": {"gid": 33}},
}


# a name equal to a matcher keyword is a name, in every named section
@pytest.mark.parametrize("section", ["packages", "sysctl", "users", "groups", "services", "files"])
@pytest.mark.parametrize("keyword", KEYWORDS)
def test_a_name_equal_to_a_keyword_is_a_name(section, keyword):
    assert drift({section: {keyword: "absent"}}, FACTS) == []
    facts = {**FACTS, section: {keyword: {"exists": True} if section == "files" else "x"}}
    found = drift({section: {keyword: "absent"}}, facts)
    assert [(path, change) for path, change, *_ in found] == [((section, keyword), Change.UNEXPECTED)]


@pytest.mark.parametrize("desired, expected", [
    # the issue's reproductions
    ({"packages": {"regex": "absent"}}, []),
    ({"users": {"ordered": "absent"}}, []),
    ({"packages": {"regex": "present"}}, [(("packages", "regex"), Change.MISSING, "present", None)]),
    # literals containing [ ] are literals; * ? make a glob; {literal: ...} is always exact
    ({"packages": {"[a]": "[a]"}}, [(("packages", "[a]"), Change.CHANGED, "[a]", "1")]),
    ({"packages": {"nginx": "[1]*"}}, []),  # a glob with a class
    ({"packages": {"a*": {"literal": "2"}}}, []),
    ({"packages": {"nginx": {"literal": "1.22.*"}}},
     [(("packages", "nginx"), Change.CHANGED, {"literal": "1.22.*"}, "1.22.1-9")]),
    ({"packages": {"nginx": {"glob": "1.2?.1-9"}}}, []),
    ({"packages": {"nginx": "1.22.*"}}, []),
    ({"packages": {"nginx": ">=1.22"}}, []),
    # keys with dots, at every level
    ({"packages": {"python3.11": "3.10.*"}}, [(("packages", "python3.11"), Change.CHANGED, "3.10.*", "3.11.2-6")]),
    ({"sysctl": {"net.ipv4.ip_forward": 0}}, [(("sysctl", "net.ipv4.ip_forward"), Change.CHANGED, 0, "1")]),
    ({"files": {"/etc/app.d/x.conf": {"mode": "0600"}}},
     [(("files", "/etc/app.d/x.conf", "mode"), Change.CHANGED, "0600", "0644")]),
    # globs, constraints and regexes inside list members
    ({"users": {"deploy": {"groups": ["www-*", {"regex": "^deploy-[0-9]$"}]}}}, []),
    ({"users": {"deploy": {"groups": ["www-*"]}}},
     [(("users", "deploy", "groups"), Change.CHANGED, ["www-*"], ["www-data", "deploy-1"])]),
    ({"listening_ports": [">=22,<23", 80, 443]}, []),
    ({"listening_ports": {"ordered": [22, "8?", 443]}}, []),
    ({"listening_ports": {"ordered": [80, 22, 443]}},
     [(("listening_ports",), Change.CHANGED, {"ordered": [80, 22, 443]}, [22, 80, 443])]),
])
def test_reproductions(desired, expected):
    assert drift(desired, FACTS) == expected


@pytest.mark.parametrize("text", [">=1.2,<", "=>1.2", "<", ">= ", "!1"])
def test_an_invalid_version_constraint_is_a_load_error(text):
    with pytest.raises(LoadError):
        parse(VALUE, text)


def test_an_invalid_regex_is_a_load_error_naming_its_path():
    errors = []
    parse({"type": "object", "additionalProperties": VALUE}, {"a": {"regex": "("}, "b": ">=1,<"}, (), errors)
    assert [e.path for e in errors] == [("a", "regex"), ("b",)]


@pytest.mark.parametrize("schema, value, exact", [
    (VALUE, "1.2.3", "1.2.3"), (VALUE, 12, 12), (VALUE, {"literal": "1.*"}, "1.*"),
    (VALUE, "present", "present"), (VALUE, "absent", "absent"),
    (VALUE, "1.*", NO_EXACT), (VALUE, ">=1", NO_EXACT), (VALUE, {"regex": "x"}, NO_EXACT),
    (SET, [1, 2], [1, 2]), (SET, ["a*"], NO_EXACT), (SET, {"ordered": ["a", "b"]}, ["a", "b"]),
])
def test_exact_is_the_one_value_that_satisfies(schema, value, exact):
    assert parse(schema, value).exact == exact


def test_expectation_types():
    assert isinstance(parse(VALUE, "[a]"), Literal)
    assert isinstance(parse(VALUE, "a?"), Glob)
    assert isinstance(parse(VALUE, "present"), Present) and isinstance(parse(VALUE, "absent"), Absent)


@pytest.mark.parametrize("parts, text", [
    (("packages", "nginx"), "packages.nginx"),
    (("packages", "python3.11"), 'packages["python3.11"]'),
    (("files", "/etc/shadow", "mode"), "files./etc/shadow.mode"),
    (("files", "/etc/a.conf", "mode"), 'files["/etc/a.conf"].mode'),
    (("tags", 'we"ird [key]'), 'tags["we\\"ird [key]"]'),
])
def test_display_form_round_trips(parts, text):
    assert display(parts) == text
    assert parse_path(text) == parts


@pytest.mark.parametrize("glob, parts, covered", [
    ("packages.linux-image-*", ("packages", "linux-image-6.1.0"), True),
    ("files./etc/ssh/*", ("files", "/etc/ssh/sshd_config", "mode"), True),
    ('packages["python3.11"]', ("packages", "python3.11"), True),
    ('packages["python3.11"]', ("packages", "python3.1"), False),
    ("sysctl.net.ipv4.*", ("sysctl", "net.ipv4.ip_forward"), True),   # a glob written before tuples
    ("packages", ("packages", "x"), True),
    ("packages.x", ("packages", "xy"), False),
])
def test_globs_cover_tuple_paths(glob, parts, covered):
    assert covers(glob, parts) is covered


def test_ignore_globs_on_keys_with_dots():
    desired = {"packages": {"python3.11": "1", "python3": "1"}}
    found = drift(desired, FACTS, ignore=['packages["python3.11"]'])
    assert [path for path, *_ in found] == [("packages", "python3")]


def test_validate_reports_every_invalid_pattern_with_file_line_and_key(cli, project):
    project.write("desired/web.yml", """
        ci: web-01
        kind: server
        desired:
          packages:
            regex: absent
            nginx: '>=1.2,<'
            curl: '=>1.2'
          users:
            deploy: {shell: {regex: "(bash"}}
    """)
    result = cli("--project", str(project.root), "validate")
    assert result.code == 1
    lines = [line for line in result.err.splitlines() if "desired/web.yml" in line]
    assert any(":6" in line and "desired.packages.nginx" in line and "constraint" in line for line in lines), lines
    assert any(":7" in line and "desired.packages.curl" in line for line in lines), lines
    assert any(":9" in line and "desired.users.deploy.shell.regex" in line and "regular expression" in line
               for line in lines), lines
    assert not any("packages.regex" in line for line in lines)


@pytest.mark.parametrize("event, res, reason, text", [
    ("runner_on_unreachable", {"msg": "Failed to connect: Connection refused"}, "unreachable",
     "unreachable: Failed to connect: Connection refused"),
    ("runner_on_unreachable", {"msg": "Permission denied (publickey)."}, "auth",
     "authentication failed: Permission denied (publickey)."),
    ("runner_on_failed", {"msg": "Timed out after 2 second(s)."}, "timeout", "timed out: Timed out after 2 second(s)."),
    ("runner_on_failed", {"msg": "boom"}, "module_failure", "module failed: boom"),
])
def test_target_failures_carry_a_typed_reason_and_the_same_error_text(event, res, reason, text):
    from reconciler.collectors.ansible import failure_reason
    from reconciler.model import FactSet

    failure = failure_reason(event, res)
    factset = FactSet.failed("web-01", "ansible", "web-01", failure)
    assert (factset.reason, factset.error, factset.ok) == (reason, text, False)


def test_every_flag_has_a_weight_and_an_unknown_flag_is_an_error():
    from reconciler.model import Flag, flag_weight

    assert {flag: flag_weight(flag) for flag in ("configured_unowned", "eol", "state_conflict")} == {
        "configured_unowned": "info", "eol": "medium", "state_conflict": "high"}
    assert all(flag.text for flag in Flag)
    with pytest.raises(ValueError):
        flag_weight("no_such_flag")
