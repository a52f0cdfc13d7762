"""The command line's manners: quick to start, every option explained, a refused command line exits 1 (never
2, which schedulers read as "drift found"), global options anywhere, reports worded for people."""

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from datetime import date

import pytest

from reconciler.cli import build_parser
from reconciler.model import Change, Drift, Item, RunResult, Source, Status
from reconciler.report.text import render_text

from .conftest import REPO

FLEET = REPO / "examples" / "fleet"
EXAMPLE = ("--project", str(FLEET))


def test_importing_the_cli_loads_no_heavy_library():
    code = ("import sys, reconciler.cli; heavy = ('boto3', 'botocore', 'ansible', 'ansible_runner', 'sqlalchemy', "
            "'alembic', 'deepdiff', 'jinja2', 'yaml', 'jsonschema'); "
            "print([m for m in heavy if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def _parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def test_every_command_and_option_has_help_text():
    undocumented = [f"{parser.prog} {action.dest}" for parser in _parsers(build_parser()) for action in parser._actions
                    if not isinstance(action, argparse._SubParsersAction) and not (action.help or "").strip()]
    assert undocumented == []


@pytest.mark.parametrize("command", ["run", "validate", "untracked", "register import", "waive", "show"])
def test_the_main_commands_show_an_example(command):
    parsers = {parser.prog: parser for parser in _parsers(build_parser())}
    assert f"example:\n  reconcile {command.split()[0]}" in parsers[f"reconcile {command}"].format_help()


def test_untracked_speaks_of_its_own_output():
    parsers = {parser.prog: parser for parser in _parsers(build_parser())}
    assert "list every CI in sync" not in parsers["reconcile untracked"].format_help()


@pytest.mark.parametrize("args, says", [
    (["run", "--fail-on", "bogus"], "argument --fail-on: invalid choice: 'bogus'"),
    (["run", "--format", "yaml"], "argument --format: invalid choice: 'yaml'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["waive", "web-01", "packages.nginx", "--reason", "r"], "the following arguments are required: --until"),
    (["history", "--limit", "abc"], "argument --limit: 'abc' is not a whole number"),
    (["register", "list", "--flag", "bogus"], "argument --flag: invalid choice: 'bogus'"),
    ([], "the following arguments are required: COMMAND"),
])
def test_a_refused_command_line_exits_1_with_one_line_and_a_hint(cli, args, says):
    result = cli(*args)
    assert result.code == 1 and result.out == ""
    assert result.err.count("\n") == 1 and says in result.err
    assert result.err.startswith("reconcile: error: ") and result.err.rstrip().endswith(" --help')")


def test_a_refused_command_line_names_the_help_of_its_command(cli):
    assert "(see 'reconcile register list --help')" in cli("register", "list", "--flag", "x").err
    assert "(see 'reconcile run --help')" in cli("run", "--format", "yaml").err
    assert "(see 'reconcile --help')" in cli("frobnicate").err


def test_help_exits_0(cli):
    result = cli("run", "--help")
    assert result.code == 0 and "--fail-on" in result.out


def _examples() -> dict[str, list[str]]:
    """Each command's help example (`reconcile COMMAND --help`), as the words after `reconcile`."""
    examples = {}
    for parser in _parsers(build_parser()):
        if "example:\n" in (parser.epilog or ""):
            line = parser.epilog.split("example:\n", 1)[1].split("&&")[0]
            words = shlex.split(line)
            assert words[0] == "reconcile", parser.prog
            examples[parser.prog] = words[1:]
    return examples


def test_every_command_s_help_exits_0_and_its_example_is_a_command_line_it_accepts(cli):
    """What the README promises: `reconcile COMMAND --help` explains each command with an example."""
    leaves = [p.prog for p in _parsers(build_parser()) if p.prog not in ("reconcile", "reconcile register")]
    examples = _examples()
    assert sorted(examples) == sorted(leaves)
    for prog in leaves:
        shown = cli(*prog.split()[1:], "--help")
        assert shown.code == 0 and shown.out.startswith(f"usage: {prog} "), prog
        assert f"example:\n  {prog}" in shown.out, prog
        build_parser().parse_args(examples[prog])  # raises CommandLineError if an option was renamed
    top = cli("--help")
    assert top.code == 0 and all(f"    {prog.split()[1]} " in top.out for prog in leaves)


def test_the_help_examples_run_on_the_fleet_example(cli, tmp_path, monkeypatch):
    """Those that fit a facts-file project (no cloud account, no real host to change), in an `ops/` copy of
    examples/fleet, from its parent directory as the validate example has it."""
    ops = tmp_path / "ops"
    shutil.copytree(FLEET, ops)
    shutil.copy(FLEET / "register.csv", tmp_path / "assets.csv")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECONCILER_PROJECT", str(ops))
    assert cli("register", "import", "assets.csv").code == 0
    run_id = cli("run", "--format", "json").json()["run"]["id"]
    fits = {"reconcile validate": 0, "reconcile show": 0, "reconcile history": 0, "reconcile waive": 0,
            "reconcile report": 2, "reconcile plan": 2, "reconcile register import": 0,
            "reconcile register export": 0, "reconcile register list": 0, "reconcile register show": 0}
    stand_ins = {"0b6f…": run_id, "ASSET-0042": "ASSET-0101"}  # placeholders of the examples
    for prog, words in _examples().items():
        if prog in fits:
            result = cli(*[stand_ins.get(word, word) for word in words])
            assert result.code == fits[prog] and "error" not in result.err, (prog, result.out, result.err)
    assert json.loads((tmp_path / "assets.json").read_text())[0]["asset_tag"] == "ASSET-0101"
    assert (tmp_path / "run.md").read_text().startswith(f"# Reconcile run `{run_id}`")
    assert (tmp_path / "review.md").read_text().startswith("## Reconcile plan") and (tmp_path / "fix.plan").exists()


def test_reconciler_project_names_the_project_when_no_option_does(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a project
    monkeypatch.setenv("RECONCILER_PROJECT", str(FLEET))
    validated = cli("validate")
    assert validated.code == 0 and validated.out.startswith("ok: 3 CIs (server)"), validated.err
    assert cli("run", "--quiet").code == 2
    assert cli("--project", str(tmp_path), "run").code == 1  # --project beats the variable


def test_global_options_are_accepted_after_the_command(cli, tmp_path):
    register = f"sqlite:///{tmp_path / 'mine.db'}"
    assert cli("validate", "--project", str(FLEET)).code == 0
    assert cli("register", "import", str(FLEET / "register.csv"), "--project", str(FLEET),
               "--register", register).code == 0
    listed = cli("register", "list", "--register", register, "--format", "json")
    assert len(listed.json()) == 4
    assert cli("--register", register, "register", "list", "--format", "json").json() == listed.json()


def test_register_list_has_a_header_and_kind_means_the_ci_kind(cli):
    assert cli(*EXAMPLE, "register", "import", str(FLEET / "register.csv")).code == 0
    cli(*EXAMPLE, "run", "--quiet")
    listing = cli(*EXAMPLE, "register", "list", "--kind", "server")
    assert listing.out.splitlines()[0].split() == ["ASSET", "STATUS", "OWNER", "KIND", "CI", "NAME", "FLAGS"]
    # linked to a server CI (0101, 0102), or never seen but identified by a hostname (0103); not the licence
    assert [line.split()[0] for line in listing.out.splitlines()[1:-1]] == ["ASSET-0101", "ASSET-0102", "ASSET-0103"]
    assert listing.out.splitlines()[-1] == "3 assets"
    assert cli(*EXAMPLE, "register", "list", "--kind", "aws.*").out == "0 assets\n"
    licences = cli(*EXAMPLE, "register", "list", "--category", "software_licence", "--format", "json").json()
    assert [a["asset_tag"] for a in licences] == ["LIC-0101"]
    refused = cli(*EXAMPLE, "register", "list", "--status", "bogus")
    assert refused.code == 1 and "--status 'bogus' is not one of: ordered, in_stock, deployed" in refused.err
    assert cli(*EXAMPLE, "register", "list", "--category", "hardwear").code == 1


def test_the_text_report_ends_with_what_was_found_against_fail_on(cli):
    below = cli(*EXAMPLE, "run", "--fail-on", "critical").out.splitlines()[-1]
    assert below.startswith("1 drifted CI, 4 flagged items (highest severity: high)")
    assert below.endswith(", below --fail-on critical: exit 0")
    above = cli(*EXAMPLE, "run").out.splitlines()[-1]
    assert above.endswith("at or above --fail-on low: exit 2")


def _result(items, fail_on="low", exit_code=0):
    return RunResult("r-1", "2026-12-02T02:15:00.863251+00:00", "2026-12-02T02:16:00+00:00",
                     [Source("aws", "123/eu-west-1", "ok")], items, exit_code=exit_code, fail_on=fail_on)


def test_collector_figures_show_only_with_verbose():
    result = _result([Item("a", "server", Status.IN_SYNC, {"host": "a"})])
    result.stats = {"ansible": {"ansible_seconds": 4.559, "runner_status": "successful", "rc": 0}}
    assert "ansible_seconds" not in render_text(result)
    assert "ansible: ansible_seconds 4.559, runner_status successful, rc 0" in render_text(result, verbose=True)


def test_a_failed_scope_is_named_with_its_reason():
    result = _result([Item("a", "server", Status.UNKNOWN, {"host": "a"}, error="unreachable")], exit_code=3)
    result.sources.append(Source("aws", "210987654321/us-east-1", "failed", "AccessDenied: not allowed"))
    text = render_text(result)
    assert "sources: 1 ok, 1 failed\n  failed: aws 210987654321/us-east-1: AccessDenied: not allowed" in text
    assert text.splitlines()[-1] == "nothing found, but 1 CI unknown (coverage incomplete): exit 3"


def test_set_drift_shows_the_members_added_and_removed():
    rules = Drift("ingress", Change.CHANGED, ["tcp/22 from 10.0.0.0/8", "tcp/443 from 0.0.0.0/0"],
                  ["tcp/22 from 0.0.0.0/0", "tcp/443 from 0.0.0.0/0"], "critical")
    item = Item("web-sg", "aws.ec2.security_group", Status.DRIFTED, {"id": "sg-1"}, drift=[rules],
                severity="critical")
    text = render_text(_result([item], exit_code=2))
    assert "ingress: added tcp/22 from 0.0.0.0/0; removed tcp/22 from 10.0.0.0/8  (changed, critical)" in text


def test_the_text_report_has_no_empty_fields_microseconds_or_bad_plurals():
    bucket = Item(None, "aws.s3.bucket", None, {"account": "1", "region": "eu-west-1", "name": "tmp"},
                  flags=["untracked"], severity="medium", details={"owner_hints": {}, "created": "2026-01-02 03:04:05.6"})
    asset = Item(None, None, None, {}, asset="ASSET-0001", owner="team-ops", flags=["owned_unconfigured"],
                 severity="info")
    text = render_text(_result([bucket, asset]))
    assert "owner_hints" not in text and "owner hints" not in text and "(;" not in text and "()" not in text
    assert "created 2026-01-02T03:04:05+00:00" in text and ".863251" not in text and "02:15:00+00:00" in text
    assert "0 CIs:" in text
    one = render_text(_result([Item("a", "server", Status.IN_SYNC, {"host": "a"})]))
    assert one.startswith("run r-1  2026-12-02T02:15:00+00:00  1 CI: 1 in sync")
    assert one.splitlines()[-1] == "nothing found: exit 0"


def test_untracked_records_nothing_and_says_when_it_found_nothing(cli):
    clean = cli(*EXAMPLE, "untracked", "--limit", "db-01")  # --limit: a declared CI, so no stray is flagged
    assert clean.code == 0 and clean.out == "no untracked resources in 4 scopes\n"
    found = cli(*EXAMPLE, "untracked")
    assert found.code == 2 and "run " not in found.out and found.out.startswith("UNTRACKED (1) in 4 scopes")
    assert "untracked: server build-07" in found.out
    assert json.loads(cli(*EXAMPLE, "history", "--format", "json").out) == []


def test_untracked_takes_the_report_options_of_run(cli, tmp_path):
    """reference.md: --format, --output, --fail-on, --kind, --facts-dir and --verbose are untracked's too
    (--executor: test_executors.py, on a Dask cluster)."""
    junit = cli(*EXAMPLE, "untracked", "--format", "junit", "--output", str(tmp_path / "u.xml"))
    assert (junit.code, junit.out) == (2, "")
    assert '<failure message="untracked (medium)" type="untracked">' in (tmp_path / "u.xml").read_text()
    markdown = cli(*EXAMPLE, "untracked", "--format", "markdown")
    assert markdown.code == 2 and "- **untracked** server `{'host': 'build-07'" in markdown.out
    assert markdown.out.startswith("# Untracked resources (not recorded)\n")  # no run id: none was recorded
    html = cli(*EXAMPLE, "untracked", "--format", "html").out
    assert "<h1>Untracked resources (not recorded)</h1>" in html and "Reconcile run" not in html
    below = cli(*EXAMPLE, "untracked", "--fail-on", "high")
    assert below.code == 0 and below.out.splitlines()[-1].endswith("below --fail-on high: exit 0")
    chosen = cli(*EXAMPLE, "untracked", "--kind", "server", "--facts-dir", str(FLEET / "facts"), "--verbose")
    assert chosen.code == 2 and "untracked: server build-07" in chosen.out


def test_report_re_renders_a_recorded_run(cli):
    run = cli(*EXAMPLE, "run", "--format", "json")
    again = cli(*EXAMPLE, "report", run.json()["run"]["id"], "--format", "json")
    assert again.code == run.code == 2 and again.json()["items"] == run.json()["items"]


def test_show_lists_open_drift_as_desired_to_actual(cli):
    cli(*EXAMPLE, "run", "--quiet")
    shown = cli(*EXAMPLE, "show", "web-02").out
    assert "  drift packages.nginx: 1.22.* → 1.18.0-6.1+deb11u3  (changed, medium)  since " in shown
    assert "  flag configured_unowned (info)  since " in shown
    since = shown.split("  drift packages.nginx")[1].split("since ")[1].splitlines()[0]
    assert since.startswith(str(date.today().year)) and since.endswith("+00:00") and "." not in since
