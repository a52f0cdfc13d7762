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
    assert result.code == 1 and "unknown key(s) ('ttl' was unexpected)" in result.err


def test_a_plugin_that_fails_to_import_is_a_project_problem(cli, project):
    project.write("plugins/broken.py", "import nowhere_to_be_found\n")
    result = cli("--project", str(project.root), "validate")
    assert result.code == 1
    assert "plugins/broken.py: plugin failed to load: ModuleNotFoundError" in result.err
