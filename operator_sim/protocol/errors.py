"""The protocol layer's error family.

Every error is a `Refusal` (input refused) with a stable machine code and a French and English
message, so the validation layer can turn it into a finding and the web layer into an answer
without guessing.
"""

from __future__ import annotations

from ..errors import Refusal


class ProtocolError(Refusal, ValueError):
    """Input that breaks an @ctes rule. `code` is stable; `field` names the faulty part.

    English first (the message `str()` gives), French defaulting to it."""

    code = "PROTOCOL"

    def __init__(self, message_en: str, message_fr: str | None = None, *,
                 code: str | None = None, field: str | None = None) -> None:
        super().__init__(code, message_fr or message_en, message_en, field=field)


class InvalidName(ProtocolError):
    """A file, archive or identifier name that does not follow the naming rules."""

    code = "NAME_INVALID"


class UnsafeXML(ProtocolError):
    """XML refused before or while parsing: DTDs, entities, malformed or oversized input."""

    code = "XML_MALFORMED"


class UnsafeArchive(ProtocolError):
    """An envelope archive refused by the safe reader (links, traversal, bombs, limits...)."""

    code = "ARCHIVE_UNSAFE"
