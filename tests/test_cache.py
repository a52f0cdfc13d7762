"""The project cache (.reconciler/cache/): a second run reads the rendered desired state and the parsed
inventory from it, never a stale one, and a missing or broken cache is only a slower run."""

import json
import shutil
from pathlib import Path

from reconciler.project import load_project

CACHE = ".reconciler/cache"
TEMPLATE = """\
{% for host in groups['web'] %}
---
ci: {{ host }}
kind: server
owner: {{ hostvars[host].team }}
desired:
  packages: {nginx: "{{ hostvars[host].nginx }}"}
{% endfor %}
"""


def _fleet(project) -> None:
    project.write("reconciler.yml", "facts_dir: facts/\n")
    project.write("inventories/hosts.yml", "all:\n  children:\n    web:\n      hosts:\n"
                  "        web-01: {}\n        web-02: {team: team-two}\n")
    project.write("inventories/group_vars/web.yml", "team: team-web\nnginx: '1.22.*'\n")
    project.write("inventories/host_vars/web-01.yml", "rack: r1\n")
    project.write("desired/web.yml.j2", TEMPLATE)
    for host in ("web-01", "web-02"):
        project.facts(host, {"ansible_facts": {"packages": {"nginx": [{"name": "nginx", "version": "1.22.1-9"}]}}})


def _report(cli, project) -> dict:
    output = project.root / "report.json"
    result = cli("--project", str(project.root), "run", "--format", "json", "--output", str(output))
    assert result.code in (0, 2), result.err
    return json.loads(output.read_text())


def _desired(project) -> dict:
    return {ci.id: (ci.owner, dict(ci.desired)) for ci in load_project(project.root).cis}


def test_second_load_comes_from_the_cache_and_equals_the_first(project):
    _fleet(project)
    first = _desired(project)
    assert len(list((project.root / CACHE).iterdir())) == 1
    assert _desired(project) == first == {
        "web-01": ("team-web", {"packages": {"nginx": "1.22.*"}}),
        "web-02": ("team-two", {"packages": {"nginx": "1.22.*"}})}


def test_an_edited_group_vars_file_is_seen_on_the_next_run(project, cli):
    _fleet(project)
    assert _report(cli, project)["summary"]["drifted"] == 0
    project.write("inventories/group_vars/web.yml", "team: team-web\nnginx: '1.24.*'\n")
    report = _report(cli, project)
    assert report["summary"]["drifted"] == 2
    assert {d["desired"] for item in report["items"] for d in item["drift"]} == {"1.24.*"}


def test_an_edited_host_vars_file_and_template_are_seen(project):
    _fleet(project)
    _desired(project)
    project.write("inventories/host_vars/web-01.yml", "rack: r1\nteam: team-one\n")
    assert _desired(project)["web-01"][0] == "team-one"
    project.write("desired/web.yml.j2", TEMPLATE.replace("owner: {{ hostvars[host].team }}", "owner: ops"))
    assert {owner for owner, _ in _desired(project).values()} == {"ops"}


def test_a_deleted_cache_directory_is_rebuilt(project, cli):
    _fleet(project)
    first = _report(cli, project)
    shutil.rmtree(project.root / CACHE)
    again = _report(cli, project)
    assert again["summary"] == first["summary"] and again["items"] == first["items"]
    assert any((project.root / CACHE).iterdir())


def test_a_corrupt_cache_entry_is_ignored(project, cli):
    _fleet(project)
    first = _report(cli, project)
    entries = [entry for entry in (project.root / CACHE).rglob("*") if entry.is_file()]  # shards too
    for entry in entries:
        entry.write_bytes(b"reconciler-project-cache/1\n\x80garbage")
    again = _report(cli, project)
    assert again["items"] == first["items"]
    for entry in entries:
        entry.write_bytes(b"")
    assert _report(cli, project)["items"] == first["items"]


def test_a_broken_project_is_never_cached_nor_hidden(project, cli):
    _fleet(project)
    _desired(project)
    project.write("inventories/group_vars/web.yml", "team: [unclosed\n")
    result = cli("--project", str(project.root), "validate")
    assert result.code == 1 and "group_vars/web.yml" in result.err
    assert len(list((project.root / CACHE).iterdir())) == 1


def test_an_inventory_script_is_never_cached(project):
    _fleet(project)
    script = Path(project.root / "inventories/hosts.yml")
    script.unlink()
    project.write("inventories/dynamic.sh", "#!/bin/sh\necho '{\"web\": {\"hosts\": [\"web-01\", \"web-02\"]}, "
                  "\"_meta\": {\"hostvars\": {}}}'\n").chmod(0o755)
    assert set(_desired(project)) == {"web-01", "web-02"}
    assert not (project.root / CACHE).exists()


def test_a_template_reading_env_follows_the_environment(project, monkeypatch):
    _fleet(project)
    project.write("desired/web.yml.j2", TEMPLATE.replace("owner: {{ hostvars[host].team }}",
                                                         "owner: {{ env.FLEET_OWNER }}"))
    monkeypatch.setenv("FLEET_OWNER", "team-a")
    assert {owner for owner, _ in _desired(project).values()} == {"team-a"}
    monkeypatch.setenv("FLEET_OWNER", "team-b")
    assert {owner for owner, _ in _desired(project).values()} == {"team-b"}


def test_a_warm_run_answers_facts_from_the_shard_cache_and_sees_an_edited_facts_file(project, cli):
    """Unchanged facts files are not decoded again; one changed byte in one file is seen on the next run."""
    _fleet(project)
    first = _report(cli, project)
    shards = list((project.root / CACHE / "facts").iterdir())
    assert shards
    assert _report(cli, project)["items"] == first["items"]
    assert sorted(shards) == sorted((project.root / CACHE / "facts").iterdir())  # answered, none added
    facts = min((project.root / "facts").iterdir())
    facts.write_text(facts.read_text() + "\n")  # same facts, other bytes: a new entry, the same answer
    assert _report(cli, project)["items"] == first["items"]
    facts.write_text("{broken")
    host = facts.name.removesuffix(".json")
    result = cli("--project", str(project.root), "run", "--format", "json")
    assert result.code == 3, result.err
    edited = {item["ci"]: item for item in result.json()["items"] if item["ci"]}
    assert edited[host]["status"] == "unknown" and "cannot be read" in edited[host]["error"]
