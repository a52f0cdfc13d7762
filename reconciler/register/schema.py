"""The register's tables (SQLAlchemy Core). Alembic migrations under `migrations/` create them.

    assets        one row per owned thing (SPEC §2.3): identifiers, owner, lifecycle, money, licences
    links         asset <-> CI / observed resource, how it was matched and since when
    observations  every resource seen, per (resource key, source): first/last seen, content hash
    ci_versions   configuration history per CI: a row only when its normalised facts change
    runs          one row per recorded run (summary, sources, compressed report)
    findings      fingerprinted flags and drift: first seen / last seen / resolved
    waivers       accepted drift (CI, path glob) until a date
    changes       changes applied through plans, and identity changes of links
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

STATUSES = ("ordered", "in_stock", "deployed", "in_repair", "retired", "disposed", "lost")
CATEGORIES = ("hardware", "software_licence", "cloud", "other")
IDENTIFIERS = ("hostname", "instance_id", "arn", "bucket", "mac", "uuid")

assets = Table(
    "assets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("asset_tag", String(200), nullable=False, unique=True),
    Column("name", String(300)),
    Column("category", String(40)),
    Column("serial", String(200), index=True),
    Column("manufacturer", String(200)),
    Column("model", String(200)),
    Column("owner", String(200), index=True),
    Column("assigned_to", String(200)),
    Column("location", String(300)),
    Column("status", String(40), nullable=False, default="deployed"),
    Column("purchase_date", Date),
    Column("purchase_cost", Numeric(18, 2)),
    Column("currency", String(8)),
    Column("supplier", String(200)),
    Column("warranty_end", Date),
    Column("eol_date", Date),
    Column("depreciation_method", String(40)),
    Column("depreciation_years", Numeric(8, 2)),
    Column("salvage_value", Numeric(18, 2)),
    Column("hostname", String(300), index=True),
    Column("instance_id", String(100), index=True),
    Column("arn", String(500), index=True),
    Column("bucket", String(300), index=True),
    Column("mac", String(60)),
    Column("uuid", String(100), index=True),
    Column("licence_product", String(300)),
    Column("seats", Integer),
    Column("notes", Text),
    Column("custom", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

links = Table(
    "links",
    metadata,
    Column("asset_tag", String(200), primary_key=True),
    Column("ci", String(300), index=True),
    Column("kind", String(100)),
    Column("resource", String(1000)),  # the observation key of the matched resource
    Column("identity", JSON),
    Column("matched_by", String(40), nullable=False),  # declared, serial, uuid, instance_id, arn, ...
    Column("matched_value", String(500)),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

observations = Table(
    "observations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("resource", String(1000), nullable=False),  # kind + canonical identity
    Column("source", String(300), nullable=False),
    Column("kind", String(100), nullable=False),
    Column("identity", JSON, nullable=False),
    Column("ci", String(300)),
    Column("content_hash", String(40), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    UniqueConstraint("resource", "source", name="uq_observations_resource_source"),
)

ci_versions = Table(
    "ci_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ci", String(300), nullable=False),
    Column("version", Integer, nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("content_hash", String(40), nullable=False),
    Column("facts", JSON, nullable=False),
    UniqueConstraint("ci", "version", name="uq_ci_versions_ci_version"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("exit_code", Integer, nullable=False),
    Column("summary", JSON, nullable=False),
    Column("sources", JSON, nullable=False),
    Column("report", LargeBinary),  # zlib-compressed JSON of the run's items, for `reconcile report RUN`
)

findings = Table(
    "findings",
    metadata,
    Column("fingerprint", String(40), primary_key=True),
    Column("subject", String(1000), nullable=False),  # ci id, asset tag or resource key
    Column("ci", String(300), index=True),
    Column("asset_tag", String(200), index=True),
    Column("kind", String(100)),
    Column("what", String(1000), nullable=False),  # "flag:<name>" or "drift:<path>"
    Column("severity", String(20)),
    Column("source", String(300)),
    Column("detail", JSON),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("first_run", String(64), nullable=False),
    Column("last_run", String(64), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    Index("ix_findings_open", "resolved_at"),
)

waivers = Table(
    "waivers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ci", String(300), nullable=False),
    Column("path", String(1000), nullable=False),
    Column("reason", Text, nullable=False),
    Column("by", String(200), nullable=False),
    Column("until", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

changes = Table(
    "changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(40), nullable=False),  # plan | identity
    Column("ci", String(300), index=True),
    Column("asset_tag", String(200), index=True),
    Column("path", String(1000)),
    Column("before", JSON),
    Column("after", JSON),
    Column("who", String(200)),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("plan_digest", String(128)),
    Column("run_id", String(64)),
    Column("plan_id", String(64)),
    # applied+verified | applied-not-verified | failed | skipped-manual | skipped
    Column("result", String(40)),
    Column("detail", Text),  # the step's action and why, or the failure's reason
)
