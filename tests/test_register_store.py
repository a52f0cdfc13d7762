"""The register store against SQLite and a real PostgreSQL: creation, recording, atomicity, locking."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from reconciler.errors import RegisterError
from reconciler.model import Change, Drift, FactSet, Item, Observed, RunResult, Source, Status
from reconciler.register import schema as t
from reconciler.register.assets import Link, parse_asset
from reconciler.register.recording import load_report, record_run
from reconciler.register.store import open_register, resolve_dsn

from .pg_fixture import pg_cluster, register_dsn  # noqa: F401  (fixtures)


def a_run(run_id: str, items=(), sources=("web-01",), failed=()) -> RunResult:
    srcs = [Source("ansible", s, "ok") for s in sources] + [Source("ansible", s, "failed", "x") for s in failed]
    return RunResult(run_id, "2025-06-01T10:00:00+00:00", "2025-06-01T10:01:00+00:00", srcs, list(items))


def facts(version: str) -> dict:
    return {"web-01": FactSet("web-01", "ansible", "web-01", {"packages": {"nginx": version}})}


def counts(reg) -> dict[str, int]:
    with reg.reading() as conn:
        return {table.name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for table in t.metadata.sorted_tables}


def test_sqlite_register_is_created_private_under_the_project(tmp_path):
    reg = open_register(None, tmp_path)
    reg.add_waiver("web-01", "packages.*", "known", "me", date.today())
    assert oct((tmp_path / ".reconciler").stat().st_mode & 0o777) == "0o700"
    for name in os.listdir(tmp_path / ".reconciler"):
        assert oct((tmp_path / ".reconciler" / name).stat().st_mode & 0o777) == "0o600", name
    reg.close()


def test_the_dsn_comes_from_flag_then_environment_then_settings(monkeypatch):
    monkeypatch.setenv("RECONCILER_REGISTER", "sqlite:///env.db")
    assert resolve_dsn("sqlite:///flag.db", "sqlite:///yml.db") == "sqlite:///flag.db"
    assert resolve_dsn(None, "sqlite:///yml.db") == "sqlite:///env.db"
    monkeypatch.delenv("RECONCILER_REGISTER")
    assert resolve_dsn(None, "sqlite:///yml.db") == "sqlite:///yml.db"


def test_an_unreachable_register_is_one_clear_error_without_the_password(tmp_path):
    with pytest.raises(RegisterError) as error:
        open_register("postgresql://bob:s3cret@127.0.0.1:1/nope", tmp_path)
    assert "cannot open register" in str(error.value) and "s3cret" not in str(error.value)


def test_opening_twice_migrates_once_and_keeps_data(register_dsn, tmp_path):
    reg = open_register(register_dsn, tmp_path)
    reg.write_assets([parse_asset({"asset_tag": "A-1"})], [])
    reg.close()
    again = open_register(register_dsn, tmp_path)
    with again.reading() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one() == "0003"
    assert [a.asset_tag for a in again.assets()] == ["A-1"]
    again.close()


def test_history_gets_a_version_only_when_facts_change(register_dsn, tmp_path):
    reg = open_register(register_dsn, tmp_path)
    for number, version in enumerate(["1.22", "1.22", "1.24", "1.24"]):
        recorded = record_run(reg, a_run(f"r{number}"), facts=facts(version))
        assert recorded.versions == (1 if number in (0, 2) else 0)
    rows = reg.rows(t.ci_versions, order=[t.ci_versions.c.version])
    assert [(r["version"], r["run_id"]) for r in rows] == [(1, "r0"), (2, "r2")]
    reg.close()


def test_observations_keep_first_seen_and_move_last_seen(register_dsn, tmp_path):
    reg = open_register(register_dsn, tmp_path)
    seen = [Observed("server", {"host": "web-01"}, {"a": 1}, "web-01", "web-01")]
    record_run(reg, a_run("r1"), observed=seen)
    first = reg.rows(t.observations)[0]
    time.sleep(0.01)
    record_run(reg, a_run("r2"), observed=seen)
    second = reg.rows(t.observations)[0]
    assert second["first_seen"] == first["first_seen"] and second["last_seen"] > first["last_seen"]
    assert len(reg.rows(t.observations)) == 1
    reg.close()


def drifted(run_id: str, paths=("packages.nginx",)) -> RunResult:
    drift = [Drift(p, Change.CHANGED, "1.22.*", "1.18", "high") for p in paths]
    return a_run(run_id, [Item("web-01", "server", Status.DRIFTED, {"host": "web-01"}, drift=drift,
                               flags=["configured_unowned"])])


def test_findings_are_new_then_known_then_resolved(register_dsn, tmp_path):
    reg = open_register(register_dsn, tmp_path)
    first = record_run(reg, drifted("r1"))
    assert len(first.new) == 2 and not first.known
    second = record_run(reg, drifted("r2"))
    assert not second.new and sorted(second.known) == sorted(first.new)
    third = record_run(reg, drifted("r3", paths=()))
    assert len(third.resolved) == 1 and len(third.known) == 1
    again = record_run(reg, drifted("r4"))
    assert again.reopened == third.resolved
    reg.close()


def test_findings_of_a_failed_or_unknown_subject_stay_open(register_dsn, tmp_path):
    reg = open_register(register_dsn, tmp_path)
    untracked = Item(None, "server", None, {"host": "web-09"}, flags=["untracked"])
    seen = [Observed("server", {"host": "web-09"}, {}, "web-09")]
    record_run(reg, a_run("r1", [untracked], sources=("web-09",)), observed=seen)
    record_run(reg, drifted("r2"))
    later = record_run(reg, a_run("r3", [], sources=(), failed=("web-09",)), unevaluated={"web-01"})
    assert later.resolved == []
    assert len(reg.rows(t.findings, t.findings.c.resolved_at.is_(None))) == 3
    reg.close()


def test_an_identity_change_moves_the_link_and_is_recorded(register_dsn, tmp_path):
    reg = open_register(register_dsn, tmp_path)
    reg.write_assets([parse_asset({"asset_tag": "A-1", "serial": "SN1"})], [])
    old = Link("A-1", "serial", "web-01", "server", 'server|{"host":"web-01"}', {"host": "web-01"}, "SN1")
    new = Link("A-1", "serial", "web-01b", "server", 'server|{"host":"web-01b"}', {"host": "web-01b"}, "SN1")
    record_run(reg, a_run("r1"), links=[old])
    since = reg.rows(t.links)[0]["since"]
    recorded = record_run(reg, a_run("r2"), links=[new])
    (link,) = reg.rows(t.links)
    assert recorded.identity_changes == 1 and link["ci"] == "web-01b" and link["since"] == since
    (change,) = reg.rows(t.changes)
    assert change["before"]["ci"] == "web-01" and change["after"]["identity"] == {"host": "web-01b"}
    reg.close()


def test_a_run_is_stored_and_can_be_read_back(register_dsn, tmp_path):
    reg = open_register(register_dsn, tmp_path)
    record_run(reg, drifted("r1"))
    stored = load_report(reg, "r1")
    assert stored["report"]["items"][0]["drift"][0]["path"] == "packages.nginx"
    reg.close()


class Interrupt:
    """Facts that raise KeyboardInterrupt when the recorder serialises them: Ctrl-C mid-recording."""

    def __str__(self):
        raise KeyboardInterrupt


def test_a_run_interrupted_mid_way_leaves_the_register_unchanged(register_dsn, tmp_path):
    reg = open_register(register_dsn, tmp_path)
    record_run(reg, drifted("r1"), facts=facts("1.22"))
    before = counts(reg)
    seen = [Observed("server", {"host": f"h{i}"}, {"i": i}, "web-01") for i in range(500)]
    seen.append(Observed("server", {"host": "boom"}, {"x": Interrupt()}, "web-01"))
    with pytest.raises(KeyboardInterrupt):
        record_run(reg, drifted("r2", paths=()), observed=seen, facts=facts("1.24"))
    assert counts(reg) == before
    reg.close()


CHILD = """
import sys
from reconciler.model import Observed, RunResult, Source
from reconciler.register.store import open_register
from reconciler.register.recording import record_run
reg = open_register(sys.argv[1], sys.argv[2])
seen = [Observed("server", {"host": f"h{i}"}, {"i": i, "pad": "x" * 200}, "s") for i in range(100000)]
print("recording", flush=True)
record_run(reg, RunResult("big", "2025-06-01T10:00:00+00:00", "2025-06-01T10:00:00+00:00",
                          [Source("a", "s", "ok")], []), observed=seen)
