"""The one error family: every refusal the simulator answers is a `Refusal`.

A refusal says what is refused (`code`, stable), why in French and English, which input is at
fault (`field`) and what kind of refusal it is (`kind`). It never says how a door answers it:
the web layer's reply tables (`web/faults.py`) turn a kind into a JSON status, an S²LOW `KO` or
a dashboard page. The bottom layer: imports nothing of operator_sim.
"""

from __future__ import annotations

import enum


class Kind(enum.Enum):
    """What went wrong, named by meaning; each reply dialect maps it to its own answer."""

    MALFORMED = "malformed"
    """The request cannot be read as sent: syntax, media type, a missing part, too slow."""
    INVALID = "invalid"
    """The request was read, and an input breaks a rule (the default)."""
    CONFLICT = "conflict"
    """The request is valid, but the state of what it names does not allow it (now)."""
    NOT_FOUND = "not_found"
    """What the request names does not exist (or is not the caller's to see)."""
    UNAUTHENTICATED = "unauthenticated"
    """Who is asking is not established (unknown certificate, missing or wrong login)."""
    FORBIDDEN = "forbidden"
    """Who is asking is known, and may not do this."""
    EXHAUSTED = "exhausted"
    """A quota the request counts against is used up until it resets (the day's serials)."""
    UNAVAILABLE = "unavailable"
    """The simulator cannot serve it now; the same request may pass later, nothing stored."""
    TOO_LARGE = "too_large"
    """The request is over a size limit."""
    GONE = "gone"
    """Stored content the request needs was lost or altered on disk."""
    NO_SPACE = "no_space"
    """The simulator's disk is full; nothing was stored."""


class Refusal(Exception):
    """A request refused, for a reason the client can act on (never a bug: that is a 500).

    Subclasses may set `kind`, `code` and the messages as class attributes; an instance's
    arguments override them. A family with its own constructor (`ProtocolError`, `StoreError`…)
    sets the same attributes itself.
    """

    kind: Kind = Kind.INVALID
    code: str = "REFUSED"
    message_fr: str = "requête refusée"
    message_en: str = "request refused"
    field: str | None = None

    def __init__(self, code: str | None = None, message_fr: str | None = None,
                 message_en: str | None = None, *, field: str | None = None,
                 kind: Kind | None = None) -> None:
        if code is not None:
            self.code = code
        if message_fr is not None:
            self.message_fr = message_fr
        if message_en is not None:
            self.message_en = message_en
        if field is not None:
            self.field = field
        if kind is not None:
            self.kind = kind
        super().__init__(self.message_en)


__all__ = ["Kind", "Refusal"]
