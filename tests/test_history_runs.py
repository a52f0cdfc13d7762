"""`reconcile history`: the runs with their counts and coverage, and how long open findings have been open."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta

from .fleet_world import write_fleet


def test_history_lists_runs_with_counts_coverage_and_the_age_of_open_findings(cli, project, private_register):
    write_fleet(project, 4, old_nginx=(0, 1))
    root = str(project.root)
    cli("--project", root, "run")
    time.sleep(1.1)  # runs are ordered by their start, recorded to the second
    write_fleet(project, 4, old_nginx=(0,))
    cli("--project", root, "run")
    with sqlite3.connect(private_register) as db:  # as if web-00's drift had been found 40 days ago
        then = (datetime.now(UTC) - timedelta(days=40)).replace(tzinfo=None).isoformat(sep=" ")
        db.execute("UPDATE findings SET first_seen = ? WHERE subject = 'web-00' AND what LIKE 'drift:%'", (then,))
    text = cli("--project", root, "history").out.splitlines()
    assert text[0].endswith("exit 2  1 drifted, 0 unknown, 4 flags, coverage 100.0 %")
    assert text[1].endswith("exit 2  2 drifted, 0 unknown, 4 flags, coverage 100.0 %")
    assert "open findings: 5 (under a day 4, over 30 days 1)" in text
    assert text[text.index("open findings: 5 (under a day 4, over 30 days 1)") + 1].startswith(
        "  open 40 days, since ")
    assert text[text.index("open findings: 5 (under a day 4, over 30 days 1)") + 1].endswith(
        "web-00 drift:packages.nginx")
    runs = json.loads(cli("--project", root, "history", "--format", "json").out)
    assert [(r["drifted"], r["unknown"]) for r in runs] == [(1, 0), (2, 0)] and "summary" in runs[0]
    limited = cli("--project", root, "history", "--limit", "1").out.splitlines()
    assert limited[0] == text[0] and text[1] not in limited
    timeline = cli("--project", root, "history", "web-01").out
    assert "version 1" in timeline and "version 2" in timeline, timeline
    newest = cli("--project", root, "history", "web-01", "--limit", "1")
    assert newest.code == 0 and "version 2" in newest.out and "version 1" not in newest.out, newest.out
