"""docs/extending.md's worked examples run as written: a plugin kind, and a new server fact section."""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.collectors.base import Kind, Section
from reconciler.collectors.server import SECTIONS, normalise_setup_facts
from reconciler.diff import compute_drift
from reconciler.expectations import VALUE, parse
from reconciler.model import CI, Origin

DOC = (Path(__file__).parent.parent / "docs" / "extending.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, re.DOTALL)


def test_the_plugin_kind_example_validates_and_runs(cli, project):
    (project.root / "plugins").mkdir(exist_ok=True)
    (project.root / "plugins" / "ntp.py").write_text(blocks("python")[0])
    (project.root / "desired").mkdir(exist_ok=True)
    (project.root / "desired" / "ntp.yml").write_text(blocks("yaml")[0])
    assert cli("--project", str(project.root), "validate").code == 0
    report = cli("--project", str(project.root), "run", "--format", "json").json()
    status = {i["ci"]: (i["status"], [d["path_parts"] for d in i["drift"]]) for i in report["items"]}
    assert status == {"ntp1": ("in_sync", []), "ntp2": ("drifted", [["stratum"]])}


def test_the_server_section_example_is_validated_gathered_and_diffed():
    namespace = {"Section": Section, "VALUE": VALUE}
    exec(blocks("python")[1], namespace)  # noqa: S102 - the documentation's own example, run as written
    sections = SECTIONS + (namespace["TIMEZONE"],)
    schema = {"type": "object", "properties": {s.name: s.schema for s in sections}, "additionalProperties": False}
    kind = Kind("server", schema, sections=sections)
    setup = {"ansible_hostname": "web-01", "ansible_date_time": {"tz": "UTC"}}
    facts = normalise_setup_facts(setup, kind.sections)
    assert facts["timezone"] == "UTC"
    for declared, drifted in (("UTC", False), ("Europe/*", True)):
        desired = {"timezone": declared, "hostname": "web-*"}
        ci = CI("web-01", "server", desired, {"host": "web-01"}, Origin("x", 0), expected=parse(schema, desired))
        assert [tuple(d.path) for d in compute_drift(ci, facts)] == ([("timezone",)] if drifted else [])
