"""The conversation lifecycle: one transition table, nothing else decides.

A conversation is *waiting* in its team's queue until a counsellor accepts it, then
*active*; a transfer back to the queue makes it *waiting* again. It ends *closed*
(after it was accepted) or *abandoned* (the client left or gave up before anyone
accepted). *deleted* is the end of everything: the rows are gone.

``docs/protocol.md`` carries the diagram generated from :data:`TRANSITIONS` by
:func:`mermaid_diagram`; a test keeps the two equal.
"""

from __future__ import annotations

from enum import StrEnum

from chatserver.protocol.errors import InvalidTransition

__all__ = ["TRANSITIONS", "Actor", "Event", "State", "allowed", "mermaid_diagram", "transition"]


class State(StrEnum):
    NEW = "new"  # before ``start``: no row exists yet
    WAITING = "waiting"
    ACTIVE = "active"
    CLOSED = "closed"
    ABANDONED = "abandoned"
    DELETED = "deleted"


class Event(StrEnum):
    START = "start"
    SEND = "send"
    TYPING = "typing"
    RESUME = "resume"
    ACCEPT = "accept"
    TRANSFER_QUEUE = "transfer_queue"
    TRANSFER_COLLEAGUE = "transfer_colleague"
    NOTE = "note"
    CLOSE = "close"
    BLOCK = "block"
    ABANDON = "abandon"
    DELETE = "delete"


class Actor(StrEnum):
    CLIENT = "client"
    COUNSELLOR = "counsellor"  # the one holding the conversation (or accepting it)
    SYSTEM = "system"  # retention and idle timers


S, E, A = State, Event, Actor

#: (state, event, actor) -> next state. A move that is not here is illegal.
TRANSITIONS: dict[tuple[State, Event, Actor], State] = {
    (S.NEW, E.START, A.CLIENT): S.WAITING,
    # waiting in the queue
    (S.WAITING, E.SEND, A.CLIENT): S.WAITING,
    (S.WAITING, E.TYPING, A.CLIENT): S.WAITING,
    (S.WAITING, E.RESUME, A.CLIENT): S.WAITING,
    (S.WAITING, E.ACCEPT, A.COUNSELLOR): S.ACTIVE,
    (S.WAITING, E.CLOSE, A.CLIENT): S.ABANDONED,
    (S.WAITING, E.ABANDON, A.SYSTEM): S.ABANDONED,
    (S.WAITING, E.DELETE, A.CLIENT): S.DELETED,
    # accepted
    (S.ACTIVE, E.SEND, A.CLIENT): S.ACTIVE,
    (S.ACTIVE, E.SEND, A.COUNSELLOR): S.ACTIVE,
    (S.ACTIVE, E.TYPING, A.CLIENT): S.ACTIVE,
    (S.ACTIVE, E.TYPING, A.COUNSELLOR): S.ACTIVE,
    (S.ACTIVE, E.RESUME, A.CLIENT): S.ACTIVE,
    (S.ACTIVE, E.NOTE, A.COUNSELLOR): S.ACTIVE,
    (S.ACTIVE, E.TRANSFER_QUEUE, A.COUNSELLOR): S.WAITING,
    (S.ACTIVE, E.TRANSFER_COLLEAGUE, A.COUNSELLOR): S.ACTIVE,
    (S.ACTIVE, E.CLOSE, A.CLIENT): S.CLOSED,
    (S.ACTIVE, E.CLOSE, A.COUNSELLOR): S.CLOSED,
    (S.ACTIVE, E.CLOSE, A.SYSTEM): S.CLOSED,
    (S.ACTIVE, E.BLOCK, A.COUNSELLOR): S.CLOSED,
    (S.ACTIVE, E.DELETE, A.CLIENT): S.DELETED,
    # ended: the client may still read what is retained, and delete it
    (S.CLOSED, E.RESUME, A.CLIENT): S.CLOSED,
    (S.CLOSED, E.NOTE, A.COUNSELLOR): S.CLOSED,
    (S.CLOSED, E.DELETE, A.CLIENT): S.DELETED,
    (S.CLOSED, E.DELETE, A.SYSTEM): S.DELETED,
    (S.ABANDONED, E.RESUME, A.CLIENT): S.ABANDONED,
    (S.ABANDONED, E.DELETE, A.CLIENT): S.DELETED,
    (S.ABANDONED, E.DELETE, A.SYSTEM): S.DELETED,
}

#: States in which nothing new can be written to the conversation.
ENDED = frozenset({S.CLOSED, S.ABANDONED, S.DELETED})


def allowed(state: State, event: Event, actor: Actor) -> bool:
    """Whether the table has this move."""
    return (state, event, actor) in TRANSITIONS


def transition(state: State, event: Event, actor: Actor) -> State:
    """The next state, or :class:`InvalidTransition` naming what was tried."""
    try:
        return TRANSITIONS[(state, event, actor)]
    except KeyError:
        raise InvalidTransition(
            f"a {actor.value} cannot {event.value.replace('_', ' ')} "
            f"a conversation that is {state.value}"
        ) from None


def mermaid_diagram() -> str:
    """The state diagram of :data:`TRANSITIONS` as a Mermaid block (for the docs)."""
    edges: dict[tuple[State, State], list[str]] = {}
    for (src, event, actor), dst in TRANSITIONS.items():
        if src == dst:
            continue
        edges.setdefault((src, dst), []).append(f"{event.value} ({actor.value})")
    lines = ["```mermaid", "stateDiagram-v2"]
    for (src, dst), labels in edges.items():
        left = "[*]" if src is S.NEW else src.value
        right = "[*]" if dst is S.DELETED else dst.value
        lines.append(f"    {left} --> {right}: {', '.join(labels)}")
    lines.append("```")
    return "\n".join(lines)
