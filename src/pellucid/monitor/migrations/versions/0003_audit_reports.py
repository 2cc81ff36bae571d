"""Audit reports: every finished audit the server ran, kept across restarts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Only a new table: databases written by revision 0002 keep everything untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out (not imported from pellucid.monitor.db) so this revision never changes meaning.
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
ID = sa.Uuid(as_uuid=False)
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_reports",
        sa.Column("id", ID, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=True),
        sa.Column("checks", JSON, nullable=False),
        sa.Column("summary", JSON, nullable=False),
        sa.Column("report", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_reports"),
    )
    op.create_index("ix_audit_reports_created_at", "audit_reports", ["created_at"])


def downgrade() -> None:
    op.drop_table("audit_reports")
