"""The retention, hold and audit commands as an operator runs them (a subprocess against
the real database), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from conftest import Server, client_key
from sqlalchemy import update
from test_cli import chatserver, ok, refused

from chatserver.chat import service
from chatserver.storage import models as m
from chatserver.web.state import DB


async def test_rules_preview_run_and_holds(make_server: Any, tmp_path: Any) -> None:
    """An operator shortens a team's message retention, previews it, places and releases
    a hold, and runs a sweep that prints its report; a rule outside the operator's range
    and an unknown category are refused with a reason."""
    server: Server = await make_server()
    url = server.settings.database_url
    await server.team("alpha")
    await server.staff("anna", ["alpha"])
    anna = await server.console("anna")
    client = await server.client()
    conv = (await client.start("alpha", client_key()))["conversation"]
    await client.send("c1", b"ciphertext")
    await anna.accept(conv)
    await anna.close_conversation(conv)

    rules = ok(chatserver(url, tmp_path, "retention", "rules", "alpha", "--set", "messages=1m"))
    assert "messages\t1m\tteam rule" in rules
    assert "metadata\t90d\tdefault" in rules
    refused(
        chatserver(
            url,
            tmp_path,
            "retention",
            "rules",
            "alpha",
            "--set",
            "messages=1m",
            CHAT_RETENTION_MIN="messages=24h",
        ),
        "at least 1d",
    )
    refused(
        chatserver(url, tmp_path, "retention", "rules", "alpha", "--set", "chats=1d"), "not a rule"
    )
    # Audit entries, accounts, invitations, sessions and blocks belong to no team.
    refused(
        chatserver(url, tmp_path, "retention", "rules", "alpha", "--set", "audit=30d"),
        "belongs to no team",
    )

    # The conversation ended a moment ago: with a 1-minute rule it is not due yet, but it
    # is within the next 7 days.
    preview = ok(chatserver(url, tmp_path, "retention", "preview", "--team", "alpha"))
    assert "alpha\tmessages\t1m\t0\t1" in preview
    proposed = ok(chatserver(url, tmp_path, "retention", "preview", "--set", "alpha:messages=0m"))
    assert "alpha\tmessages\t0m\t1\t1" in proposed

    placed = ok(
        # "--" ends the options, as the help says for ids from older data that begin with "-"
        chatserver(
            url, tmp_path, "hold", "place", "--reason", "court order", "--days", "3", "--", conv
        )
    )
    hold_id = placed.split()[1]
    assert conv in ok(chatserver(url, tmp_path, "hold", "list"))
    ok(chatserver(url, tmp_path, "retention", "rules", "alpha", "--set", "messages=0m"))
    report = ok(chatserver(url, tmp_path, "retention", "run"))
    assert "held conversations kept: 1" in report
    assert "messages:" not in report
    assert "released" in ok(chatserver(url, tmp_path, "hold", "release", hold_id))
    refused(chatserver(url, tmp_path, "hold", "release", hold_id), "no hold in force")
    report = ok(chatserver(url, tmp_path, "retention", "run"))
    assert "messages: 1" in report and "storage keys destroyed: 1" in report


async def test_audit_verify_detects_a_changed_entry(make_server: Any, tmp_path: Any) -> None:
    server: Server = await make_server()
    url = server.settings.database_url
    await server.team("alpha")
    ok(chatserver(url, tmp_path, "team", "origins", "alpha", "--add", "https://a.example"))
    ok(chatserver(url, tmp_path, "retention", "rules", "alpha", "--set", "messages=3d"))
    assert "audit log intact" in ok(chatserver(url, tmp_path, "audit", "verify"))
    csv = ok(chatserver(url, tmp_path, "audit", "export"))
    assert (
        csv.startswith("id,at,actor,action,target,detail,hash") and "retention.rule_changed" in csv
    )

    async with server.app[DB].write() as conn:
        await conn.execute(
            update(m.audit).where(m.audit.c.action == "retention.rule_changed").values(actor="x")
        )
    message = refused(chatserver(url, tmp_path, "audit", "verify"), "audit log broken")
    assert "changed" in message


def test_conversation_ids_never_begin_with_a_dash(monkeypatch: Any) -> None:
    """Operators type conversation ids as arguments; one beginning with "-" would read as an
    option, so a random id that does is drawn again."""
    drawn = iter(["-Ibdc2aAKbt8FR9tj0HZiQ", "Ibdc2aAKbt8FR9tj0HZiQ"])
    monkeypatch.setattr(service.secrets, "token_urlsafe", lambda n: next(drawn))
    assert service.new_conversation_id() == "Ibdc2aAKbt8FR9tj0HZiQ"
