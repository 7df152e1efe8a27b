"""The schema registry: every XSD compiled once per process, looked up by purpose.

Validation is libxml2's (lxml's compiled XMLSchema), in two steps whose cost stays linear in
the document whatever it holds. First the document is validated as it is parsed again, where
errors carry no location and so cost little each; only a document with few errors is then
validated as a tree, whose errors name their element's path and line (a small document is
validated as a tree first: when valid, as most are, that is all). Validating a tree with
many errors costs the square of their number (libxml2 spells each error's path by counting the
element's siblings), and xmlschema, used here before, much more: an element with 3,000
undeclared attributes took it minutes.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

from lxml import etree

from ..protocol.codes import NS_ACTES, NS_INSEE
from ..protocol.xmlsafe import node_count
from .profiles import MatiereProfile, load_profiles, select_profile

SCHEMAS_DIR = Path(os.environ.get("OPERATOR_SIM_SCHEMAS", Path(__file__).resolve().parents[2] / "schemas"))


LOCATED_ERRORS = 100
"""Most errors a document may have for them to be located: locating one costs up to a walk
over every element (100 × the 100,000 nodes xmlsafe admits: some 50 ms)."""

SMALL_TREE = 500
"""Most elements and attributes a document may hold to be validated as a tree first: even
with an error on each node, locating them all costs at most this number squared (well under a
millisecond), and a valid one (an @ctes message holds some 50) then needs no second parse."""

_XSD = "{http://www.w3.org/2001/XMLSchema}"


@dataclass(frozen=True)
class SchemaError:
    """One schema violation, located."""

    message: str
    xpath: str | None
    line: int | None


@dataclass(frozen=True)
class SchemaCheck:
    """The first errors of a document (none: it is valid) and how many it has in all."""

    errors: tuple[SchemaError, ...]
    total: int

    @property
    def valid(self) -> bool:
        return self.total == 0


class CompiledSchema:
    """One XSD, compiled for libxml2."""

    def __init__(self, path: Path, *, optional: tuple[str, ...] = ()) -> None:
        """`optional`: names of local elements made optional (minOccurs 0) in this copy."""
        self.path = path
        with open(path, "rb") as fh:
            doc = etree.parse(fh, etree.XMLParser(resolve_entities=False, no_network=True),
                              base_url=str(path))
        for name in optional:
            declarations = doc.getroot().iterfind(f".//{_XSD}element[@name='{name}']")
            for declaration in declarations:
                declaration.set("minOccurs", "0")
        self._lxml = etree.XMLSchema(doc)
        self._tree_lock = threading.Lock()
        """Validating a tree writes the schema object's own error log: one thread at a time
        (the streamed check has a parser, and so a log, of its own)."""

    def is_valid(self, element: etree._Element) -> bool:
        return self.check(element, limit=1).valid

    def errors(self, element: etree._Element, limit: int = 20) -> list[SchemaError]:
        """Errors of an invalid element (empty list when it is valid), at most `limit`."""
        return list(self.check(element, limit).errors)

    def check(self, element: etree._Element, limit: int = 20) -> SchemaCheck:
        """Validate `element`: its first `limit` errors, located when there are no more than
        LOCATED_ERRORS, and their count; linear in the document's size (see the module doc)."""
        if node_count(element) <= SMALL_TREE:
            with self._tree_lock:
                if self._lxml.validate(element):
                    return SchemaCheck((), 0)
        first, total = self._streamed(element, limit)
        if total and total <= LOCATED_ERRORS:
            located = self._located(element)
            if located:  # the same validator on the same document: the same errors
                return SchemaCheck(tuple(located[:limit]), len(located))
        return SchemaCheck(tuple(first), total)

    def _streamed(self, element: etree._Element, limit: int) -> tuple[list[SchemaError], int]:
        """The first `limit` errors of `element` validated while it is parsed again, and their
        count (0: it is valid)."""
        data = etree.tostring(element, encoding="UTF-8")
        parser = etree.XMLParser(schema=self._lxml, resolve_entities=False, no_network=True,
                                 load_dtd=False, huge_tree=False, collect_ids=False)
        try:
            etree.fromstring(data, parser)
        except etree.XMLSyntaxError as exc:
            # The parser's own log: the exception's is the thread's, other documents' too.
            log = parser.error_log
            first = [SchemaError(_message(e.message), None, e.line or None)
                     for e in itertools.islice(log, limit)]
            return first or [SchemaError(_message(str(exc)), None, None)], max(len(log), 1)
        return [], 0

    def _located(self, element: etree._Element) -> list[SchemaError]:
        """Errors of `element` validated as a tree: each with its path and line."""
        try:
            with self._tree_lock:
                self._lxml.assertValid(element)
        except etree.DocumentInvalid as exc:
            return [SchemaError(_message(e.message), e.path, e.line or None)
                    for e in exc.error_log]
        return []


_PREFIXES = {NS_ACTES: "actes", NS_INSEE: "insee"}
_QUALIFIED = re.compile(r"\{([^}]*)\}")


def _message(text: str) -> str:
    """libxml2's message on one line, the protocol's namespaces spelled by their prefix."""
    text = text[:2000]
    text = _QUALIFIED.sub(lambda m: f"{_PREFIXES[m.group(1)]}:" if m.group(1) in _PREFIXES
                          else m.group(0), text)
    return " ".join(text.split())[:500]


class SchemaRegistry:
    """All schemas and matière profiles of one `schemas/` folder."""

    def __init__(self, folder: Path = SCHEMAS_DIR) -> None:
        self.folder = folder
        self.actes = CompiledSchema(folder / "actes" / "actes.xsd")
        self.profiles: tuple[MatiereProfile, ...] = load_profiles(folder / "profiles")
        self._by_path: dict[Path, CompiledSchema] = {}
        self._by_codes: dict[tuple[int, ...], MatiereProfile] = {}
        for profile in self.profiles:
            if profile.xml_main is not None:
                self._by_path[profile.xml_main.schema] = CompiledSchema(profile.xml_main.schema)

    @cached_property
    def actes_without_papier(self) -> CompiledSchema:
        """actes.xsd with Acte/DocumentPapier optional: tells an act whose only schema fault
        is that leniency (DOCUMENT_PAPIER_MISSING) apart; compiled the first time one fails."""
        return CompiledSchema(self.folder / "actes" / "actes.xsd", optional=("DocumentPapier",))

    def schema_at(self, path: Path) -> CompiledSchema:
        return self._by_path[path]

    def profile_for(self, codes: tuple[int, ...]) -> MatiereProfile:
        """The profile of an act's matière path (select_profile), remembered for the next acts."""
        profile = self._by_codes.get(codes)
        if profile is None:
            if len(self._by_codes) >= 1024:  # a bound against a batch of made-up code paths
                self._by_codes.clear()
            profile = self._by_codes[codes] = select_profile(self.profiles, codes)
        return profile


@cache
def default_registry() -> SchemaRegistry:
    return SchemaRegistry()
