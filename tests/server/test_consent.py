"""A team's consent text through the public HTTP interface: an admin sets it in German and
English, every change is a new version kept with the earlier ones and audited, the same
text again makes no new version, and what is not a text in both languages is refused."""

from __future__ import annotations

from typing import Any

from conftest import Server, caller

BODY = {
    "de": "Wir speichern Deinen Chat verschlüsselt und löschen ihn 48 Stunden nach dem Ende.",
    "en": "We keep your chat encrypted and delete it 48 hours after it ends.",
}


async def test_versions_are_kept_and_audited(server: Server) -> None:
    await server.staff("root", [], role="admin")
    root = await caller(server, "root")
    status, shown = await root("GET", "/api/teams/alpha/consent")
    assert status == 200 and shown["current"] is None and shown["history"] == []

    status, saved = await root("PUT", "/api/teams/alpha/consent", BODY)
    assert status == 200 and saved["current"]["version"] == 1
    assert saved["current"]["label"] == "w1.t1" and saved["current"]["texts"] == BODY
    again = (await root("PUT", "/api/teams/alpha/consent", BODY))[1]["current"]
    assert again["version"] == 1  # the same text: no new version
    changed = {**BODY, "en": BODY["en"] + " Your counsellor's notes too."}
    assert (await root("PUT", "/api/teams/alpha/consent", changed))[1]["current"]["version"] == 2
    history = (await root("GET", "/api/teams/alpha/consent"))[1]["history"]
    assert [h["version"] for h in history] == [2, 1] and history[1]["texts"] == BODY

    bad: list[Any] = [
        {"de": "nur Deutsch"},
        {"de": "", "en": "x"},
        {"de": "x", "en": "y" * 4001},
        {"de": "x", "en": 3},
        ["de", "en"],
    ]
    for body in bad:
        status, answer = await root("PUT", "/api/teams/alpha/consent", body)
        assert status == 400 and answer["error"]["code"] == "malformed", body
    assert (await root("GET", "/api/teams/alpha/consent"))[1]["current"]["version"] == 2
    audit = (await root("GET", "/api/admin/audit?action=consent.changed"))[1]
    assert [e["action"] for e in audit["entries"]] == ["consent.changed"] * 2


async def test_the_suggestion_states_the_teams_periods(server: Server) -> None:
    await server.staff("root", [], role="admin")
    root = await caller(server, "root")
    assert (await root("PUT", "/api/teams/alpha/retention", {"messages": "3d"}))[0] == 200
    status, suggested = await root("GET", "/api/teams/alpha/consent/suggestion")
    assert status == 200
    assert "3 days after the chat ends" in suggested["texts"]["en"]
    assert "3 Tage" in suggested["texts"]["de"] and "[" not in suggested["texts"]["de"]
