"""The command line as a user meets it: init, validate, run on the bundled example, exit codes, reports."""

import json
import subprocess
import sys

from .conftest import REPO, assert_valid_report

FLEET = REPO / "examples" / "fleet"  # facts_dir: facts/ in its reconciler.yml
EXAMPLE = ("--project", str(FLEET))
EXAMPLE_FACTS = ("--facts-dir", str(FLEET / "facts"))  # the same directory, given on the command line


def test_init_then_validate_works_in_a_new_directory(cli, tmp_path):
    assert cli("init", str(tmp_path / "x")).code == 0
    result = cli("--project", str(tmp_path / "x"), "validate")
    assert result.code == 0, result.err
    assert result.out.startswith("ok: 1 CI (server), 1 inventory host")


def test_init_refuses_to_overwrite_a_project(cli, tmp_path):
    cli("init", str(tmp_path))
    result = cli("init", str(tmp_path))
    assert result.code == 1 and "refusing to overwrite" in result.err


def test_the_example_run_reports_its_drift_as_json(cli):
    result = cli(*EXAMPLE, "run", *EXAMPLE_FACTS, "--format", "json")
    assert result.code == 2
    report = result.json()
    assert report["schema"] == "reconciler.report/v1"
    assert set(report["run"]) >= {"id", "started_at", "finished_at", "exit_code", "sources"}
    assert report["run"]["exit_code"] == 2
    assert report["summary"]["cis"] == 3 and report["summary"]["drifted"] == 1
    web02 = next(i for i in report["items"] if i["ci"] == "web-02")
    assert {d["path"]: (d["change"], d["actual"]) for d in web02["drift"]} == {
        "packages.nginx": ("changed", "1.18.0-6.1+deb11u3"),
        "packages.telnetd": ("unexpected", "0.17-44"),
        "services.nginx.enabled": ("changed", False),
        "services.nginx.state": ("changed", "stopped"),
    }
    assert web02["severity"] == "high"  # services.* are high in the example's reconciler.yml
    assert report["run"]["sources"][0]["collector"] == "facts_dir"


def test_facts_dir_from_reconciler_yml_needs_no_flag(cli):
    report = cli(*EXAMPLE, "run", "--format", "json").json()
    assert report["summary"]["drifted"] == 1 and {s["collector"] for s in report["run"]["sources"]} == {"facts_dir"}
    declared = [i["ci"] for i in report["items"] if i["ci"]]
    assert declared == sorted(declared)


def test_the_text_report_shows_desired_to_actual(cli):
    result = cli(*EXAMPLE, "run", *EXAMPLE_FACTS)
    assert "DRIFTED (1)" in result.out
    assert "packages.nginx: 1.22.* → 1.18.0-6.1+deb11u3  (changed, medium)" in result.out
    assert "\033[" not in result.out  # no colour when not on a terminal


def test_fail_on_raises_the_bar_for_exit_2(cli):
    assert cli(*EXAMPLE, "run", *EXAMPLE_FACTS, "--fail-on", "high").code == 2
    assert cli(*EXAMPLE, "run", *EXAMPLE_FACTS, "--fail-on", "critical").code == 0


def test_limit_and_kind_select_cis(cli):
    report = cli(*EXAMPLE, "run", *EXAMPLE_FACTS, "--format", "json", "--limit", "web-0[1]").json()
    assert [i["ci"] for i in report["items"]] == ["web-01"] and report["run"]["exit_code"] == 0
    # no aws CI and no aws: section: nothing of that kind is looked at, which is an error, not "clean"
    nothing = cli(*EXAMPLE, "run", *EXAMPLE_FACTS, "--format", "json", "--kind", "aws.*")
    assert nothing.code == 1 and "nothing to reconcile: no CI matches the selection" in nothing.err


def test_output_writes_the_report_to_a_file(cli, tmp_path):
    target = tmp_path / "report.json"
    result = cli(*EXAMPLE, "run", *EXAMPLE_FACTS, "--format", "json", "--output", str(target))
    assert result.code == 2 and result.out == ""
    assert json.loads(target.read_text())["summary"]["drifted"] == 1


def test_validate_lists_every_problem_and_exits_1(cli, project):
    project.write("desired/a.yml", "ci: a\nkind: nope\n")
    project.write("desired/b.yml", "ci: b\nkind: server\ndesired: {packages: [x]}\n")
    result = cli("--project", str(project.root), "validate")
    assert result.code == 1
    assert "desired/a.yml:2 (document 1) at 'kind': unknown kind 'nope'" in result.err
    assert "desired/b.yml:3 (document 1) at 'desired.packages'" in result.err
    assert "2 problems found" in result.err


