"""The aws collector package: actual state of AWS resources through boto3 (SPEC §2.2 aws kinds).

    AwsCollector(project, options, session_factory=boto3.Session).collect(cis) -> Collection
    untracked(collection, strict=False) -> the observed resources no CI declares

One small module per kind (ec2_instance, ec2_security_group, ec2_volume, ec2_eip, s3_bucket, iam_user,
rds_instance) holds its declarative header (spec.KindSpec); sessions, scan and matching are shared.
"""

from __future__ import annotations

from ...model import Collection, Observed
from .collector import SPEC_BY_KIND, SPECS, AwsCollector

KINDS = tuple(spec.kind for spec in SPECS)


def untracked(collection: Collection, strict: bool = False) -> list[Observed]:
    """Resources seen in a successfully scanned scope that no CI declares, provider defaults left out
    unless `strict`. (The register is not consulted here: the pipeline drops registered ones.)"""
    found = [o for o in collection.observed if o.ci is None and (strict or not o.default)]
    return sorted(found, key=lambda o: (o.kind, str(o.identity.get("account")),
                                        str(o.identity.get("region")), str(o.identity.get("id"))))


__all__ = ["KINDS", "SPECS", "SPEC_BY_KIND", "AwsCollector", "untracked"]
