"""The schema: migrations equal the models, every foreign key and retention time column
is indexed, and no column could hold plaintext or an address."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import LargeBinary

from chatserver.storage import models as m
from chatserver.storage.db import Database

TIME_COLUMNS_SCANNED_BY_RETENTION = {
    ("conversations", "closed_at"),
    ("conversations", "last_activity_at"),
    ("conversations", "created_at"),
    ("conversations", "messages_due_at"),
    ("conversations", "due_at"),
    # messages go by conversation_id (a foreign key, indexed like every other)
    ("sessions", "expires_at"),
    ("blocks", "expires_at"),
    ("key_envelopes", "created_at"),
    ("audit", "at"),
    ("staff", "disabled_at"),
}


async def test_migrations_match_models(db_url: str) -> None:
    """`chatserver migrate` builds exactly the schema the code declares."""
    db = Database(db_url, pooled=False)
    try:
        async with db.engine.connect() as conn:

            def diff(sync_conn: Any) -> list[Any]:
                context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return list(compare_metadata(context, m.metadata))

            assert await conn.run_sync(diff) == []
    finally:
        await db.dispose()


def _indexed_leading_columns() -> set[tuple[str, str]]:
    found = set()
    for table in m.metadata.tables.values():
        for index in table.indexes:
            found.add((table.name, next(iter(index.columns)).name))
        for constraint in table.constraints:
            columns = list(getattr(constraint, "columns", []))
            if columns and constraint.__class__.__name__ in (
                "UniqueConstraint",
                "PrimaryKeyConstraint",
            ):
                found.add((table.name, columns[0].name))
        for column in table.columns:
            if column.unique:
                found.add((table.name, column.name))
    return found


def test_every_foreign_key_and_retention_column_is_indexed() -> None:
    """Deletion jobs and cascades never scan a table."""
    indexed = _indexed_leading_columns()
    for table in m.metadata.tables.values():
        for fk in table.foreign_keys:
            assert (table.name, fk.parent.name) in indexed, f"{table.name}.{fk.parent.name}"
    assert indexed >= TIME_COLUMNS_SCANNED_BY_RETENTION


def test_no_column_for_plaintext_addresses_or_agents() -> None:
    """Only opaque E2E blobs are binary; no column is named like an address or agent."""
    binary = {
        (t.name, c.name)
        for t in m.metadata.tables.values()
        for c in t.columns
        if isinstance(c.type, LargeBinary)
    }
    assert binary == {
        ("conversations", "client_key"),
        ("messages", "body"),
        ("key_envelopes", "body"),
        ("identities", "dh_pub"),
        ("identities", "sig_pub"),
        ("identities", "wrapped"),
        ("invites", "mac"),
    }
    names = {c.name for t in m.metadata.tables.values() for c in t.columns}
    for forbidden in ("ip", "address", "user_agent", "plaintext", "text", "content"):
        assert not any(forbidden == n or n.startswith(forbidden + "_") for n in names), forbidden
