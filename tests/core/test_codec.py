"""The codec: every inbound frame decodes, every bad input is refused with its exact error."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import pytest

from chatserver.protocol.codec import ROLES, decode, encode, to_jsonable
from chatserver.protocol.errors import (
    ChatError,
    FrameError,
    FrameTooLarge,
    Malformed,
    PeerError,
    UnknownFrameType,
)
from chatserver.protocol.frames import (
    CLIENT_FRAMES,
    CONSOLE_FRAMES,
    MAX_BODY,
    MAX_KEY,
    SERVER_FRAMES,
    Accept,
    Ack,
    Assigned,
    Availability,
    Block,
    Challenge,
    Close,
    ConsoleOpened,
    Delete,
    Dequeued,
    Envelope,
    EnvelopeItem,
    EnvelopeList,
    EnvelopeNotice,
    EnvelopesRequest,
    Error,
    Fetch,
    Frame,
    Hello,
    Message,
    Position,
    Presence,
    Queued,
    QueueItem,
    QueueSnapshot,
    Released,
    Resume,
    Resumed,
    Send,
    StaffClose,
    StaffFetch,
    StaffSend,
    StaffTyping,
    Start,
    Started,
    StateChanged,
    Transfer,
    Typing,
    TypingNotice,
)

MAX = 256 * 1024  # comfortably above any valid frame used here


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


KEY = b"\x01" * 32
BODY = b"ciphertext\x00\xff"
TOKEN = "t" * 16

# --------------------------------------------------------------------------- valid inbound

VALID: list[Any] = [
    # client
    pytest.param(
        "client",
        {"type": "start", "team": "help-1", "client_key": b64(KEY), "consent": "v1.0"},
        Start(team="help-1", client_key=KEY, consent="v1.0"),
        id="client-start-minimal",
    ),
    pytest.param(
        "client",
        {
            "type": "start",
            "team": "help-1",
            "client_key": b64(KEY),
            "consent": "v1.0",
            "topic": "money",
            "pow_challenge": "1.2.abc.def",
            "pow_nonce": "1f",
        },
        Start(
            team="help-1",
            client_key=KEY,
            consent="v1.0",
            topic="money",
            pow_challenge="1.2.abc.def",
            pow_nonce="1f",
        ),
        id="client-start-full",
    ),
    pytest.param(
        "client",
        {"type": "start", "team": "t", "client_key": b64(KEY), "consent": "c", "topic": None},
        Start(team="t", client_key=KEY, consent="c", topic=None),
        id="client-start-null-optional",
    ),
    pytest.param(
        "client",
        {"type": "send", "id": "m-1", "body": b64(BODY), "gen": 0, "n": 0},
        Send(id="m-1", body=BODY, gen=0, n=0, kind="msg"),
        id="client-send-default-kind",
    ),
    pytest.param(
        "client",
        {"type": "send", "id": "m_2", "body": b64(BODY), "gen": 2**31, "n": 2**31, "kind": "rekey"},
        Send(id="m_2", body=BODY, gen=2**31, n=2**31, kind="rekey"),
        id="client-send-max-ints",
    ),
    pytest.param(
        "client",
        {"type": "send", "id": "x" * 64, "body": b64(b"\0" * MAX_BODY), "gen": 1, "n": 1},
        Send(id="x" * 64, body=b"\0" * MAX_BODY, gen=1, n=1),
        id="client-send-max-body-and-id",
    ),
    pytest.param(
        "client",
        {"type": "resume", "conversation": "c1", "token": TOKEN, "last_seq": 2**62},
        Resume(conversation="c1", token=TOKEN, last_seq=2**62),
        id="client-resume",
    ),
    pytest.param("client", {"type": "fetch", "after": 0}, Fetch(after=0), id="client-fetch"),
    pytest.param(
        "client", {"type": "typing", "active": True}, Typing(active=True), id="client-typing"
    ),
    pytest.param("client", {"type": "close"}, Close(), id="client-close"),
    pytest.param("client", {"type": "delete"}, Delete(), id="client-delete"),
    # console
    pytest.param(
        "console",
        {"type": "availability", "status": "away"},
        Availability(status="away"),
        id="console-availability",
    ),
    pytest.param(
        "console",
        {"type": "accept", "conversation": "c1"},
        Accept(conversation="c1"),
        id="console-accept-minimal",
    ),
    pytest.param(
        "console",
        {
            "type": "accept",
            "conversation": "c1",
            "id": "a1",
            "key": b64(b"k" * MAX_KEY),
            "body": b64(BODY),
        },
        Accept(conversation="c1", id="a1", key=b"k" * MAX_KEY, body=BODY),
        id="console-accept-full",
    ),
    pytest.param(
        "console",
        {"type": "send", "conversation": "c1", "id": "m1", "body": b64(BODY), "gen": 3, "n": 4},
        StaffSend(conversation="c1", id="m1", body=BODY, gen=3, n=4),
        id="console-send",
    ),
    pytest.param(
        "console",
        {"type": "fetch", "conversation": "c1", "after": 17},
        StaffFetch(conversation="c1", after=17),
        id="console-fetch",
    ),
    pytest.param(
        "console",
        {"type": "typing", "conversation": "c1", "active": False},
        StaffTyping(conversation="c1", active=False),
        id="console-typing",
    ),
    pytest.param(
        "console",
        {"type": "transfer", "conversation": "c1"},
        Transfer(conversation="c1"),
        id="console-transfer-to-queue",
    ),
    pytest.param(
        "console",
        {"type": "transfer", "conversation": "c1", "to": "staff-2", "note": b64(BODY)},
        Transfer(conversation="c1", to="staff-2", note=BODY),
        id="console-transfer-to-colleague",
    ),
    pytest.param(
        "console",
        {"type": "close", "conversation": "c1"},
        StaffClose(conversation="c1"),
        id="console-close",
    ),
    pytest.param(
        "console",
        {"type": "close", "conversation": "c1", "category": "self_harm"},
        StaffClose(conversation="c1", category="self_harm"),
        id="console-close-category",
    ),
    pytest.param(
        "console",
        {"type": "block", "conversation": "c1"},
        Block(conversation="c1", hours=24),
        id="console-block-default-hours",
    ),
    pytest.param(
        "console",
        {"type": "block", "conversation": "c1", "hours": 24 * 90},
        Block(conversation="c1", hours=24 * 90),
        id="console-block-max-hours",
    ),
    pytest.param(
        "console",
        {
            "type": "envelope",
            "conversation": "c1",
            "id": "e1",
            "purpose": "handover",
            "body": b64(BODY),
        },
        Envelope(conversation="c1", id="e1", purpose="handover", body=BODY, epoch=0),
        id="console-envelope",
    ),
    pytest.param(
        "console",
        {"type": "envelopes", "conversation": "c1"},
        EnvelopesRequest(conversation="c1"),
        id="console-envelopes",
    ),
]


def test_valid_table_covers_every_inbound_frame_type() -> None:
    """Each role's registered frame types all appear in the valid-input table."""
    covered = {(p.values[0], p.values[1]["type"]) for p in VALID}
    registered = {(role, name) for role, frames in ROLES.items() for name in frames}
    assert covered == registered
    assert set(ROLES) == {"client", "console"}
    assert ROLES["client"] is CLIENT_FRAMES
    assert ROLES["console"] is CONSOLE_FRAMES


