"""Trace ids on records: calls that arrive as OpenTelemetry spans keep their place in the trace.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

Three nullable, indexed columns on ``records``: ``trace_id`` (32 hex digits), ``span_id`` and
``parent_span_id`` (16 hex digits each), so calls can be grouped by trace and a span found from
its id. Rows written by revision 0003 keep everything and get NULLs. (``session_id`` exists
since 0001.) ``batch_alter_table`` lets SQLite, which cannot drop columns in place on older
versions, run the downgrade too.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out (not imported from pellucid.monitor.db) so this revision never changes meaning.
COLUMNS = (("trace_id", 32), ("span_id", 16), ("parent_span_id", 16))


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        for name, size in COLUMNS:
            batch.add_column(sa.Column(name, sa.String(size), nullable=True))
    for name, _ in COLUMNS:
        op.create_index(f"ix_records_{name}", "records", [name])


def downgrade() -> None:
    for name, _ in COLUMNS:
        op.drop_index(f"ix_records_{name}", table_name="records")
    with op.batch_alter_table("records") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
