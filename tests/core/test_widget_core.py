"""widget/chat-core.js alone under Node's WebCrypto: the conversation logic of the widget
(queue, accept, read marks, final counts, order, replay, equivocation, reflection, gaps,
resume after a reload, quick-exit wipe, frames of an unknown type refused) without a browser
or a server."""

from __future__ import annotations

from test_e2e_js import node


def test_chat_core_in_node() -> None:
    """Every case of tests/js/widget_core.mjs passes."""
    result = node("tests/js/widget_core.mjs")
    assert result.returncode == 0, result.stdout + result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.endswith(" 0 failed") and not last.startswith("0 passed"), last