@pytest.mark.parametrize(("role", "payload", "expected"), VALID)
def test_decode_valid_text(role: str, payload: dict[str, Any], expected: Frame) -> None:
    """A valid JSON text frame decodes to the registered frame class with typed fields."""
    frame = decode(json.dumps(payload), role, MAX)
    assert frame == expected
    assert type(frame) is ROLES[role][payload["type"]]


@pytest.mark.parametrize(("role", "payload", "expected"), VALID)
def test_decode_valid_bytes(role: str, payload: dict[str, Any], expected: Frame) -> None:
    """The same frame sent as UTF-8 bytes decodes identically."""
    assert decode(json.dumps(payload).encode(), role, MAX) == expected


@pytest.mark.parametrize(("role", "payload", "expected"), VALID)
def test_encode_then_decode_inbound_frame(
    role: str, payload: dict[str, Any], expected: Frame
) -> None:
    """encode() of an inbound frame decodes back to an equal frame."""
    assert decode(encode(expected), role, MAX) == expected


def test_decoded_frames_are_frozen() -> None:
    """Decoded frames are immutable."""
    frame = decode('{"type":"fetch","after":1}', "client", MAX)
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.after = 2  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- bad inbound

SEND_OK: dict[str, Any] = {"type": "send", "id": "m1", "body": b64(BODY), "gen": 0, "n": 0}
START_OK: dict[str, Any] = {
    "type": "start",
    "team": "help",
    "client_key": b64(KEY),
    "consent": "v1",
}


