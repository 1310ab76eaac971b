"""What cc2's pinned client code (docs/e2e.md, "cc2: the pinned frame, checked first")
assumes of a browser, checked in Debian's Chromium before anything is built on it.

The agency's page (one origin, over HTTP on 127.0.0.1) runs a loader that writes a
sandboxed ``srcdoc`` frame without ``allow-same-origin``: its origin is opaque. The frame's
scripts come from the chat server (another origin, over HTTPS with a self-signed
certificate), each with a ``sha384`` integrity the loader holds. Under three host policies
(none; a nonce-based strict CSP; the same with Trusted Types required) the frame must:

- run WebCrypto (ECDH, AES-GCM, non-extractable keys) and open ``wss://`` to the chat server,
  whose socket sees ``Origin: null``;
- be a secure context with origin ``"null"``, without storage, its document out of the
  host page's reach;
- not run a script whose bytes differ from its integrity, while one that matches runs;
- under Trusted Types, refuse a ``srcdoc`` set from a plain string and take one from the
  loader's policy ``counselling-chat``.

No product code is involved: the pages and scripts are this test's own, so that what is
checked is the browser's behaviour, which the design depends on.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from test_deploy_tls import self_signed

pytestmark = pytest.mark.browser

#: Runs in the frame: what the design needs, reported to the host page.
PROBE_JS = """
(async () => {
  const cfg = JSON.parse(document.documentElement.dataset.cfg);
  const out = { origin: self.origin, secure: self.isSecureContext,
                goodRan: self.goodRan === true, tamperedRan: self.tamperedRan === true };
  try { localStorage.setItem('x', '1'); out.storage = 'usable'; }
  catch (e) { out.storage = e.name; }
  try {
    const S = crypto.subtle;
    const ec = { name: 'ECDH', namedCurve: 'P-256' };
    const a = await S.generateKey(ec, false, ['deriveBits']);
    const b = await S.generateKey(ec, false, ['deriveBits']);
    const ab = await S.deriveBits({ name: 'ECDH', public: b.publicKey }, a.privateKey, 256);
    const ba = await S.deriveBits({ name: 'ECDH', public: a.publicKey }, b.privateKey, 256);
    const key = await S.importKey('raw', ab, 'AES-GCM', false, ['encrypt', 'decrypt']);
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const text = new TextEncoder().encode('hallo');
    const sealed = await S.encrypt({ name: 'AES-GCM', iv }, key, text);
    const opened = await S.decrypt({ name: 'AES-GCM', iv }, key, sealed);
    let exported = 'refused';
    try { await S.exportKey('raw', key); exported = 'exported'; } catch (e) { /* kept */ }
    out.crypto = new TextDecoder().decode(opened) === 'hallo'
      && new Uint8Array(ab).every((x, i) => x === new Uint8Array(ba)[i]) ? 'ok' : 'wrong';
    out.exportKey = exported;
  } catch (e) { out.crypto = `${e.name}: ${e.message}`; }
  out.socket = await new Promise((resolve) => {
    let ws;
    try { ws = new WebSocket(cfg.socket); }
    catch (e) { resolve(`${e.name}: ${e.message}`); return; }
    ws.onopen = () => ws.send('ping');
    ws.onmessage = (e) => { resolve(String(e.data)); ws.close(); };
    ws.onerror = () => resolve('error');
  });
  parent.postMessage({ probe: out }, cfg.host);
})();
"""
GOOD_JS = "self.goodRan = true;\n"
TAMPERED_EXPECTED = "self.tamperedRan = true;\n"
TAMPERED_SERVED = "self.tamperedRan = true; /* one byte more */\n"


def sri(text: str) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(text.encode()).digest()).decode()


@dataclass
class ChatServer:
    """The chat server's part: release files with CORS and CORP, and a socket."""

    url: str
    origins: list[str | None] = field(default_factory=list)


@pytest.fixture
async def chat_server(tmp_path: Path) -> AsyncIterator[ChatServer]:
    self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(tmp_path / "fullchain.pem", tmp_path / "privkey.pem")
    files = {"probe.js": PROBE_JS, "good.js": GOOD_JS, "tampered.js": TAMPERED_SERVED}
    seen: list[str | None] = []

    async def release(request: web.Request) -> web.Response:
        body = files.get(request.match_info["name"])
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(
            text=body,
            content_type="text/javascript",
            headers={
                "Access-Control-Allow-Origin": "*",
                "Cross-Origin-Resource-Policy": "cross-origin",
                "Cache-Control": "no-store",
            },
        )

    async def socket(request: web.Request) -> web.WebSocketResponse:
        seen.append(request.headers.get("Origin"))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(f"pong to {msg.data}")
        return ws

    app = web.Application()
    app.router.add_get("/widget/r/probe/{name}", release)
    app.router.add_get("/ws/client", socket)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    yield ChatServer(f"https://127.0.0.1:{runner.addresses[0][1]}", seen)
    await runner.cleanup()


