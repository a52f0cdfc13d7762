"""`reconcile run` end to end with the real ansible collector on localhost: drift created on this machine
under a temp directory is reported exactly, then mended and reported in sync."""



def write_project(project, target):
    project.localhost()
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


def test_a_licence_counts_packages_no_ci_declares_on_an_ansible_host(cli, project, tmp_path):
    """The CI declares files only; the register's licence for `BASH*` (any case) still sees this machine's
    bash package, gathered for the licence, and is over its 0 seats. The drift stays what was declared."""
    target = tmp_path / "app.conf"
    target.write_text("PermitRootLogin no\n")
    target.chmod(0o600)
    write_project(project, target)
    assets = tmp_path / "assets.csv"
    assets.write_text("Asset Tag,Name,Category,Owner,Status,Licence Product,Seats\n"
                      "LIC-1,GNU shells,software_licence,team-ops,deployed,BASH*,0\n")
    assert cli("--project", str(project.root), "register", "import", str(assets)).code == 0
    result = cli("--project", str(project.root), "run", "--format", "json")
    items = {i["asset"] or i["ci"]: i for i in result.json()["items"]}
    assert items["workstation"]["status"] == "in_sync", items["workstation"]["drift"]
    assert items["LIC-1"]["flags"] == ["licence_over"]
    assert items["LIC-1"]["identity"] == {"licence_product": "BASH*", "installations": 1, "seats": 0}
