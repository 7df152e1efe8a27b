"""The schema registry: every XSD compiled once per process, looked up by purpose.

Validation takes the fast path first (lxml's compiled XMLSchema, i.e. libxml2); only a
document that fails is run through xmlschema, whose errors carry precise paths. The
xmlschema objects are built lazily because most documents never need them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree

from .profiles import MatiereProfile, load_profiles, select_profile

if TYPE_CHECKING:
    import xmlschema

SCHEMAS_DIR = Path(os.environ.get("OPERATOR_SIM_SCHEMAS", Path(__file__).resolve().parents[2] / "schemas"))


@dataclass(frozen=True)
class SchemaError:
    """One schema violation, located."""

    message: str
    xpath: str | None
    line: int | None


class CompiledSchema:
    """One XSD, compiled for libxml2 now and for xmlschema on first failure."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with open(path, "rb") as fh:
            doc = etree.parse(fh, etree.XMLParser(resolve_entities=False, no_network=True),
                              base_url=str(path))
        self._lxml = etree.XMLSchema(doc)

    @cached_property
    def _detailed(self) -> xmlschema.XMLSchema:
        import xmlschema  # a quarter of a second to import: only once a document fails

        return xmlschema.XMLSchema(str(self.path))

    def is_valid(self, element: etree._Element) -> bool:
        return self._lxml.validate(element)

    def errors(self, element: etree._Element, limit: int = 20) -> list[SchemaError]:
        """Path-precise errors for an invalid element (empty list when it is valid)."""
        if self._lxml.validate(element):
            return []
        import xmlschema

        found: list[SchemaError] = []
        try:
            for err in self._detailed.iter_errors(element):
                found.append(SchemaError(_one_line(err.reason or str(err)), err.path,
                                         getattr(err, "sourceline", None)))
                if len(found) >= limit:
                    break
        except xmlschema.XMLSchemaException as exc:  # xmlschema refuses what libxml2 parsed
            found.append(SchemaError(_one_line(str(exc)), None, None))
        if not found:  # the two engines disagree: fall back on libxml2's own log
            for entry in self._lxml.error_log:
                found.append(SchemaError(entry.message, entry.path, entry.line))
        return found[:limit]


def _one_line(text: str) -> str:
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
