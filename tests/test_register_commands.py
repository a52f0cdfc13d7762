"""The register's commands as a user runs them: history, show, waive, list by flag."""

from __future__ import annotations

import io
import json
from argparse import Namespace
from datetime import date, timedelta
from pathlib import Path

import pytest

from reconciler.classify import ClassifySettings, classify
from reconciler.errors import UsageError
from reconciler.model import CI, FactSet, Item, Observed, Origin, Project, RunResult, Settings, Source, Status
from reconciler.register.assets import parse_asset
from reconciler.register.commands import history, register_import, register_list, show, waive
from reconciler.register.recording import record_run
from reconciler.register.store import open_register

from .pg_fixture import pg_cluster  # noqa: F401  (fixture)

EXAMPLE = Path(__file__).resolve().parent / "data" / "register_all_flags.csv"  # a row for every flag


def project(tmp_path: Path) -> Project:
    web = CI("web-01", "server", {"packages": {"nginx": "1.22.*"}}, {"host": "web-01"},
             Origin("desired/web.yml", 0, 1), owner="team-web", relations={"depends_on": ("db-01",)})
    db = CI("db-01", "server", {}, {"host": "db-01"}, Origin("desired/db.yml", 0, 1), owner="team-data")
    return Project(tmp_path, Settings(), (web, db), None)


def one_run(reg, run_id: str, nginx: str) -> None:
    facts = {"web-01": FactSet("web-01", "ansible", "web-01", {"packages": {"nginx": nginx}},
                               identity={"host": "web-01"})}
    items = [Item("web-01", "server", Status.IN_SYNC, {"host": "web-01"}, owner="team-web")]
    sources = [Source("ansible", "web-01", "ok")]
    result = classify(items, [], sources, reg.snapshot(), ClassifySettings(today=date.today()), facts)
    run = RunResult(run_id, "2025-06-01T10:00:00+00:00", "2025-06-01T10:01:00+00:00", sources, result.items)
    record_run(reg, run, observed=result.observed, facts=facts, links=result.links,
               unevaluated=result.unevaluated)


def test_history_shows_what_changed_between_versions(tmp_path):
    reg = open_register(None, tmp_path)
    for number, version in enumerate(["1.22.1", "1.22.1", "1.22.5"]):
        one_run(reg, f"run-{number}", version)
    out = io.StringIO()
    assert history(Namespace(id="web-01", limit=None, format=None), reg, out) == 0
    text = out.getvalue()
    assert "version 2" in text and 'packages.nginx: "1.22.1" -> "1.22.5"' in text and "version 3" not in text
    runs = io.StringIO()
    history(Namespace(id=None, limit=None, format="json"), reg, runs)
    assert [r["id"] for r in json.loads(runs.getvalue())] == ["run-2", "run-1", "run-0"]


def test_show_unifies_register_desired_facts_findings_and_relations(tmp_path):
    reg = open_register(None, tmp_path)
    reg.write_assets([parse_asset({"asset_tag": "A-1", "hostname": "web-01", "owner": "team-web",
                                   "purchase_cost": "1000", "purchase_date": "2024-01-01",
                                   "depreciation_method": "straight_line", "depreciation_years": "4"})], [])
    one_run(reg, "run-1", "1.22.1")
    out = io.StringIO()
    assert show(Namespace(id="web-01", format="json"), reg, out, project(tmp_path)) == 0
    view = json.loads(out.getvalue())
    assert view["asset"]["asset_tag"] == "A-1" and view["asset"]["book_value"] is not None
    assert view["ci"]["declared_in"].startswith("desired/web.yml") and view["ci"]["relations"] == {
        "depends_on": ["db-01"]}
    assert view["observed"]["facts"] == {"packages": {"nginx": "1.22.1"}}
    assert view["link"]["matched_by"] == "hostname"
    text = io.StringIO()
    show(Namespace(id="db-01", format=None), reg, text, project(tmp_path))
    assert "depended on by: web-01" in text.getvalue()


def test_show_of_an_unknown_id_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError):
        show(Namespace(id="nope", format=None), open_register(None, tmp_path), io.StringIO())


