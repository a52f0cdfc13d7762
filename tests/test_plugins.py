"""Project-local plugins: a collector in plugins/*.py brings its own kind, schema and facts."""

PLUGIN = '''
from reconciler.collectors.base import Collector, Kind
from reconciler.model import Collection, FactSet, Source

class DnsCollector(Collector):
    name = "dns"
    kinds = (Kind("dns.record", {"type": "object", "properties": {"value": {"type": "string"}},
                                 "additionalProperties": False}),)

    def collect(self, cis):
        zone = {"www": "192.0.2.10", "mail": "192.0.2.25"}
        facts = {ci.id: FactSet(ci.id, self.name, "zone", facts={"value": zone[ci.match["name"]]})
                 for ci in cis}
        return Collection(facts=facts, sources=(Source(self.name, "zone", "ok"),))

COLLECTORS = [DnsCollector]
'''


def test_a_plugin_collector_adds_a_kind_that_validates_and_runs(cli, project):
    project.write("plugins/dns.py", PLUGIN)
    project.write("desired/dns.yml", """
        ci: www
        kind: dns.record
        match: {name: www}
        desired: {value: 192.0.2.10}
        ---
        ci: mail
        kind: dns.record
        match: {name: mail}
        desired: {value: 192.0.2.26}
    """)
    assert cli("--project", str(project.root), "validate").code == 0
    report = cli("--project", str(project.root), "run", "--format", "json").json()
    status = {i["ci"]: (i["status"], [d["actual"] for d in i["drift"]]) for i in report["items"]}
    assert status == {"mail": ("drifted", ["192.0.2.25"]), "www": ("in_sync", [])}


def test_the_plugin_schema_is_enforced(cli, project):
    project.write("plugins/dns.py", PLUGIN)
    project.write("desired/dns.yml", "ci: www\nkind: dns.record\ndesired: {ttl: 60}\n")
    result = cli("--project", str(project.root), "validate")
    assert result.code == 1 and "unknown key(s) ('ttl' was unexpected; known: value)" in result.err


def test_a_plugin_that_fails_to_import_is_a_project_problem(cli, project):
    project.write("plugins/broken.py", "import nowhere_to_be_found\n")
    result = cli("--project", str(project.root), "validate")
    assert result.code == 1
    assert "plugins/broken.py: plugin failed to load: ModuleNotFoundError" in result.err


def test_the_example_plugin_of_the_repository_reconciles_local_paths(cli, project, tmp_path):
    """plugins/local_path.py, as docs/reference.md tells users to use it: copied into a project's plugins/."""
    from .conftest import REPO

    project.write("plugins/local_path.py", (REPO / "plugins" / "local_path.py").read_text())
    backup = project.write("data/backup.tar", "payload")
    backup.chmod(0o640)
    project.write("desired/paths.yml", f"""
        ci: backup
        kind: local.path
        owner: team-ops
        match: {{path: {backup}}}
        desired: {{exists: true, type: file, mode: 0600, age_hours: "<26"}}
        ---
        ci: reports-dir
        kind: local.path
        match: {{path: {tmp_path / 'nowhere'}}}
        desired: {{exists: true, type: directory}}
        ---
        ci: data-dir
        kind: local.path
        match: {{path: {backup.parent}}}
        desired: {{type: directory}}
    """)
    assert cli("--project", str(project.root), "validate").out.startswith("ok: 3 CIs (local.path)")
    result = cli("--project", str(project.root), "run", "--format", "json")
    assert result.code == 2, result.err
    drift = {i["ci"]: (i["status"], {d["path"]: d["actual"] for d in i["drift"]}) for i in result.json()["items"]
             if i["ci"]}
    assert drift == {"backup": ("drifted", {"mode": "0640"}), "data-dir": ("in_sync", {}),
                     "reports-dir": ("drifted", {"exists": False, "type": None})}


def test_the_repository_example_project_still_validates_with_its_plugin(cli):
    from .conftest import REPO

    result = cli("--project", str(REPO), "validate")
    assert result.code == 0, result.err
    assert "local.path" not in result.out  # the example kind is offered, not used: the demo is unchanged
