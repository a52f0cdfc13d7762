"""Translation of raw boto3 shapes into the SPEC §2.2 vocabulary (pure; no AWS needed)."""

from __future__ import annotations

import pytest

from reconciler.collectors.aws import ec2_eip, ec2_instance, ec2_security_group, iam_user

RULES = [
    ({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
     ["tcp/22 from 0.0.0.0/0"]),
    ({"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": "sg-1"}]},
     ["tcp/8000-8080 from sg-1"]),
    ({"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.0/8"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
     ["all from 10.0.0.0/8", "all from ::/0"]),
    ({"IpProtocol": "icmp", "FromPort": 8, "ToPort": 0, "PrefixListIds": [{"PrefixListId": "pl-9"}]},
     ["icmp/8:0 from pl-9"]),
    ({"IpProtocol": "udp", "FromPort": 0, "ToPort": 65535, "IpRanges": [{"CidrIp": "1.2.3.4/32"}]},
     ["udp from 1.2.3.4/32"]),
]


@pytest.mark.parametrize(("permission", "expected"), RULES)
def test_security_group_rules_read_as_strings(permission: dict, expected: list[str]) -> None:
    assert ec2_security_group.rule_strings([permission], "from") == expected


def test_egress_rules_read_to() -> None:
    raw = {"GroupId": "sg-1", "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}
    assert ec2_security_group.normalise(raw)["egress"] == ["all to 0.0.0.0/0"]


def test_hand_written_rules_are_normalised_like_facts() -> None:
    desired = ec2_security_group.normalise_desired({"ingress": ["TCP/22   FROM 0.0.0.0/0"]})
    assert desired == {"ingress": ["tcp/22 from 0.0.0.0/0"]}


def test_instance_security_groups_answer_in_the_form_declared() -> None:
    facts = ec2_instance.normalise({"InstanceId": "i-1", "SecurityGroups": [{"GroupName": "web", "GroupId": "sg-1"}],
                                    "MetadataOptions": {"HttpTokens": "required"}})
    assert facts["imds_v2_required"] is True and facts["security_groups"] == ["web"]
    assert ec2_instance.tailor(facts, {"security_groups": ["sg-1"]})["security_groups"] == ["sg-1"]


def test_unassociated_eip_with_empty_strings_is_not_associated() -> None:
    facts = ec2_eip.normalise({"AllocationId": "eipalloc-1", "PublicIp": "1.2.3.4", "InstanceId": "",
                               "NetworkInterfaceId": ""})
    assert facts["associated"] is False and facts["associated_to"] is None


def test_access_key_ids_are_masked() -> None:
    assert iam_user.mask("AKIAIOSFODNN7EXAMPLE") == "AKIA…MPLE"
