"""The schema, as SQLAlchemy Core tables; Alembic migrations must match it (a test checks).

Rules that hold for every table:
- No column holds message plaintext, a private key, an IP address or a user agent.
  Message bodies, client public keys and envelopes are opaque bytes from the E2E layer.
- Times are unix milliseconds (``BigInteger``), the same on SQLite and PostgreSQL.
- Every foreign key and every time column a retention job scans has an index.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: One row: this installation's identifier, made once by migration 0011 and kept by every
#: backup. Random and not secret: new accounts' passwords are salted with it, so a sign-in
#: does not depend on the address the server is reached by (docs/operations.md).
installation = Table(
    "installation",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
)

teams = Table(
    "teams",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("archived_at", BigInteger, nullable=True),
    # The widget offers the client a transcript saved on its own device (off by default).
    Column("transcript", Boolean, nullable=False, server_default=false()),
)

topics = Table(
    "topics",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("slug", String(40), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("team_id", "slug"),
)

origins = Table(
    "origins",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("origin", String(300), nullable=False),
    UniqueConstraint("team_id", "origin"),
)

staff = Table(
    "staff",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("username", String(80), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(20), nullable=False),  # counsellor, supervisor, admin
    Column("credential_hash", String(200), nullable=False),  # Argon2id of the derived credential
    Column("totp_secret", String(64), nullable=True),
    # Set by self-enrolment, never accepted at sign-in; becomes totp_secret once confirmed.
    Column("totp_pending", String(64), nullable=True),
    Column("cap", Integer, nullable=True),  # simultaneous chats; null = server default
    Column("created_at", BigInteger, nullable=False),
    Column("disabled_at", BigInteger, nullable=True, index=True),
    Column("last_login_at", BigInteger, nullable=True),
    # What the password's derivation was salted with (docs/e2e.md, "Passwords"): public,
    # the installation id for accounts made since 0011, the origin before.
    Column("kdf_salt", String(200), nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("staff_id", ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("since", BigInteger, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("staff_id", ForeignKey("staff.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("topic_id", ForeignKey("topics.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("state", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("client_key", LargeBinary, nullable=False),
    Column("consent_version", String(32), nullable=False),
    Column("epoch", BigInteger, nullable=True),  # the team epoch the client encrypted to
    Column("counsellor_id", ForeignKey("staff.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("last_seq", BigInteger, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False, index=True),
    Column("queued_at", BigInteger, nullable=True),
    Column("accepted_at", BigInteger, nullable=True),
    Column("closed_at", BigInteger, nullable=True, index=True),
    Column("last_activity_at", BigInteger, nullable=False, index=True),
    Column("close_category", String(40), nullable=True),
    Column("transfers", Integer, nullable=False, default=0),
    # Retention (chatserver/retention_rules.py): when the messages and notes are due for deletion,
    # when the whole record is, and when its anonymous statistics were recorded. Past due
    # means hidden at once and purged by the next sweep.
    Column("messages_due_at", BigInteger, nullable=True, index=True),
    Column("due_at", BigInteger, nullable=True, index=True),
    Column("stats_at", BigInteger, nullable=True),
    Index("ix_conversations_queue", "team_id", "state", "queued_at"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column(
        "conversation_id",
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("seq", BigInteger, nullable=False),
    Column("sender", String(8), nullable=False),  # client or team
    Column("author_id", ForeignKey("staff.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("client_msg_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("gen", Integer, nullable=False),
    Column("n", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),  # opaque E2E ciphertext, at most 64 KiB
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("conversation_id", "seq"),
    UniqueConstraint(
        "conversation_id", "sender", "client_msg_id", name="uq_messages_client_msg_id"
    ),
)

blocks = Table(
    "blocks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True),
    # The blocked conversation's resume-token hash: never an address or a fingerprint.
    Column("token_hash", String(64), nullable=False, index=True),
    Column("created_by", ForeignKey("staff.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
)

key_envelopes = Table(
    "key_envelopes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True),
    Column(
        "conversation_id",
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    Column("envelope_id", String(64), nullable=False),
    # For team keys: the member the epoch key is wrapped to (conversation is then null).
    Column("recipient_id", ForeignKey("staff.id", ondelete="CASCADE"), nullable=True, index=True),
    Column("purpose", String(16), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("author_id", ForeignKey("staff.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("body", LargeBinary, nullable=False),  # opaque signed envelope
    Column("created_at", BigInteger, nullable=False, index=True),
    UniqueConstraint("conversation_id", "envelope_id", name="uq_key_envelopes_envelope_id"),
)

team_epochs = Table(
    "team_epochs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("not_before", BigInteger, nullable=False),
    Column("not_after", BigInteger, nullable=False, index=True),
    # The signed bundle as the admin's console made it (JSON text): public keys and a
    # signature only; the server checks its shape, never its cryptography.
    Column("bundle", Text, nullable=False),
    Column("created_by", ForeignKey("staff.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("created_at", BigInteger, nullable=False),
    # Set when retention destroyed the epoch's storage key and team-key envelopes.
    Column("retired_at", BigInteger, nullable=True),
    UniqueConstraint("team_id", "epoch", name="uq_team_epochs_epoch"),
)

identities = Table(
    "identities",
    metadata,
    Column("staff_id", ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True),
    Column("dh_pub", LargeBinary, nullable=False),
    Column("sig_pub", LargeBinary, nullable=False),
    # The identity private keys, wrapped in the member's browser under a key derived from
    # the password and the account secret key: opaque, never unwrappable here.
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

rosters = Table(
    "rosters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("roster", Text, nullable=False),  # signed by the team root key, JSON
    Column("created_by", ForeignKey("staff.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("team_id", "version", name="uq_rosters_version"),
)

invites = Table(
    "invites",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("role", String(20), nullable=False),
    Column("created_by", ForeignKey("staff.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
    # Set at enrolment: the account it made (pending until approved) and the MAC over the
    # new keys under the invite secret, which only the admin's browser can check.
    Column("staff_id", ForeignKey("staff.id", ondelete="CASCADE"), nullable=True, index=True),
    Column("mac", LargeBinary, nullable=True),
    Column("enrolled_at", BigInteger, nullable=True),
    Column("approved_at", BigInteger, nullable=True),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", BigInteger, nullable=False, index=True),
    Column("actor", String(32), nullable=True),  # staff id, "cli" or "system"; never a client
    Column("action", String(40), nullable=False),
    Column("target", String(80), nullable=True),
    Column("detail", Text, nullable=False, default="{}"),  # JSON without content
    # A hash chain: each entry's hash covers the previous entry's hash and its own fields,
    # so a changed or removed entry is detected (chatserver audit verify).
    Column("prev_hash", String(64), nullable=False, default=""),
    Column("hash", String(64), nullable=False, default=""),
)

retention_rules = Table(
    "retention_rules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("category", String(20), nullable=False),
    Column("minutes", BigInteger, nullable=False),
    Column("updated_by", ForeignKey("staff.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("team_id", "category", name="uq_retention_rules_category"),
)

holds = Table(
    "holds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "conversation_id",
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("reason", String(500), nullable=False),  # the supervisor's words, never content
    Column("created_by", ForeignKey("staff.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
    Column("released_at", BigInteger, nullable=True, index=True),
    Column("released_by", ForeignKey("staff.id", ondelete="SET NULL"), nullable=True, index=True),
)

# Anonymous statistics: one row per ended conversation, with no link back to it (no id, no
# exact times), recorded before the conversation may be purged.
stat_facts = Table(
    "stat_facts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True),
    # YYYY-MM-DD it started, in the team's time zone (chatserver.records.retention.team_zone)
    Column("day", String(10), nullable=False, index=True),
    Column("topic", String(40), nullable=True),
    Column("outcome", String(16), nullable=False),  # closed, abandoned, deleted
    Column("close_category", String(40), nullable=True),
    Column("accepted", Integer, nullable=False),  # 0 or 1
    Column("waited_ms", BigInteger, nullable=True),  # start to first accept
    Column("duration_ms", BigInteger, nullable=True),  # first accept to end
    Column("transfers", Integer, nullable=False),
)

# Canned replies: team-wide text snippets written by supervisors and admins. Unlike client
# content they are not end-to-end encrypted; the server stores them as plaintext on purpose.
canned_replies = Table(
    "canned_replies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("title", String(80), nullable=False),
    Column("body", String(2000), nullable=False),
    Column("lang", String(2), nullable=False),  # de, en
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", ForeignKey("staff.id", ondelete="SET NULL"), nullable=True, index=True),
)

# Opening hours: one row per team that set them (no row: always open). The validated JSON
# of chatserver/teams/hours.py (schedule, exceptions, time zone, closed message, emergency
# contacts), written and read as a whole.
opening_hours = Table(
    "opening_hours",
    metadata,
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("config", Text, nullable=False),
    Column("updated_by", ForeignKey("staff.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("updated_at", BigInteger, nullable=False),
)

# Consent texts: each team's own paragraph of the widget's consent screen, in German and
# English, every change a new version (chatserver/teams/consent.py). Conversations record the
# version their client agreed to; the texts stay, as the record of what that was.
consent_texts = Table(
    "consent_texts",
    metadata,
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("notice_de", Text, nullable=False),
    Column("notice_en", Text, nullable=False),
    Column("created_by", ForeignKey("staff.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("created_at", BigInteger, nullable=False),
)
