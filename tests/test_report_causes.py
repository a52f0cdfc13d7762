"""Drift grouped by cause: the same drift on many CIs reads as one line, in every format."""

from __future__ import annotations

from reconciler.model import Change, Drift, Item, Status
from reconciler.report.causes import cause_line, find_causes, path_text

from .fleet_world import write_fleet


def _item(ci: str, *drift: Drift, kind: str = "server") -> Item:
    return Item(ci=ci, kind=kind, status=Status.DRIFTED, identity={"host": ci}, owner="team-web", drift=list(drift))


def test_identical_drift_across_cis_is_one_cause():
    old = Drift("packages.nginx", Change.CHANGED, "1.22.1", "1.18.0", "medium")
    telnet = Drift("packages.telnetd", Change.UNEXPECTED, "absent", "0.17", "high")
    causes = find_causes([_item("a", old, telnet), _item("b", old), _item("c", telnet)])
    # as many CIs each: the more severe first
    assert [(c["path"], c["cis"]) for c in causes] == [("packages.telnetd", ["a", "c"]), ("packages.nginx", ["a", "b"])]
    assert causes[0]["severity"] == "high" and causes[1]["actual"] == ["1.18.0"]


def test_a_failing_version_constraint_is_one_cause_whatever_was_found():
    items = [_item("a", Drift("packages.nginx", Change.CHANGED, ">=1.22", "1.18.0")),
             _item("b", Drift("packages.nginx", Change.CHANGED, ">=1.22", "1.20.1")),
             _item("c", Drift("packages.nginx", Change.CHANGED, "1.22.1", "1.20.1"))]  # a literal: its own cause
    causes = find_causes(items)
    assert [(c["desired"], c["count"], sorted(c["actual"])) for c in causes] == [
        (">=1.22", 2, ["1.18.0", "1.20.1"]), ("1.22.1", 1, ["1.20.1"])]


def test_other_kinds_and_waived_drift_are_not_merged():
    drift = Drift("tags.Owner", Change.CHANGED, "data", "x")
    waived = Drift("tags.Owner", Change.CHANGED, "data", "x", waived=True)
    causes = find_causes([_item("a", drift), _item("b", drift, kind="aws.s3.bucket"), _item("c", waived)])
    assert sorted((c["kind"], c["cis"][0]) for c in causes) == [("aws.s3.bucket", "b"), ("server", "a")]


def test_shared_groups_and_baselines_and_first_seen_are_what_all_cis_have_in_common():
    drift = Drift("packages.nginx", Change.CHANGED, ">=1.22", "1.18.0")
    context = {"a": {"groups": ["web", "eu"], "baselines": ["debian-12"]},
               "b": {"groups": ["web"], "baselines": ["debian-12", "hardened"]}}
    seen = {("a", "packages.nginx"): "2026-11-02T10:00:00+00:00", ("b", "packages.nginx"): "2026-11-20T10:00:00+00:00"}
    [cause] = find_causes([_item("a", drift), _item("b", drift)], context, seen)
    assert (cause["groups"], cause["baselines"], cause["first_seen"]) == (["web"], ["debian-12"], seen[("a", "packages.nginx")])
    assert cause_line(cause) == ("packages.nginx: 1.18.0 where >=1.22 is declared — 2 CIs (server, medium), "
                                 "group web; baseline debian-12; since 2026-11-02")


def test_paths_as_tuples_of_keys_read_as_their_display_form():
    assert path_text(("files", "/etc/ssh/sshd_config", "mode")) == "files./etc/ssh/sshd_config.mode"
    assert path_text("sysctl.net.ipv4.ip_forward") == "sysctl.net.ipv4.ip_forward"


def test_a_run_reports_causes_with_groups_baselines_and_first_seen(cli, project):
    write_fleet(project, 12, old_nginx=range(10), telnetd=(3, 4))
    first = cli("--project", str(project.root), "run", "--format", "json").json()
    assert [(c["path"], c["count"], c["groups"], c["baselines"]) for c in first["causes"]] == [
        ("packages.nginx", 10, ["web"], ["debian-12"]), ("packages.telnetd", 2, ["web"], ["debian-12"])]
    assert first["causes"][0]["first_seen"] is None  # seen for the first time by this run
    assert first["causes"][0]["owners"] == {"team-shop": 5, "team-web": 5}
    again = cli("--project", str(project.root), "run", "--format", "json").json()
    assert again["causes"][0]["first_seen"][:10] == first["run"]["started_at"][:10]


def test_the_text_and_markdown_reports_lead_with_causes_and_fold_the_cis_they_cover(cli, project):
    write_fleet(project, 40, old_nginx=range(30), telnetd=(35,))
    text = cli("--project", str(project.root), "run").out
    assert text.index("CAUSES (1 shared by 30 drifted CIs; 1 more on one CI each, below)") < text.index("DRIFTED (31)")
    assert "packages.nginx: 1.18.0-6 where >=1.22 is declared — 30 CIs (server, medium), group web; baseline debian-12" in text
    assert "… 30 more drifted only for the causes above" in text
    assert "  web-35 (server, team-shop)" in text  # its cause is its own: still listed with its drift
    markdown = cli("--project", str(project.root), "run", "--format", "markdown").out
    assert markdown.index("## Causes (1)") < markdown.index("## web-35")
    assert "_30 more CIs drifted only for the causes above" in markdown and "## web-00" not in markdown
    assert "packages.telnetd: 0.17-44 where" not in text  # a cause of one CI is read under that CI
    verbose = cli("--project", str(project.root), "run", "--verbose").out
    assert "  web-00 (server, team-web)" in verbose


def test_a_recorded_run_re_renders_with_its_causes(cli, project):
    write_fleet(project, 5, old_nginx=range(5))
    run = cli("--project", str(project.root), "run", "--format", "json").json()
    rerun = cli("--project", str(project.root), "report", run["run"]["id"], "--format", "json")
    assert rerun.code == 2, rerun.err
    again = rerun.json()
    assert again["causes"] == run["causes"]
