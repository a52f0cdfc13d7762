"""changes: the plan id, the step's result and its detail (apply records every step of a plan).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('plan_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('result', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('detail', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.drop_column('detail')
        batch_op.drop_column('result')
        batch_op.drop_column('plan_id')
