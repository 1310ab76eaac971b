"""drop the index on messages.created_at: no query uses it, and every stored and every
deleted message paid for it (one more b-tree page written per row)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_messages_created_at", table_name="messages")


def downgrade() -> None:
    op.create_index("ix_messages_created_at", "messages", ["created_at"], unique=False)
