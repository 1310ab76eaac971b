"""The CLI's side of the admin area, as an operator uses it (``chatserver`` in a
subprocess, on SQLite and PostgreSQL): the same checks and audit entries as the admin API,
because both call chatserver.teams.teams and chatserver.staff.accounts. Kept few: each call is a
process."""

from __future__ import annotations

import asyncio

from conftest import dump
from test_cli import Run, add_user, cli_audit, ok, refused, run  # noqa: F401 (run: fixture)


def test_team_rename_archive_and_topics(run: Run, db_url: str) -> None:  # noqa: F811
    """A team is renamed, archived and restored, its topics changed all or nothing."""
    ok(run("team", "add", "alpha", "--name", "Alpha", "--topic", "general:General"))
    assert ok(run("team", "rename", "alpha", "Alpha Youth")).strip() == "renamed alpha: Alpha Youth"
    ok(run("team", "archive", "alpha"))
    assert ok(run("team", "list")).splitlines() == [
        "alpha\tAlpha Youth\ttopics=general\torigins=-\tarchived"
    ]
    assert ok(run("team", "archive", "alpha", "--undo")).strip() == "restored alpha"

    out = ok(
        run(
            "team",
            "topics",
            "alpha",
            "--add",
            "school:School",
            "--rename",
            "general:Anything else",
            "--add",
            "family:Family",
        )
    )
    assert out.splitlines() == ["family\tFamily", "general\tAnything else", "school\tSchool"]
    before = asyncio.run(dump(db_url))
    # One refused change refuses them all.
    refused(
        run("team", "topics", "alpha", "--remove", "school", "--remove", "nope"),
        "there is no topic 'nope' in team 'alpha'",
    )
    refused(run("team", "topics", "alpha", "--add", "Bad Slug:X"), "'Bad Slug' is not a slug")
    refused(run("team", "rename", "nope", "X"), "there is no team 'nope'")
    refused(run("team", "origins", "alpha", "--add", "http://agency.example"), "needs https")
    assert asyncio.run(dump(db_url)) == before

    assert ok(run("team", "topics", "alpha", "--remove", "family")).splitlines() == [
        "general\tAnything else",
        "school\tSchool",
    ]
    assert [(a, t, d) for a, t, d in cli_audit(asyncio.run(dump(db_url)))] == [
        ("team.created", "alpha", {"topics": 1}),
        ("team.renamed", "alpha", {}),
        ("team.archived", "alpha", {}),
        ("team.restored", "alpha", {}),
        ("topic.added", "alpha", {"topic": "school"}),
        ("topic.added", "alpha", {"topic": "family"}),
        ("topic.renamed", "alpha", {"topic": "general"}),
        ("topic.removed", "alpha", {"topic": "family"}),
    ]


def test_user_set_role_and_cap(run: Run, db_url: str) -> None:  # noqa: F811
    """Roles and caps change; the last enabled admin is neither demoted nor disabled."""
    root = add_user(run, "root", "--role", "admin", "--no-totp")
    anna = add_user(run, "anna", "--no-totp")
    before = asyncio.run(dump(db_url))
    refused(run("user", "set-role", "root", "counsellor"), "'root' is the last enabled admin")
    refused(run("user", "disable", "root"), "'root' is the last enabled admin")
    refused(run("user", "set-cap", "anna", "21"), "cap: a number of chats from 1 to 20")
    refused(run("user", "set-cap", "anna", "many"), "'many' is not a number")
    refused(run("user", "set-role", "ghost", "admin"), "there is no user 'ghost'")
    assert asyncio.run(dump(db_url)) == before

    assert ok(run("user", "set-cap", "anna", "5")).strip() == "anna may hold 5 chats at once"
    assert "3 (the default)" in ok(run("user", "set-cap", "anna", "default"))
    assert ok(run("user", "set-role", "anna", "admin")).strip() == "anna is now admin"
    ok(run("user", "set-role", "root", "supervisor"))
    assert ok(run("user", "list")).splitlines() == [
        "anna\tadmin\t\tAnna\tno-2fa",
        "root\tsupervisor\t\tRoot\tno-2fa",
    ]
    assert [(a, t, d) for a, t, d in cli_audit(asyncio.run(dump(db_url)))][2:] == [
        ("staff.cap_changed", anna, {"cap": 5}),
        ("staff.cap_changed", anna, {"cap": None}),
        ("staff.role_changed", anna, {"role": "admin", "was": "counsellor"}),
        ("staff.role_changed", root, {"role": "supervisor", "was": "admin"}),
    ]
