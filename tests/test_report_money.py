"""Money at stake: register book values of what nobody configures or sees, seats over, and a labelled
monthly estimate of untracked cloud resources (moto server, real boto3), per owner, in every format."""

from __future__ import annotations

from typing import Any

import pytest

from .aws_world import eip, instance, volume
from .moto_fixture import ACCOUNT_A, moto, moto_server  # noqa: F401


def test_register_money_per_owner_from_book_values_and_seats_over(cli, fleet):
    report = cli("--project", str(fleet), "run", "--format", "json").json()
    money = report["money"]
    assert money["estimate"] is True
    by_subject = {e["subject"]: e for e in money["items"]}
    assert by_subject["LIC-0101"]["amount"] == 2500.0 and by_subject["LIC-0101"]["reason"] == "licence_over"
    unseen = by_subject["ASSET-0103"]  # bought for 6,100 EUR in 2022, straight line over 6 years
    assert unseen["reason"] == "owned_unconfigured" and 0 < unseen["amount"] < 6100
    assert by_subject["db-01"]["reason"] == "eol" and by_subject["db-01"]["currency"] == "EUR"
    assert money["by_owner"]["team-web"]["book_value"] == {"EUR": 2500.0}
    assert money["totals"]["book_value"]["EUR"] == pytest.approx(sum(e["amount"] for e in money["items"]))


def test_text_markdown_and_html_show_money_per_owner_labelled_as_an_estimate(cli, fleet):
    text = cli("--project", str(fleet), "run").out
    assert "MONEY AT STAKE (estimate; prices: AWS public on-demand list prices" in text
    assert "  team-web: book value 2,500.00 EUR" in text
    markdown = cli("--project", str(fleet), "run", "--format", "markdown").out
    assert "## Money at stake (an estimate, not a bill)" in markdown and "| team-web | 2,500.00 EUR | 0 |" in markdown
    html = cli("--project", str(fleet), "run", "--format", "html").out
    assert "Money at stake <small>(an estimate, not a bill)" in html and "2,500.00 EUR" in html


@pytest.fixture(scope="module")
def cloud(moto: Any) -> dict[str, str]:
    ec2 = moto.session(ACCOUNT_A, "eu-west-1").client("ec2")
    return {"idle-volume": volume(ec2, "scratch", 100, Owner="team-data"), "idle-ip": eip(ec2, "spare-ip"),
            "box": instance(ec2, "box", "m5.large", Team="team-ml")}


def _cloud_project(project, prices: str = "") -> str:
    project.write("reconciler.yml", f"aws:\n  regions: [eu-west-1]\n  accounts: [{{id: '{ACCOUNT_A}'}}]\n"
                  f"  kinds: [aws.ec2.volume, aws.ec2.eip, aws.ec2.instance]\n{prices}")
    project.write("desired/.keep", "")
    return str(project.root)


def test_untracked_cloud_resources_carry_a_monthly_estimate_per_owner_hint(cli, project, cloud):
    result = cli("--project", _cloud_project(project), "untracked", "--format", "json")
    money = result.json()["money"]
    by_subject = {e["subject"].split("id=")[1].split("|")[0]: e for e in money["items"]}
    assert by_subject[cloud["idle-volume"]]["amount"] == 8.0  # 100 GB gp3 × 0.08
    assert by_subject[cloud["idle-volume"]]["owner"] == "team-data (tag Owner)"
    assert by_subject[cloud["idle-ip"]]["amount"] == 3.65  # 0.005/h × 730 h
    assert by_subject[cloud["box"]]["amount"] == pytest.approx(70.08)  # m5.large 0.096/h × 730 h
    assert money["prices"] == {"source": "AWS public on-demand list prices", "region": "us-east-1",
                               "taken": "2024-06", "currency": "USD"}
    assert money["by_owner"]["team-ml (tag Team)"]["monthly"] == {"USD": 70.08}
    html = cli("--project", _cloud_project(project), "untracked", "--format", "html").out
    assert "≈ 8.00 USD/month (estimate: 100 GB gp3 × 0.08/GB-month)" in html


def test_prices_in_reconciler_yml_override_the_defaults(cli, project, cloud):
    root = _cloud_project(project, "prices:\n  ebs_gb_month: {gp3: 0.1}\n  region: eu-west-1\n  taken: 2026-11\n")
    money = cli("--project", root, "untracked", "--format", "json").json()["money"]
    volume_entry = next(e for e in money["items"] if cloud["idle-volume"] in e["subject"])
    assert volume_entry["amount"] == 10.0 and money["prices"]["region"] == "eu-west-1"
