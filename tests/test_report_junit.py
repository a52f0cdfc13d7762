"""The JUnit report validates against the JUnit XML schema CI servers read, and carries the flags."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import xmlschema

from .conftest import REPO

SCHEMA = xmlschema.XMLSchema(str(REPO / "tests" / "data" / "junit-jenkins.xsd"))


def test_junit_validates_against_the_schema_and_lists_every_flag(cli, fleet):
    out = cli("--project", str(fleet), "run", "--format", "junit").out
    SCHEMA.validate(out)
    flags = ET.fromstring(out.split("?>", 1)[1]).find("testsuite[@name='reconcile.flags']")
    cases = {case.get("name"): case for case in flags}
    assert cases["LIC-0101"].find("failure").get("type") == "licence_over"
    owned = cases["ASSET-0103"]  # an ownership gap weighs info: listed, not failing
    assert owned.find("failure") is None and owned.find("system-out").text.startswith("owned_unconfigured")
    assert "hostname=build-07" in " ".join(cases)
    assert flags.get("tests") == str(len(cases)) == "3" and flags.get("failures") == "2"
    cis = ET.fromstring(out.split("?>", 1)[1]).find("testsuite[@name='reconcile']")
    web02 = cis.find("testcase[@name='web-02']")  # a CI's own flags: in its test case
    assert web02.find("failure") is not None and web02.find("system-out").text == "flags: configured_unowned"
    db01 = cis.find("testcase[@name='db-01']")  # in sync, but past its EOL: failing, typed by the flag
    assert db01.find("failure").get("type") == "eol" and cis.get("failures") == "2"


def test_a_schema_violation_would_be_caught(cli, fleet):
    out = cli("--project", str(fleet), "run", "--format", "junit").out
    broken = out.replace('tests="', 'tests="x', 1)
    assert not SCHEMA.is_valid(broken)
