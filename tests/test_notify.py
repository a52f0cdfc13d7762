"""Notifications on change only, delivered by Apprise to a local JSON webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .fleet_world import write_fleet


class Receiver:
    """An HTTP server on a free loopback port that keeps what it is sent and answers `status`."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(json.loads(body or b"{}"))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> Receiver:  # noqa: PYI034 (Self needs 3.11 typing; this is a test helper)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


def _run(cli, project, *args: str):
    return cli("--project", str(project.root), "run", "--format", "json", *args)


def test_the_first_run_notifies_an_identical_second_run_does_not(cli, project, receiver):
    write_fleet(project, 4, old_nginx=(0, 1))
    first = _run(cli, project, "--notify", receiver.url)
    assert first.code == 2 and len(receiver.received) == 1
    message = receiver.received[0]
    # 2 drifts, and 4 CIs no register asset owns (configured_unowned)
    assert message["title"].startswith("reconcile: 6 new, 0 changed, 0 resolved")
    assert "NEW: web-03 (server) configured_unowned [info]" in message["message"]
    assert "NEW: web-00 (server) packages.nginx: '>=1.22' declared, '1.18.0-6' found [medium]" in message["message"]
    assert first.json()["run"]["stats"]["notify"] == {"changes": 6, "sent": 1, "failed": 0}
    second = _run(cli, project, "--notify", receiver.url)
    assert second.code == 2 and len(receiver.received) == 1  # nothing new: nobody is told twice


def test_a_resolved_drift_notifies_again(cli, project, receiver):
    write_fleet(project, 4, old_nginx=(0, 1))
    _run(cli, project, "--notify", receiver.url)
    write_fleet(project, 4, old_nginx=(0,))  # web-01 was upgraded
    assert _run(cli, project, "--notify", receiver.url).code == 2
    assert len(receiver.received) == 2
    assert receiver.received[1]["title"].startswith("reconcile: 0 new, 0 changed, 1 resolved")
    assert "RESOLVED: web-01 (server) packages.nginx" in receiver.received[1]["message"]


def test_a_changed_value_of_an_open_finding_notifies(cli, project, receiver):
    write_fleet(project, 2, old_nginx=(0,))
    _run(cli, project, "--notify", receiver.url)
    facts = json.loads((project.root / "facts" / "web-00").read_text())
    facts["packages"]["nginx"][0]["version"] = "1.20.1-1"  # still too old, but another version
    (project.root / "facts" / "web-00").write_text(json.dumps(facts))
    _run(cli, project, "--notify", receiver.url)
    assert len(receiver.received) == 2 and "CHANGED: web-00 (server) packages.nginx" in receiver.received[1]["message"]


def test_notify_urls_come_from_reconciler_yml_too(cli, project, receiver):
    write_fleet(project, 2, old_nginx=(1,), notify=f"notify: ['{receiver.url}']\n")
    assert _run(cli, project).code == 2 and len(receiver.received) == 1


def test_a_receiver_answering_500_is_reported_and_the_exit_code_is_unchanged(cli, project, receiver):
    write_fleet(project, 3, old_nginx=(0,))
    receiver.status = 500
    result = _run(cli, project, "--notify", receiver.url)
    assert result.code == 2 and len(receiver.received) == 1
    report = result.json()
    [failed] = [s for s in report["run"]["sources"] if s["collector"] == "notify"]
    assert failed["status"] == "failed" and "500" in failed["error"] and failed["scope"].startswith("json://127.0.0.1")
    assert report["run"]["stats"]["notify"]["failed"] == 1 and report["run"]["exit_code"] == 2
    assert "notification to json://127.0.0.1" in result.err and "failed" in result.err
    # the recorded run says so too: read back later, it is the report the run printed
    stored = cli("--project", str(project.root), "report", report["run"]["id"], "--format", "json").json()
    assert [s for s in stored["run"]["sources"] if s["collector"] == "notify"] == [failed]
    assert stored["run"]["stats"]["notify"] == report["run"]["stats"]["notify"]


def test_a_clean_run_with_a_failed_delivery_still_exits_0(cli, project, receiver):
    write_fleet(project, 2)  # no drift; only the info-level configured_unowned flags, which do not fail it
    receiver.status = 500
    result = _run(cli, project, "--notify", receiver.url)
    assert result.code == 0 and len(receiver.received) == 1
    assert result.err.strip().endswith("failed: Failed to send JSON POST notification: Internal server error., error=500.")


def test_notify_is_repeatable_and_each_url_is_told(cli, project, receiver):
    """README: `reconcile run --notify URL --notify URL` (two receivers here, both on loopback)."""
    write_fleet(project, 2, old_nginx=(1,))
    with Receiver() as other:
        result = _run(cli, project, "--notify", receiver.url, "--notify", other.url)
        assert result.code == 2 and len(receiver.received) == len(other.received) == 1
        assert receiver.received[0]["title"] == other.received[0]["title"]
        assert "NEW: web-01 (server) packages.nginx" in other.received[0]["message"]
        assert result.json()["run"]["stats"]["notify"]["sent"] == 2
