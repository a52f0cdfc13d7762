"""Honest failures: every bad input ends as exit 1 with one line naming what is wrong (file, line, key),
or as that one target `unknown` — never a traceback, an `internal error`, or a false "clean".

Table-driven, in-process through the CLI: (files to write, arguments, expected exit code, words that the
first line of stderr must hold). `{root}` and `{facts}` in arguments are the project and its facts dir.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

BOMB = """&a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
x1: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
x2: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
x3: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
x4: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
x5: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
x6: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
x7: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
"""
LAUGHS = "lol: " + BOMB  # a mapping whose values expand to 9^8 strings
CI = "ci: web-01\nkind: server\ndesired:\n  sysctl: {vm.swappiness: '60'}\n"
INVENTORY = "web-01 ansible_connection=local\n"
FACTS = {"ansible_facts": {"ansible_hostname": "web-01", "ansible_distribution": "Debian"}}
BASE = {"inventories/hosts": INVENTORY, "desired/web.yml": CI}
RUN = ("run", "--facts-dir", "{facts}", "--format", "json")


def files(**extra: str | bytes | None) -> dict[str, str | bytes | None]:
    """The base project (one local host, one CI) with some files replaced (None: removed)."""
    return {**BASE, **{name.replace("__", "/").replace("_DOT_", "."): text for name, text in extra.items()}}


def case(name: str, written: dict, args: tuple, code: int, *words: str):
    return pytest.param(written, args, code, words, id=name)


CASES = [
    # --- the project directory --------------------------------------------------------------------
    case("project-missing-validate", {}, ("--project", "{root}/nope", "validate"), 1, "nope", "no such directory"),
    case("project-missing-run", {}, ("--project", "{root}/nope", "run"), 1, "no such directory"),
    case("project-missing-register-list", {}, ("--project", "{root}/nope", "register", "list"), 1,
         "no such directory"),
    case("project-is-a-file", {"plain": "x"}, ("--project", "{root}/plain", "run"), 1, "not a directory"),
    # --- reconciler.yml ---------------------------------------------------------------------------
    case("settings-binary", files(reconciler_DOT_yml=b"\x00\x01\xff\xfe"), ("validate",), 1,
         "reconciler.yml", "cannot be read"),
    case("settings-latin1", files(reconciler_DOT_yml="ignore: ['caf\xe9']\n".encode("latin-1")), ("validate",), 1,
         "reconciler.yml", "utf-8"),
    case("settings-alias-bomb", files(reconciler_DOT_yml="ignore: " + BOMB), ("validate",), 1,
         "reconciler.yml", "alias"),
    case("settings-duplicate-key", files(reconciler_DOT_yml="stale_after: 30d\nignore: []\nstale_after: 5d\n"),
         ("validate",), 1, "reconciler.yml:3", "duplicate key 'stale_after'", "line 1", "line 3"),
    case("settings-syntax", files(reconciler_DOT_yml="ignore: [a\n"), ("validate",), 1,
         "reconciler.yml", "YAML syntax error"),
    case("settings-not-a-mapping", files(reconciler_DOT_yml="- a\n- b\n"), ("validate",), 1,
         "reconciler.yml", "not of type"),
    case("settings-unknown-key", files(reconciler_DOT_yml="regsiter: x\n"), ("validate",), 1,
         "reconciler.yml:1", "regsiter"),
    case("settings-regions-string", files(reconciler_DOT_yml="aws: {regions: eu-west-1}\n"), ("validate",), 1,
         "reconciler.yml:1", "aws.regions", "not of type 'array'"),
    case("settings-accounts-string", files(reconciler_DOT_yml="aws:\n  accounts: '123456789012'\n"),
         ("validate",), 1, "reconciler.yml:2", "aws.accounts"),
    case("settings-unknown-aws-kind", files(reconciler_DOT_yml="aws:\n  kinds: [aws.ec2.instance, aws.s3.bukket]\n"),
         ("validate",), 1, "reconciler.yml:2", "aws.kinds.1", "aws.s3.bukket"),
    case("settings-facts-dir-nowhere", files(reconciler_DOT_yml="facts_dir: gathered/\n"), ("validate",), 1,
         "reconciler.yml:1", "facts_dir", "not a directory"),
    case("settings-bad-stale-after", files(reconciler_DOT_yml="stale_after: soon\n"), ("validate",), 1,
         "reconciler.yml:1", "stale_after"),
    case("settings-bad-severity", files(reconciler_DOT_yml="default_severity: urgent\n"), ("validate",), 1,
         "default_severity", "urgent"),
    case("settings-negative-stale-after", files(reconciler_DOT_yml="stale_after: -1\n"), RUN, 1, "stale_after"),
    case("settings-identification-shape", files(reconciler_DOT_yml="identification: {server: 5}\n"), RUN, 1,
         "reconciler.yml:1", "identification.server"),
    case("settings-control-character", files(reconciler_DOT_yml="ignore: ['\x07']\n"), ("validate",), 1,
         "reconciler.yml", "control characters"),
    case("settings-broken-register-list", files(reconciler_DOT_yml="register: [\n"), ("register", "list"), 1,
         "reconciler.yml", "YAML syntax error"),
    case("settings-broken-run", files(reconciler_DOT_yml="ansible: {forks: 0}\n"), RUN, 1,
         "reconciler.yml:1", "ansible.forks"),
    # --- desired/ ---------------------------------------------------------------------------------
    case("ci-alias-bomb-owner", files(desired__web_DOT_yml=CI + "owner: " + BOMB), ("validate",), 1,
         "desired/web.yml", "alias"),
    case("ci-duplicate-key", files(desired__web_DOT_yml=CI + "kind: server\n"), ("validate",), 1,
         "desired/web.yml:5", "duplicate key 'kind'", "line 2"),
    case("ci-duplicate-desired-key", files(desired__web_DOT_yml=CI + "  sysctl: {}\n"), ("validate",), 1,
         "desired/web.yml:5", "duplicate key 'sysctl'"),
    case("two-baselines-one-name", files(desired__b1_DOT_yml="baseline: debian\ndesired: {}\n",
                                         desired__b2_DOT_yml="baseline: debian\ndesired: {}\n"),
         ("validate",), 1, "desired/b2.yml:1", "duplicate baseline 'debian'", "desired/b1.yml"),
    case("ci-unknown-kind", files(desired__web_DOT_yml="ci: x\nkind: serverr\n"), ("validate",), 1,
         "desired/web.yml:2", "unknown kind 'serverr'"),
    case("ci-missing-kind", files(desired__web_DOT_yml="ci: x\n"), ("validate",), 1, "missing required key"),
    case("ci-template-syntax", files(desired__web_DOT_yml_DOT_j2="ci: {{ x \n"), ("validate",), 1,
         "desired/web.yml.j2", "template syntax error"),
    case("ci-template-undefined", files(desired__web_DOT_yml_DOT_j2="ci: {{ nothing }}\nkind: server\n"),
         ("validate",), 1, "desired/web.yml.j2:1", "undefined"),
    case("ci-baseline-cycle", files(desired__b_DOT_yml="baseline: a\nextends: [b]\n---\nbaseline: b\nextends: [a]\n",
                                    desired__web_DOT_yml=CI + "extends: [a]\n"), ("validate",), 1, "baseline cycle"),
    case("ci-duplicate-id", files(desired__two_DOT_yml=CI), ("validate",), 1, "duplicate CI id 'web-01'"),
    case("ci-huge-value-is-short", files(desired__web_DOT_yml=CI + "owner: [" + ", ".join(["x" * 50] * 5000) + "]\n"),
         ("validate",), 1, "desired/web.yml:5", "owner", "not of type"),
    case("ci-bad-value-type", files(desired__web_DOT_yml=CI + "relations: {depends_on: db-01}\n"), ("validate",), 1,
         "relations.depends_on"),
    case("ci-binary-file", files(desired__web_DOT_yml=b"\xff\xfe\x00\x00ci"), ("validate",), 1,
         "desired/web.yml", "cannot be read"),
    case("ci-not-a-mapping", files(desired__web_DOT_yml="- just\n- a list\n"), ("validate",), 1,
         "a document must be a mapping"),
    case("ci-deeply-nested", files(desired__web_DOT_yml="[" * 20000), ("validate",), 1, "desired/web.yml"),
    # --- inventories ------------------------------------------------------------------------------
    case("inventory-wrong-shape", files(inventories__hosts=None, inventories__hosts_DOT_yml="all: [a, b]\n"),
         ("validate",), 1, "inventories/hosts.yml:1", "group 'all' must be a mapping"),
    case("inventory-binary", files(inventories__hosts=b"\xff\xfe\x00\x01web"), ("validate",), 1,
         "inventories/hosts", "not UTF-8"),
    case("group-vars-yaml-error", files(inventories__group_vars__all_DOT_yml="a: [1\nb: 2\n",
                                        desired__web_DOT_yml_DOT_j2=CI + "owner: \"{{ hostvars['web-01'].a }}\"\n"),
         ("validate",), 1, "inventories/group_vars/all.yml:2", "YAML error"),
    case("group-vars-not-a-mapping", files(inventories__group_vars__all_DOT_yml="- a\n"), ("validate",), 1,
         "inventories/group_vars/all.yml", "must be a mapping"),
    case("host-vars-yaml-error", files(**{"inventories/host_vars/web-01.yml": "a: [1\n"},
                                       desired__web_DOT_yml_DOT_j2=CI + "owner: \"{{ hostvars['web-01'].a }}\"\n"),
         ("validate",), 1, "inventories/host_vars/web-01.yml:2", "variables of host 'web-01'"),
    case("inventory-alias-bomb", files(inventories__hosts=None, inventories__hosts_DOT_yml="all:\n  vars:\n    " +
                                       LAUGHS.replace("\n", "\n    ")), ("validate",), 1,
         "inventories/hosts.yml", "alias"),
    case("group-vars-alias-bomb", files(inventories__group_vars__all_DOT_yml=LAUGHS,
                                        desired__web_DOT_yml_DOT_j2=CI + "owner: \"{{ hostvars['web-01'].a }}\"\n"),
         ("validate",), 1, "inventories/group_vars/all.yml", "alias"),
    case("inventory-children-not-a-mapping", files(inventories__hosts=None,
                                                   inventories__hosts_DOT_yml="all:\n  children: web\n"),
         ("validate",), 1, "inventories/hosts.yml:2", "'children' of group 'all' must be a mapping"),
    case("inventory-source-missing", files(reconciler_DOT_yml="inventories: [elsewhere/]\n"), ("validate",), 1,
         "elsewhere", "does not exist"),
    # --- plugins ----------------------------------------------------------------------------------
    case("plugin-collectors-int", files(plugins__x_DOT_py="COLLECTORS = 5\n"), ("validate",), 1,
         "plugins/x.py", "COLLECTORS must be a list"),
    case("plugin-collectors-object", files(plugins__x_DOT_py="COLLECTORS = [object]\n"), ("validate",), 1,
         "plugins/x.py", "COLLECTORS[0]", "not a subclass"),
    case("plugin-syntax-error", files(plugins__x_DOT_py="def (:\n"), ("validate",), 1,
         "plugins/x.py", "plugin failed to load"),
    case("plugin-exits", files(plugins__x_DOT_py="raise SystemExit(3)\n"), RUN, 1, "plugins/x.py",
         "plugin failed to load"),
    case("plugin-raises", files(plugins__x_DOT_py="raise RuntimeError('boom')\n"), ("validate",), 1,
         "plugins/x.py", "boom"),
    # --- run options and preflight ----------------------------------------------------------------
    case("limit-matches-nothing", files(), RUN + ("--limit", "typo*"), 1, "--limit 'typo*' matches no declared CI",
         "web-01"),
    case("kind-matches-no-kind", files(), RUN + ("--kind", "servr"), 1, "--kind 'servr' matches no kind"),
    case("kind-with-nothing-to-look-at", files(), RUN + ("--kind", "aws.*"), 1, "nothing to reconcile"),
    case("empty-project", {"inventories/hosts": INVENTORY}, RUN, 1, "nothing to reconcile",
         "no CI is declared"),
    case("untracked-empty-project", {"inventories/hosts": INVENTORY}, ("untracked",), 1, "nothing to reconcile"),
    case("output-dir-missing", files(), RUN + ("--output", "{root}/missing/dir/r.json"), 1,
         "--output", "does not exist"),
    case("output-is-a-directory", files(), RUN + ("--output", "{root}/desired"), 1, "--output", "is a directory"),
    case("facts-dir-missing", files(), ("run", "--facts-dir", "{root}/nowhere"), 1, "--facts-dir", "no such directory"),
    # --- register DSNs ----------------------------------------------------------------------------
    case("dsn-garbage", files(), ("--register", ":::not a dsn:::", "register", "list"), 1,
         "not valid", "supported: sqlite"),
    case("dsn-bad-port", files(), ("--register", "postgresql://u@127.0.0.1:notaport/db", "register", "list"), 1,
         "not valid", "port"),
    case("dsn-mysql", files(), ("--register", "mysql://u@127.0.0.1/db", "register", "list"), 1,
         "scheme 'mysql' is not supported", "postgresql://"),
    case("dsn-unreachable-postgres", files(), ("--register", "postgresql://u:hunter2pw@127.0.0.1:9/db", "history"), 1,
         "cannot open register", "127.0.0.1"),
    case("dsn-query-password", files(), ("--register", "postgresql://u@127.0.0.1:9/db?password=hunter2pw",
                                         "history"), 1, "cannot open register"),
    case("dsn-sqlite-in-missing-tree", files(), ("--register", "sqlite:///{root}/no/such/tree/r.db", "history"), 1,
         "cannot open register", "does not exist"),
    case("dsn-sqlite-not-a-database", files(), ("--register", "sqlite:///{root}/desired/web.yml", "history"), 1,
         "cannot open register", "not a database"),
    case("import-nul-byte", files(**{"a.csv": "asset_tag,name\nA-1,a\x00b\n"}), ("register", "import", "{root}/a.csv"),
         1, "a.csv", "line 2"),
    # --- register commands ------------------------------------------------------------------------
    case("waive-unknown-ci", files(), ("waive", "web-99", "sysctl.*", "--reason", "r", "--until", "2999-01-01"), 1,
         "'web-99' matches no declared CI", "web-01"),
    case("report-unknown-run", files(), ("report", "no-such-run"), 1, "no recorded run 'no-such-run'"),
    case("import-cell-too-big", files(**{"big.csv": "asset_tag,notes\nA-1," + "x" * 140_000 + "\n"}),
         ("register", "import", "{root}/big.csv"), 1, "big.csv", "line", "field larger"),
    case("import-json-too-deep", files(**{"deep.json": "[" * 100_000 + "]" * 100_000}),
         ("register", "import", "{root}/deep.json"), 1, "deep.json", "nested too deeply"),
    case("import-json-not-a-list", files(**{"a.json": '{"x": 1}'}), ("register", "import", "{root}/a.json"), 1,
         "a.json", "expected a JSON list"),
    case("import-no-tag-column", files(**{"a.csv": "name\nx\n"}), ("register", "import", "{root}/a.csv"), 1,
         "no asset tag column"),
    case("import-binary", files(**{"a.csv": b"\xff\xfe\x00"}), ("register", "import", "{root}/a.csv"), 1,
         "cannot read"),
    case("import-missing-file", files(), ("register", "import", "{root}/none.csv"), 1, "none.csv"),
    case("show-unknown-id", files(), ("show", "nothing-here"), 1, "'nothing-here' is neither a CI"),
]

SECRET = "hunter2pw"


def _materialise(root: Path, written: dict) -> None:
    for name, text in written.items():
        if text is None:
            continue
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    (root / "facts").mkdir(exist_ok=True)
    (root / "facts" / "web-01").write_text(json.dumps(FACTS))


@pytest.mark.parametrize("written, args, code, words", CASES)
def test_bad_input_is_one_clear_line(cli, tmp_path, monkeypatch, written, args, code, words):
    monkeypatch.setenv("PGPASSWORD", SECRET)
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "5")
    root = tmp_path / "p"
    root.mkdir()
    _materialise(root, written)
    argv = [a.format(root=root, facts=root / "facts") for a in args]
    if not argv[0].startswith("--project"):
        argv = ["--project", str(root), *argv]
    result = cli(*argv)
    first = (result.err.strip().splitlines() or [""])[0]
    assert result.code == code, result.err
    for word in words:
        assert word in first, first
    assert "internal error" not in result.err and "Traceback" not in result.err
    assert len(first) < 600  # user values are quoted short
    assert SECRET not in result.err + result.out
    assert not (root / "nope").exists() and not (root / "plain" / ".reconciler").exists()


# --- one malformed facts file: that host unknown, the run goes on ----------------------------------

FACT_SHAPES = [
    pytest.param("[" * 100_000 + "]" * 100_000, "nested too deeply", id="deeply-nested"),
    pytest.param(json.dumps({"packages": {"nginx": "1.22"}}), "packages must map each name", id="packages-values-strings"),
    pytest.param(json.dumps({"packages": {"nginx": [1, 2]}}), "list of package_facts records", id="package-entries-not-objects"),
    pytest.param(json.dumps({"services": {"nginx": "running"}}), "services must map each unit", id="services-values-strings"),
    pytest.param(json.dumps({"ansible_facts": ["a", "b"]}), "ansible_facts must be an object", id="facts-a-list"),
    pytest.param(json.dumps({"__payload__": 5}), "__payload__ must be a JSON string", id="payload-not-a-string"),
    pytest.param(json.dumps({"__payload__": "[1]"}), "__payload__ must hold a JSON object", id="payload-a-list"),
    pytest.param(json.dumps({"reconciler_facts": [1]}), "reconciler_facts must be an object", id="ours-a-list"),
    pytest.param(json.dumps({"reconciler_facts": {"sysctl": "x"}}), "sysctl must be an object", id="ours-bad-section"),
    pytest.param("{not json", "cannot be read", id="not-json"),
    pytest.param("\xff\xfe", "cannot be read", id="not-utf8"),
]


@pytest.mark.parametrize("text, reason", FACT_SHAPES)
def test_a_malformed_facts_file_makes_only_its_host_unknown(cli, project, text, reason):
    project.write("inventories/hosts", "web-01 ansible_connection=local\nweb-02 ansible_connection=local\n")
    project.write("desired/web.yml", CI + "---\n" + CI.replace("web-01", "web-02"))
    project.facts("web-02", {"reconciler_facts": {"sysctl": {"vm.swappiness": "60"}}})
    (project.root / "facts" / "web-01").write_text(text, encoding="utf-8", errors="surrogateescape")
    result = cli("--project", str(project.root), "run", "--facts-dir", str(project.root / "facts"),
                 "--format", "json")
    assert result.code in (2, 3), result.err
    items = {item["ci"]: item for item in result.json()["items"]}
    assert items["web-01"]["status"] == "unknown" and reason in items["web-01"]["error"]
    assert items["web-02"]["status"] in ("in_sync", "drifted")
    assert "Traceback" not in result.err


def test_init_honours_project_and_other_commands_create_nothing(cli, tmp_path):
    target = tmp_path / "new"
    assert cli("--project", str(target), "run").code == 1 and not target.exists()
    assert cli("--project", str(target), "init").code == 0
    assert (target / "reconciler.yml").is_file() and (target / "desired").is_dir()


def test_a_register_written_by_a_newer_release_is_refused(cli, project, private_register):
    project.write("desired/web.yml", CI)
    assert cli("--project", str(project.root), "history").code == 0  # creates and migrates the register
    import sqlite3

    with sqlite3.connect(private_register) as db:
        db.execute("UPDATE alembic_version SET version_num = 'f00dfeed9999'")
    result = cli("--project", str(project.root), "history")
    assert result.code == 1 and "written by a newer reconciler; upgrade" in result.err, result.err


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "junit"])
def test_report_re_renders_a_recorded_run_in_every_format(cli, project, fmt):
    project.write("inventories/hosts", INVENTORY)
    project.write("desired/web.yml", CI)
    project.facts("web-01", FACTS)
    first = cli("--project", str(project.root), "run", "--facts-dir", str(project.root / "facts"),
                "--format", "json")
    run_id = first.json()["run"]["id"]
    again = cli("--project", str(project.root), "report", run_id, "--format", fmt)
    assert again.code == first.code and "web-01" in again.out, again.err
    if fmt == "json":
        assert again.json()["items"] == first.json()["items"]


def test_dsn_credentials_never_printed(cli, project):
    project.write("desired/web.yml", CI)
    for dsn in (f"postgresql://u:{SECRET}@127.0.0.1:9/db", f"postgresql://u@127.0.0.1:9/db?password={SECRET}",
                f"postgresql://u:{SECRET}@127.0.0.1:notaport/db", f"mysql://u:{SECRET}@127.0.0.1/db"):
        result = cli("--project", str(project.root), "--register", dsn, "history")
        assert result.code == 1 and SECRET not in result.err and "***" in result.err or "mysql" in result.err


def test_secret_facts_are_neither_stored_nor_shown(cli, project, private_register):
    project.write("inventories/hosts", INVENTORY)
    project.write("desired/web.yml", CI)
    project.facts("web-01", {"reconciler_facts": {"sysctl": {"vm.swappiness": "60", "app.db_password": SECRET},
                                                  "password": SECRET, "api_token": SECRET}})
    result = cli("--project", str(project.root), "run", "--facts-dir", str(project.root / "facts"),
                 "--format", "json")
    assert result.code == 0, result.err
    shown = cli("--project", str(project.root), "show", "web-01", "--format", "json")
    assert shown.code == 0 and SECRET not in shown.out
    assert shown.json()["observed"]["facts"]["sysctl"] == {"vm.swappiness": "60", "app.db_password": "***"}
    assert SECRET.encode() not in Path(private_register).read_bytes()


def test_export_neutralises_formulas_and_import_round_trips_them(cli, project, tmp_path):
    project.write("desired/web.yml", CI)
    values = {"A-1": "=HYPERLINK(\"http://x\")", "A-2": "+1", "A-3": "-2", "A-4": "@SUM(A1)", "A-5": "'quoted"}
    rows = "".join(f"{tag},\"{value.replace(chr(34), chr(34) * 2)}\"\n" for tag, value in values.items())
    (tmp_path / "in.csv").write_text("asset_tag,notes\n" + rows)
    base = ("--project", str(project.root))
    assert cli(*base, "register", "import", str(tmp_path / "in.csv")).code == 0
    exported = cli(*base, "register", "export", "--format", "csv").out
    import csv
    import io

    cells = [row[list(rows_header := next(csv.reader(io.StringIO(exported)))).index("notes")]
             for row in list(csv.reader(io.StringIO(exported)))[1:]]
    assert rows_header and all(not cell.startswith(("=", "+", "-", "@")) for cell in cells), cells
    (tmp_path / "out.csv").write_text(exported)
    again = cli(*base, "register", "import", str(tmp_path / "out.csv"), "--dry-run")
    assert again.code == 0 and "unchanged 5" in again.out, again.out
    listed = {a["asset_tag"]: a["notes"] for a in cli(*base, "register", "list", "--format", "json").json()}
    assert listed == values


def test_environment_secrets_are_masked(cli, project, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", SECRET)
    project.write("desired/web.yml", CI)
    result = cli("--project", str(project.root), "--register", f"postgresql://u@127.0.0.1:9/{SECRET}", "history")
    assert result.code == 1 and SECRET not in result.err


assert len(CASES) + len(FACT_SHAPES) >= 60, "the battery shrank"



BROKEN_PLUGIN = """
from reconciler.collectors.base import Collector, Kind

