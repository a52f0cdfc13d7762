"""Initial register schema (generated from schema.py, then reviewed).

Revision ID: 0001
Revises: 
Create Date: 2026-11-28 18:25:03.927260
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('assets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_tag', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=True),
    sa.Column('category', sa.String(length=40), nullable=True),
    sa.Column('serial', sa.String(length=200), nullable=True),
    sa.Column('manufacturer', sa.String(length=200), nullable=True),
    sa.Column('model', sa.String(length=200), nullable=True),
    sa.Column('owner', sa.String(length=200), nullable=True),
    sa.Column('assigned_to', sa.String(length=200), nullable=True),
    sa.Column('location', sa.String(length=300), nullable=True),
    sa.Column('status', sa.String(length=40), nullable=False),
    sa.Column('purchase_date', sa.Date(), nullable=True),
    sa.Column('purchase_cost', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('currency', sa.String(length=8), nullable=True),
    sa.Column('supplier', sa.String(length=200), nullable=True),
    sa.Column('warranty_end', sa.Date(), nullable=True),
    sa.Column('eol_date', sa.Date(), nullable=True),
    sa.Column('depreciation_method', sa.String(length=40), nullable=True),
    sa.Column('depreciation_years', sa.Numeric(precision=8, scale=2), nullable=True),
    sa.Column('salvage_value', sa.Numeric(precision=18, scale=2), nullable=True),
    sa.Column('hostname', sa.String(length=300), nullable=True),
    sa.Column('instance_id', sa.String(length=100), nullable=True),
    sa.Column('arn', sa.String(length=500), nullable=True),
    sa.Column('bucket', sa.String(length=300), nullable=True),
    sa.Column('mac', sa.String(length=60), nullable=True),
    sa.Column('uuid', sa.String(length=100), nullable=True),
    sa.Column('licence_product', sa.String(length=300), nullable=True),
    sa.Column('seats', sa.Integer(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('custom', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('asset_tag')
    )
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assets_arn'), ['arn'], unique=False)
        batch_op.create_index(batch_op.f('ix_assets_bucket'), ['bucket'], unique=False)
        batch_op.create_index(batch_op.f('ix_assets_hostname'), ['hostname'], unique=False)
        batch_op.create_index(batch_op.f('ix_assets_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assets_owner'), ['owner'], unique=False)
        batch_op.create_index(batch_op.f('ix_assets_serial'), ['serial'], unique=False)
        batch_op.create_index(batch_op.f('ix_assets_uuid'), ['uuid'], unique=False)

    op.create_table('changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('ci', sa.String(length=300), nullable=True),
    sa.Column('asset_tag', sa.String(length=200), nullable=True),
    sa.Column('path', sa.String(length=1000), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('who', sa.String(length=200), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('plan_digest', sa.String(length=128), nullable=True),
    sa.Column('run_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_changes_asset_tag'), ['asset_tag'], unique=False)
        batch_op.create_index(batch_op.f('ix_changes_ci'), ['ci'], unique=False)

    op.create_table('ci_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ci', sa.String(length=300), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('content_hash', sa.String(length=40), nullable=False),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ci', 'version', name='uq_ci_versions_ci_version')
    )
    op.create_table('findings',
    sa.Column('fingerprint', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=1000), nullable=False),
    sa.Column('ci', sa.String(length=300), nullable=True),
    sa.Column('asset_tag', sa.String(length=200), nullable=True),
    sa.Column('kind', sa.String(length=100), nullable=True),
    sa.Column('what', sa.String(length=1000), nullable=False),
    sa.Column('severity', sa.String(length=20), nullable=True),
    sa.Column('source', sa.String(length=300), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_run', sa.String(length=64), nullable=False),
    sa.Column('last_run', sa.String(length=64), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('fingerprint')
    )
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_findings_asset_tag'), ['asset_tag'], unique=False)
        batch_op.create_index(batch_op.f('ix_findings_ci'), ['ci'], unique=False)
        batch_op.create_index('ix_findings_open', ['resolved_at'], unique=False)

    op.create_table('links',
    sa.Column('asset_tag', sa.String(length=200), nullable=False),
    sa.Column('ci', sa.String(length=300), nullable=True),
    sa.Column('kind', sa.String(length=100), nullable=True),
    sa.Column('resource', sa.String(length=1000), nullable=True),
    sa.Column('identity', sa.JSON(), nullable=True),
    sa.Column('matched_by', sa.String(length=40), nullable=False),
    sa.Column('matched_value', sa.String(length=500), nullable=True),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('asset_tag')
    )
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_links_ci'), ['ci'], unique=False)

    op.create_table('observations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resource', sa.String(length=1000), nullable=False),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=100), nullable=False),
    sa.Column('identity', sa.JSON(), nullable=False),
    sa.Column('ci', sa.String(length=300), nullable=True),
    sa.Column('content_hash', sa.String(length=40), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('resource', 'source', name='uq_observations_resource_source')
    )
    op.create_table('runs',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('exit_code', sa.Integer(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('sources', sa.JSON(), nullable=False),
    sa.Column('report', sa.LargeBinary(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('waivers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ci', sa.String(length=300), nullable=False),
    sa.Column('path', sa.String(length=1000), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('by', sa.String(length=200), nullable=False),
    sa.Column('until', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )



def downgrade() -> None:

    op.drop_table('waivers')
    op.drop_table('runs')
    op.drop_table('observations')
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_links_ci'))

    op.drop_table('links')
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.drop_index('ix_findings_open')
        batch_op.drop_index(batch_op.f('ix_findings_ci'))
        batch_op.drop_index(batch_op.f('ix_findings_asset_tag'))

    op.drop_table('findings')
    op.drop_table('ci_versions')
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_changes_ci'))
        batch_op.drop_index(batch_op.f('ix_changes_asset_tag'))

    op.drop_table('changes')
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assets_uuid'))
        batch_op.drop_index(batch_op.f('ix_assets_serial'))
        batch_op.drop_index(batch_op.f('ix_assets_owner'))
        batch_op.drop_index(batch_op.f('ix_assets_instance_id'))
        batch_op.drop_index(batch_op.f('ix_assets_hostname'))
        batch_op.drop_index(batch_op.f('ix_assets_bucket'))
        batch_op.drop_index(batch_op.f('ix_assets_arn'))

    op.drop_table('assets')

