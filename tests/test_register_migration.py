"""Migration 0002: a register written before drift paths were tuples keeps its findings, first-seen dates
and waivers; the same drift seen again is the same finding, and the waiver still covers it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from reconciler.diff import Rules
from reconciler.model import CI, FactSet, Origin, RunResult, Source
from reconciler.pipeline import reconcile_ci
from reconciler.register import schema as t
from reconciler.register.identify import content_hash
from reconciler.register.recording import record_run
from reconciler.register.store import MIGRATIONS, open_register

from .pg_fixture import pg_cluster, register_dsn  # noqa: F401  (fixtures)

FIRST_SEEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def register_at_0001(dsn: str) -> None:
    """The register as today's release writes it: schema 0001, and its findings keyed on dotted paths."""
    engine = sa.create_engine(dsn)
    if dsn.startswith("sqlite:///"):
        from pathlib import Path
        Path(dsn.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        for what in ("drift:packages.python3.11", "drift:packages.nginx", "drift:files./etc/app.conf.mode",
                     "flag:configured_unowned"):
            fp = content_hash(["server", "web-01", what])[:32]  # the fingerprint as release 0001 computes it
            conn.execute(t.findings.insert().values(
                fingerprint=fp, subject="web-01", ci="web-01", kind="server", what=what, severity="medium",
                first_seen=FIRST_SEEN, last_seen=FIRST_SEEN, first_run="old", last_run="old"))
        conn.execute(t.waivers.insert().values(ci="web-01", path="packages.python3.11", reason="vendor pin",
                                               by="alice", until=date.today() + timedelta(days=30),
                                               created_at=FIRST_SEEN))
    engine.dispose()


def test_an_old_register_keeps_findings_first_seen_and_waivers(register_dsn, tmp_path):
    register_at_0001(register_dsn)
    reg = open_register(register_dsn, tmp_path)  # upgrades to head
    ci = CI("web-01", "server", {"packages": {"python3.11": "3.12.*", "nginx": "1.24.*"},
                                 "files": {"/etc/app.conf": {"mode": "0600"}}}, {"host": "web-01"}, Origin("x", 0))
    facts = FactSet("web-01", "ansible", "web-01",
                    {"packages": {"python3.11": "3.11.2", "nginx": "1.22.1"},
                     "files": {"/etc/app.conf": {"exists": True, "mode": "0644"}}})
    waivers = [w["path"] for w in reg.waivers(date.today())]
    item = reconcile_ci(ci, facts, Rules(), waivers)
    assert [(str(d.path), d.waived) for d in item.drift] == [
        ('files["/etc/app.conf"].mode', False), ("packages.nginx", False), ('packages["python3.11"]', True)]

    # unwaive python3.11 to check its finding kept its identity through the migration
    item_all = reconcile_ci(ci, facts, Rules(), [])
    run = RunResult("r1", "2026-12-02T10:00:00+00:00", "2026-12-02T10:01:00+00:00",
                    [Source("ansible", "web-01", "ok")], [item_all])
    recorded = record_run(reg, run)
    assert recorded.new == []
    assert len(recorded.known) == 3
    with reg.reading() as conn:
        rows = {r.what: r.first_seen for r in conn.execute(sa.select(t.findings.c.what, t.findings.c.first_seen))}
    assert set(rows) == {'drift:packages["python3.11"]', "drift:packages.nginx", 'drift:files["/etc/app.conf"].mode',
                         "flag:configured_unowned"}
    assert all(seen.replace(tzinfo=UTC) == FIRST_SEEN for seen in rows.values())
    reg.close()


