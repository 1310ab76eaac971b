"""From enrolment to an encrypted chat, with nothing but public interfaces: the admin's
browser wraps the epoch keys to the new member, the member's console unwraps them, checks
them against the pinned roster and bundle, and answers a client end to end."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest
from conftest import ORIGIN, SALT, FakeClock, Server, credential, dump
from test_cli import chatserver, ok
from test_enrolment import NOW_MS, Admin, b64, newcomer_enrols

from chatserver import e2e
from chatserver.protocol.errors import ServerError
from chatserver.sdk.e2e import SecureClient, SecureCounsellor
from chatserver.sdk.peers import ChatRefused, login
from chatserver.storage import models as m
from chatserver.storage.keystore import envelope_place, unseal
from chatserver.web.state import KEYSTORE

DAY = 86_400_000


def b(text: str) -> bytes:
    return base64.b64decode(text)


async def get(server: Server, path: str, cookie: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(server.url + path, headers={"Cookie": cookie}) as response,
    ):
        return response.status, await response.json()


@pytest.fixture
async def world(make_server: Any) -> dict[str, Any]:
    """A team with a pinned root, two epochs, an admin with an identity, and Nina enrolled."""
    server: Server = await make_server(clock=FakeClock(NOW_MS / 1000))
    await server.team("alpha")
    root_id = await server.staff("root", [], role="admin")
    cookie, csrf = await login(server.url, "root", credential=credential("root"), origin=ORIGIN)
    admin = Admin(server, cookie, csrf)
    admin_dh, admin_sig = e2e.generate(), e2e.generate()
    admin.members = [
        e2e.Member(
            root_id, "admin", e2e.public_bytes(admin_dh), e2e.public_bytes(admin_sig), NOW_MS
        )
    ]
    epochs = {}
    wires = []
    for epoch in (1, 2):
        key = e2e.generate()
        nb = NOW_MS - 1000 + (epoch - 1) * DAY
        wire = e2e.sign_bundle(admin.root, "alpha", epoch, e2e.public_bytes(key), nb, nb + DAY)
        wires.append(wire)
        epochs[epoch] = key
    status, _ = await admin.call("POST", "/api/teams/alpha/bundles", {"bundles": wires})
    assert status == 201
    invite = await admin.invite()
    status, _, nina = await newcomer_enrols(
        server, invite, admin.secrets[invite], "nina", "a long enough password"
    )
    _, pending = await admin.call("GET", "/api/teams/alpha/enrolments")
    status, _ = await admin.approve(pending[0])
    assert status == 200
    return {
        "server": server,
        "admin": admin,
        "admin_sig": admin_sig,
        "epochs": epochs,
        "nina": nina,
        "nina_id": pending[0]["staff"],
        "root_id": root_id,
    }


def team_key_envelopes(world: dict[str, Any]) -> list[dict[str, Any]]:
    """The admin's browser: each epoch key sealed to Nina's identity, signed by the admin."""
    nina_dh = e2e.public_bytes(world["nina"]["dh"])
    return [
        {
            "recipient": world["nina_id"],
            "epoch": epoch,
            "body": b64(
                e2e.seal_envelope(
                    world["admin_sig"], nina_dh, "team_key", "", epoch, e2e.pkcs8(key)
                )
            ),
        }
        for epoch, key in world["epochs"].items()
    ]


async def post_team_keys(world: dict[str, Any], envelopes: list[dict[str, Any]]) -> tuple[int, Any]:
    return await world["admin"].call("POST", "/api/teams/alpha/team-keys", {"envelopes": envelopes})


async def wrap_team_keys(world: dict[str, Any]) -> tuple[int, Any]:
    return await post_team_keys(world, team_key_envelopes(world))


async def nina_unlocks(world: dict[str, Any], tamper: Any = None) -> tuple[str, dict[int, Any]]:
    """Nina's console: sign in, unwrap the identity, check roster and bundles, open keys."""
    server, nina = world["server"], world["nina"]
    cred = e2e.auth_credential(nina["master"], nina["secret"])
    cookie, _ = await login(server.url, "nina", credential=cred, origin=ORIGIN)
    pin = e2e.pin(e2e.public_bytes(world["admin"].root))
    _, roster_wire = await get(server, "/api/teams/alpha/roster", cookie)
    roster = e2e.check_roster(roster_wire, pin_value=pin, team="alpha")
    me = roster.members[world["nina_id"]]
    _, identity = await get(server, "/api/me/identity", cookie)
    dh, _sig = e2e.unwrap_identity(
        e2e.wrap_key(nina["master"], nina["secret"]),
        SALT,
        "nina",
        me.dh_pub,
        me.sig_pub,
        b(identity["wrapped"]),
    )
    status, keys = await get(server, "/api/teams/alpha/team-keys/mine", cookie)
    assert status == 200
    if tamper is not None:
        keys = tamper(keys)
    _, bundle_wire = await get(server, "/api/teams/alpha/bundle", cookie)
    bundle = e2e.check_bundle(bundle_wire, pin_value=pin, team="alpha", now=NOW_MS)
    opened = {}
    for item in keys:
        author = roster.members[item["author"]]
        env, payload = e2e.open_envelope(dh, b(item["body"]), author.sig_pub)
        key = e2e.load_pkcs8(payload)
        assert (env.purpose, env.epoch) == ("team_key", item["epoch"])
        if item["epoch"] == bundle.epoch:
            if e2e.public_bytes(key) != bundle.t_pub:
                raise e2e.E2EError("key_mismatch")
            opened[item["epoch"]] = (key, bundle)
    return cookie, opened


