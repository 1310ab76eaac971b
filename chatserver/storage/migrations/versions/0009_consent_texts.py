"""consent texts per team, versioned

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_texts",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("notice_de", sa.Text(), nullable=False),
        sa.Column("notice_en", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_consent_texts_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["staff.id"],
            name=op.f("fk_consent_texts_created_by_staff"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("team_id", "version", name=op.f("pk_consent_texts")),
    )
    with op.batch_alter_table("consent_texts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_texts_created_by"), ["created_by"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("consent_texts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_texts_created_by"))
    op.drop_table("consent_texts")
