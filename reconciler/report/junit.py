"""The JUnit XML report: CI systems show drift and flags as failing tests.

Shape (the one Jenkins, GitLab, GitHub Actions reporters and Surefire read): <testsuites> holding
suite `reconcile` — one test case per CI, drifted/missing failing, unknown an error, the CI's flags
in its output (and failing it when they weigh more than `info`: an in-sync CI past its EOL) — and suite `reconcile.flags`, one test case per other flagged item (untracked resources,
assets nobody configures, licences over their seats, ...): failing, except flags of `info` weight,
which are listed but pass.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..model import Item, RunResult, Status
from .json import summary
from .text import drift_line


def render_junit(result: RunResult) -> str:
    root = ET.Element("testsuites", name="reconcile")
    suites = [_ci_suite(result), _flag_suite(result)]
    root.extend(suites)
    for name in ("tests", "failures", "errors"):
        root.set(name, str(sum(int(suite.get(name) or 0) for suite in suites)))
    root.set("time", "0")
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _suite(name: str, result: RunResult, tests: int, failures: int, errors: int) -> ET.Element:
    return ET.Element("testsuite", name=name, tests=str(tests), failures=str(failures), errors=str(errors),
                      skipped="0", time="0", timestamp=result.started_at)


def _ci_suite(result: RunResult) -> ET.Element:
    counts = summary(result)
    suite = _suite("reconcile", result, counts["cis"], counts["drifted"] + counts["missing"], counts["unknown"])
    for item in result.items:
        if not item.ci:
            continue
        case = ET.SubElement(suite, "testcase", classname=item.kind or "", name=item.ci, time="0")
        if item.status == Status.UNKNOWN:
            ET.SubElement(case, "error", message=item.error or "unknown", type="unknown").text = item.error
        elif item.status in (Status.DRIFTED, Status.MISSING):
            failure = ET.SubElement(case, "failure", message=f"{item.status.value} ({item.severity})",
                                    type=item.status.value)
            failure.text = "\n".join(drift_line(d) for d in item.drift) or item.status.value
        elif item.flags and item.severity not in (None, "info"):  # in sync, but flagged (eol, ...)
            ET.SubElement(case, "failure", message=f"{', '.join(item.flags)} ({item.severity})",
                          type=item.flags[0]).text = ", ".join(item.flags)
        if item.flags:
            ET.SubElement(case, "system-out").text = f"flags: {', '.join(item.flags)}"
    suite.set("failures", str(sum(case.find("failure") is not None for case in suite)))
    return suite


def _subject(item: Item) -> str:
    return item.ci or item.asset or ", ".join(f"{k}={v}" for k, v in item.identity.items())


def _flag_suite(result: RunResult) -> ET.Element:
    flagged = [item for item in result.items if item.flags and not item.ci]  # a CI's flags are in its case
    failing = {id(item) for item in flagged if item.severity not in (None, "info")}
    suite = _suite("reconcile.flags", result, len(flagged), len(failing), 0)
    for item in flagged:
        case = ET.SubElement(suite, "testcase", classname=f"flags.{item.kind or 'asset'}", name=_subject(item),
                             time="0")
        text = f"{', '.join(item.flags)}" + (f" (owner {item.owner})" if item.owner else "")
        if id(item) in failing:
            ET.SubElement(case, "failure", message=f"{', '.join(item.flags)} ({item.severity})",
                          type=item.flags[0]).text = text
        else:
            ET.SubElement(case, "system-out").text = text
    return suite
