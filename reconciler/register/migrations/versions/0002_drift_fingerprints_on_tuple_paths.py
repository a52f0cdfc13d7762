"""Drift findings keyed on the tuple form of their path.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

A drift finding's `what` was "drift:" + the keys joined by dots, which is ambiguous when a key has a dot
(`packages.python3.11`). It is now "drift:" + the display form of the path tuple (reconciler.paths:
`packages["python3.11"]`), which equals the old text whenever no key needs quoting. This rewrites the
findings whose text changes — the new `what` and the fingerprint derived from it — and keeps every
other column (first seen, last seen, resolution, detail). The old text is split back into keys with the
kind's schema (a field is one the schema names; a name may contain dots); a finding the schema cannot
place is left as it was. Waivers keep their globs: those match old dotted paths too.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

findings = sa.table("findings", sa.column("fingerprint", sa.String), sa.column("kind", sa.String),
                    sa.column("subject", sa.String), sa.column("what", sa.String))


def upgrade() -> None:
    from reconciler.collectors import kind_schema
    from reconciler.expectations import split_dotted
    from reconciler.paths import display
    from reconciler.register.recording import fingerprint

    conn = op.get_bind()
    rows = conn.execute(sa.select(findings.c.fingerprint, findings.c.kind, findings.c.subject, findings.c.what)
                        .where(findings.c.what.like("drift:%"))).all()
    taken = {row.fingerprint for row in conn.execute(sa.select(findings.c.fingerprint))}
    for row in rows:
        parts = split_dotted(kind_schema(row.kind or ""), row.what.removeprefix("drift:"))
        if parts is None:
            continue
        what = "drift:" + display(parts)
        new = fingerprint(row.kind, row.subject, what)
        if what == row.what or new in taken:
            continue
        conn.execute(findings.update().where(findings.c.fingerprint == row.fingerprint)
                     .values(fingerprint=new, what=what))
        taken.add(new)


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(findings.c.fingerprint, findings.c.kind, findings.c.subject, findings.c.what)
                        .where(findings.c.what.like("drift:%"))).all()
    from reconciler.paths import dotted, parse_path
    from reconciler.register.recording import fingerprint

    for row in rows:
        what = "drift:" + dotted(parse_path(row.what.removeprefix("drift:")))
        if what != row.what:
            conn.execute(findings.update().where(findings.c.fingerprint == row.fingerprint)
                         .values(fingerprint=fingerprint(row.kind, row.subject, what), what=what))
