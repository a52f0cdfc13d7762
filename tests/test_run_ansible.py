"""`reconcile run` end to end with the real ansible collector on localhost: drift created on this machine
under a temp directory is reported exactly, then mended and reported in sync."""

import sys


def write_project(project, target):
    project.write("inventories/hosts.yml", f"""
        all:
          hosts:
            localhost: {{ansible_connection: local, ansible_python_interpreter: {sys.executable}}}
    """)
    project.write("desired/local.yml", f"""
        ci: workstation
        kind: server
        owner: team-ops
        match: {{host: localhost}}
        desired:
          files:
            {target}: {{mode: "0600", contains: ["PermitRootLogin no"]}}
            {target}.old: absent
    """)


def test_drift_on_this_machine_is_reported_then_cleared(cli, project, tmp_path):
    target = tmp_path / "app.conf"
    target.write_text("PermitRootLogin yes\n")
    target.chmod(0o644)
    (tmp_path / "app.conf.old").write_text("left over\n")
    write_project(project, target)

    result = cli("--project", str(project.root), "run", "--format", "json")
    assert result.code == 2, result.err
    item = result.json()["items"][0]
    assert {(tuple(d["path_parts"]), d["path"], d["change"], str(d["actual"])) for d in item["drift"]} == {
        (("files", str(target), "mode"), f'files["{target}"].mode', "changed", "0644"),
        (("files", str(target), "contains"), f'files["{target}"].contains', "changed", "[]"),
        (("files", f"{target}.old", "exists"), f'files["{target}.old"].exists', "changed", "True"),  # declared absent
    }
    assert result.json()["run"]["sources"] == [{"collector": "ansible", "scope": "localhost", "status": "ok",
                                                "error": None}]

    target.write_text("PermitRootLogin no\n")
    target.chmod(0o600)
    (tmp_path / "app.conf.old").unlink()
    again = cli("--project", str(project.root), "run", "--format", "json")
    assert again.code == 0, again.json()["items"][0]["drift"]
    assert again.json()["items"][0]["status"] == "in_sync"
