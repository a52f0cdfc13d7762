"""A newcomer's first hour, end to end through the command line: every refusal or error says what is wrong
(file, line, key) and what to do next, in the user's words rather than the implementation's."""

import os

from .conftest import REPO

FLEET = REPO / "examples" / "fleet"


def test_a_misspelt_option_names_the_help_of_its_command(cli):
    result = cli("--project", str(FLEET), "run", "--colour")
    assert result.code == 1
    assert result.err == "reconcile: error: unrecognized arguments: --colour (see 'reconcile run --help')\n"
    nested = cli("register", "list", "--colour")
    assert "(see 'reconcile register list --help')" in nested.err


def test_init_of_the_current_directory_says_only_what_to_run_next(cli, tmp_path):
    os.chdir(tmp_path)
    result = cli("init")
    assert result.code == 0
    assert result.out.splitlines()[-1] == "next: reconcile validate"
    elsewhere = cli("init", str(tmp_path / "my-project"))
    assert elsewhere.out.splitlines()[-1] == f"next: cd {tmp_path / 'my-project'} && reconcile validate"


def test_a_missing_inventory_group_is_named_with_the_groups_there_are(cli, project):
    project.write("inventories/hosts.ini", "[app]\nlocalhost ansible_connection=local\n")
    project.write("desired/web.yml.j2", """
        {% for host in groups['web'] %}
        ---
        ci: {{ host }}
        kind: server
        {% endfor %}
    """)
    result = cli("--project", str(project.root), "validate")
    assert result.code == 1
    assert ("desired/web.yml.j2:1: undefined variable in template: groups['web']: no such inventory group "
            "(the inventories have: all, app, ungrouped)") in result.err


def test_a_missing_host_variable_names_the_host_and_where_to_set_it(cli, project):
    project.write("inventories/hosts.ini", "[web]\nlocalhost ansible_connection=local\n")
    project.write("desired/web.yml.j2", """
        ci: web
        kind: server
        desired:
          packages: {nginx: "{{ hostvars['localhost'].nginx_version }}"}
    """)
    result = cli("--project", str(project.root), "validate")
    assert result.code == 1
    assert ("desired/web.yml.j2:4: undefined variable in template: hostvars['localhost'].nginx_version: "
            "host 'localhost' has no such variable (set it in the inventory, group_vars/ or host_vars/)"
            ) in result.err
    project.write("desired/web.yml.j2", "ci: {{ hostvars['ghost'].x }}\nkind: server\n")
    result = cli("--project", str(project.root), "validate")
    assert "hostvars['ghost']: no such host in the inventories" in result.err


def test_a_misspelt_key_is_named_on_its_own_line_with_the_keys_there_are(cli, project):
    project.write("desired/a.yml", """
        ci: a
        kind: server
        desierd:
          packages: {bash: present}
    """)
    result = cli("--project", str(project.root), "validate")
    assert result.code == 1
    assert ("desired/a.yml:3 (document 1): unknown key(s) ('desierd' was unexpected; "
            "did you mean 'desired'?)") in result.err


def test_a_misspelt_key_inside_a_file_entry_is_named_not_the_whole_entry(cli, project):
    project.write("desired/a.yml", """
        ci: a
        kind: server
        desired:
          files:
            /etc/hosts: {mode: "0644", ownr: root}
    """)
    result = cli("--project", str(project.root), "validate")
    assert result.code == 1
    assert ("desired/a.yml:5 (document 1) at 'desired.files./etc/hosts': unknown key(s) ('ownr' was "
            "unexpected; did you mean 'owner'?)") in result.err
    assert "{'mode'" not in result.err


def test_apply_of_a_missing_plan_file_says_so_before_asking_for_yes(cli, project):
    project.write("desired/.keep", "")
    result = cli("--project", str(project.root), "apply", str(project.root / "nope.plan"))
    assert result.code == 1
    plan = project.root / "nope.plan"
    assert result.err == (f"reconcile: error: plan file {plan} does not exist (write one with "
                          f"'reconcile plan --out {plan}')\n")


def test_validate_outside_a_project_says_it_found_none(cli, tmp_path):
    result = cli("--project", str(tmp_path), "validate")
    assert result.code == 1
    assert "no reconciler.yml and no desired/" in result.err and "reconcile init" in result.err


def test_show_keeps_the_facts_of_a_file_whose_name_looks_like_a_secret(cli, project, tmp_path):
    """/etc/passwd is a file name, not a password: its mode and owner are kept in the configuration
    history and shown (only the value of a secret-looking key is redacted)."""
    target = tmp_path / "etc" / "passwd"
    target.parent.mkdir()
    target.write_text("root:x:0:0:root:/root:/bin/bash\n")
    target.chmod(0o644)
    project.localhost(workstation={"files": {str(target): {"mode": "0600"}}})
    assert cli("--project", str(project.root), "run", "--quiet").code == 2
    shown = cli("--project", str(project.root), "show", "workstation").out
    facts = shown.split("last observed facts")[1]
    assert f"{target}: '***'" not in facts
    assert "mode: '0644'" in facts and "owner: " in facts


def test_the_text_report_says_what_each_flag_shown_means_and_what_to_do(cli, fleet):
    out = cli("--project", str(fleet), "run").out
    flags = out.split("FLAGS (")[1].split("\n\n")[0]
    assert ("  (configured_unowned: declared, but no asset in the register; register it: reconcile register "
            "import FILE)") in flags
    assert "  (owned_unconfigured: an asset in the register that no CI declares; declare it in desired/, or " \
           "retire the asset)" in flags
    assert "(stale:" not in flags  # only the flags shown are explained