async def test_member_answers_a_client_with_keys_only_the_team_holds(world: dict[str, Any]) -> None:
    """Team keys wrapped in the admin's browser let the new member chat end to end."""
    envelopes = team_key_envelopes(world)
    assert await post_team_keys(world, envelopes) == (201, {"added": 2})
    assert (await post_team_keys(world, envelopes))[0] == 200  # the same again: nothing new
    status, data = await wrap_team_keys(world)  # other bytes for the same member and epoch
    assert (status, data["error"]["code"]) == (409, "conflict")
    server = world["server"]
    cookie, epochs = await nina_unlocks(world)
    assert list(epochs) == [1]
    pin = e2e.pin(e2e.public_bytes(world["admin"].root))
    client = await SecureClient.connect(server.url, "alpha", pin, NOW_MS, origin=ORIGIN)
    cid = (await client.start())["conversation"]
    await client.say("hello?")
    desk = SecureCounsellor(await server.console_with_cookie(cookie), epochs, world["nina"]["sig"])
    assert await desk.accept(cid) == ["hello?"]
    await desk.say(cid, "hi, I am Nina")
    assert await client.hear() == "hi, I am Nina"


async def test_forged_team_key_is_refused(world: dict[str, Any]) -> None:
    """A server that hands out an epoch key sealed by someone not in the roster is caught."""
    await wrap_team_keys(world)
    intruder = e2e.generate()
    nina_dh = e2e.public_bytes(world["nina"]["dh"])

    def forge(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        fake = e2e.seal_envelope(intruder, nina_dh, "team_key", "", 1, e2e.pkcs8(e2e.generate()))
        return [{**keys[0], "body": b64(fake)}]

    with pytest.raises(e2e.E2EError) as caught:
        await nina_unlocks(world, forge)
    assert caught.value.reason == "bad_signature"


async def test_upload_refusals(world: dict[str, Any]) -> None:
    """Keys for strangers, for epochs without a bundle, or from non-admins are refused."""
    admin = world["admin"]
    body = b64(b"x" * 100)
    status, data = await admin.call(
        "POST",
        "/api/teams/alpha/team-keys",
        {"envelopes": [{"recipient": world["root_id"], "epoch": 1, "body": body}]},
    )
    assert (status, data["error"]["code"]) == (404, "not_found")  # root is no member
    status, data = await admin.call(
        "POST",
        "/api/teams/alpha/team-keys",
        {"envelopes": [{"recipient": world["nina_id"], "epoch": 9, "body": body}]},
    )
    assert (status, data["error"]["code"]) == (404, "not_found")
    status, data = await admin.call("POST", "/api/teams/alpha/team-keys", {"envelopes": []})
    assert status == 400


async def test_destroying_an_epoch_shreds_its_team_keys(
    world: dict[str, Any], tmp_path: Any
) -> None:
    """`chatserver team destroy-epoch` destroys the storage key and the envelopes: members
    lose that epoch, and a backup made before holds rows no surviving key opens."""
    assert (await wrap_team_keys(world))[0] == 201
    server: Server = world["server"]
    url = server.settings.database_url
    backup = (await dump(url))["key_envelopes"]
    columns = [c.name for c in m.key_envelopes.columns]
    epoch_col, body_col = columns.index("epoch"), columns.index("body")
    sealed = [bytes(row[body_col]) for row in backup if row[epoch_col] == 1]
    assert len(sealed) == 1

    output = ok(chatserver(url, tmp_path, "team", "destroy-epoch", "alpha", "1"))
    assert output.startswith("destroyed epoch:")
    cookie, _ = await login(
        server.url,
        "nina",
        credential=e2e.auth_credential(world["nina"]["master"], world["nina"]["secret"]),
        origin=ORIGIN,
    )
    status, keys = await get(server, "/api/teams/alpha/team-keys/mine", cookie)
    assert status == 200 and [k["epoch"] for k in keys] == [2]
    survivors = await server.app[KEYSTORE].all_keys()
    for key_id, key in survivors.items():
        for body in sealed:
            with pytest.raises(ServerError):
                unseal(key, key_id, envelope_place(f"tk-1-{world['nina_id']}"), body)
    audit = (await dump(url))["audit"]
    assert any("epoch.keys_destroyed" in row and "epoch:" in str(row) for row in audit)
    again = ok(chatserver(url, tmp_path, "team", "destroy-epoch", "alpha", "1"))
    assert "nothing" in again


async def test_removing_a_member_requeues_and_rekeys_past_her(world: dict[str, Any]) -> None:
    """The admin signs a roster without Nina: her membership and team keys go, the chat she
    held returns to the queue, and Anna takes it over and rekeys to an epoch the admin
    re-issued for the remaining members. Nothing Nina kept opens the new generation."""
    server: Server = world["server"]
    admin = world["admin"]
    await wrap_team_keys(world)
    cookie, nina_epochs = await nina_unlocks(world)
    pin = e2e.pin(e2e.public_bytes(admin.root))
    client = await SecureClient.connect(server.url, "alpha", pin, NOW_MS, origin=ORIGIN)
    cid = (await client.start())["conversation"]
    await client.say("hello?")
    nina_sig = world["nina"]["sig"]
    nina = SecureCounsellor(await server.console_with_cookie(cookie), nina_epochs, nina_sig)
    assert await nina.accept(cid) == ["hello?"]
    await nina.say(cid, "hi, I am Nina")
    assert await client.hear() == "hi, I am Nina"

    # Nina leaves: the next roster names only the admin.
    staying = [x for x in admin.members if x.id != world["nina_id"]]
    status, data = await admin.call(
        "POST", "/api/teams/alpha/roster", {"roster": admin.signed_roster(staying)}
    )
    assert (status, data["removed"]) == (201, [world["nina_id"]])
    released = await nina.peer.next("released")
    assert (released["conversation"], released["reason"]) == (cid, "member_removed")
    status, keys = await get(server, "/api/teams/alpha/team-keys/mine", cookie)
    assert (status, keys["error"]["code"]) == (403, "forbidden")
    with pytest.raises(ChatRefused) as refused:
        await nina.say(cid, "still there?")
    assert refused.value.code == "forbidden"
    audit = (await dump(server.settings.database_url))["audit"]
    assert any("member.removed" in row and world["nina_id"] in row for row in audit)

    # The admin re-issues the epoch: a higher number, valid from now, wrapped to Anna only.
    key3 = e2e.generate()
    wire3 = e2e.sign_bundle(
        admin.root, "alpha", 3, e2e.public_bytes(key3), NOW_MS - 1, NOW_MS + DAY
    )
    assert (await admin.call("POST", "/api/teams/alpha/bundles", {"bundles": [wire3]}))[0] == 201
    status, current = await get(server, "/api/teams/alpha/bundle", cookie)
    assert current["epoch"] == 3  # new clients start in the re-issued epoch
    anna_id = await server.staff("anna", ["alpha"])
    anna_sig = e2e.generate()
    bundles = {
        epoch: e2e.check_bundle(w, pin_value=pin, team="alpha", now=NOW_MS)
        for epoch, w in ((1, await epoch_wire(server, cookie, 1)), (3, wire3))
    }
    anna = SecureCounsellor(
        await server.console("anna"),
        {1: (world["epochs"][1], bundles[1]), 3: (key3, bundles[3])},
        anna_sig,
        {world["nina_id"]: e2e.public_bytes(nina_sig), anna_id: e2e.public_bytes(anna_sig)},
    )
    assert await anna.accept(cid) == ["hello?"]  # taken over from the history, then rekeyed
    assert anna.held[cid].epoch == 1
    await anna.rekey(cid, epoch=3)
    await anna.say(cid, "hi, Anna here")
    assert await client.hear() == "hi, Anna here"
    assert client.epochs[3] == 3 and client.channel is not None and client.channel.gen == 3

    envelopes = await anna.peer.envelopes(cid)
    newest = next(e for e in envelopes if e["id"] == "conv-key-3")
    for key in [k for k, _ in nina_epochs.values()] + list(world["epochs"].values()):
        with pytest.raises(e2e.E2EError) as caught:
            e2e.open_envelope(key, b(newest["body"]), e2e.public_bytes(anna_sig))
        assert caught.value.reason == "decrypt_failed"


async def epoch_wire(server: Server, cookie: str, epoch: int) -> dict[str, Any]:
    status, wire = await get(server, f"/api/teams/alpha/bundle?epoch={epoch}", cookie)
    assert status == 200
    return dict(wire)
