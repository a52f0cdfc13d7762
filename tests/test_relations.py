"""Relationships and impact: what depends on a drifted CI, from the facts (moto server, real boto3) and
from declared `relations`, in the reports and in `reconcile show`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .aws_world import AMI, group, tags
from .fleet_world import write_fleet
from .moto_fixture import ACCOUNT_A, moto, moto_server  # noqa: F401


@pytest.fixture(scope="module")
def exposed(moto: Any) -> dict[str, Any]:
    ec2 = moto.session(ACCOUNT_A, "eu-west-1").client("ec2")
    sg = group(ec2, "web-sg", (443, "0.0.0.0/0"), (22, "0.0.0.0/0"))
    ids = []
    for name, owner in (("web-a", None), ("web-b", "team-web"), ("web-c", None)):
        extra = tags(Name=name, **({"Owner": owner} if owner else {}))
        ids.append(ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                     SecurityGroupIds=[sg], TagSpecifications=[{"ResourceType": "instance",
                                                                                "Tags": extra}])
                   ["Instances"][0]["InstanceId"])
    return {"sg": sg, "instances": ids}


def _aws_project(project) -> str:
    project.write("reconciler.yml", f"aws:\n  regions: [eu-west-1]\n  accounts: [{{id: '{ACCOUNT_A}'}}]\n"
                  "  kinds: [aws.ec2.security_group, aws.ec2.instance]\n")
    match = f"{{account: '{ACCOUNT_A}', region: eu-west-1, name: %s}}"
    project.write("desired/sg.yml", f"ci: web-sg\nkind: aws.ec2.security_group\nowner: team-net\n"
                  f"match: {match % 'web-sg'}\ndesired: {{ingress: ['tcp/443 from 0.0.0.0/0']}}\n")
    project.write("desired/web-a.yml", f"ci: web-a\nkind: aws.ec2.instance\nowner: team-web\n"
                  f"match: {match % 'web-a'}\ndesired: {{instance_type: t3.micro}}\n")
    return str(project.root)


def test_a_security_group_drift_reports_the_instances_it_exposes_and_their_owners(cli, project, exposed):
    root = _aws_project(project)
    report = cli("--project", root, "run", "--format", "json").json()
    entry = report["impact"]["web-sg"]
    assert entry["count"] == 3 and entry["kinds"] == {"aws.ec2.instance": 3}
    assert entry["owners"] == {"(no owner)": 1, "team-web": 2}  # web-a declared, web-b by its Owner tag
    assert "web-a" in entry["dependents"] and exposed["instances"][2] in entry["dependents"]
    text = cli("--project", root, "run").out
    assert ("web-sg (aws.ec2.security_group): its drift reaches 3 dependents (3 aws.ec2.instance), "
            "2 of them owned by team-web, 1 with no owner") in text
    assert "What depends on the drifted CIs" in cli("--project", root, "run", "--format", "html").out
    shown = json.loads(cli("--project", root, "show", "web-sg", "--format", "json").out)
    assert shown["impact"]["count"] == 3
    assert "impact (last run): web-sg (aws.ec2.security_group): its drift reaches 3 dependents" in cli(
        "--project", root, "show", "web-sg").out


def test_declared_relations_count_too(cli, project):
    write_fleet(project, 3, old_nginx=())
    project.write("inventories/hosts.yml", "all:\n  children:\n    web:\n      hosts: {web-00: {}, web-01: {}, "
                  "web-02: {}}\n    db:\n      hosts: {db-01: {}}\n")
    project.write("desired/db.yml", "ci: db-01\nkind: server\nowner: team-data\nmatch: {host: db-01}\n"
                  "desired: {packages: {postgresql: '>=16'}}\n")
    project.write("desired/web.yml", "".join(
        f"---\nci: web-{n:02d}\nkind: server\nowner: team-web\nextends: [debian-12]\nmatch: {{host: web-{n:02d}}}\n"
        "relations: {depends_on: [db-01]}\n" for n in range(3)))
    project.facts("db-01", {"ansible_hostname": "db-01",
                            "packages": {"postgresql": [{"name": "postgresql", "version": "15.8-0", "source": "apt"}]}})
    report = cli("--project", str(project.root), "run", "--format", "json").json()
    assert report["impact"]["db-01"] == {"count": 3, "kinds": {"server": 3}, "owners": {"team-web": 3},
                                         "dependents": ["web-00", "web-01", "web-02"]}
    markdown = cli("--project", str(project.root), "run", "--format", "markdown").out
    assert "- db-01 (server): its drift reaches 3 dependents (3 server), 3 of them owned by team-web" in markdown
