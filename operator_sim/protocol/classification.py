"""The classification en matières and the 7-2 `RetourClassification` document.

Owns the matière tree (CodeMatiere1…5), the natures with their typologies (CodeTypePJ) and the
bundled classifications (2004 skeleton, 2019-03-01). Parses untrusted bytes only through
`xmlsafe.parse_xml` and reports every defect as a ProtocolError, never another exception.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn, TypeVar

from lxml import etree

from .codes import NS_ACTES, NS_XSI, NSMAP, SCHEMA_LOCATION, NatureActe
from .errors import ProtocolError
from .xmlsafe import NOT_XML_CHAR, parse_xml

__all__ = [
    "ERROR_CODE",
    "MAX_LEVELS",
    "Classification",
    "Matiere",
    "NatureClassifiee",
    "Typologie",
    "bundled_classifications",
    "default_classification",
]

ERROR_CODE = "CLASSIFICATION_INVALID"
MAX_LEVELS = 5
"""CodeMatiere1 … CodeMatiere5: the deepest level the protocol knows."""

ROOT_TAG = "RetourClassification"
XML_DECLARATION = b'<?xml version="1.0" encoding="ISO-8859-1"?>\n'

_DATA_DIR = Path(__file__).with_name("data")  # not importlib.resources: ~10 ms to import
_BUNDLED_FILES = ("classification-2004-04-01.xml", "classification-2019-03-01.xml")
_DEFAULT_DATE = datetime.date(2019, 3, 1)

# xsd:integer (whitespace collapsed), bounded so that no input can build a huge int.
_INTEGER = re.compile(r"\+?[0-9]{1,9}")
# xsd:date: the calendar date is kept, a time zone suffix is accepted and dropped.
_XSD_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:Z|[+-][0-9]{2}:[0-9]{2})?")

_T = TypeVar("_T")


def _q(name: str) -> str:
    return f"{{{NS_ACTES}}}{name}"


def _invalid(message_en: str, message_fr: str, field_: str | None) -> ProtocolError:
    return ProtocolError(message_en, message_fr, code=ERROR_CODE, field=field_)


def _check_text(value: object, field_: str) -> str:
    if not isinstance(value, str):
        raise _invalid(f"{field_} must be a string", f"{field_} doit être une chaîne", field_)
    if NOT_XML_CHAR.search(value):
        raise _invalid(
            f"{field_} holds a character XML cannot carry",
            f"{field_} contient un caractère interdit en XML",
            field_,
        )
    return value


def _check_code(value: object, field_: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _invalid(
            f"{field_} must be a positive integer, not {value!r}",
            f"{field_} doit être un entier positif, pas {value!r}",
            field_,
        )
    return value


# --------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class Matiere:
    """One node of the matière tree: its code within its parent, its label, its sub-levels."""

    code: int
    libelle: str
    children: tuple[Matiere, ...] = ()

    def __post_init__(self) -> None:
        _check_code(self.code, "CodeMatiere")
        _check_text(self.libelle, "Libelle")
        children = tuple(self.children)
        object.__setattr__(self, "children", children)
        seen: set[int] = set()
        for child in children:
            if not isinstance(child, Matiere):
                raise _invalid(
                    f"sub-level of matière {self.code} is not a Matiere",
                    f"un sous-niveau de la matière {self.code} n'est pas une Matiere",
                    "Matiere",
                )
            if child.code in seen:
                raise _invalid(
                    f"matière {self.code} has two sub-levels with code {child.code}",
                    f"la matière {self.code} a deux sous-niveaux de code {child.code}",
                    "CodeMatiere",
                )
            seen.add(child.code)

    def child(self, code: int) -> Matiere | None:
        """The direct sub-level with this code, or None."""
        for candidate in self.children:
            if candidate.code == code:
                return candidate
        return None

    @property
    def depth(self) -> int:
        """Number of levels in this subtree, this node included."""
        return 1 + max((child.depth for child in self.children), default=0)


@dataclass(frozen=True)
class Typologie:
    """A type of document (TypePJNatureActe): CodeTypePJ such as `99_DE`, and its label."""

    code: str
    libelle: str

    def __post_init__(self) -> None:
        _check_text(self.code, "CodeTypePJ")
        if not self.code.strip():
            raise _invalid("CodeTypePJ is empty", "CodeTypePJ est vide", "CodeTypePJ")
        _check_text(self.libelle, "Libelle")


@dataclass(frozen=True)
class NatureClassifiee:
    """A nature of act as the classification publishes it, with the typologies it allows."""

    code: NatureActe
    libelle: str
    type_abrege: str
    typologies: tuple[Typologie, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.code, bool) or not isinstance(self.code, int):
            raise _invalid(
                f"CodeNatureActe must be 1–6, not {self.code!r}",
                f"CodeNatureActe doit valoir de 1 à 6, pas {self.code!r}",
                "CodeNatureActe",
            )
        try:
            code = NatureActe(self.code)
        except ValueError:
            raise _invalid(
                f"CodeNatureActe must be 1–6, not {self.code!r}",
                f"CodeNatureActe doit valoir de 1 à 6, pas {self.code!r}",
                "CodeNatureActe",
            ) from None
        object.__setattr__(self, "code", code)
        _check_text(self.libelle, "Libelle")
        _check_text(self.type_abrege, "TypeAbrege")
        if self.type_abrege != code.abrege:
            raise _invalid(
                f"TypeAbrege {self.type_abrege!r} does not match CodeNatureActe {int(code)}"
                f" ({code.abrege})",
                f"TypeAbrege {self.type_abrege!r} ne correspond pas au CodeNatureActe"
                f" {int(code)} ({code.abrege})",
                "TypeAbrege",
            )
        typologies = tuple(self.typologies)
        object.__setattr__(self, "typologies", typologies)
        seen: set[str] = set()
        for typologie in typologies:
            if not isinstance(typologie, Typologie):
                raise _invalid(
                    f"a typology of nature {code.abrege} is not a Typologie",
                    f"une typologie de la nature {code.abrege} n'est pas une Typologie",
                    "TypePJNatureActe",
                )
            if typologie.code in seen:
                raise _invalid(
                    f"typology {typologie.code} listed twice for nature {code.abrege}",
                    f"typologie {typologie.code} présente deux fois pour la nature {code.abrege}",
                    "CodeTypePJ",
                )
            seen.add(typologie.code)


@dataclass(frozen=True)
class Classification:
    """A dated classification: natures (with typologies) and the matière tree (≤ 5 levels).

    Invariants, checked at construction: at least one nature, each nature once; at least one
    Matiere1, each with at least one Matiere2; sibling codes unique; no level below the fifth.
    """

    date: datetime.date
    natures: tuple[NatureClassifiee, ...]
    matieres: tuple[Matiere, ...]
    _index: dict[tuple[int, ...], tuple[Matiere, ...]] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        if isinstance(self.date, datetime.datetime) or not isinstance(self.date, datetime.date):
            raise _invalid(
                "DateClassification must be a date",
                "DateClassification doit être une date",
                "DateClassification",
            )
        natures = tuple(self.natures)
        matieres = tuple(self.matieres)
        object.__setattr__(self, "natures", natures)
        object.__setattr__(self, "matieres", matieres)
        if not natures:
            raise _invalid("no NatureActe", "aucune NatureActe", "NaturesActes")
        seen_natures: set[NatureActe] = set()
        for nature in natures:
            if not isinstance(nature, NatureClassifiee):
                raise _invalid(
                    "a nature is not a NatureClassifiee",
                    "une nature n'est pas une NatureClassifiee",
                    "NatureActe",
                )
            if nature.code in seen_natures:
                raise _invalid(
                    f"nature {nature.code.abrege} listed twice",
                    f"nature {nature.code.abrege} présente deux fois",
                    "NatureActe/@CodeNatureActe",
                )
            seen_natures.add(nature.code)
        if not matieres:
            raise _invalid("no Matiere1", "aucune Matiere1", "Matieres")
        seen_codes: set[int] = set()
        for matiere1 in matieres:
            if not isinstance(matiere1, Matiere):
                raise _invalid(
                    "a Matiere1 is not a Matiere", "une Matiere1 n'est pas une Matiere", "Matiere1"
                )
            if matiere1.code in seen_codes:
                raise _invalid(
                    f"two Matiere1 with code {matiere1.code}",
                    f"deux Matiere1 de code {matiere1.code}",
                    "Matiere1/@CodeMatiere",
                )
            seen_codes.add(matiere1.code)
            if not matiere1.children:
                raise _invalid(
                    f"Matiere1 {matiere1.code} has no Matiere2",
                    f"la Matiere1 {matiere1.code} n'a aucune Matiere2",
                    "Matiere2",
                )
            if matiere1.depth > MAX_LEVELS:
                raise _invalid(
                    f"Matiere1 {matiere1.code} goes deeper than {MAX_LEVELS} levels",
                    f"la Matiere1 {matiere1.code} dépasse {MAX_LEVELS} niveaux",
                    "Matiere5",
                )
        index: dict[tuple[int, ...], tuple[Matiere, ...]] = {}

        def walk(nodes: tuple[Matiere, ...], prefix: tuple[Matiere, ...]) -> None:
            for node in nodes:
                path = (*prefix, node)
                index[tuple(m.code for m in path)] = path
                walk(node.children, path)

        walk(matieres, ())
        object.__setattr__(self, "_index", index)

    # -- queries --------------------------------------------------------------------------

    def lookup(self, codes: Sequence[int]) -> tuple[Matiere, ...] | None:
        """The Matiere objects along `codes` (e.g. (7, 1) or (1, 1, 2)); None if any is unknown."""
        try:
            key = tuple(codes)
            return self._index.get(key)
        except TypeError:  # not iterable, or unhashable items
            return None

    def label(self, codes: Sequence[int]) -> str:
        """The dotted codes and the deepest label, e.g. "7.1 Décisions budgétaires".

        Raises KeyError when the path is not in this classification.
        """
        path = self.lookup(codes)
        if path is None:
            raise KeyError(f"no matière {codes!r} in the classification of {self.date}")
        return ".".join(str(m.code) for m in path) + " " + path[-1].libelle

    def paths(self) -> Iterator[tuple[int, ...]]:
        """Every code path of the tree, parents before children, in document order."""
        return iter(self._index)

    def nature(self, nature: NatureActe | int) -> NatureClassifiee | None:
        """The published nature with this code, or None."""
        for candidate in self.natures:
            if candidate.code == nature:
                return candidate
        return None

    def typologies_for(self, nature: NatureActe | int) -> tuple[Typologie, ...]:
        """The typologies allowed for a nature; empty for an unknown nature or a pre-2019 file."""
        found = self.nature(nature)
        return found.typologies if found is not None else ()

    def is_typologie_allowed(self, nature: NatureActe | int, code: str) -> bool:
        """Whether CodeTypePJ `code` is listed for `nature` (a pre-2019 file lists none)."""
        return any(t.code == code for t in self.typologies_for(nature))

    # -- XML ------------------------------------------------------------------------------

    def to_element(self) -> etree._Element:
        """A fresh `actes:RetourClassification` element (every element and attribute prefixed)."""
        root = etree.Element(_q(ROOT_TAG), nsmap=NSMAP)
        root.set(f"{{{NS_XSI}}}schemaLocation", SCHEMA_LOCATION)
        etree.SubElement(root, _q("DateClassification")).text = self.date.isoformat()
        natures_el = etree.SubElement(root, _q("NaturesActes"))
        for nature in self.natures:
            nature_el = etree.SubElement(natures_el, _q("NatureActe"))
            nature_el.set(_q("CodeNatureActe"), str(int(nature.code)))
            nature_el.set(_q("Libelle"), nature.libelle)
            nature_el.set(_q("TypeAbrege"), nature.type_abrege)
            for typologie in nature.typologies:
                typologie_el = etree.SubElement(nature_el, _q("TypePJNatureActe"))
                typologie_el.set(_q("CodeTypePJ"), typologie.code)
                typologie_el.set(_q("Libelle"), typologie.libelle)
        matieres_el = etree.SubElement(root, _q("Matieres"))

        def add(parent: etree._Element, nodes: tuple[Matiere, ...], level: int) -> None:
            for node in nodes:
                node_el = etree.SubElement(parent, _q(f"Matiere{level}"))
                node_el.set(_q("CodeMatiere"), str(node.code))
                node_el.set(_q("Libelle"), node.libelle)
                add(node_el, node.children, level + 1)

        add(matieres_el, self.matieres, 1)
        return root

    def to_xml(self) -> bytes:
        """The document as the real platform sends it: ISO-8859-1, declaration included."""
        body = etree.tostring(
            self.to_element(), encoding="ISO-8859-1", xml_declaration=False, pretty_print=True
        )
        return XML_DECLARATION + body

    @classmethod
    def from_element(cls, el: etree._Element) -> Classification:
        """Read a parsed `RetourClassification`; any defect raises ProtocolError (field set)."""
        return _Reader().classification(el)

    @classmethod
    def from_xml(cls, data: bytes, *, name: str = "RetourClassification") -> Classification:
        """Parse untrusted bytes (ISO-8859-1 or UTF-8) with the safe parser, then read them.

        Malformed or unsafe XML raises the parser's UnsafeXML; everything else that is wrong
        raises ProtocolError with code CLASSIFICATION_INVALID.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise _invalid(
                f"{name}: expected bytes, got {type(data).__name__}",
                f"{name} : octets attendus, reçu {type(data).__name__}",
                None,
            )
        try:
            root = parse_xml(bytes(data), name=name)
        except ProtocolError:
            raise
        except (ValueError, TypeError, etree.LxmlError) as exc:
            raise _invalid(
                f"{name}: unreadable XML ({exc})", f"{name} : XML illisible ({exc})", None
            ) from None
        return cls.from_element(root)