def with_(base: dict[str, Any], **changes: Any) -> str:
    """``base`` as JSON with fields replaced (or removed when the value is ``...``)."""
    data = {k: v for k, v in {**base, **changes}.items() if v is not ...}
    return json.dumps(data)


BAD: list[Any] = [
    # not a JSON object
    pytest.param("client", "not json", Malformed, id="not-json"),
    pytest.param("client", "", Malformed, id="empty-text"),
    pytest.param("client", b"", Malformed, id="empty-bytes"),
    pytest.param("client", b'{"type":"\xff"}', Malformed, id="invalid-utf8"),
    pytest.param("client", '{"type":"close"', Malformed, id="truncated-json"),
    pytest.param("client", '[{"type":"close"}]', Malformed, id="json-array"),
    pytest.param("client", '"close"', Malformed, id="json-string"),
    pytest.param("client", "null", Malformed, id="json-null"),
    pytest.param("client", "42", Malformed, id="json-number"),
    pytest.param("client", "[" * 100_000 + "]" * 100_000, Malformed, id="deep-nesting"),
    # the type
    pytest.param("client", "{}", Malformed, id="missing-type"),
    pytest.param("client", '{"type":null}', Malformed, id="null-type"),
    pytest.param("client", '{"type":7}', Malformed, id="int-type"),
    pytest.param("client", '{"type":["close"]}', Malformed, id="list-type"),
    pytest.param("client", '{"type":"nope"}', UnknownFrameType, id="unknown-type"),
    pytest.param("client", '{"type":"Close"}', UnknownFrameType, id="type-is-case-sensitive"),
    pytest.param("client", '{"type":"x' + "y" * 5000 + '"}', UnknownFrameType, id="long-type"),
    pytest.param(
        "client", '{"type":"availability","status":"away"}', UnknownFrameType, id="console-type"
    ),
    pytest.param(
        "client", '{"type":"accept","conversation":"c1"}', UnknownFrameType, id="accept-as-client"
    ),
    pytest.param("console", with_(START_OK), UnknownFrameType, id="client-type-for-console"),
    pytest.param("console", '{"type":"delete"}', UnknownFrameType, id="delete-for-console"),
    pytest.param("client", '{"type":"hello"}', UnknownFrameType, id="server-type"),
    # fields present or not
    pytest.param("client", '{"type":"close","x":1}', Malformed, id="unknown-field"),
    pytest.param("client", with_(SEND_OK, conversation="c1"), Malformed, id="console-field"),
    pytest.param("client", with_(SEND_OK, body=...), Malformed, id="missing-body"),
    pytest.param("client", with_(START_OK, team=...), Malformed, id="missing-team"),
    pytest.param("console", with_(SEND_OK), Malformed, id="console-send-no-conversation"),
    pytest.param("client", '{"type":"typing"}', Malformed, id="missing-bool"),
    pytest.param("client", with_(SEND_OK, id=None), Malformed, id="null-required-str"),
    pytest.param("client", with_(SEND_OK, gen=None), Malformed, id="null-required-int"),
    pytest.param("client", with_(SEND_OK, kind=None), Malformed, id="null-defaulted"),
    # wrong types
    pytest.param("client", '{"type":"fetch","after":"1"}', Malformed, id="string-for-int"),
    pytest.param("client", '{"type":"fetch","after":1.0}', Malformed, id="float-for-int"),
    pytest.param("client", '{"type":"fetch","after":true}', Malformed, id="bool-for-int"),
    pytest.param("client", '{"type":"fetch","after":NaN}', Malformed, id="nan-for-int"),
    pytest.param("client", '{"type":"fetch","after":[1]}', Malformed, id="list-for-int"),
    pytest.param("client", '{"type":"typing","active":1}', Malformed, id="int-for-bool"),
    pytest.param("client", '{"type":"typing","active":"true"}', Malformed, id="str-for-bool"),
    pytest.param("client", with_(SEND_OK, id=5), Malformed, id="int-for-string"),
    pytest.param("client", with_(SEND_OK, id={"a": 1}), Malformed, id="object-for-string"),
    pytest.param("client", with_(SEND_OK, body=[1, 2]), Malformed, id="list-for-bytes"),
    # ranges
    pytest.param("client", '{"type":"fetch","after":-1}', Malformed, id="negative-seq"),
    pytest.param("client", with_(SEND_OK, gen=2**31 + 1), Malformed, id="gen-over-max"),
    pytest.param("client", with_(SEND_OK, n=-1), Malformed, id="n-negative"),
    pytest.param(
        "client", '{"type":"fetch","after":' + str(2**62 + 1) + "}", Malformed, id="seq-over"
    ),
    pytest.param("client", '{"type":"fetch","after":' + "9" * 5000 + "}", Malformed, id="huge-int"),
    pytest.param(
        "console", '{"type":"block","conversation":"c","hours":0}', Malformed, id="hours-0"
    ),
    pytest.param(
        "console",
        '{"type":"block","conversation":"c","hours":' + str(24 * 90 + 1) + "}",
        Malformed,
        id="hours-over-max",
    ),
    # patterns and choices
    pytest.param("client", with_(SEND_OK, id=""), Malformed, id="empty-id"),
    pytest.param("client", with_(SEND_OK, id="a b"), Malformed, id="id-with-space"),
    pytest.param("client", with_(SEND_OK, id="a/b"), Malformed, id="id-with-slash"),
    pytest.param("client", with_(SEND_OK, id="caf\u00e9"), Malformed, id="id-non-ascii"),
    pytest.param("client", with_(SEND_OK, id="a\n"), Malformed, id="id-trailing-newline"),
    pytest.param("client", with_(SEND_OK, id="x" * 65), Malformed, id="id-too-long"),
    pytest.param(
        "console",
        '{"type":"accept","conversation":"../etc"}',
        Malformed,
        id="conversation-bad-pattern",
    ),
    pytest.param("client", with_(START_OK, team="Help"), Malformed, id="team-uppercase"),
    pytest.param(
        "client",
        '{"type":"resume","conversation":"c","token":"short","last_seq":0}',
        Malformed,
        id="token-too-short",
    ),
    pytest.param("client", with_(SEND_OK, kind="shout"), Malformed, id="kind-not-a-choice"),
    pytest.param("console", '{"type":"availability","status":"gone"}', Malformed, id="bad-status"),
    pytest.param("client", with_(START_OK, pow_nonce="0" * 65), Malformed, id="nonce-long"),
    pytest.param(
        "client", with_(START_OK, pow_challenge="c" * 129), Malformed, id="challenge-long"
    ),
    # bytes
    pytest.param("client", with_(SEND_OK, body="!!!!"), Malformed, id="base64-bad-chars"),
    pytest.param("client", with_(SEND_OK, body="AAA"), Malformed, id="base64-no-padding"),
    pytest.param("client", with_(SEND_OK, body="AA==\n"), Malformed, id="base64-newline"),
    pytest.param("client", with_(SEND_OK, body="AA-_"), Malformed, id="base64-urlsafe"),
    pytest.param("client", with_(SEND_OK, body="\u00e9\u00e9=="), Malformed, id="b64-non-ascii"),
    pytest.param("client", with_(SEND_OK, body=""), Malformed, id="empty-body"),
    pytest.param("client", with_(START_OK, client_key=""), Malformed, id="empty-key"),
    pytest.param(
        "client",
        with_(SEND_OK, body=b64(b"\0" * (MAX_BODY + 3))),
        Malformed,
        id="body-64KiB-plus-3",
    ),
    pytest.param(
        "client",
        with_(SEND_OK, body="A" * (MAX_BODY * 2)),
        Malformed,
        id="body-twice-64KiB-of-base64",
    ),
    pytest.param(
        "client",
        with_(SEND_OK, body=b64(b"\0" * (MAX_BODY + 1))),
        Malformed,
        id="body-64KiB-plus-1",
    ),
    pytest.param(
        "client",
        with_(SEND_OK, body=b64(b"\0" * (MAX_BODY + 2))),
        Malformed,
        id="body-64KiB-plus-2",
    ),
    pytest.param(
        "client",
        with_(START_OK, client_key=b64(b"k" * (MAX_KEY + 3))),
        Malformed,
        id="key-max-plus-3",
    ),
    pytest.param(
        "client",
        with_(START_OK, client_key=b64(b"k" * (MAX_KEY + 1))),
        Malformed,
        id="key-max-plus-1",
    ),
]


