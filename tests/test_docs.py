"""The documentation a user works from: the README's commands work as written, and docs/reference.md covers
every kind's attributes, every flag and every command."""

import json
import re
import shlex

from reconciler.cli import build_parser
from reconciler.collectors import builtin_collectors
from reconciler.model import FLAG_SEVERITY

from .conftest import REPO, assert_valid_report

README = (REPO / "README.md").read_text(encoding="utf-8")
REFERENCE = (REPO / "docs" / "reference.md").read_text(encoding="utf-8")


def readme_commands() -> list[list[str]]:
    """The shell lines of README's "Using it" block, each split into its `&&`-joined commands."""
    block = README.split("## Using it", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands: list[list[str]] = []
    for line in block.strip().splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            commands.append(words[:cut])
            words = words[cut + 1:]
    return commands


# What each command of README's "Using it" block shows on the scaffolded project, whatever this machine's drift.
README_SAYS = {
    "reconcile validate": "ok: 1 CI (server), 1 inventory host",
    "reconcile register import assets.csv --dry-run": "would create 2, would update 0, unchanged 0 (dry run",
    "reconcile register import assets.csv": "created 2, updated 0, unchanged 0",
    "reconcile run --format json": "",  # written to report.json, checked below
    "reconcile run": "exit {code}\n",
    "reconcile untracked": "no untracked resources in 1 scope",
    "reconcile show localhost": "CI localhost (server), owner team-web, declared in desired/",
    "reconcile history localhost": "version 1  ",
    "reconcile register list --kind server": "ASSET-0001  deployed  team-web  server  localhost  this machine",
    "reconcile waive": "waiver 1: localhost packages.telnetd accepted until 2030-12-31",
}


def test_the_readme_commands_work_as_written_in_a_new_project(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RECONCILER_PROJECT", raising=False)
    commands = readme_commands()
    assert commands[0][:2] == ["source", ".venv/bin/activate"] and ["reconcile", "validate"] in commands
    for words in commands[1:]:
        if words[0] == "cd":
            monkeypatch.chdir(words[1])
            continue
        assert words[0] == "reconcile", words
        result = cli(*words[1:])
        allowed = {0, 2} if words[1] in ("run", "untracked", "plan") else {0}  # 2: drift, flags or steps
        assert result.code in allowed, (words, result.out, result.err)
        assert "error" not in result.err, (words, result.err)
        says = next((text for start, text in README_SAYS.items() if shlex.join(words).startswith(start)), None)
        assert says is None or says.format(code=result.code) in result.out, (words, result.out)
    review = (tmp_path / "my-project" / "review.md").read_text()
    assert review.startswith("## Reconcile plan") and json.loads((tmp_path / "my-project" / "fix.plan").read_text())
    report = json.loads((tmp_path / "my-project" / "report.json").read_text())
    assert_valid_report(report)
    assert report["summary"]["unknown"] == 0 and report["summary"]["cis"] == 1  # localhost, looked at for real
    assets = {i["asset"]: i["flags"] for i in report["items"] if i["ci"] is None and i["asset"]}
    assert assets["ASSET-0002"] == ["owned_unconfigured"]  # from the scaffolded assets.csv; no collector
    # looks for a host outside the inventory, so it is not covered rather than unseen


def test_the_readme_points_nowhere_outside_the_repository():
    assert "shared folder" not in README and "SPEC.md" not in README
    for target in re.findall(r"\]\(([^)#]+)\)", README + REFERENCE.replace("](../", "](")):
        if not target.startswith("http"):
            assert (REPO / target).exists() or (REPO / "docs" / target).exists(), target


def _properties(schema: dict) -> set[str]:
    found = set(schema.get("properties", {}))
    for inner in schema.get("properties", {}).values():
        found |= _properties(inner)
    return found


def test_the_reference_names_every_attribute_of_every_builtin_kind():
    kinds = {kind.name: kind for collector in builtin_collectors() for kind in collector.kinds}
    for name, kind in kinds.items():
        assert f"`{name}`" in REFERENCE or f"### {name}" in REFERENCE, name
        missing = sorted(p for p in _properties(kind.desired_schema) if f"`{p}`" not in REFERENCE
                         and not re.search(rf"[{{,] ?{p}[,:}}]", REFERENCE))
        assert missing == [], (name, missing)


def test_the_reference_gives_every_flag_its_weight():
    for flag, weight in FLAG_SEVERITY.items():
        assert f"| `{flag}` | {weight} |" in REFERENCE


def test_the_reference_lists_every_command():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name in commands:
        assert f"| `{name}" in REFERENCE, name


def _parser_of(*command: str):
    parser = build_parser()
    for word in command:
        parser = next(a for a in parser._actions if a.dest in ("command", "register_command")).choices[word]
    return parser


def _assert_documented_options_exist(command: tuple[str, ...], text: str) -> None:
    """Every `--option` (and `a|b|c` choice list after it) that `text` gives `reconcile COMMAND` exists."""
    actions = {flag: action for action in _parser_of(*command)._actions for flag in action.option_strings}
    for option, values in re.findall(r"(--[a-z][a-z-]*)(?: ([a-z]+(?:\\?\|[a-z]+)+))?", text):
        assert option in actions, (command, option)
        if values and actions[option].choices is not None:  # --executor's values are checked by its type
            assert set(values.replace("\\", "").split("|")) == set(actions[option].choices), (command, option)


def test_every_option_the_docs_give_a_command_is_one_it_takes():
    commands = REFERENCE.split("## Commands", 1)[1].split("## Exit codes", 1)[0]
    rows = re.findall(r"^\| `([a-z][^`]*)` \|", commands, re.MULTILINE)
    assert len(rows) == 14
    for row in rows:
        words = row.split()
        _assert_documented_options_exist(tuple(words[:2] if words[0] == "register" else words[:1]), row)
    run_options = commands.split("Options of `run` and `untracked`:", 1)[1].split("`untracked --strict`", 1)[0]
    for command in ("run", "untracked"):
        _assert_documented_options_exist((command,), run_options)
    _assert_documented_options_exist(("untracked",), "--strict")
    _assert_documented_options_exist(("run",), "--notify")
    plan_apply = (REPO / "docs" / "plan-apply.md").read_text(encoding="utf-8")
    _assert_documented_options_exist(("plan",), plan_apply.split("Options: ", 1)[1].split("\n\n", 1)[0])
    _assert_documented_options_exist(("plan",), "--executor")  # docs/scale-out.md: run, untracked, plan


def test_the_readme_fleet_example_line_works_from_the_repository(cli, monkeypatch):
    line = " ".join(README.split("## The examples", 1)[1].split("## Development", 1)[0].split())
    [command] = re.findall(r"`(reconcile --project examples/fleet [^`]*)`", line)
    monkeypatch.chdir(REPO)
    first, second = (shlex.split(part) for part in command.split("&&"))
    assert cli(*first[1:]).code == 0
    ran = cli(*second[1:])
    assert ran.code == 2 and "DRIFTED (1)" in ran.out and "licence_over: asset LIC-0101" in ran.out, ran.out
    assert "untracked: server build-07" in ran.out and "configured_unowned: server web-02" in ran.out


def test_the_report_schema_rejects_what_breaks_the_contract(cli):
    import jsonschema
    import pytest

    report = cli("--project", str(REPO / "examples" / "fleet"), "run", "--format", "json").json()
    assert_valid_report(report)
    breakages = [
        lambda r: r.pop("summary"),
        lambda r: r["run"].update(exit_code=5),
        lambda r: r["run"].update(started_at="2026-12-02 02:15:00.863251"),  # no zone
        lambda r: next(i for i in r["items"] if i["drift"])["drift"][0].update(change="edited"),
        lambda r: r["items"][0].update(flags=["bogus"]),
        lambda r: next(i for i in r["items"] if i["status"] == "drifted").update(drift=[]),
    ]
    for breakage in breakages:
        broken = json.loads(json.dumps(report))
        breakage(broken)
        with pytest.raises(jsonschema.ValidationError):
            assert_valid_report(broken)


def _steps(plan: dict) -> list[tuple]:
    return sorted((s["ci"], s["path"], s["action"], s["manual"]) for s in plan["steps"])


def test_plan_apply_md_plan_forms_on_a_facts_file_project(cli, fleet, tmp_path, monkeypatch):
    """docs/plan-apply.md: `plan --out PLAN --format markdown > review.md`, its options (--kind, --facts-dir,
    --quiet, --format json --output; --executor in test_executors.py) and exit codes. Facts come from files,
    so no host is contacted: there is no preview."""
    monkeypatch.chdir(tmp_path)
    base = ("--project", str(fleet), "plan")
    review = cli(*base, "--out", "change-42.plan", "--format", "markdown")
    assert review.code == 2, review.err
    assert review.out.startswith("## Reconcile plan") and "| s002 | `packages.telnetd` | 0.17-44 | absent |" in review.out
    assert "preview" not in review.out and "<details>" not in review.out
    assert re.fullmatch(r"plan: 4 step\(s\); run \d+\.\d\d s, preview 0\.00 s\n", review.err), review.err
    planned = json.loads((tmp_path / "change-42.plan").read_text())
    assert _steps(planned) == [("web-02", "packages.nginx", "manual", True),
                               ("web-02", "packages.telnetd", "package", False),
                               ("web-02", "services.nginx.enabled", "service", False),
                               ("web-02", "services.nginx.state", "service", False)]
    again = cli(*base, "--kind", "server", "--facts-dir", str(fleet / "facts"), "--quiet", "--format", "json",
                "--output", "review.json", "--out", "again.plan")
    assert (again.code, again.out, again.err) == (2, "", "")
    assert _steps(json.loads((tmp_path / "review.json").read_text())["plan"]) == _steps(planned)
    nothing = cli(*base, "--limit", "web-01")
    assert nothing.code == 0 and nothing.out == "nothing to change\n"
    (fleet / "desired" / "ghost.yml").write_text("ci: ghost\nkind: server\ndesired: {packages: {nginx: present}}\n")
    unknown = cli(*base, "--limit", "ghost")  # not in the inventory: unknown, so "nothing to change" is not clean
    assert unknown.code == 3 and unknown.out == ("nothing to change\ncould not be checked (unknown: nothing planned "
                                                 "for them):\n  ghost: host 'ghost' is not in the inventory\n")
