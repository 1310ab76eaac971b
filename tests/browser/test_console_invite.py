"""A new counsellor from invitation to first chat, as people do it: the admin makes an
invite (its secret stays in the admin's browser, here the demo admin's keys), the invitee
opens the link in Chromium and creates the account there (keys, account secret key,
password: nothing of it reaches the server), the admin checks the MAC, signs the roster and
wraps the team keys, and the new counsellor signs in and answers a client."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import aiohttp
import pytest
from a11y import assert_no_serious, axe_scan, require_axe
from conftest import Desk
from test_console import accept_first, log, open_widget, reply, said

from chatserver import e2e
from chatserver.ops.demo import state_path
from chatserver.sdk.peers import login, login_salt

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]

PASSWORD = "a long and new password"


def b(text: str) -> bytes:
    return base64.b64decode(text)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class AdminBrowser:
    """What the demo admin's browser holds: the root key, the epoch keys, its own keys."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.state = json.loads(state_path(desk.server.settings.database_url).read_text())
        self.headers: dict[str, str] = {}

    def key(self, text: str) -> Any:
        return e2e.load_pkcs8(b(text))

    async def sign_in(self) -> None:
        salt = await login_salt(self.desk.url, "admin")
        master = e2e.derive_master(self.desk.password("admin"), salt, "admin")
        cookie, csrf = await login(self.desk.url, "admin", credential=e2e.auth_credential(master))
        self.headers = {"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": self.desk.url}

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with (
            aiohttp.ClientSession(headers=self.headers) as http,
            http.request(method, self.desk.url + path, json=body) as response,
        ):
            assert response.status in (200, 201), await response.text()
            return await response.json()

    async def approve(self, secret: bytes) -> str:
        """Check the MAC, sign the next roster naming the newcomer, wrap the team keys."""
        (pending,) = await self.call("GET", "/api/teams/demo/enrolments")
        dh_pub, sig_pub = b(pending["dh_pub"]), b(pending["sig_pub"])
        e2e.check_enrol_mac(
            secret,
            "demo",
            pending["invite"],
            pending["username"],
            dh_pub,
            sig_pub,
            b(pending["mac"]),
        )
        latest = await self.call("GET", "/api/teams/demo/roster")
        members = [
            e2e.Member(x["id"], x["role"], b(x["dh_pub"]), b(x["sig_pub"]), x["since"])
            for x in latest["members"]
        ]
        members.append(e2e.Member(pending["staff"], pending["role"], dh_pub, sig_pub, 1))
        roster = e2e.sign_roster(
            self.key(self.state["root"]), "demo", latest["version"] + 1, 1, members
        )
        await self.call(
            "POST", f"/api/teams/demo/enrolments/{pending['invite']}/approve", {"roster": roster}
        )
        admin_sig = self.key(self.state["accounts"]["admin"]["sig"])
        envelopes = [
            {
                "recipient": pending["staff"],
                "epoch": int(epoch),
                "body": b64(
                    e2e.seal_envelope(admin_sig, dh_pub, "team_key", "", int(epoch), b(v["key"]))
                ),
            }
            for epoch, v in self.state["epochs"].items()
        ]
        await self.call("POST", "/api/teams/demo/team-keys", {"envelopes": envelopes})
        return str(pending["staff"])


async def test_from_invitation_to_first_chat(desk: Desk, chromium: Any) -> None:
    from playwright.async_api import expect

    require_axe()
    admin = AdminBrowser(desk)
    await admin.sign_in()
    invite = (await admin.call("POST", "/api/teams/demo/invites", {"role": "counsellor"}))["invite"]
    secret = secrets.token_bytes(32)
    link = (
        f"{desk.url}/console#invite={invite}"
        f"&secret={base64.urlsafe_b64encode(secret).rstrip(b'=').decode()}&pin={desk.demo.pin}"
    )
    context = await chromium.new_context(locale="en-GB")
    page = await context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url + " " + (r.post_data or "")))
    await page.goto(link)
    assert await page.evaluate("location.hash") == ""  # the secret is off the address bar
    form = page.locator("#invite")
    await expect(form).to_contain_text("You are invited to team demo as counsellor.")
    assert_no_serious(await axe_scan(page, frames=False), "invitation")
    await form.get_by_label("Username").fill("Nina")
    await form.get_by_label("Your name as colleagues see it").fill("Nina K.")
    await form.get_by_label("New password").fill(PASSWORD)
    await form.get_by_label("The same password again").fill(PASSWORD + "x")
    await form.get_by_role("button", name="Create my account").click()
    await expect(form.get_by_role("alert")).to_have_text("The two passwords are not the same.")
    for personal in ("nina's secret 2026", "my team is DEMO!!"):  # the username, the team
        await form.get_by_label("New password").fill(personal)
        await form.get_by_label("The same password again").fill(personal)
        await form.get_by_role("button", name="Create my account").click()
        await expect(form.get_by_role("alert")).to_have_text(
            "The password must not contain your username, your name or the team's name."
        )
    await form.get_by_label("New password").fill(PASSWORD)
    await form.get_by_label("The same password again").fill(PASSWORD)
    await form.get_by_role("button", name="Create my account").click()
    await expect(page.get_by_role("heading", name="Your recovery sheet")).to_be_visible()
    assert_no_serious(await axe_scan(page, frames=False), "recovery sheet")
    sheet_key = (await page.locator("#rc-secret").text_content() or "").replace(" ", "")
    assert len(b(sheet_key)) == 16
    # Neither the password, nor the account secret key, nor the invite secret was sent.
    sent = "\n".join(requests)
    assert PASSWORD not in sent and sheet_key not in sent
    assert base64.urlsafe_b64encode(secret).rstrip(b"=").decode() not in sent

    # Before approval the account cannot sign in.
    await page.get_by_role("link", name="Go to sign-in").click()
    signin = page.locator("#signin")
    await signin.get_by_label("Username").fill("nina")
    await signin.get_by_label("Password").fill(PASSWORD)
    await signin.get_by_role("button", name="Sign in").click()
    await expect(signin.get_by_role("alert")).to_have_text("Wrong username, password or code.")

    await admin.approve(secret)
    await signin.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="On duty")).to_be_visible(timeout=30_000)
    client = await open_widget(desk, chromium, "hello new counsellor")
    await accept_first(page)
    await expect(log(page).first).to_have_text(said("Client", "hello new counsellor"))
    await reply(page, "Hi, I am Nina")
    frame = client.frame_locator("iframe")
    await expect(frame.locator("#log li.team p").last).to_have_text("Hi, I am Nina")


async def test_a_used_or_broken_invitation_says_so(desk: Desk, chromium: Any) -> None:
    from playwright.async_api import expect

    page = await (await chromium.new_context(locale="en-GB")).new_page()
    await page.goto(f"{desk.url}/console#invite=abc&secret=tooshort")
    await expect(page.locator("#invite-text")).to_have_text(
        "This invitation link is incomplete. Open the whole link your admin gave you."
    )
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    page = await (await chromium.new_context(locale="en-GB")).new_page()
    await page.goto(f"{desk.url}/console#invite=nosuchinvite&secret={secret}")
    await expect(page.locator("#invite-text")).to_have_text("this invitation does not exist")
