"""Initial monitoring schema: records, tags, feedback, metrics, embeddings.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types are spelled out here (not imported from pellucid.monitor.db) so this revision keeps
# describing the same schema whatever the models become later.
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
ID = sa.Uuid(as_uuid=False)
TIME = sa.DateTime(timezone=True)


def _record_fk(table: str) -> sa.ForeignKeyConstraint:
    """``record_id`` references ``records.id``; deleting a record deletes the row."""
    return sa.ForeignKeyConstraint(
        ["record_id"], ["records.id"], ondelete="CASCADE", name=f"fk_{table}_record_id_records"
    )


def upgrade() -> None:
    _create_records()
    _create_record_tags()
    _create_feedback()
    _create_metrics()
    _create_embeddings()


def _create_records() -> None:
    """The ``records`` table and its indexes."""
    op.create_table(
        "records",
        sa.Column("id", ID, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("model_version", sa.String(200), nullable=True),
        sa.Column("template_version", sa.String(200), nullable=True),
        sa.Column("prompt", JSON, nullable=False),
        sa.Column("prompt_text", sa.Text(), nullable=False),
        sa.Column("prompt_hash", sa.String(64), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("ttft_ms", sa.Float(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("params", JSON, nullable=True),
        sa.Column("user_id", sa.String(200), nullable=True),
        sa.Column("session_id", sa.String(200), nullable=True),
        sa.Column("metadata", JSON, nullable=True),
        sa.Column("cache_hit", sa.Boolean(), nullable=True),
        sa.Column("cache_key", sa.String(128), nullable=True),
        sa.Column("redaction", JSON, nullable=True),
        sa.Column("flags", JSON, nullable=True),
        sa.Column("language", sa.String(32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_records"),
    )
    for column in ("created_at", "model", "prompt_hash", "user_id", "session_id", "cache_key"):
        op.create_index(f"ix_records_{column}", "records", [column])
    op.create_index("ix_records_model_version_created_at", "records", ["model_version", "created_at"])


def _create_record_tags() -> None:
    """The ``record_tags`` table and its indexes."""
    op.create_table(
        "record_tags",
        sa.Column("record_id", ID, nullable=False),
        sa.Column("tag", sa.String(200), nullable=False),
        _record_fk("record_tags"),
        sa.PrimaryKeyConstraint("record_id", "tag", name="pk_record_tags"),
    )
    op.create_index("ix_record_tags_tag", "record_tags", ["tag"])


def _create_feedback() -> None:
    """The ``feedback`` table and its indexes."""
    op.create_table(
        "feedback",
        sa.Column("id", ID, nullable=False),
        sa.Column("record_id", ID, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("user_id", sa.String(200), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        _record_fk("feedback"),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        sa.CheckConstraint("kind IN ('thumbs_up', 'thumbs_down', 'score', 'comment')", name="ck_feedback_kind"),
    )
    for column in ("record_id", "user_id", "created_at"):
        op.create_index(f"ix_feedback_{column}", "feedback", [column])


def _create_metrics() -> None:
    """The ``metrics`` table and its indexes."""
    op.create_table(
        "metrics",
        sa.Column("record_id", ID, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        _record_fk("metrics"),
        sa.PrimaryKeyConstraint("record_id", "name", name="pk_metrics"),
    )
    op.create_index("ix_metrics_name_record_id", "metrics", ["name", "record_id"])


def _create_embeddings() -> None:
    """The ``embeddings`` table."""
    op.create_table(
        "embeddings",
        sa.Column("record_id", ID, nullable=False),
        sa.Column("field", sa.String(20), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        _record_fk("embeddings"),
        sa.PrimaryKeyConstraint("record_id", "field", "model", name="pk_embeddings"),
        sa.CheckConstraint("field IN ('prompt', 'response')", name="ck_embeddings_field"),
    )


def downgrade() -> None:
    for table in ("embeddings", "metrics", "feedback", "record_tags", "records"):
        op.drop_table(table)
