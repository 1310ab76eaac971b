"""Generate the cc1 test vectors from the Python reference implementation.

    .venv/bin/python tests/vectors/e2e/generate.py

Keys are derived from fixed scalars and nonces are fixed, so every output except an
ECDSA signature is deterministic; signatures made here are for the other side to verify
("sign here, verify there"). The format is in README.md beside this file. Both
implementations check every committed case (tests/core/test_e2e_vectors.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from chatserver import e2e
from chatserver.e2e.encoding import b64e
from chatserver.e2e.primitives import sha256, spki

HERE = Path(__file__).parent
ORIGIN = "https://chat.example.org"


def key(scalar: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(scalar, ec.SECP256R1())


def pub(k: ec.EllipticCurvePrivateKey) -> str:
    return b64e(e2e.public_bytes(k))


def priv(k: ec.EllipticCurvePrivateKey) -> str:
    return b64e(e2e.pkcs8(k))


def iv(i: int) -> bytes:
    return bytes([i]) * 12


C, T, E, R, A, M, X, D, S = (key(0x1000 + i) for i in range(9))
CID, TEAM, EPOCH = "Qm3vZ0cLr8yTq1wXn2b4Aa", "youth-line", 20261126


def encoding_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    parts_list = [
        [],
        [{"str": "cc1"}],
        [{"str": "cc1 msg"}, {"int": 0}, {"int": 2**53 - 1}, {"bytes": b64e(b"")}],
        [{"str": "Grüße, 👋"}, {"bytes": b64e(bytes(range(256)))}, {"int": 7}],
    ]
    for parts in parts_list:
        values = [
            p.get("str", p.get("int")) if "bytes" not in p else e2e.encoding.b64d(p["bytes"])
            for p in parts
        ]
        cases.append(
            {"op": "seq", "input": {"parts": parts}, "output": {"bytes": b64e(e2e.seq(*values))}}
        )
    for size in (0, 1, 254, 255, 256, 4094, 4095, 4096, 5000, 8191):
        data = bytes((i * 7 + 3) % 256 for i in range(size))
        cases.append(
            {"op": "pad", "input": {"data": b64e(data)}, "output": {"padded": b64e(e2e.pad(data))}}
        )
    for bad in (b"", b"\x00\x00", b"abc", b"abc\x80\x01"):
        cases.append(
            {"op": "unpad_fails", "input": {"data": b64e(bad)}, "output": {"reason": "bad_padding"}}
        )
    for k in (C, R):
        cases.append(
            {
                "op": "kid",
                "input": {"pub": pub(k)},
                "output": {"kid": b64e(e2e.kid(e2e.public_bytes(k)))},
            }
        )
        r_pub = e2e.public_bytes(k)
        cases.append(
            {
                "op": "pin",
                "input": {"r_pub": pub(k)},
                "output": {
                    "spki": b64e(spki(r_pub)),
                    "pin": e2e.pin(r_pub),
                    "safety_number": e2e.safety_number(r_pub),
                },
            }
        )
    return cases


def primitive_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for own, peer in ((C, T), (T, C), (E, C)):
        cases.append(
            {
                "op": "ecdh",
                "input": {"priv_pkcs8": priv(own), "peer_pub": pub(peer)},
                "output": {"shared": b64e(e2e.ecdh(own, e2e.public_bytes(peer)))},
            }
        )
    for ikm, salt, info, length in (
        (b"\x0b" * 22, bytes(range(13)), b"\xf0\xf1", 42),
        (b"ikm", b"", b"cc1 chat c2t", 32),
    ):
        cases.append(
            {
                "op": "hkdf",
                "input": {
                    "ikm": b64e(ikm),
                    "salt": b64e(salt),
                    "info": b64e(info),
                    "length": length,
                },
                "output": {"okm": b64e(e2e.hkdf(ikm, salt, info, length))},
            }
        )
    for message in (b"", b"cc1 signed bytes"):
        cases.append(
            {
                "op": "verify",
                "input": {
                    "pub": pub(S),
                    "message": b64e(message),
                    "sig": b64e(e2e.sign(S, message)),
                },
                "output": {"valid": True},
            }
        )
    bad_sig = bytearray(e2e.sign(S, b"x"))
    bad_sig[5] ^= 1
    cases.append(
        {
            "op": "verify",
            "input": {"pub": pub(S), "message": b64e(b"x"), "sig": b64e(bytes(bad_sig))},
            "output": {"valid": False},
        }
    )
    for bad_key in (b"\x04" + bytes(64), b"\x02" + bytes(32), e2e.public_bytes(C)[:64]):
        cases.append(
            {
                "op": "public_key_fails",
                "input": {"pub": b64e(bad_key)},
                "output": {"reason": "bad_key"},
            }
        )
    return cases


def conversation_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    c_pub, t_pub, e_pub = (e2e.public_bytes(k) for k in (C, T, E))
    client_q = e2e.queue_keys(C, t_pub, TEAM, EPOCH, CID, c_pub)
    team_q = e2e.queue_keys(T, c_pub, TEAM, EPOCH, CID, c_pub)
    assert client_q == team_q
    for own, peer in ((C, T), (T, C)):
        cases.append(
            {
                "op": "queue_keys",
                "input": {
                    "own_pkcs8": priv(own),
                    "peer_pub": pub(peer),
                    "team": TEAM,
                    "epoch": EPOCH,
                    "cid": CID,
                    "c_pub": b64e(c_pub),
                },
                "output": {"c2t": b64e(client_q.c2t), "t2c": b64e(client_q.t2c)},
            }
        )
    queued = []
    for n, text in enumerate(["hallo, ist da jemand?", "ich weiß nicht weiter", ""]):
        body = e2e.encrypt_message(
            client_q.c2t, CID, "c2t", 0, n, "msg", f"c{n}", text.encode(), 0, iv(n + 1)
        )
        queued.append(body)
        cases.append(
            {
                "op": "message",
                "input": {
                    "key": b64e(client_q.c2t),
                    "cid": CID,
                    "dir": "c2t",
                    "gen": 0,
                    "n": n,
                    "kind": "msg",
                    "id": f"c{n}",
                    "text": b64e(text.encode()),
                    "ack": 0,
                    "nonce": b64e(iv(n + 1)),
                },
                "output": {"body": b64e(body)},
            }
        )
    long_text = ("x" * 5000).encode()
    body = e2e.encrypt_message(
        client_q.t2c, CID, "t2c", 1, 41, "receipt", "t-41", long_text, 17, iv(9)
    )
    cases.append(
        {
            "op": "message",
            "input": {
                "key": b64e(client_q.t2c),
                "cid": CID,
                "dir": "t2c",
                "gen": 1,
                "n": 41,
                "kind": "receipt",
                "id": "t-41",
                "text": b64e(long_text),
                "ack": 17,
                "nonce": b64e(iv(9)),
            },
            "output": {"body": b64e(body)},
        }
    )
    # Each bound field changed: decryption must fail.
    base = {
        "key": b64e(client_q.c2t),
        "cid": CID,
        "dir": "c2t",
        "gen": 0,
        "n": 0,
        "kind": "msg",
        "id": "c0",
        "body": b64e(queued[0]),
    }
    flipped = bytearray(queued[0])
    flipped[20] ^= 1
    for name, change in (
        ("other conversation", {"cid": "other"}),
        ("reflected", {"dir": "t2c"}),
        ("other generation", {"gen": 1}),
        ("reordered", {"n": 1}),
        ("other kind", {"kind": "close"}),
        ("other id", {"id": "c1"}),
        ("flipped byte", {"body": b64e(flipped)}),
        ("other key", {"key": b64e(client_q.t2c)}),
    ):
        cases.append(
            {
                "op": "message_fails",
                "name": name,
                "input": {**base, **change},
                "output": {"reason": "decrypt_failed"},
            }
        )

    bundle_hash = sha256(e2e.bundle_bytes(TEAM, EPOCH, t_pub, 1, 2))
    qh = e2e.queue_hash(queued[:2])
    tr = e2e.transcript(TEAM, EPOCH, bundle_hash, CID, c_pub, e_pub, 2, qh)
    cases.append(
        {
            "op": "transcript",
            "input": {
                "team": TEAM,
                "epoch": EPOCH,
                "bundle_hash": b64e(bundle_hash),
                "cid": CID,
                "c_pub": b64e(c_pub),
                "e_pub": b64e(e_pub),
                "n_seen": 2,
                "queue_bodies": [b64e(b) for b in queued[:2]],
            },
            "output": {"queue_hash": b64e(qh), "transcript": b64e(tr)},
        }
    )
    accept = e2e.make_accept(client_q.t2c, TEAM, EPOCH, CID, c_pub, e_pub, 2, tr, iv(7))
    cases.append(
        {
            "op": "accept",
            "input": {
                "k_q_t2c": b64e(client_q.t2c),
                "team": TEAM,
                "epoch": EPOCH,
                "cid": CID,
                "c_pub": b64e(c_pub),
                "e_pub": b64e(e_pub),
                "n_seen": 2,
                "transcript": b64e(tr),
                "nonce": b64e(iv(7)),
            },
            "output": {"body": b64e(accept)},
        }
    )
    ce, ct = e2e.ecdh(C, e_pub), e2e.ecdh(C, t_pub)
    assert (ce, ct) == (e2e.ecdh(E, c_pub), e2e.ecdh(T, c_pub))
    keys = e2e.chat_keys(ce, ct, tr)
    cases.append(
        {
            "op": "chat_keys",
            "input": {"ecdh1": b64e(ce), "ecdh2": b64e(ct), "transcript": b64e(tr)},
            "output": {"c2t": b64e(keys.c2t), "t2c": b64e(keys.t2c)},
        }
    )
    cases.extend(rekey_cases(tr, e_pub))
    return cases


def rekey_cases(previous: bytes, e_pub: bytes) -> list[dict[str, Any]]:
    """Final counts, the rekey text and the chained transcript (docs/e2e.md, "Rekey")."""
    cases: list[dict[str, Any]] = []
    for tag, gen, sent, received in (("cc1 close", 1, 5, 3), ("cc1 rekey ack", 2, 0, 2**40)):
        cases.append(
            {
                "op": "counts",
                "input": {"tag": tag, "gen": gen, "sent": sent, "received": received},
                "output": {"text": b64e(e2e.counts_text(tag, gen, sent, received))},
            }
        )
    new_pub = e2e.public_bytes(D)
    text = e2e.rekey_text(1, 4, 7, EPOCH + 1, new_pub)
    cases.append(
        {
            "op": "rekey",
            "input": {
                "gen": 1,
                "sent": 4,
                "received": 7,
                "epoch": EPOCH + 1,
                "e_pub": b64e(new_pub),
            },
            "output": {"text": b64e(text)},
        }
    )
    for name, bad, reason in (
        ("other tag", e2e.seq("cc1 rekeY", 1, 4, 7, EPOCH, new_pub), "malformed"),
        ("short count", e2e.seq("cc1 rekey", 1, 4, b"\x07", EPOCH, new_pub), "malformed"),
        ("trailing byte", text + b"\x00", "malformed"),
        ("not a point", e2e.seq("cc1 rekey", 1, 4, 7, EPOCH, b"\x04" + bytes(64)), "bad_key"),
        ("a close text", e2e.counts_text("cc1 close", 1, 4, 7), "malformed"),
    ):
        cases.append(
            {
                "op": "rekey_fails",
                "name": name,
                "input": {"text": b64e(bad)},
                "output": {"reason": reason},
            }
        )
    keys = {
        0: e2e.ChatKeys(bytes([1]) * 32, bytes([2]) * 32),
        3: e2e.ChatKeys(bytes(32), bytes([255]) * 32),
    }
    notes = ["Termin am Montag, Jugendamt informiert", ""]
    payload = e2e.hold_payload(CID, keys, [n.encode() for n in notes])
    cases.append(
        {
            "op": "hold",
            "input": {
                "cid": CID,
                "keys": [
                    {"gen": g, "c2t": b64e(k.c2t), "t2c": b64e(k.t2c)} for g, k in keys.items()
                ],
                "notes": [b64e(n.encode()) for n in notes],
            },
            "output": {"payload": b64e(payload)},
        }
    )
    k0 = keys[0]
    for name, bad in (
        ("other conversation", e2e.hold_payload("other", keys, [])),
        ("no generation", e2e.seq("cc1 hold", CID, b"", b"")),
        ("short key", e2e.seq("cc1 hold", CID, e2e.seq(e2e.seq(0, k0.c2t[:31], k0.t2c)), b"")),
        (
            "descending",
            e2e.seq(
                "cc1 hold",
                CID,
                e2e.seq(e2e.seq(2, k0.c2t, k0.t2c), e2e.seq(1, k0.c2t, k0.t2c)),
                b"",
            ),
        ),
        ("truncated note", payload[:-1]),
    ):
        cases.append(
            {
                "op": "hold_fails",
                "name": name,
                "input": {"cid": CID, "payload": b64e(bad)},
                "output": {"reason": "malformed"},
            }
        )
    bundle_hash = sha256(e2e.bundle_bytes(TEAM, EPOCH + 1, e2e.public_bytes(T), 3, 4))
    chained = e2e.rekey_transcript(previous, 2, TEAM, EPOCH + 1, bundle_hash, new_pub, 4, 7)
    cases.append(
        {
            "op": "rekey_transcript",
            "input": {
                "previous": b64e(previous),
                "gen": 2,
                "team": TEAM,
                "epoch": EPOCH + 1,
                "bundle_hash": b64e(bundle_hash),
                "e_pub": b64e(new_pub),
                "sent": 4,
                "received": 7,
            },
            "output": {"transcript": b64e(chained)},
        }
    )
    return cases


def bundle_cases() -> list[dict[str, Any]]:
    t_pub, r_pub = e2e.public_bytes(T), e2e.public_bytes(R)
    day, nb = 86_400_000, 1_795_000_000_000
    data = e2e.bundle_bytes(TEAM, EPOCH, t_pub, nb, nb + day)
    wire = e2e.sign_bundle(R, TEAM, EPOCH, t_pub, nb, nb + day)
    cases: list[dict[str, Any]] = [
        {
            "op": "bundle_bytes",
            "input": {
                "team": TEAM,
                "epoch": EPOCH,
                "t_pub": b64e(t_pub),
                "not_before": nb,
                "not_after": nb + day,
            },
            "output": {"bytes": b64e(data), "hash": b64e(sha256(data))},
        },
    ]
    good = {"pin": e2e.pin(r_pub), "team": TEAM, "now": nb + 1000, "min_epoch": EPOCH}

    def check(name: str, bundle: dict[str, Any], reason: str | None, **ctx: Any) -> None:
        cases.append(
            {
                "op": "check_bundle",
                "name": name,
                "input": {"bundle": bundle, **good, **ctx},
                "output": {"reason": reason} if reason else {"ok": True},
            }
        )

    check("valid", wire, None)
    check("valid without pin", wire, None, pin=None)
    check("other suite", {**wire, "suite": "cc2"}, "unsupported_suite")
    check("bad key", {**wire, "t_pub": b64e(b"\x04" + bytes(64))}, "bad_key")
    check("wrong pin", wire, "pin_mismatch", pin=e2e.pin(e2e.public_bytes(A)))
    other_root = e2e.sign_bundle(A, TEAM, EPOCH, t_pub, nb, nb + day)
    check("substituted root key", other_root, "pin_mismatch")
    check("changed epoch key", {**wire, "t_pub": pub(E)}, "bad_signature")
    check("changed validity", {**wire, "not_after": nb + 2 * day}, "bad_signature")
    other_team = e2e.sign_bundle(R, "other-team", EPOCH, t_pub, nb, nb + day)
    check("another team's bundle", other_team, "wrong_team")
    check("not yet valid", wire, "not_yet_valid", now=nb - 1)
    check("expired", wire, "expired", now=nb + day)
    long = e2e.sign_bundle(R, TEAM, EPOCH, t_pub, nb, nb + 3 * day)
    check("window too long", long, "window_too_long")
    check("rolled back", wire, "epoch_rollback", min_epoch=EPOCH + 1)
    return cases


def envelope_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for purpose, conversation, epoch, payload, recipient in (
        ("conv_key", CID, EPOCH, e2e.pkcs8(E), T),
        ("team_key", "", EPOCH, e2e.pkcs8(T), M),
        ("note", CID, EPOCH, "Notiz: Rückruf morgen".encode(), T),
    ):
        env = e2e.seal_envelope(
            A,
            e2e.public_bytes(recipient),
            purpose,
            conversation,
            epoch,
            payload,
            ephemeral=X,
            iv=iv(3),
        )
        parsed = e2e.parse_envelope(env)
        cases.append(
            {
                "op": "envelope",
                "input": {
                    "author_pkcs8": priv(A),
                    "author_pub": pub(A),
                    "recipient_pkcs8": priv(recipient),
                    "recipient_pub": pub(recipient),
                    "purpose": purpose,
                    "conversation": conversation,
                    "epoch": epoch,
                    "payload": b64e(payload),
                    "ephemeral_pkcs8": priv(X),
                    "nonce": b64e(iv(3)),
                },
                "output": {
                    "header": b64e(parsed.header),
                    "ct": b64e(parsed.ct),
                    "envelope": b64e(env),
                },
            }
        )
    env = e2e.seal_envelope(
        A, e2e.public_bytes(T), "note", CID, EPOCH, b"note", ephemeral=X, iv=iv(3)
    )
    forged = e2e.seal_envelope(D, e2e.public_bytes(T), "note", CID, EPOCH, b"forged")
    for name, envelope, recipient, author, reason in (
        ("forged by a non-member", forged, T, A, "bad_signature"),
        ("for another recipient", env, M, A, "decrypt_failed"),
        ("author not the signer", env, T, D, "bad_signature"),
    ):
        cases.append(
            {
                "op": "envelope_fails",
                "name": name,
                "input": {
                    "recipient_pkcs8": priv(recipient),
                    "recipient_pub": pub(recipient),
                    "author_pub": pub(author),
                    "envelope": b64e(envelope),
                },
                "output": {"reason": reason},
            }
        )
    return cases


def password_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    secret = bytes(range(16))
    for password, username, sk in (
        ("correct horse battery staple", "Anna", b""),
        ("Pässwört ﬁ", "  Jörg.Müller ", secret),
    ):
        m = e2e.derive_master(password, ORIGIN, username)
        cases.append(
            {
                "op": "password",
                "input": {
                    "password": password,
                    "salt": ORIGIN,
                    "username": username,
                    "secret": b64e(sk),
                },
                "output": {
                    "master": b64e(m),
                    "auth": e2e.auth_credential(m, sk),
                    "wrap": b64e(e2e.wrap_key(m, sk)),
                },
            }
        )
    wrap = e2e.wrap_key(e2e.derive_master("pw", ORIGIN, "anna"), secret)
    wrapped = e2e.wrap_identity(wrap, ORIGIN, "anna", M, S, iv(5))
    cases.append(
        {
            "op": "identity",
            "input": {
                "wrap": b64e(wrap),
                "salt": ORIGIN,
                "username": "anna",
                "dh_pkcs8": priv(M),
                "sig_pkcs8": priv(S),
                "dh_pub": pub(M),
                "sig_pub": pub(S),
                "nonce": b64e(iv(5)),
            },
            "output": {"wrapped": b64e(wrapped)},
        }
    )
    return cases


def roster_cases() -> list[dict[str, Any]]:
    issued = 1_795_000_000_000
    members = [
        e2e.Member("s2b", "supervisor", e2e.public_bytes(D), e2e.public_bytes(X), issued - 5),
        e2e.Member("s1a", "counsellor", e2e.public_bytes(M), e2e.public_bytes(S), issued - 9),
    ]

    def member_json(mem: e2e.Member) -> dict[str, Any]:
        return {
            "id": mem.id,
            "role": mem.role,
            "dh_pub": b64e(mem.dh_pub),
            "sig_pub": b64e(mem.sig_pub),
            "since": mem.since,
        }

    wire = e2e.sign_roster(R, TEAM, 7, issued, members)
    cases: list[dict[str, Any]] = [
        {
            "op": "roster_bytes",
            "input": {
                "team": TEAM,
                "version": 7,
                "issued_at": issued,
                "members": [member_json(mem) for mem in members],
            },
            "output": {"bytes": b64e(e2e.roster_bytes(TEAM, 7, issued, members))},
        },
    ]
    good = {"pin": e2e.pin(e2e.public_bytes(R)), "team": TEAM, "min_version": 7}

    def check(name: str, roster: dict[str, Any], reason: str | None, **ctx: Any) -> None:
        cases.append(
            {
                "op": "check_roster",
                "name": name,
                "input": {"roster": roster, **good, **ctx},
                "output": {"reason": reason} if reason else {"ok": True},
            }
        )

    check("valid", wire, None)
    check("other suite", {**wire, "suite": "cc2"}, "unsupported_suite")
    swapped = {**wire, "members": [{**wire["members"][0], "dh_pub": pub(E)}, wire["members"][1]]}
    check("substituted member key", swapped, "bad_signature")
    extra = {
        **wire,
        "members": [
            *wire["members"],
            member_json(
                e2e.Member("s9z", "admin", e2e.public_bytes(E), e2e.public_bytes(A), issued)
            ),
        ],
    }
    check("member added by the server", extra, "bad_signature")
    check("wrong pin", wire, "pin_mismatch", pin=e2e.pin(e2e.public_bytes(A)))
    check(
        "another team's roster", e2e.sign_roster(R, "other-team", 7, issued, members), "wrong_team"
    )
    check("rolled back", wire, "roster_rollback", min_version=8)
    check(
        "bad key",
        {
            **wire,
            "members": [{**wire["members"][0], "sig_pub": b64e(bytes(65))}, wire["members"][1]],
        },
        "bad_key",
    )
    secret = bytes(range(100, 132))
    inp = {
        "secret": b64e(secret),
        "team": TEAM,
        "invite_id": "inv_4fK2",
        "username": " Nina.K ",
        "dh_pub": pub(M),
        "sig_pub": pub(S),
    }
    mac = e2e.enrol_mac(
        secret, TEAM, "inv_4fK2", " Nina.K ", e2e.public_bytes(M), e2e.public_bytes(S)
    )
    cases.append({"op": "enrol_mac", "input": inp, "output": {"mac": b64e(mac)}})
    cases.append(
        {
            "op": "enrol_mac_fails",
            "name": "substituted identity key at enrolment",
            "input": {**inp, "dh_pub": pub(E), "mac": b64e(mac)},
            "output": {"reason": "bad_signature"},
        }
    )
    return cases


def password_rule_cases() -> list[dict[str, Any]]:
    """The password rule, at its edges: code points of the NFKC form, not UTF-16 units."""
    passwords = [
        "correct horse battery staple",
        "abcde1234567",  # 12, the shortest
        "abcde123456",  # 11
        "aaaaaaaaaaaaaaaaaaaa",
        "abcdabcdabcdabcd",  # 4 different
        "abcdeabcdeab",  # 5 different, 12 long
        "😀😁😂🤣😃😀😁😂🤣😃😀",  # 11 code points, 22 UTF-16 units
        "😀😁😂🤣😃😀😁😂🤣😃😀😁",  # 12 code points
        "ﬁﬁﬁﬁﬁﬁ123",  # 9 before NFKC, 15 after (fi = f + i)
        "\u00a0\u3000\u2003  \t\n\r\x0b\x0cxyz",  # NFKC makes three of them plain spaces
    ]
    cases = [
        {
            "op": "password_rule",
            "input": {"password": p},
            "output": {"problem": e2e.password_problem(p)},
        }
        for p in passwords
    ]
    # An admin's password guards the team root key: 16; none may contain who or whose it is.
    personal = ["marie.schulz", "Marie Schulz-Öztürk", "Beratung Nord"]
    contextual = [
        ("abcde1234567fgh", True),  # 15: short for an admin
        ("abcde1234567fghi", True),  # 16
        ("ABCDE1234567FGHI", True),
        ("MyMarieIsGreat42", False),  # "marie", a word of the username and the name
        ("öztürk-and-1234!", False),  # a word of the name, in lower case
        ("ÖZTÜRK-AND-1234!", True),  # in any case
        ("winter nord 2026", False),  # a word of the team
        ("no ab or ma here ok", True),  # two-letter pieces do not count
        ("tag beratungnord!", False),  # words of the team, not the team without its space
        ("x marie.schulz y z", False),  # the username whole
    ]
    cases += [
        {
            "op": "password_rule",
            "input": {"password": p, "admin": admin, "personal": personal},
            "output": {"problem": e2e.password_problem(p, admin=admin, personal=personal)},
        }
        for p, admin in contextual
    ]
    return cases


FILES = {
    "encoding": encoding_cases,
    "primitives": primitive_cases,
    "conversation": conversation_cases,
    "bundle": bundle_cases,
    "envelope": envelope_cases,
    "password": password_cases,
    "password_rule": password_rule_cases,
    "roster": roster_cases,
}


def build() -> dict[str, dict[str, Any]]:
    return {name: {"suite": "cc1", "file": name, "cases": make()} for name, make in FILES.items()}


def main() -> None:
    for name, content in build().items():
        path = HERE / f"{name}.json"
        path.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", "utf-8")
        print(f"{path}: {len(content['cases'])} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
