"""Analytics: evaluation runs and examples, alert rules and events, saved drift reports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Only new tables: databases written by revision 0001 keep every record untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out (not imported from pellucid.monitor.db) so this revision never changes meaning.
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
ID = sa.Uuid(as_uuid=False)
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    _create_eval_runs()
    _create_eval_examples()
    _create_alert_rules()
    _create_alert_events()
    _create_drift_reports()


def _create_eval_runs() -> None:
    """The ``eval_runs`` table and its indexes."""
    op.create_table(
        "eval_runs",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("model_version", sa.String(200), nullable=True),
        sa.Column("prompt_version", sa.String(200), nullable=True),
        sa.Column("dataset_path", sa.Text(), nullable=True),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("results", JSON, nullable=True),
        sa.Column("n_examples", sa.Integer(), nullable=False),
        sa.Column("n_skipped", sa.Integer(), nullable=False),
        sa.Column("params", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_eval_runs"),
    )
    op.create_index("ix_eval_runs_name", "eval_runs", ["name"])
    op.create_index("ix_eval_runs_created_at", "eval_runs", ["created_at"])


def _create_eval_examples() -> None:
    """The ``eval_examples`` table."""
    op.create_table(
        "eval_examples",
        sa.Column("run_id", ID, nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("prompt", JSON, nullable=False),
        sa.Column("reference", JSON, nullable=False),
        sa.Column("prediction", sa.Text(), nullable=True),
        sa.Column("scores", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["eval_runs.id"], ondelete="CASCADE", name="fk_eval_examples_run_id_eval_runs"
        ),
        sa.PrimaryKeyConstraint("run_id", "idx", name="pk_eval_examples"),
    )


def _create_alert_rules() -> None:
    """The ``alert_rules`` table."""
    op.create_table(
        "alert_rules",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("condition", sa.Text(), nullable=False),
        sa.Column("metric", sa.String(200), nullable=False),
        sa.Column("operator", sa.String(2), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("window_seconds", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("repeat_seconds", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("last_checked_at", TIME, nullable=True),
        sa.Column("last_fired_at", TIME, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_rules"),
        sa.UniqueConstraint("name", name="uq_alert_rules_name"),
        sa.CheckConstraint("action IN ('webhook', 'command', 'none')", name="ck_alert_rules_action"),
        sa.CheckConstraint("state IN ('ok', 'firing')", name="ck_alert_rules_state"),
    )


def _create_alert_events() -> None:
    """The ``alert_events`` table and its indexes."""
    op.create_table(
        "alert_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("rule_id", ID, nullable=True),
        sa.Column("rule_name", sa.String(200), nullable=False),
        sa.Column("fired_at", TIME, nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("delivery_status", sa.String(20), nullable=False),
        sa.Column("delivery_detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["alert_rules.id"], ondelete="SET NULL", name="fk_alert_events_rule_id_alert_rules"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_alert_events"),
    )
    op.create_index("ix_alert_events_rule_id", "alert_events", ["rule_id"])
    op.create_index("ix_alert_events_fired_at", "alert_events", ["fired_at"])


def _create_drift_reports() -> None:
    """The ``drift_reports`` table and its indexes."""
    op.create_table(
        "drift_reports",
        sa.Column("id", ID, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("current", sa.Text(), nullable=False),
        sa.Column("drifted", sa.Boolean(), nullable=False),
        sa.Column("verdict", sa.Text(), nullable=False),
        sa.Column("report", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_drift_reports"),
    )
    op.create_index("ix_drift_reports_created_at", "drift_reports", ["created_at"])


def downgrade() -> None:
    for table in ("drift_reports", "alert_events", "alert_rules", "eval_examples", "eval_runs"):
        op.drop_table(table)