class Boom(Collector):
    name = "boom"
    kinds = [Kind(name="boom.thing", desired_schema={"type": "object"})]

    def collect(self, cis):
        return 1 / 0

COLLECTORS = [Boom]
"""


def test_a_collector_that_breaks_makes_its_cis_unknown_not_the_run_end(cli, project):
    project.write("inventories/hosts", INVENTORY)
    project.write("desired/web.yml", CI + "---\nci: thing-1\nkind: boom.thing\ndesired: {size: 1}\n")
    project.write("plugins/boom.py", BROKEN_PLUGIN)
    project.facts("web-01", {"reconciler_facts": {"sysctl": {"vm.swappiness": "60"}}})
    result = cli("--project", str(project.root), "run", "--facts-dir", str(project.root / "facts"),
                 "--format", "json")
    assert result.code == 3, result.err
    items = {item["ci"]: item for item in result.json()["items"]}
    assert items["thing-1"]["status"] == "unknown"
    assert "collector 'boom' failed: ZeroDivisionError" in items["thing-1"]["error"]
    assert items["web-01"]["status"] == "in_sync"


@pytest.mark.parametrize("text, shown", [
    ("postgresql://u:pw1@h/db", "postgresql://u:***@h/db"),
    ("postgresql://u:p@ss@w0rd@h:5432/db?x=a@b", "postgresql://u:***@h:5432/db?x=a@b"),
    ("cannot reach postgresql://u:p@ss@h", "cannot reach postgresql://u:***@h"),
    ("postgresql://u@h/db?password=pw1&sslmode=require", "postgresql://u@h/db?password=***&sslmode=require"),
    ("host=h password=pw1 dbname=d", "host=h password=*** dbname=d"),
    ("host=h password='pw 1' dbname=d", "host=h password=*** dbname=d"),
])
def test_every_dsn_credential_form_is_masked(text, shown):
    from reconciler.secrets import mask

    assert mask(text) == shown


def test_secret_looking_keys_are_redacted_by_whole_word():
    from reconciler.secrets import redact

    facts = {"db_password": 1, "API_KEY": 2, "libsecret-1-0": "3", "tokenizers": "4",
             "nested": [{"client-secret": 5, "aws_credentials": 6, "private_key": 7, "passwd": 8}]}
    assert redact(facts) == {"db_password": "***", "API_KEY": "***", "libsecret-1-0": "3", "tokenizers": "4",
                             "nested": [{"client-secret": "***", "aws_credentials": "***", "private_key": "***",
                                         "passwd": "***"}]}
