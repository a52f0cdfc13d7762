"""The facts_dir collector end to end through the CLI: every accepted file shape, and every way a host's
facts can be unusable (which must make its CI unknown, never in sync)."""

import json

import pytest

SETUP = {"ansible_distribution": "Debian", "ansible_distribution_major_version": "12",
         "ansible_hostname": "web-01", "ansible_product_serial": "ABC123",
         "packages": {"nginx": [{"name": "nginx", "version": "1.22.1-9", "source": "apt"}],
                      "bash": [{"name": "bash", "version": "5.2.15", "release": "2", "epoch": None}]},
         "services": {"nginx.service": {"name": "nginx.service", "state": "stopped", "status": "disabled"}}}

DESIRED = """
ci: web-01
kind: server
owner: team-web
desired:
  os: {distribution: Debian, major_version: 12}
  packages: {nginx: "1.22.*", telnetd: absent}
"""

SHAPES = {
    "setup --tree": ("web-01", {"ansible_facts": SETUP, "changed": False}),
    "jsonfile cache before 2.19": ("web-01", SETUP),
    "jsonfile cache 2.19": ("s1_web-01", {"__payload__": json.dumps(SETUP)}),
    "file with .json suffix": ("web-01.json", SETUP),
}


@pytest.fixture
def web(project):
    project.write("inventories/hosts.ini", "[web]\nweb-01\nweb-02\n")
    project.write("desired/web-01.yml", DESIRED)
    return project


def run_json(cli, project, *extra):
    return cli("--project", str(project.root), "run", "--facts-dir", str(project.root / "facts"),
               "--format", "json", *extra)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_fact_file_shape_is_read(cli, web, shape):
    name, document = SHAPES[shape]
    web.facts("web-01", document, name=name)
    result = run_json(cli, web)
    assert result.code == 0, result.err
    item = result.json()["items"][0]
    assert (item["ci"], item["status"], item["drift"]) == ("web-01", "in_sync", [])


def test_drift_from_facts_files_is_reported_exactly(cli, web):
    web.write("desired/web-01.yml", DESIRED.replace('"1.22.*"', '"1.24.*"') + "  services: {nginx: {state: running}}\n")
    web.facts("web-01", {"ansible_facts": SETUP})
    result = run_json(cli, web)
    assert result.code == 2
    drift = result.json()["items"][0]["drift"]
    assert [(d["path"], d["change"], d["desired"], d["actual"]) for d in drift] == [
        ("packages.nginx", "changed", "1.24.*", "1.22.1-9"),
        ("services.nginx.state", "changed", "running", "stopped"),
    ]


@pytest.mark.parametrize("setup, reason", [
    (lambda p: (p.root / "facts").mkdir(), "no facts file for 'web-01'"),  # the directory, empty
    (lambda p: p.facts("web-01", {"unreachable": True, "msg": "Failed to connect to the host via ssh"}),
     "unreachable when these facts were gathered: Failed to connect to the host via ssh"),
    (lambda p: (p.root / "facts").mkdir() or (p.root / "facts/web-01").write_text("{not json"),
     "cannot be read"),
])
def test_unusable_facts_make_the_ci_unknown_and_the_host_failed(cli, web, setup, reason):
    setup(web)
    result = run_json(cli, web)
    assert result.code == 3
    report = result.json()
    item = report["items"][0]
    assert item["status"] == "unknown" and reason in item["error"]
    assert report["run"]["sources"] == [{"collector": "facts_dir", "scope": "web-01", "status": "failed",
                                         "error": item["error"]}]


def test_facts_lacking_a_declared_section_make_the_ci_unknown_not_missing(cli, web):
    web.facts("web-01", {"ansible_facts": {"ansible_distribution": "Debian"}})  # gathered without package_facts
    result = run_json(cli, web)
    item = result.json()["items"][0]
    assert result.code == 3
    assert item["status"] == "unknown" and "has no facts for packages" in item["error"]


def test_a_ci_whose_host_is_not_in_the_inventory_is_unknown(cli, web):
    web.write("desired/ghost.yml", "ci: ghost\nkind: server\ndesired: {os: {distribution: Debian}}\n")
    web.facts("web-01", SETUP)
    web.facts("ghost", SETUP)
    items = {i["ci"]: i for i in run_json(cli, web).json()["items"]}
    assert items["ghost"]["status"] == "unknown" and "not in the inventory" in items["ghost"]["error"]
    assert items["web-01"]["status"] == "in_sync"


def test_a_licence_counts_installations_of_packages_no_ci_declares(cli, web, tmp_path):
    """Only declared packages are kept per host, except those a licence in the register counts: bash is
    declared nowhere, installed on web-01 (a CI, setup facts) and web-02 (no CI, our fact module's
    facts), and its licence has one seat."""
    web.facts("web-01", SETUP)
    web.facts("web-02", {"reconciler_facts": {"hostname": "web-02", "packages": {"bash": "5.2.15-2", "nginx": "1.22.1-9"}}})
    assets = tmp_path / "assets.csv"
    assets.write_text("Asset Tag,Name,Category,Owner,Status,Licence Product,Seats\n"
                      "LIC-1,GNU shells,software_licence,team-web,deployed,BASH*,1\n"
                      "LIC-2,web servers,software_licence,team-web,deployed,nginx,2\n")
    assert cli("--project", str(web.root), "register", "import", str(assets)).code == 0
    # (the local executor runs the same jobs as the others; a process pool here would start the test
    # session's forkserver with this test's environment, before the AWS tests set theirs)
    items = {i["asset"]: i for i in run_json(cli, web).json()["items"] if i["asset"]}
    assert items["LIC-1"]["flags"] == ["licence_over"]
    assert items["LIC-1"]["identity"] == {"licence_product": "BASH*", "installations": 2, "seats": 1}
    assert "LIC-2" not in items  # nginx, declared: two installations, two seats, nothing to report
