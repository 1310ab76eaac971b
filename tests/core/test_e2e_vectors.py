"""The Python reference implementation against every committed cc1 vector
(tests/vectors/e2e/README.md says what each op checks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chatserver import e2e
from chatserver.e2e.encoding import b64d, b64e
from chatserver.e2e.primitives import sha256, spki

VECTORS = Path(__file__).parents[1] / "vectors" / "e2e"


def load_cases() -> list[Any]:
    out = []
    for path in sorted(VECTORS.glob("*.json")):
        for i, case in enumerate(json.loads(path.read_text("utf-8"))["cases"]):
            label = f"{path.stem}-{i}-{case['op']}" + (f"-{case['name']}" if "name" in case else "")
            out.append(pytest.param(case, id=label.replace(" ", "_")))
    return out


def fails(reason: str) -> Any:
    class Expect:
        def __enter__(self) -> None:
            return None

        def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
            assert isinstance(exc, e2e.E2EError), f"expected {reason}, got {exc!r}"
            assert exc.reason == reason
            return True

    return Expect()


def check(case: dict[str, Any]) -> None:
    """Check one vector case with the Python implementation (raises AssertionError)."""
    op, i, o = case["op"], case["input"], case["output"]
    b = b64d
    if op == "seq":
        parts = [
            p["str"] if "str" in p else p["int"] if "int" in p else b(p["bytes"])
            for p in i["parts"]
        ]
        assert e2e.seq(*parts) == b(o["bytes"])
    elif op == "pad":
        assert e2e.pad(b(i["data"])) == b(o["padded"])
        assert e2e.unpad(b(o["padded"])) == b(i["data"])
    elif op == "unpad_fails":
        with fails(o["reason"]):
            e2e.unpad(b(i["data"]))
    elif op == "kid":
        assert e2e.kid(b(i["pub"])) == b(o["kid"])
    elif op == "pin":
        r_pub = b(i["r_pub"])
        assert spki(r_pub) == b(o["spki"])
        assert e2e.pin(r_pub) == o["pin"]
        assert e2e.safety_number(r_pub) == o["safety_number"]
    elif op == "ecdh":
        assert e2e.ecdh(e2e.load_pkcs8(b(i["priv_pkcs8"])), b(i["peer_pub"])) == b(o["shared"])
    elif op == "hkdf":
        assert e2e.hkdf(b(i["ikm"]), b(i["salt"]), b(i["info"]), i["length"]) == b(o["okm"])
    elif op == "verify":
        assert e2e.verify(b(i["pub"]), b(i["message"]), b(i["sig"])) is o["valid"]
    elif op == "public_key_fails":
        with fails(o["reason"]):
            e2e.load_public(b(i["pub"]))
    elif op == "queue_keys":
        keys = e2e.queue_keys(
            e2e.load_pkcs8(b(i["own_pkcs8"])),
            b(i["peer_pub"]),
            i["team"],
            i["epoch"],
            i["cid"],
            b(i["c_pub"]),
        )
        assert (keys.c2t, keys.t2c) == (b(o["c2t"]), b(o["t2c"]))
    elif op == "message":
        fields = (b(i["key"]), i["cid"], i["dir"], i["gen"], i["n"], i["kind"], i["id"])
        body = e2e.encrypt_message(*fields, b(i["text"]), i["ack"], b(i["nonce"]))
        assert body == b(o["body"])
        assert e2e.decrypt_message(*fields, body) == (b(i["text"]), i["ack"])
    elif op == "message_fails":
        with fails(o["reason"]):
            e2e.decrypt_message(
                b(i["key"]), i["cid"], i["dir"], i["gen"], i["n"], i["kind"], i["id"], b(i["body"])
            )
    elif op == "transcript":
        qh = e2e.queue_hash([b(x) for x in i["queue_bodies"]])
        assert qh == b(o["queue_hash"])
        tr = e2e.transcript(
            i["team"],
            i["epoch"],
            b(i["bundle_hash"]),
            i["cid"],
            b(i["c_pub"]),
            b(i["e_pub"]),
            i["n_seen"],
            qh,
        )
        assert tr == b(o["transcript"])
    elif op == "accept":
        args = (b(i["k_q_t2c"]), i["team"], i["epoch"], i["cid"], b(i["c_pub"]))
        body = e2e.make_accept(*args, b(i["e_pub"]), i["n_seen"], b(i["transcript"]), b(i["nonce"]))
        assert body == b(o["body"])
        opened = e2e.open_accept(*args, body)
        assert (opened.e_pub, opened.n_seen, opened.transcript) == (
            b(i["e_pub"]),
            i["n_seen"],
            b(i["transcript"]),
        )
    elif op == "chat_keys":
        keys = e2e.chat_keys(b(i["ecdh1"]), b(i["ecdh2"]), b(i["transcript"]))
        assert (keys.c2t, keys.t2c) == (b(o["c2t"]), b(o["t2c"]))
    elif op == "counts":
        text = e2e.counts_text(i["tag"], i["gen"], i["sent"], i["received"])
        assert text == b(o["text"])
        assert e2e.parse_counts(i["tag"], text) == (i["gen"], i["sent"], i["received"])
    elif op == "rekey":
        text = e2e.rekey_text(i["gen"], i["sent"], i["received"], i["epoch"], b(i["e_pub"]))
        assert text == b(o["text"])
        parsed = e2e.parse_rekey(text)
        assert parsed == e2e.Rekey(i["gen"], i["sent"], i["received"], i["epoch"], b(i["e_pub"]))
    elif op == "rekey_fails":
        with fails(o["reason"]):
            e2e.parse_rekey(b(i["text"]))
    elif op == "rekey_transcript":
        chained = e2e.rekey_transcript(
            b(i["previous"]),
            i["gen"],
            i["team"],
            i["epoch"],
            b(i["bundle_hash"]),
            b(i["e_pub"]),
            i["sent"],
            i["received"],
        )
        assert chained == b(o["transcript"])
    elif op == "hold":
        keys = {k["gen"]: e2e.ChatKeys(b(k["c2t"]), b(k["t2c"])) for k in i["keys"]}
        notes = [b(n) for n in i["notes"]]
        payload = e2e.hold_payload(i["cid"], keys, notes)
        assert payload == b(o["payload"])
        assert e2e.parse_hold(payload, i["cid"]) == e2e.Hold(i["cid"], keys, notes)
    elif op == "hold_fails":
        with fails(o["reason"]):
            e2e.parse_hold(b(i["payload"]), i["cid"])
    elif op == "bundle_bytes":
        data = e2e.bundle_bytes(
            i["team"], i["epoch"], b(i["t_pub"]), i["not_before"], i["not_after"]
        )
        assert (data, sha256(data)) == (b(o["bytes"]), b(o["hash"]))
    elif op == "check_bundle":

        def run() -> e2e.Bundle:
            return e2e.check_bundle(
                i["bundle"],
                pin_value=i["pin"],
                team=i["team"],
                now=i["now"],
                min_epoch=i["min_epoch"],
            )

        if o.get("ok"):
            assert run().epoch == i["bundle"]["epoch"]
        else:
            with fails(o["reason"]):
                run()
    elif op == "envelope":
        author = e2e.load_pkcs8(b(i["author_pkcs8"]))
        env = e2e.seal_envelope(
            author,
            b(i["recipient_pub"]),
            i["purpose"],
            i["conversation"],
            i["epoch"],
            b(i["payload"]),
            ephemeral=e2e.load_pkcs8(b(i["ephemeral_pkcs8"])),
            iv=b(i["nonce"]),
        )
        parsed = e2e.parse_envelope(env)
        assert (parsed.header, parsed.ct) == (b(o["header"]), b(o["ct"]))
        recipient = e2e.load_pkcs8(b(i["recipient_pkcs8"]))
        for candidate in (env, b(o["envelope"])):
            _, payload = e2e.open_envelope(recipient, candidate, b(i["author_pub"]))
            assert payload == b(i["payload"])
    elif op == "envelope_fails":
        with fails(o["reason"]):
            e2e.open_envelope(
                e2e.load_pkcs8(b(i["recipient_pkcs8"])), b(i["envelope"]), b(i["author_pub"])
            )
    elif op == "password":
        master = e2e.derive_master(i["password"], i["salt"], i["username"])
        assert master == b(o["master"])
        assert e2e.auth_credential(master, b(i["secret"])) == o["auth"]
        assert e2e.wrap_key(master, b(i["secret"])) == b(o["wrap"])
    elif op == "password_rule":
        context = {"admin": i.get("admin", False), "personal": i.get("personal", [])}
        assert e2e.password_problem(i["password"], **context) == o["problem"]
    elif op == "identity":
        dh, sig = e2e.load_pkcs8(b(i["dh_pkcs8"])), e2e.load_pkcs8(b(i["sig_pkcs8"]))
        wrapped = e2e.wrap_identity(b(i["wrap"]), i["salt"], i["username"], dh, sig, b(i["nonce"]))
        assert wrapped == b(o["wrapped"])
        got = e2e.unwrap_identity(
            b(i["wrap"]), i["salt"], i["username"], b(i["dh_pub"]), b(i["sig_pub"]), wrapped
        )
        assert [b64e(e2e.public_bytes(k)) for k in got] == [i["dh_pub"], i["sig_pub"]]
    elif op == "roster_bytes":
        members = [
            e2e.Member(x["id"], x["role"], b(x["dh_pub"]), b(x["sig_pub"]), x["since"])
            for x in i["members"]
        ]
        assert e2e.roster_bytes(i["team"], i["version"], i["issued_at"], members) == b(o["bytes"])
    elif op == "check_roster":

        def run_roster() -> e2e.Roster:
            return e2e.check_roster(
                i["roster"], pin_value=i["pin"], team=i["team"], min_version=i["min_version"]
            )

        if o.get("ok"):
            assert set(run_roster().members) == {x["id"] for x in i["roster"]["members"]}
        else:
            with fails(o["reason"]):
                run_roster()
    elif op == "enrol_mac":
        args = (
            b(i["secret"]),
            i["team"],
            i["invite_id"],
            i["username"],
            b(i["dh_pub"]),
            b(i["sig_pub"]),
        )
        assert e2e.enrol_mac(*args) == b(o["mac"])
        e2e.check_enrol_mac(*args, b(o["mac"]))
    elif op == "enrol_mac_fails":
        with fails(o["reason"]):
            e2e.check_enrol_mac(
                b(i["secret"]),
                i["team"],
                i["invite_id"],
                i["username"],
                b(i["dh_pub"]),
                b(i["sig_pub"]),
                b(i["mac"]),
            )
    else:
        raise AssertionError(f"unknown op {op}")


@pytest.mark.parametrize("case", load_cases())
def test_python_agrees_with_vector(case: dict[str, Any]) -> None:
    """The reference implementation reproduces every vector."""
    check(case)


def test_every_op_has_vectors() -> None:
    """Every op the README names is covered by at least one case."""
    readme = (VECTORS / "README.md").read_text("utf-8")
    named = {line.split("`")[1] for line in readme.splitlines() if line.startswith("| `")}
    present = {p.values[0]["op"] for p in load_cases()}  # type: ignore[index]
    assert named == present
