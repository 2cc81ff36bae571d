"""Dictionary features of logged responses: a ``record_features`` table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

One row per (record, dictionary, latent) with the latent's strongest activation over the
response's tokens, written by feature enrichment; rows go with their record (``ON DELETE
CASCADE``). Indexed by (dictionary, latent) so "the records where feature 123 fires" is one
index range. Nothing existing changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "record_features",
        sa.Column("record_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("dictionary", sa.String(200), nullable=False),
        sa.Column("latent", sa.Integer(), nullable=False),
        sa.Column("activation", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name="fk_record_features_record_id_records", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("record_id", "dictionary", "latent", name="pk_record_features"),
    )
    op.create_index("ix_record_features_dictionary_latent", "record_features", ["dictionary", "latent"])


def downgrade() -> None:
    op.drop_index("ix_record_features_dictionary_latent", table_name="record_features")
    op.drop_table("record_features")