print("done", flush=True)
"""


def test_a_killed_run_leaves_the_sqlite_register_unchanged(tmp_path):
    dsn = f"sqlite:///{tmp_path}/register.db"
    reg = open_register(dsn, tmp_path)
    record_run(reg, drifted("r1"))
    before = counts(reg)
    child = subprocess.Popen([sys.executable, "-c", CHILD, dsn, str(tmp_path)], stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout.readline().strip() == "recording"
    wal = tmp_path / "register.db-wal"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not wal.exists() or wal.stat().st_size < 200_000):
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    rest, _ = child.communicate(timeout=30)
    assert "done" not in rest, "the child finished before it could be killed mid-way"
    assert counts(reg) == before
    reg.close()


def test_a_second_writer_waits_then_fails_clearly(register_dsn, tmp_path):
    holder = open_register(register_dsn, tmp_path)
    waiting = open_register(register_dsn, tmp_path, timeout=0.5)
    entered, release = threading.Event(), threading.Event()

    def hold():
        with holder.writing():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    assert entered.wait(10)
    try:
        started = time.monotonic()
        with pytest.raises(RegisterError, match="busy"):
            record_run(waiting, drifted("r2"))
        assert time.monotonic() - started >= 0.4
    finally:
        release.set()
        thread.join()
    record_run(waiting, drifted("r3"))  # and once the first is done, it goes through
    holder.close()
    waiting.close()


def test_waivers_in_force_until_their_date(register_dsn, tmp_path):
    reg = open_register(register_dsn, tmp_path)
    today = date(2025, 6, 1)
    reg.add_waiver("web-01", "packages.*", "vendor pin", "alice", today)
    reg.add_waiver("web-02", "files.*", "old", "bob", today - timedelta(days=1))
    assert [(w["ci"], w["by"]) for w in reg.waivers(today)] == [("web-01", "alice")]
    reg.close()
