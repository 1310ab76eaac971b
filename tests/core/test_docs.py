"""The docs name everything a user can meet: every frame type, error code, setting and
CLI command has a heading, and the lifecycle diagram is the one the code generates."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from chatserver.config import Settings
from chatserver.ops.cli import _parser
from chatserver.protocol import frames
from chatserver.protocol.errors import ChatError, ServerError
from chatserver.protocol.lifecycle import mermaid_diagram

DOCS = Path(__file__).parents[2] / "docs"


def _section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no section '## {title}'"
    return match.group(1)


def _headings(text: str) -> set[str]:
    return set(re.findall(r"^### `([^`]+)`", text, re.M))


PROTOCOL = (DOCS / "protocol.md").read_text("utf-8")
OPERATIONS = (DOCS / "operations.md").read_text("utf-8")


@pytest.mark.parametrize(
    ("section", "types"),
    [
        ("Client frames", set(frames.CLIENT_FRAMES)),
        ("Console frames", set(frames.CONSOLE_FRAMES)),
        ("Server frames", {cls.type for cls in frames.SERVER_FRAMES}),
    ],
)
def test_every_frame_type_has_a_heading(section: str, types: set[str]) -> None:
    """Each frame type of each role is documented under its role's section."""
    assert types - _headings(_section(PROTOCOL, section)) == set()


def _wire_codes() -> set[str]:
    """Codes that can reach a peer: the leaves of the hierarchy, plus server_error."""
    codes, stack = set(), [ChatError]
    while stack:
        cls = stack.pop()
        subclasses = [c for c in cls.__subclasses__() if not c.__name__.startswith("_")]
        if not subclasses:
            codes.add(cls.code)
        stack.extend(subclasses)
    return codes | {ServerError.code}


def test_every_error_code_has_a_heading() -> None:
    """Each error code a peer can receive is explained."""
    assert _wire_codes() - _headings(_section(PROTOCOL, "Errors")) == set()


def test_lifecycle_diagram_is_generated_from_the_table() -> None:
    """docs/protocol.md carries exactly the diagram of TRANSITIONS."""
    match = re.search(r"<!-- lifecycle:start -->\n(.*?)\n<!-- lifecycle:end -->", PROTOCOL, re.S)
    assert match and match.group(1) == mermaid_diagram()


def test_every_setting_has_a_heading() -> None:
    """Each setting is documented with its environment variable."""
    section = _section(OPERATIONS, "Settings")
    for field in dataclasses.fields(Settings):
        assert field.name in _headings(section), field.name
        assert f"CHAT_{field.name.upper()}" in section, field.name


def test_every_cli_command_has_a_heading() -> None:
    """Each `chatserver` command and subcommand is documented."""
    commands = set()
    parser = _parser()
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        for name, sub in action.choices.items():
            nested = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
            if nested:
                commands |= {f"chatserver {name} {n}" for n in nested[0].choices}
            else:
                commands.add(f"chatserver {name}")
    assert commands - _headings(_section(OPERATIONS, "Command line")) == set()
