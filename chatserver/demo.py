"""What ``chatserver demo`` adds for the end-to-end layer: the demo team's signed epoch
bundles, made here with the Python reference implementation as an admin's browser makes
them (docs/e2e.md, "The team bundle").

The private keys (the team root key and the epoch keys) are thrown away at once: the
server never keeps a private key, not even for a demo. Demo chats therefore queue
end-to-end encrypted to keys nobody holds; an admin who sets the team up in the browser
makes keys the team can use.
"""

from __future__ import annotations

import base64
import json

from . import e2e
from .epochs import Epochs
from .protocol.errors import NotFound
from .storage.db import Database

__all__ = ["DEMO_DAYS", "demo_bundles"]

DEMO_DAYS = 14
DAY_MS = 86_400_000


async def demo_bundles(db: Database, team_id: int, now: int) -> str:
    """Signed bundles for the next :data:`DEMO_DAYS` days unless an epoch is valid now;
    returns the pin of the root key in force."""
    epochs = Epochs(db)
    try:
        current = await epochs.current(team_id, now)
    except NotFound:
        pass
    else:
        return e2e.pin(base64.b64decode(json.loads(current.canonical)["r_pub"]))
    root = e2e.generate()
    start = now - 60_000
    wires = [
        e2e.sign_bundle(
            root,
            "demo",
            day + 1,
            e2e.public_bytes(e2e.generate()),
            start + day * DAY_MS,
            start + (day + 1) * DAY_MS,
        )
        for day in range(DEMO_DAYS)
    ]
    await epochs.upload(team_id, "demo", wires, None, now)
    return e2e.pin(e2e.public_bytes(root))
