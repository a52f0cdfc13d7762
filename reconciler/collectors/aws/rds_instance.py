"""aws.rds.instance: RDS DB instances, one paginated DescribeDBInstances per region (tags included)."""

from __future__ import annotations

from typing import Any

from .spec import BOOL, TAGS, KindSpec, Raw, make_kind, matchers, pick, tag_map

NAME = "aws.rds.instance"

DESIRED = {
    **matchers("engine", "engine_version", "db_instance_class", "backup_retention_period",
               "allocated_storage", "storage_type", "db_instance_status", "availability_zone",
               "instance_create_time", "kms_key_id", "ca_certificate_identifier"),
    **{flag: BOOL for flag in ("multi_az", "storage_encrypted", "publicly_accessible", "deletion_protection",
                               "auto_minor_version_upgrade", "iam_database_authentication_enabled")},
    "tags": TAGS,
}


def normalise(raw: Raw) -> dict[str, Any]:
    facts = pick(raw, engine="Engine", engine_version="EngineVersion", db_instance_class="DBInstanceClass",
                 multi_az="MultiAZ", storage_encrypted="StorageEncrypted",
                 publicly_accessible="PubliclyAccessible", backup_retention_period="BackupRetentionPeriod",
                 deletion_protection="DeletionProtection", allocated_storage="AllocatedStorage",
                 storage_type="StorageType", db_instance_status="DBInstanceStatus",
                 availability_zone="AvailabilityZone", instance_create_time="InstanceCreateTime",
                 kms_key_id="KmsKeyId", ca_certificate_identifier="CACertificateIdentifier",
                 auto_minor_version_upgrade="AutoMinorVersionUpgrade",
                 iam_database_authentication_enabled="IAMDatabaseAuthenticationEnabled")
    facts["tags"] = tag_map(raw.get("TagList"))
    return facts


def identity(raw: Raw, account: str, region: str | None) -> dict[str, Any]:
    native = raw["DBInstanceIdentifier"]
    arn = raw.get("DBInstanceArn") or f"arn:aws:rds:{region}:{account}:db:{native}"
    return {"id": native, "name": native, "arn": arn, "resource_id": raw.get("DbiResourceId")}


SPEC = KindSpec(
    kind=make_kind(NAME, DESIRED),
    service="rds",
    list_call="describe_db_instances",
    result_key="DBInstances[]",
    list_args={"PaginationConfig": {"PageSize": 100}},
    normalise=normalise,
    identity=identity,
    created_key="instance_create_time",
)