def host_page(chat: str, host: str, nonce: str, policy: str) -> str:
    """The agency's page: its CSP (``policy``) and an inline loader with its nonce."""
    release = f"{chat}/widget/r/probe"
    socket = "wss://" + chat.removeprefix("https://") + "/ws/client"
    cfg = json.dumps({"host": host, "socket": socket})
    scripts = [("good.js", GOOD_JS), ("tampered.js", TAMPERED_EXPECTED), ("probe.js", PROBE_JS)]
    frame_csp = (
        f"default-src 'none'; script-src {release}/; connect-src {socket}; "
        "style-src 'none'; base-uri 'none'; form-action 'none'; "
        "require-trusted-types-for 'script'"
    )
    loader = f"""
const nonce = document.currentScript.nonce;
const scripts = {json.dumps([(f"{release}/{n}", sri(body)) for n, body in scripts])};
const esc = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
const html = '<!doctype html><html data-cfg="' + esc({json.dumps(cfg)}) + '"><meta charset=utf-8>'
  + '<meta http-equiv=content-security-policy content="' + esc({json.dumps(frame_csp)}) + '">'
  + scripts.map(([src, sri]) => '<script defer crossorigin=anonymous src="' + src
      + '" integrity="' + sri + '" nonce="' + nonce + '"></' + 'script>').join('')
  + '<p>chat</p>';
const frame = document.createElement('iframe');
frame.setAttribute('sandbox', 'allow-scripts allow-forms allow-downloads allow-popups '
  + 'allow-popups-to-escape-sandbox');
frame.setAttribute('referrerpolicy', 'no-referrer');
window.__plainSrcdoc = 'not tried';
if (window.trustedTypes && {json.dumps("trusted-types" in policy)}) {{
  try {{ frame.srcdoc = html; window.__plainSrcdoc = 'accepted'; }}
  catch (e) {{ window.__plainSrcdoc = e.name; }}
  const tt = trustedTypes.createPolicy('counselling-chat', {{ createHTML: (s) => s }});
  frame.srcdoc = tt.createHTML(html);
}} else {{
  frame.srcdoc = html;
}}
window.addEventListener('message', (e) => {{
  if (e.source !== frame.contentWindow || e.origin !== 'null') return;
  let reach = 'blocked';
  try {{ if (frame.contentDocument !== null) reach = 'readable'; }}
  catch (err) {{ reach = err.name; }}
  window.__probe = {{ ...e.data.probe, messageOrigin: e.origin, hostReach: reach }};
  console.log('probe reported');
}});
document.body.append(frame);
"""
    meta = f'<meta http-equiv="content-security-policy" content="{policy}">' if policy else ""
    return (
        f"<!doctype html><html><head><meta charset=utf-8>{meta}</head><body>"
        f'<h1>Agency</h1><script nonce="{nonce}">{loader}</script></body></html>'
    )


POLICIES = {
    "no CSP": "",
    "nonce CSP": "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic'; "
    "connect-src {socket}; object-src 'none'; base-uri 'none'",
    "nonce CSP with Trusted Types": "default-src 'self'; script-src 'nonce-{nonce}' "
    "'strict-dynamic'; connect-src {socket}; object-src 'none'; base-uri 'none'; "
    "require-trusted-types-for 'script'; trusted-types counselling-chat",
}


async def run_probe(chromium: Any, chat: ChatServer, policy: str, **context: Any) -> Any:
    nonce = secrets.token_urlsafe(16)
    socket = "wss://" + chat.url.removeprefix("https://")

    async def page_handler(request: web.Request) -> web.Response:
        host = f"http://{request.host}"
        csp = policy.format(nonce=nonce, socket=socket)
        return web.Response(text=host_page(chat.url, host, nonce, csp), content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page_handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    browser_context = await chromium.new_context(ignore_https_errors=True, **context)
    try:
        page = await browser_context.new_page()
        # Waiting by a console line, not wait_for_function: its polling evaluates strings,
        # which the agency's CSP (rightly) refuses.
        async with page.expect_console_message(
            lambda m: m.text == "probe reported", timeout=30_000
        ):
            await page.goto(f"http://127.0.0.1:{runner.addresses[0][1]}/")
        return await page.evaluate("({ ...window.__probe, plainSrcdoc: window.__plainSrcdoc })")
    finally:
        await browser_context.close()
        await runner.cleanup()


@pytest.mark.parametrize("name", list(POLICIES))
@pytest.mark.parametrize(
    "device",
    [{"viewport": {"width": 1280, "height": 800}}, {"viewport": {"width": 360, "height": 640}}],
    ids=["desktop", "phone"],
)
async def test_the_pinned_frame_works_under_the_agencys_policy(
    chromium: Any, chat_server: ChatServer, name: str, device: dict[str, Any]
) -> None:
    found = await run_probe(chromium, chat_server, POLICIES[name], **device)
    assert found["crypto"] == "ok", found
    assert found["exportKey"] == "refused", found
    assert found["socket"] == "pong to ping", found
    assert chat_server.origins[-1] == "null"  # what the chat server's socket sees
    assert found["origin"] == "null" and found["messageOrigin"] == "null", found
    assert found["secure"] is True, found
    assert found["storage"] == "SecurityError", found  # no storage in an opaque origin
    assert found["hostReach"] == "blocked", found  # the agency's scripts cannot read it
    assert found["goodRan"] is True, found
    assert found["tamperedRan"] is False, found  # one byte off its integrity: not run
    if "Trusted Types" in name:
        assert found["plainSrcdoc"] == "TypeError", found
    else:
        assert found["plainSrcdoc"] == "not tried", found