@pytest.mark.parametrize(("role", "raw", "error"), BAD)
def test_decode_refuses_bad_input(role: str, raw: str | bytes, error: type[FrameError]) -> None:
    """Each bad input raises exactly its FrameError subclass with that class's code."""
    with pytest.raises(FrameError) as caught:
        decode(raw, role, MAX)
    assert type(caught.value) is error
    assert caught.value.code == error.code
    assert not caught.value.fatal
    assert caught.value.close_code == 1003


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (Malformed, "malformed"),
        (UnknownFrameType, "unknown_type"),
        (FrameTooLarge, "too_large"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
def test_frame_error_codes(error: type[FrameError], code: str) -> None:
    """Each codec error class carries its stable wire code and is a PeerError."""
    assert error.code == code
    assert issubclass(error, PeerError)
    assert issubclass(error, ChatError)


def test_error_message_names_the_field() -> None:
    """A field error says which field is wrong (without echoing its value)."""
    with pytest.raises(Malformed, match="'gen'"):
        decode(with_(SEND_OK, gen="secret-value"), "client", MAX)
    with pytest.raises(Malformed) as caught:
        decode(with_(SEND_OK, id="secret value"), "client", MAX)
    assert "secret" not in caught.value.message


@pytest.mark.parametrize("raw_type", [str, bytes], ids=["text", "bytes"])
def test_frame_over_max_bytes_is_fatal_too_large(raw_type: type) -> None:
    """A frame longer than max_bytes raises FrameTooLarge: fatal, close code 1009, HTTP 413."""
    text = json.dumps({"type": "fetch", "after": 1}) + " " * 100
    raw: str | bytes = text if raw_type is str else text.encode()
    with pytest.raises(FrameTooLarge) as caught:
        decode(raw, "client", len(text) - 1)
    error = caught.value
    assert error.code == "too_large"
    assert error.fatal
    assert error.close_code == 1009
    assert error.http_status == 413


def test_size_is_checked_before_parsing() -> None:
    """An oversized frame is refused as too large even when it is not JSON at all."""
    with pytest.raises(FrameTooLarge):
        decode("x" * 101, "client", 100)


def test_frame_of_exactly_max_bytes_is_accepted() -> None:
    """The size cap is inclusive: a frame of exactly max_bytes decodes."""
    text = '{"type":"fetch","after":1}'
    assert decode(text, "client", len(text)) == Fetch(after=1)
    assert decode(text.encode(), "client", len(text)) == Fetch(after=1)


def test_text_frame_cap_counts_utf8_bytes() -> None:
    """A text frame whose UTF-8 encoding is over max_bytes is too large."""
    text = json.dumps({"type": "start", "team": "\u00e9" * 40}, ensure_ascii=False)
    assert len(text) < len(text.encode()) - 30
    with pytest.raises(FrameTooLarge):
        decode(text, "client", len(text))


# --------------------------------------------------------------------------- encode


def test_encode_hello_with_nested_challenge() -> None:
    """Hello encodes its Challenge as a nested object and its teams tuple as a list."""
    frame = Hello(
        role="client",
        version=1,
        max_frame=98304,
        pow=Challenge(challenge="123.12.abc.def", difficulty=12),
        teams=("a", "b"),
    )
    assert json.loads(encode(frame)) == {
        "type": "hello",
        "role": "client",
        "version": 1,
        "max_frame": 98304,
        "pow": {"challenge": "123.12.abc.def", "difficulty": 12},
        "teams": ["a", "b"],
    }


def test_encode_queue_snapshot_items() -> None:
    """QueueSnapshot encodes its QueueItem tuple as a list of objects without a type."""
    frame = QueueSnapshot(
        items=(
            QueueItem(conversation="c1", team="t", topic="money", waiting_since=1000),
            QueueItem(
                conversation="c2", team="t", topic=None, waiting_since=2000, transferred=True
            ),
        )
    )
    assert json.loads(encode(frame)) == {
        "type": "queue",
        "items": [
            {
                "conversation": "c1",
                "team": "t",
                "topic": "money",
                "waiting_since": 1000,
                "transferred": False,
            },
            {"conversation": "c2", "team": "t", "waiting_since": 2000, "transferred": True},
        ],
    }


def test_encode_empty_queue_snapshot() -> None:
    """An empty queue is an empty list, not an omitted field."""
    assert json.loads(encode(QueueSnapshot(items=()))) == {"type": "queue", "items": []}


def test_encode_message_bytes_as_base64() -> None:
    """Message bodies travel as standard base64 and decode back to the same bytes."""
    body = bytes(range(256))
    frame = Message(
        conversation="c1",
        seq=5,
        sender="team",
        id="m1",
        body=body,
        gen=1,
        n=2,
        kind="msg",
        at=1_700_000_000_000,
    )
    data = json.loads(encode(frame))
    assert data == {
        "type": "message",
        "conversation": "c1",
        "seq": 5,
        "sender": "team",
        "id": "m1",
        "body": base64.b64encode(body).decode(),
        "gen": 1,
        "n": 2,
        "kind": "msg",
        "at": 1_700_000_000_000,
    }
    assert base64.b64decode(data["body"], validate=True) == body


def test_encode_omits_none_fields() -> None:
    """Fields that are None are left out of the JSON rather than sent as null."""
    data = json.loads(encode(Hello(role="console", version=1, max_frame=10)))
    assert data == {"type": "hello", "role": "console", "version": 1, "max_frame": 10, "teams": []}
    assert json.loads(encode(Ack(id="m1", seq=1))) == {"type": "ack", "id": "m1", "seq": 1}
    assert json.loads(encode(Error(code="malformed", message="m"))) == {
        "type": "error",
        "code": "malformed",
        "message": "m",
    }


def test_encode_keeps_falsy_non_none_values() -> None:
    """Zero, False and empty strings are sent; only None is omitted."""
    data = json.loads(encode(TypingNotice(conversation="", sender="client", active=False)))
    assert data == {"type": "typing", "conversation": "", "sender": "client", "active": False}
    assert json.loads(encode(Position(position=0, estimate_seconds=0))) == {
        "type": "position",
        "position": 0,
        "estimate_seconds": 0,
    }


def test_encode_is_compact_and_keeps_unicode() -> None:
    """encode() writes compact JSON with non-ASCII text as is."""
    text = encode(Released(conversation="c1", reason="gel\u00f6scht"))
    assert text == '{"type":"released","conversation":"c1","reason":"gel\u00f6scht"}'


def test_to_jsonable_passes_plain_values_through() -> None:
    """to_jsonable leaves JSON scalars alone and turns tuples and bytes into lists and base64."""
    assert to_jsonable(3) == 3
    assert to_jsonable("x") == "x"
    assert to_jsonable(None) is None
    assert to_jsonable((b"\x00", [1])) == ["AA==", [1]]
    assert to_jsonable(Challenge("c", 1)) == {"challenge": "c", "difficulty": 1}


SERVER_SAMPLES: list[Frame] = [
    Hello(role="console", version=1, max_frame=1, staff="s1", name="N", staff_role="lead", cap=3),
    Started(conversation="c1", token=TOKEN, position=1),
    Resumed(conversation="c1", state="active", last_seq=4, client_key=KEY, team="t", topic="x"),
    Ack(id="m1", seq=1, conversation="c1"),
    Message(
        conversation="c1", seq=1, sender="client", id="m", body=BODY, gen=0, n=0, kind="msg", at=1
    ),
    Position(position=2, estimate_seconds=60),
    StateChanged(conversation="c1", state="closed", reason="counsellor"),
    TypingNotice(conversation="c1", sender="team", active=True),
    Error(code="pow_required", message="m", ref="m1", pow=Challenge("c", 9)),
    QueueSnapshot(items=(QueueItem("c1", "t", None, 1),)),
    Queued(item=QueueItem("c1", "t", "x", 1, transferred=True)),
    Dequeued(conversation="c1", team="t"),
    Assigned(
        conversation="c1", team="t", topic=None, client_key=KEY, last_seq=0, by="s2", note=BODY
    ),
    Released(conversation="c1", reason="transferred"),
    EnvelopeNotice(conversation="c1", id="e1", purpose="note", body=BODY, epoch=1, author="s1"),
    EnvelopeList(
        conversation="c1",
        items=(
            EnvelopeItem("e1", "conv_key", BODY, 7, "s1", 5),
            EnvelopeItem("e2", "note", BODY, 8, None, 6),
        ),
        client_key=BODY,
        epoch=7,
        last_seq=12,
    ),
    Presence(staff="s1", name="N", status="available", chats=2),
    ConsoleOpened(connection="0a1b2c3d"),
]


def test_server_samples_cover_every_server_frame() -> None:
    """The encode samples include one of each server frame, whose type names are unique."""
    assert {type(f) for f in SERVER_SAMPLES} == set(SERVER_FRAMES)
    names = [cls.type for cls in SERVER_FRAMES]
    assert len(names) == len(set(names))


def _expected_json(value: Any) -> Any:
    """An independent reading of the encoding rules, to compare encode() against."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, tuple):
        return [_expected_json(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"type": value.type} if isinstance(value, Frame) else {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is not None:
                out[f.name] = _expected_json(item)
        return out
    return value


@pytest.mark.parametrize("frame", SERVER_SAMPLES, ids=lambda f: type(f).__name__)
def test_encode_server_frame_round_trips_through_json(frame: Frame) -> None:
    """Every server frame encodes to a JSON object with its type and all non-None fields."""
    data = json.loads(encode(frame))
    assert data["type"] == frame.type
    assert data == _expected_json(frame)
    for f in dataclasses.fields(frame):  # type: ignore[arg-type]
        value = getattr(frame, f.name)
        assert (f.name in data) == (value is not None)
        if isinstance(value, bytes):
            assert base64.b64decode(data[f.name], validate=True) == value
