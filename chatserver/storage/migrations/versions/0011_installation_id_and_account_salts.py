"""an installation id, and the salt of each account's password derivation kept with it

Sign-in no longer depends on the address the server is reached by: new accounts are
salted with the installation id, and accounts made before keep the origin they were made
under (the origin of the settings this migration runs with; ``chatserver migrate`` passes
it as ``legacy_origin``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import secrets
import time

import sqlalchemy as sa
from alembic import context, op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

#: The origin a server had without settings before this migration (host and port defaults).
DEFAULT_ORIGIN = "http://127.0.0.1:8080"


def upgrade() -> None:
    installation = op.create_table(
        "installation",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_installation")),
    )
    op.bulk_insert(
        installation, [{"id": secrets.token_hex(16), "created_at": int(time.time() * 1000)}]
    )
    legacy = context.config.attributes.get("legacy_origin") or DEFAULT_ORIGIN
    with op.batch_alter_table("staff") as batch:
        batch.add_column(
            sa.Column("kdf_salt", sa.String(length=200), nullable=False, server_default=legacy)
        )
    with op.batch_alter_table("staff") as batch:
        batch.alter_column("kdf_salt", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("kdf_salt")
    op.drop_table("installation")
