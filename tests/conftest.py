"""Shared fixtures: a project written into a temp dir, and the CLI run in-process."""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
import yaml

from reconciler.cli import main

REPO = Path(__file__).resolve().parent.parent
REPORT_SCHEMA = json.loads((REPO / "docs" / "report.schema.json").read_text(encoding="utf-8"))
REPORT_COMMANDS = {"run", "untracked", "report"}


def assert_valid_report(report: dict) -> None:
    """A JSON report must match docs/report.schema.json, the contract users read."""
    jsonschema.Draft202012Validator(REPORT_SCHEMA).validate(report)
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto server's per-request lines


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)


class ProjectDir:
    """A reconcile project on disk, written file by file by a test."""

    def __init__(self, root: Path):
        self.root = root

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def localhost(self, **cis: dict) -> None:
        """An inventory of this machine alone, over Ansible's local connection with the tests' Python; and
        when given, server CIs of it (name=desired) in desired/local.yml."""
        self.write("inventories/hosts.yml", f"""
            all:
              hosts:
                localhost: {{ansible_connection: local, ansible_python_interpreter: {sys.executable}}}
        """)
        if cis:
            self.write("desired/local.yml", yaml.safe_dump_all(
                [{"ci": name, "kind": "server", "match": {"host": "localhost"}, "desired": desired}
                 for name, desired in cis.items()], sort_keys=False))

    def facts(self, host: str, document: dict, name: str | None = None) -> Path:
        path = self.root / "facts" / (name or host)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document), encoding="utf-8")
        return path


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch) -> None:
    """A test that forgets its moto server reaches a closed loopback port, never AWS or its metadata service."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    if "AWS_ENDPOINT_URL" not in os.environ:
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")


@pytest.fixture(autouse=True)
def private_register(tmp_path_factory, monkeypatch) -> Path:
    """Every test's runs are recorded in a register of its own, never in the checkout."""
    path = tmp_path_factory.mktemp("register") / "register.db"
    monkeypatch.setenv("RECONCILER_REGISTER", f"sqlite:///{path}")
    return path


@pytest.fixture
def project(tmp_path: Path) -> ProjectDir:
    return ProjectDir(tmp_path)


@pytest.fixture
def fleet(cli, tmp_path: Path) -> Path:
    """examples/fleet copied into a temp dir, its register imported."""
    root = tmp_path / "fleet"
    shutil.copytree(REPO / "examples" / "fleet", root)
    assert cli("--project", str(root), "register", "import", str(root / "register.csv")).code == 0
    return root


@pytest.fixture
def cli(capsys):
    """Run `reconcile ARGS` in-process; returns exit code, stdout and stderr. Every JSON report it produces
    (run, untracked, report with --format json) is validated against docs/report.schema.json."""

    def run(*args: str) -> CliResult:
        code = main(list(args))
        captured = capsys.readouterr()
        result = CliResult(code, captured.out, captured.err)
        _validate_json_report(list(args), result)
        return result

    return run


def _validate_json_report(args: list[str], result: CliResult) -> None:
    pairs = list(itertools.pairwise(args))
    if result.code == 1 or ("--format", "json") not in pairs or not REPORT_COMMANDS & set(args):
        return
    output = next((value for flag, value in pairs if flag == "--output"), None)
    assert_valid_report(json.loads(Path(output).read_text(encoding="utf-8") if output else result.out))
