"""The JUnit XML report: one test case per CI, so CI systems show drift as failing tests."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..model import RunResult, Status
from .json import summary
from .text import drift_line


def render_junit(result: RunResult) -> str:
    counts = summary(result)
    suite = ET.Element("testsuite", name="reconcile", tests=str(counts["cis"]), timestamp=result.started_at,
                       failures=str(counts["drifted"] + counts["missing"]), errors=str(counts["unknown"]))
    for item in result.items:
        if not item.ci:
            continue
        case = ET.SubElement(suite, "testcase", classname=item.kind or "", name=item.ci)
        if item.status == Status.UNKNOWN:
            ET.SubElement(case, "error", message=item.error or "unknown").text = item.error
        elif item.status in (Status.DRIFTED, Status.MISSING):
            failure = ET.SubElement(case, "failure", message=f"{item.status.value} ({item.severity})")
            failure.text = "\n".join(drift_line(d) for d in item.drift) or item.status.value
    return ET.tostring(ET.ElementTree(suite).getroot(), encoding="unicode", xml_declaration=True) + "\n"