def test_a_misspelt_ansible_setting_is_an_error_not_silently_the_default(cli, project):
    project.write("reconciler.yml", "ansible:\n  forcs: 5\n  timeout: 10\n")
    result = cli("--project", str(project.root), "validate")
    assert result.code == 1
    assert ("reconciler.yml:2 at 'ansible': unknown key(s) ('forcs' was unexpected; did you mean 'forks'?)"
            in result.err)


def test_a_misindented_line_says_to_check_the_indentation(cli, project):
    project.write("desired/a.yml", "ci: a\nkind: server\ndesired:\n  packages:\n    bash: present\n   curl: present\n")
    project.write("desired/b.yml", "ci: b\nkind: server\ndesired:\n\tpackages: {}\n")
    project.write("reconciler.yml", "ansible:\n  forks: 5\n timeout: 3\n")
    result = cli("--project", str(project.root), "validate")
    assert result.code == 1
    assert ("desired/a.yml:6: YAML syntax error: did not find expected key (while parsing a block mapping from "
            "line 4; check the indentation of this line against the lines above") in result.err
    assert ("desired/b.yml:4: YAML syntax error: found character that cannot start any token (YAML indents "
            "with spaces, not tabs)") in result.err
    assert ("reconciler.yml:3: YAML syntax error: did not find expected key (while parsing a block mapping from "
            "line 1; check the indentation") in result.err


def test_the_drifted_section_says_which_side_is_desired(cli, fleet):
    out = cli("--project", str(fleet), "run").out
    assert "\nDRIFTED (" in out
    header = out.split("\nDRIFTED (")[1].splitlines()[0]
    assert header.endswith(")   path: desired → actual")


def test_history_names_an_untracked_resource_not_its_stored_key(cli, fleet):
    assert cli("--project", str(fleet), "run", "--quiet").code == 2
    out = cli("--project", str(fleet), "history").out
    findings = out.split("open findings:")[1]
    assert "|{" not in findings
    assert ": server build-07 CZJ5555QQQ flag:untracked\n" in findings  # its name, then its serial


def test_the_usual_short_options_for_quiet_and_verbose_work(cli, fleet):
    assert cli("--project", str(fleet), "run", "-q", "-v").code == 2
    assert cli("--project", str(fleet), "untracked", "-q").code != 1


def test_what_the_demo_suggests_exploring_works_as_written(cli):
    demo = (REPO / "scripts" / "demo").read_text(encoding="utf-8")
    suggested = [line.split('"', 1)[1].split("#")[0].split()[1:] for line in demo.splitlines()
                 if line.startswith('echo "  .venv/bin/reconcile ')]
    assert [words[0] for words in suggested] == ["show", "history"]
    for words in suggested:
        result = cli("--project", str(REPO), *words)
        assert result.code == 0 and result.err == "", (words, result.err)


def test_a_waiver_for_a_path_nothing_declares_is_refused_with_the_near_miss(cli, tmp_path):
    assert cli("init", str(tmp_path / "p")).code == 0
    here = ("--project", str(tmp_path / "p"))
    result = cli(*here, "waive", "localhost", "listening_port", "--reason", "r", "--until", "2999-01-01")
    assert result.code == 1
    assert result.err.startswith("reconcile: error: 'listening_port' matches no path that localhost declares "
                                 "(did you mean 'listening_ports'? declared: files./etc/passwd.mode, ")
    for declared in ("packages.telnetd", "packages.*", "listening_ports", 'files["/etc/passwd"].exists'):
        assert cli(*here, "waive", "localhost", declared, "--reason", "r", "--until", "2999-01-01").code == 0


def test_validate_warns_of_a_server_ci_whose_host_is_in_no_inventory(cli, tmp_path):
    assert cli("init", str(tmp_path / "p")).code == 0
    (tmp_path / "p" / "desired" / "web.yml").write_text("ci: web-01\nkind: server\ndesired: {packages: {bash: present}}\n")
    result = cli("--project", str(tmp_path / "p"), "validate")
    assert result.code == 0 and result.out == "ok: 2 CIs (server), 1 inventory host\n"
    assert result.err == ("warning: desired/web.yml (document 1): CI 'web-01': host 'web-01' is not in the "
                          "inventories, so a run reports it unknown (add the host to an inventory, or set match: "
                          "{host: NAME})\n")


def test_the_plan_review_shows_each_preview_diff_once(cli, project, tmp_path):
    """A file's missing line and its mode are two steps carried out by one Ansible task (lineinfile with the
    mode): each part of its diff is shown once, under its own step, not the whole under each."""
    target = tmp_path / "motd"
    target.write_text("hello\n")
    target.chmod(0o644)
    project.localhost(workstation={"files": {str(target): {"mode": "0600", "contains": ["PermitRootLogin no"]}}})
    here = ("--project", str(project.root))
    review = cli(*here, "plan", "--quiet", "--format", "markdown").out
    preview = review.split("<details>")[1]
    assert preview.count("+PermitRootLogin no") == 1 and preview.count("+mode: 0600") == 1
    line, mode = preview.split("s002:")
    assert "s001:" in line and "+PermitRootLogin no" in line and "+mode: 0600" in mode
    text = cli(*here, "plan", "--quiet").out.split("\n  s002 ")
    assert "+PermitRootLogin no" in text[0] and "+mode" not in text[0]
    assert "+mode: 0600" in text[1] and "PermitRootLogin" not in text[1].split("\n", 1)[1]
    assert target.stat().st_mode & 0o777 == 0o644  # a preview changes nothing