def test_waive_records_a_waiver_until_a_date_and_refuses_the_past(tmp_path):
    reg = open_register(None, tmp_path)
    until = date.today() + timedelta(days=30)
    args = Namespace(ci="web-01", path="packages.*", reason="vendor pin", until=str(until), by="alice")
    assert waive(args, reg, io.StringIO()) == 0
    assert [(w["ci"], w["path"], w["by"]) for w in reg.waivers(date.today())] == [("web-01", "packages.*", "alice")]
    with pytest.raises(UsageError, match="past"):
        waive(Namespace(ci="x", path="y", reason="r", until="2000-01-01", by=None), reg, io.StringIO())


def test_a_register_export_imports_and_lists_by_flag(tmp_path):
    reg = open_register(None, tmp_path)
    assert register_import(Namespace(file=str(EXAMPLE), match_on=None, dry_run=False, format=None), reg,
                           io.StringIO(), io.StringIO()) == 0
    items = [Item(c, "server", Status.IN_SYNC, {"host": c}) for c in ("web-01", "web-02", "db-01", "localhost")]
    observed = [Observed("server", {"host": h}, {"packages": {"nginx": "1.22"}}, h, h if h != "mail-01" else None)
                for h in ("web-01", "web-02", "db-01", "localhost")]
    observed.append(Observed("server", {"host": "stray-01"}, {}, "stray-01"))
    sources = [Source("facts_dir", o.source, "ok") for o in observed]
    result = classify(items, observed, sources, reg.snapshot(), ClassifySettings(today=date.today()))
    flags = {flag for item in result.items for flag in item.flags}
    assert {"configured_unowned", "owned_unconfigured", "unseen", "untracked", "state_conflict", "eol",
            "licence_over"} <= flags
    run = RunResult("r1", "2025-06-01T10:00:00+00:00", "2025-06-01T10:01:00+00:00", sources, result.items)
    record_run(reg, run, observed=result.observed, links=result.links)
    out = io.StringIO()
    register_list(Namespace(flag="unseen", owner=None, status=None, kind=None, format="json"), reg, out)
    assert [a["asset_tag"] for a in json.loads(out.getvalue())] == ["ASSET-0004"]


# Through the command line, on a copy of examples/fleet with its register imported (the `fleet` fixture).

def test_export_to_a_file_by_its_extension_round_trips_through_import(cli, fleet, tmp_path):
    base = ("--project", str(fleet))
    for name in ("assets.json", "assets.csv"):
        written = cli(*base, "register", "export", "--output", str(tmp_path / name))
        assert written.code == 0 and written.out == "", written.err
        again = cli(*base, "register", "import", str(tmp_path / name), "--dry-run")
        assert again.code == 0 and again.out.startswith("would create 0, would update 0, unchanged 4 (dry run"), again.out
    exported = json.loads((tmp_path / "assets.json").read_text())
    assert [a["asset_tag"] for a in exported] == ["ASSET-0101", "ASSET-0102", "ASSET-0103", "LIC-0101"]
    assert (tmp_path / "assets.csv").read_text().startswith("asset_tag,name,category,serial,")
    assert json.loads(cli(*base, "register", "export", "--format", "json").out) == exported


def test_import_match_on_serial_updates_by_serial(cli, fleet, tmp_path):
    (tmp_path / "moved.csv").write_text("Asset Tag,Serial,Location\nNEW-TAG,CZJ9999XYZ,DC9 rack 1\n")
    base = ("--project", str(fleet))
    moved = cli(*base, "register", "import", str(tmp_path / "moved.csv"), "--match-on", "serial")
    assert moved.code == 0 and "updated 1" in moved.out, moved.out + moved.err
    shown = cli(*base, "register", "show", "ASSET-0102", "--format", "json").json()
    assert shown["asset"]["location"] == "DC9 rack 1" and shown["asset"]["serial"] == "CZJ9999XYZ"
    assert cli(*base, "register", "show", "NEW-TAG").code == 1  # updated, not created