def test_a_broken_project_ends_in_one_line_and_exit_1_without_traceback(project):
    project.write("desired/a.yml", "ci: a\nkind: server\ndesired: {packages: {x: \"{{ undefined_var }}\"}}\n")
    done = subprocess.run([sys.executable, "-m", "reconciler", "--project", str(project.root), "run"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "desired/a.yml:3: undefined variable in template: 'undefined_var' is undefined" in done.stderr


def test_markdown_and_junit_reports_show_the_drift(cli):
    markdown = cli(*EXAMPLE, "run", "--format", "markdown")
    assert markdown.code == 2
    assert "| `packages.nginx` | 1.22.* | 1.18.0-6.1+deb11u3 | changed | medium |" in markdown.out
    junit = cli(*EXAMPLE, "run", "--format", "junit")
    import xml.etree.ElementTree as ET

    suite = ET.fromstring(junit.out.split("?>", 1)[1]).find("testsuite[@name='reconcile']")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "0")
    failing = [case.get("name") for case in suite if case.find("failure") is not None]
    assert failing == ["web-02"]


def test_the_fleet_example_with_its_register_shows_ownership_flags(cli):
    assert cli(*EXAMPLE, "register", "import", str(FLEET / "register.csv")).code == 0
    report = cli(*EXAMPLE, "run", "--format", "json").json()
    flags = {(i["ci"] or i["asset"] or i["identity"].get("host")): i["flags"] for i in report["items"] if i["flags"]}
    assert flags == {
        "web-02": ["configured_unowned"],          # declared and seen, in no asset record
        "db-01": ["eol"],                          # registered, past its end of life
        "ASSET-0103": ["owned_unconfigured"],      # registered; nothing looks for it (not covered, not unseen)
        "LIC-0101": ["licence_over"],              # nginx on web-01 and web-02, one seat
        "build-07": ["untracked"],                 # facts gathered, neither declared nor registered
    }
    coverage = report["summary"]["coverage"]
    assert (coverage["declared_pct"], coverage["owned_pct"], coverage["configured_assets_pct"]) == (60.0, 50.0, 66.7)
    assert report["summary"]["flags"]["untracked"] == 1


def test_untracked_lists_only_what_nobody_declared_or_registered(cli):
    result = cli(*EXAMPLE, "untracked", "--format", "json")
    assert result.code == 2
    assert [(i["kind"], i["identity"]["host"]) for i in result.json()["items"]] == [("server", "build-07")]


def test_the_readme_example_shows_every_row_of_the_classification_table(cli, private_register):
    """What `bash scripts/demo` runs: this machine over Ansible, an emulated AWS account, the register."""
    assert cli("--project", str(REPO), "register", "import", str(REPO / "examples" / "register.csv")).code == 0
    done = subprocess.run([sys.executable, str(REPO / "examples" / "emulated_aws.py"), "--", sys.executable, "-m",
                           "reconciler", "--project", str(REPO), "run", "--format", "json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    report = json.loads(done.stdout)
    assert_valid_report(report)
    items = {i["ci"] or i["asset"] or i["identity"].get("name") or i["identity"]["id"]: i for i in report["items"]}
    localhost = items["localhost"]
    assert localhost["status"] in ("in_sync", "drifted") and localhost["asset"] == "ASSET-0001"
    rows = {name: (item["status"], item["flags"]) for name, item in items.items() if name != "localhost"}
    assert rows["web-assets"] == ("drifted", [])                          # D R O
    assert rows["reports"] == ("missing", [])                             # D R -
    assert rows["logs"] == ("in_sync", ["configured_unowned"])            # D - O
    assert rows["ci-runner"] == ("missing", ["configured_unowned"])       # D - -
    assert rows["CLOUD-0003"] == (None, ["owned_unconfigured"])           # - R O
    assert rows["CLOUD-0004"] == (None, ["owned_unconfigured", "unseen"])  # - R -: buckets were listed
    assert rows["ASSET-0004"] == (None, ["owned_unconfigured"])  # a server nothing looked for: not covered
    assert rows["tmp-export-2024"] == (None, ["untracked"])               # - - O
    volume = next(i for i in report["items"] if i["kind"] == "aws.ec2.volume")
    assert volume["flags"] == ["untracked"] and volume["details"]["attached"] is False
    assert {s["collector"] for s in report["run"]["sources"]} == {"ansible", "aws"}
    assert all(s["status"] == "ok" for s in report["run"]["sources"])


def test_untracked_in_the_emulated_account_and_strict_adds_provider_defaults(cli, private_register):
    cli("--project", str(REPO), "register", "import", str(REPO / "examples" / "register.csv"))

    def untracked(*extra):
        done = subprocess.run([sys.executable, str(REPO / "examples" / "emulated_aws.py"), "--", sys.executable,
                               "-m", "reconciler", "--project", str(REPO), "untracked", "--kind", "aws.*",
                               "--format", "json", *extra], capture_output=True, text=True, timeout=300)
        assert done.returncode == 2, done.stderr
        assert_valid_report(json.loads(done.stdout))
        return sorted((i["kind"], i["identity"].get("name") or i["identity"]["id"][:4])
                      for i in json.loads(done.stdout)["items"])

    # acme-finance-archive is registered (owned, unconfigured), so it is not untracked
    assert untracked() == [("aws.ec2.instance", "web-frontend"), ("aws.ec2.volume", "vol-"),
                           ("aws.s3.bucket", "tmp-export-2024")]
    assert ("aws.ec2.security_group", "default") in untracked("--strict")