# --------------------------------------------------------------------------------------------
# Reading


def _local(el: etree._Element) -> str | None:
    """The local name of an element of the actes namespace; None for anything else."""
    tag = el.tag
    if not isinstance(tag, str) or not tag.startswith(f"{{{NS_ACTES}}}"):
        return None
    return tag[len(NS_ACTES) + 2 :]


def _elements(el: etree._Element) -> list[etree._Element]:
    """Child elements, comments and processing instructions left out."""
    return [child for child in el if isinstance(child.tag, str)]


class _Reader:
    """Turns an element tree into a Classification, naming the faulty part on failure."""

    def classification(self, el: object) -> Classification:
        if not isinstance(el, etree._Element) or not isinstance(el.tag, str):
            raise _invalid("not an XML element", "pas un élément XML", ROOT_TAG)
        if _local(el) != ROOT_TAG:
            raise _invalid(
                f"root element is {el.tag!r}, expected actes:{ROOT_TAG}",
                f"l'élément racine est {el.tag!r}, actes:{ROOT_TAG} attendu",
                ROOT_TAG,
            )
        parts: dict[str, etree._Element] = {}
        for child in _elements(el):
            name = _local(child)
            if name not in ("DateClassification", "NaturesActes", "Matieres"):
                self._unexpected(child, ROOT_TAG)
            if name in parts:
                raise _invalid(
                    f"{name} appears twice", f"{name} est présent deux fois", f"{ROOT_TAG}/{name}"
                )
            parts[name] = child
        for required in ("DateClassification", "NaturesActes", "Matieres"):
            if required not in parts:
                raise _invalid(
                    f"{required} is missing", f"{required} est absent", f"{ROOT_TAG}/{required}"
                )
        date = self.date(parts["DateClassification"], f"{ROOT_TAG}/DateClassification")
        natures = self.natures(parts["NaturesActes"], f"{ROOT_TAG}/NaturesActes")
        matieres = self.matieres(parts["Matieres"], f"{ROOT_TAG}/Matieres")
        try:
            return Classification(date=date, natures=natures, matieres=matieres)
        except ProtocolError as exc:  # cross-part invariant; keep the code, anchor the field
            exc.field = f"{ROOT_TAG}/{exc.field}" if exc.field else ROOT_TAG
            raise

    # -- parts ----------------------------------------------------------------------------

    def date(self, el: etree._Element, path: str) -> datetime.date:
        if _elements(el):
            self._unexpected(_elements(el)[0], path)
        text = (el.text or "").strip()
        match = _XSD_DATE.fullmatch(text)
        try:
            if match is None:
                raise ValueError(text)
            return datetime.date(*(int(part) for part in match.groups()[:3]))
        except ValueError:
            raise _invalid(
                f"DateClassification {text!r} is not a date (YYYY-MM-DD)",
                f"DateClassification {text!r} n'est pas une date (AAAA-MM-JJ)",
                path,
            ) from None

    def natures(self, el: etree._Element, path: str) -> tuple[NatureClassifiee, ...]:
        natures = []
        children = _elements(el)
        if not children:
            raise _invalid("no NatureActe", "aucune NatureActe", f"{path}/NatureActe")
        seen: set[NatureActe] = set()
        for position, child in enumerate(children, start=1):
            if _local(child) != "NatureActe":
                self._unexpected(child, path)
            nature_path = f"{path}/NatureActe[{position}]"
            nature = self.nature(child, nature_path)
            if nature.code in seen:
                raise _invalid(
                    f"nature {nature.code.abrege} listed twice",
                    f"nature {nature.code.abrege} présente deux fois",
                    f"{nature_path}/@CodeNatureActe",
                )
            seen.add(nature.code)
            natures.append(nature)
        return tuple(natures)

    def nature(self, el: etree._Element, path: str) -> NatureClassifiee:
        libelle = self._required(el, "Libelle", path)
        type_abrege = self._required(el, "TypeAbrege", path)
        raw_code = self._attribute(el, "CodeNatureActe")
        if raw_code is None:  # optional in the XSD: TypeAbrege then says which nature
            try:
                code = NatureActe.from_abrege(type_abrege)
            except ValueError:
                raise _invalid(
                    f"unknown TypeAbrege {type_abrege!r} and no CodeNatureActe",
                    f"TypeAbrege {type_abrege!r} inconnu et CodeNatureActe absent",
                    f"{path}/@TypeAbrege",
                ) from None
        else:
            number = self._integer(raw_code, f"{path}/@CodeNatureActe")
            try:
                code = NatureActe(number)
            except ValueError:
                raise _invalid(
                    f"CodeNatureActe must be 1–6, not {number}",
                    f"CodeNatureActe doit valoir de 1 à 6, pas {number}",
                    f"{path}/@CodeNatureActe",
                ) from None
        typologies = []
        seen: set[str] = set()
        for position, child in enumerate(_elements(el), start=1):
            if _local(child) != "TypePJNatureActe":
                self._unexpected(child, path)
            typologie_path = f"{path}/TypePJNatureActe[{position}]"
            typologie = self._build(
                Typologie,
                typologie_path,
                code=self._required(child, "CodeTypePJ", typologie_path),
                libelle=self._required(child, "Libelle", typologie_path),
            )
            if typologie.code in seen:
                raise _invalid(
                    f"typology {typologie.code} listed twice for nature {code.abrege}",
                    f"typologie {typologie.code} présente deux fois pour la nature {code.abrege}",
                    f"{typologie_path}/@CodeTypePJ",
                )
            seen.add(typologie.code)
            typologies.append(typologie)
        return self._build(
            NatureClassifiee,
            path,
            code=code,
            libelle=libelle,
            type_abrege=type_abrege,
            typologies=tuple(typologies),
        )

    def matieres(self, el: etree._Element, path: str) -> tuple[Matiere, ...]:
        nodes = self.level(el, 1, path)
        if not nodes:
            raise _invalid("no Matiere1", "aucune Matiere1", f"{path}/Matiere1")
        return nodes

    def level(self, el: etree._Element, level: int, path: str) -> tuple[Matiere, ...]:
        """The children of `el`, which must all be Matiere<level> elements."""
        expected = f"Matiere{level}"
        nodes = []
        seen: set[int] = set()
        for position, child in enumerate(_elements(el), start=1):
            if level > MAX_LEVELS or _local(child) != expected:
                self._unexpected(child, path)
            node_path = f"{path}/{expected}[{position}]"
            code = self._integer(
                self._required(child, "CodeMatiere", node_path), f"{node_path}/@CodeMatiere"
            )
            if code < 1:
                raise _invalid(
                    f"CodeMatiere must be a positive integer, not {code}",
                    f"CodeMatiere doit être un entier positif, pas {code}",
                    f"{node_path}/@CodeMatiere",
                )
            if code in seen:
                raise _invalid(
                    f"two {expected} with CodeMatiere {code} under the same parent",
                    f"deux {expected} de CodeMatiere {code} sous le même parent",
                    f"{node_path}/@CodeMatiere",
                )
            seen.add(code)
            libelle = self._required(child, "Libelle", node_path)
            children = self.level(child, level + 1, node_path)
            if level == 1 and not children:
                raise _invalid(
                    f"Matiere1 {code} has no Matiere2",
                    f"la Matiere1 {code} n'a aucune Matiere2",
                    f"{node_path}/Matiere2",
                )
            nodes.append(
                self._build(Matiere, node_path, code=code, libelle=libelle, children=children)
            )
        return tuple(nodes)

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def _build(kind: type[_T], path: str, **values: object) -> _T:
        try:
            return kind(**values)
        except ProtocolError as exc:
            exc.field = f"{path}/@{exc.field}" if exc.field else path
            raise

    @staticmethod
    def _attribute(el: etree._Element, name: str) -> str | None:
        """`actes:name`, as the schema qualifies it; an unqualified `name` is tolerated."""
        value = el.get(_q(name))
        return value if value is not None else el.get(name)

    def _required(self, el: etree._Element, name: str, path: str) -> str:
        value = self._attribute(el, name)
        if value is None:
            raise _invalid(
                f"attribute actes:{name} is missing",
                f"l'attribut actes:{name} est absent",
                f"{path}/@{name}",
            )
        return value

    @staticmethod
    def _integer(raw: str, path: str) -> int:
        text = raw.strip()
        if not _INTEGER.fullmatch(text):
            raise _invalid(f"{raw!r} is not an integer", f"{raw!r} n'est pas un entier", path)
        return int(text)

    @staticmethod
    def _unexpected(child: etree._Element, path: str) -> NoReturn:
        name = _local(child) or str(child.tag)  # str() keeps the f-strings below to text
        raise _invalid(
            f"unexpected element {name} in {path}",
            f"élément {name} inattendu dans {path}",
            f"{path}/{name}",
        )


# --------------------------------------------------------------------------------------------
# Bundled classifications


@functools.cache
def _bundled() -> dict[datetime.date, Classification]:
    loaded = {}
    for file_name in _BUNDLED_FILES:
        classification = Classification.from_xml(
            (_DATA_DIR / file_name).read_bytes(), name=file_name
        )
        loaded[classification.date] = classification
    return loaded


def bundled_classifications() -> dict[datetime.date, Classification]:
    """The classifications shipped with the simulator, by DateClassification (a fresh dict)."""
    return dict(_bundled())


def default_classification() -> Classification:
    """The 2019-03-01 classification (levels 1–4, typologies), loaded once."""
    return _bundled()[_DEFAULT_DATE]