def test_register_list_filters_by_owner_status_and_flag(cli, fleet):
    base = ("--project", str(fleet), "register", "list")
    assert cli("--project", str(fleet), "run", "--quiet").code == 2

    def tags(*filters: str) -> list[str]:
        result = cli(*base, *filters)
        assert result.code == 0, result.err
        return [line.split()[0] for line in result.out.splitlines()[1:-1]]

    assert tags("--owner", "team-web") == ["ASSET-0101", "LIC-0101"]
    assert tags("--status", "deployed") == ["ASSET-0101", "ASSET-0102", "ASSET-0103", "LIC-0101"]
    assert tags("--status", "retired") == []
    assert tags("--flag", "eol") == ["ASSET-0102"]
    assert tags("--flag", "licence_over", "--owner", "team-web") == ["LIC-0101"]


def test_register_show_and_show_of_an_asset_tag(cli, fleet):
    base = ("--project", str(fleet))
    assert cli(*base, "run", "--quiet").code == 2
    shown = cli(*base, "register", "show", "LIC-0101")
    assert shown.code == 0 and shown.out.startswith("asset LIC-0101: nginx plus [deployed], owner team-web")
    assert "flag licence_over (high)  since " in shown.out
    unconfigured = cli(*base, "show", "ASSET-0103")  # show takes an asset tag as well as a CI id
    assert unconfigured.code == 0 and unconfigured.out.startswith("asset ASSET-0103: backup-01 [deployed]")
    assert "flag owned_unconfigured (info)" in unconfigured.out
    linked = cli(*base, "register", "show", "ASSET-0101", "--format", "json").json()
    assert linked["link"]["ci"] == "web-01" and linked["link"]["matched_by"] == "serial"


def test_a_waived_drift_stays_in_the_report_marked_and_no_longer_fails_the_run(cli, fleet):
    base = ("--project", str(fleet))
    assert cli(*base, "run", "--limit", "web-02", "--quiet").code == 2
    for ci, path in (("web-*", "packages"), ("web-02", "services.nginx")):  # globs; a prefix covers below it
        waived = cli(*base, "waive", ci, path, "--reason", "upgrade in CHG-1234", "--until", "2030-12-31")
        assert waived.code == 0 and f"{ci} {path} accepted until 2030-12-31" in waived.out, waived.err
    text = cli(*base, "run", "--limit", "web-02")
    assert text.code == 0, text.out
    assert "packages.nginx: 1.22.* → 1.18.0-6.1+deb11u3  (changed, medium) (waived)" in text.out
    assert "services.nginx.state: running → stopped  (changed, high) (waived)" in text.out
    report = cli(*base, "run", "--limit", "web-02", "--format", "json").json()
    [web02] = [item for item in report["items"] if item["ci"] == "web-02"]
    assert len(web02["drift"]) == 4 and all(d["waived"] for d in web02["drift"])
    assert report["run"]["exit_code"] == 0


def test_a_team_register_in_postgresql_through_every_way_of_naming_it(cli, fleet, pg_cluster, monkeypatch):
    """README/reference: `--register postgresql://user@host/db`, $RECONCILER_REGISTER (as the systemd unit of
    docs/scale-out.md sets it) and `register:` in reconciler.yml, against a real PostgreSQL on loopback."""
    dsn = pg_cluster.new_database()
    base = ("--project", str(fleet))
    assert cli(*base, "--register", dsn, "register", "import", str(fleet / "register.csv")).code == 0
    monkeypatch.setenv("RECONCILER_REGISTER", dsn)
    ran = cli(*base, "run", "--format", "json")
    assert ran.code == 2 and ran.json()["summary"]["flags"]["licence_over"] == 1  # the imported licence
    monkeypatch.delenv("RECONCILER_REGISTER")
    (fleet / "reconciler.yml").write_text((fleet / "reconciler.yml").read_text() + f"register: {dsn}\n")
    runs = json.loads(cli(*base, "history", "--format", "json").out)
    assert [r["id"] for r in runs] == [ran.json()["run"]["id"]]
    again = cli(*base, "report", ran.json()["run"]["id"], "--format", "json")
    assert again.code == 2 and again.json()["items"] == ran.json()["items"]
    assert "flag licence_over (high)" in cli(*base, "register", "show", "LIC-0101").out
