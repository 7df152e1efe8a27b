"""The protocol layer's error family.

Every error carries a stable machine code and a French and English message, so the
validation layer can turn it into a finding and the web layer into a 4xx without guessing.
"""

from __future__ import annotations


class ProtocolError(ValueError):
    """Input that breaks an @ctes rule. `code` is stable; `field` names the faulty part."""

    code = "PROTOCOL"

    def __init__(self, message_en: str, message_fr: str | None = None, *,
                 code: str | None = None, field: str | None = None) -> None:
        super().__init__(message_en)
        self.message_en = message_en
        self.message_fr = message_fr or message_en
        if code is not None:
            self.code = code
        self.field = field


class InvalidName(ProtocolError):
    """A file, archive or identifier name that does not follow the naming rules."""

    code = "NAME_INVALID"


class UnsafeXML(ProtocolError):
    """XML refused before or while parsing: DTDs, entities, malformed or oversized input."""

    code = "XML_MALFORMED"


class UnsafeArchive(ProtocolError):
    """An envelope archive refused by the safe reader (links, traversal, bombs, limits...)."""

    code = "ARCHIVE_UNSAFE"
