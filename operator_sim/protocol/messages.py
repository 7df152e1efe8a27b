"""The @ctes messages métier (1-1 … 7-3) and envelopes as frozen dataclasses, to and from XML.

Owns the mapping between each XML tree (names exactly as the protocol spells them) and its
Python object; 7-2 `RetourClassification` belongs to `classification.py`. Reads untrusted
bytes only through `xmlsafe.parse_xml` and never raises anything but a ProtocolError.
It checks structure and Python types, never value facets (lengths, patterns): those are
the XSD's job, so that a message breaking one can still be parsed and echoed in an anomaly.

Output is what the real platform emits: an ISO-8859-1 declaration written with double
quotes, `actes:` on every element and attribute (`insee:SIREN` apart), the actes, insee and
xsi namespaces and `xsi:schemaLocation` on the root. Input may be ISO-8859-1 or UTF-8.

`Signature` (type anyType in the schema) holds, in practice, the base64 text of a detached
DER PKCS#7. `FichierSigne.signature` keeps the signature *payload*: the element's text
decoded from base64 when it is base64 (whitespace ignored), else the text itself encoded
as UTF-8 (e.g. a PEM block or a placeholder). On output, bytes that the reader would read
back unchanged as plain text (UTF-8 text, XML-safe, not base64) are written as that text;
anything else is written as one line of base64. Element content inside a Signature (never
seen) is read as its serialised markup and written back as text.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, Self

from lxml import etree

from .classification import Classification
from .codes import (
    MESSAGE_TYPE_BY_ROOT,
    NS_ACTES,
    NS_INSEE,
    NS_XSI,
    NSMAP,
    SCHEMA_LOCATION,
    AnomalieNature,
    MessageType,
    NatureActe,
)
from .errors import ProtocolError, UnsafeXML
from .xmlsafe import NOT_XML_CHAR, parse_xml

__all__ = [
    "ENVELOPE_CLASSES",
    "IDCL",
    "IDSGAR",
    "MESSAGE_CLASSES",
    "ARActe",
    "ARAnnulation",
    "ARDemandePieceComplementaire",
    "ARLettreObservations",
    "ARPieceComplementaire",
    "ARReponseRejetLettreObservations",
    "Acte",
    "Annulation",
    "AnomalieActe",
    "AnomalieEnveloppe",
    "CourrierSimple",
    "DefereTA",
    "DemandeClassification",
    "DemandePieceComplementaire",
    "Envelope",
    "EnveloppeCLMISILL",
    "EnveloppeMISILLCL",
    "FichierSigne",
    "IDPref",
    "IDSousPref",
    "LettreObservations",
    "Message",
    "PieceComplementaire",
    "Referent",
    "RefusPieceComplementaire",
    "RejetLettreObservations",
    "ReponseClassificationSansChangement",
    "ReponseCourrierSimple",
    "ReponseLettreObservations",
    "parse_message",
]

INVALID = "MESSAGE_INVALID"
UNKNOWN_ROOT = "MESSAGE_UNKNOWN_ROOT"
XML_DECLARATION = b'<?xml version="1.0" encoding="ISO-8859-1"?>\n'

_SIREN_ATTR = f"{{{NS_INSEE}}}SIREN"
_XSI_NIL = f"{{{NS_XSI}}}nil"
_XSI_SCHEMA_LOCATION = f"{{{NS_XSI}}}schemaLocation"
_XSD_WS = " \t\n\r"
# xsd:integer, bounded so that no input can build a huge int.
_INTEGER = re.compile(r"[+-]?[0-9]{1,9}")
# xsd:date: the calendar date is kept; a time-zone suffix is accepted and dropped.
_DATE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:Z|[+-][0-9]{2}:[0-9]{2})?")


# --- errors ----------------------------------------------------------------------------------


def _invalid(field: str, message_en: str, message_fr: str) -> ProtocolError:
    return ProtocolError(message_en, message_fr, code=INVALID, field=field)


def _missing(field: str, parent: str) -> ProtocolError:
    return _invalid(
        field,
        f"actes:{parent}: missing actes:{field}",
        f"actes:{parent} : actes:{field} manquant",
    )


# --- writing helpers -------------------------------------------------------------------------


_ACTES_PREFIX = f"{{{NS_ACTES}}}"


def _q(name: str) -> str:
    return f"{_ACTES_PREFIX}{name}"


def _set(el: etree._Element, name: str, value: str, *, qname: str | None = None) -> None:
    try:
        el.set(qname or _q(name), value)
    except (TypeError, ValueError) as exc:
        raise _invalid(name, f"{name}: value cannot be written in XML: {exc}",
                       f"{name} : valeur impossible à écrire en XML : {exc}") from None


def _sub(parent: etree._Element, name: str, text: str | None = None,
         **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, _q(name))
    if text is not None:
        try:
            el.text = text
        except (TypeError, ValueError) as exc:
            raise _invalid(name, f"{name}: text cannot be written in XML: {exc}",
                           f"{name} : texte impossible à écrire en XML : {exc}") from None
    for key, value in attrs.items():
        _set(el, key, value)
    return el


def _new_root(name: str) -> etree._Element:
    root = etree.Element(_q(name), nsmap=NSMAP)
    root.set(_XSI_SCHEMA_LOCATION, SCHEMA_LOCATION)
    return root


def _serialize(root: etree._Element) -> bytes:
    body = etree.tostring(root, encoding="ISO-8859-1", xml_declaration=False, pretty_print=True)
    return XML_DECLARATION + body


# --- reading helpers -------------------------------------------------------------------------


def _local(el: etree._Element) -> str:
    tag = el.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else "#node"


class _Children:
    """The element children of one element, consumed in schema order."""

    def __init__(self, el: etree._Element) -> None:
        self._el = el
        self._items = [c for c in el if isinstance(c.tag, str)]
        self._pos = 0

    @property
    def parent(self) -> str:
        """The element's local name, for error messages only."""
        return _local(self._el)

    def optional(self, name: str) -> etree._Element | None:
        if self._pos < len(self._items) and self._items[self._pos].tag == _q(name):
            self._pos += 1
            return self._items[self._pos - 1]
        return None

    def required(self, name: str) -> etree._Element:
        el = self.optional(name)
        if el is None:
            raise _missing(name, self.parent)
        return el

    def many(self, name: str, *, at_least: int = 0) -> list[etree._Element]:
        found = []
        while (el := self.optional(name)) is not None:
            found.append(el)
        if len(found) < at_least:
            raise _missing(name, self.parent)
        return found

    def end(self) -> None:
        if self._pos < len(self._items):
            extra = self._items[self._pos]
            name = etree.QName(extra).text
            raise _invalid(
                _local(extra),
                f"actes:{self.parent}: unexpected element {name}",
                f"actes:{self.parent} : élément inattendu {name}",
            )


def _no_children(el: etree._Element) -> None:
    _Children(el).end()


def _text(el: etree._Element) -> str:
    """Character content of a simple-typed element (comments skipped, child elements refused)."""
    parts = [el.text or ""]
    for child in el:
        if isinstance(child.tag, str):
            raise _invalid(
                _local(el),
                f"actes:{_local(el)} must hold text only",
                f"actes:{_local(el)} ne doit contenir que du texte",
            )
        parts.append(child.tail or "")
    return "".join(parts)


def _attr(el: etree._Element, name: str, *, qname: str | None = None) -> str:
    value = el.get(qname or _q(name))
    if value is None:
        shown = "insee:SIREN" if qname == _SIREN_ATTR else f"actes:{name}"
        raise _invalid(
            name,
            f"actes:{_local(el)}: missing attribute {shown}",
            f"actes:{_local(el)} : attribut {shown} manquant",
        )
    return value


def _parse_int(value: str, field: str) -> int:
    raw = value.strip(_XSD_WS)
    if not _INTEGER.fullmatch(raw):
        raise _invalid(field, f"{field}: {value!r} is not an integer of at most 9 digits",
                       f"{field} : {value!r} n'est pas un entier d'au plus 9 chiffres")
    return int(raw)


def _parse_digits(value: str, field: str) -> str:
    raw = value.strip(_XSD_WS)
    if not raw.isascii() or not raw.isdigit():
        raise _invalid(field, f"{field}: {value!r} is not a number",
                       f"{field} : {value!r} n'est pas un nombre")
    return raw


def _parse_date(value: str, field: str) -> dt.date:
    match = _DATE.fullmatch(value.strip(_XSD_WS))
    if match:
        try:
            return dt.date.fromisoformat(match.group(1))
        except ValueError:
            pass
    raise _invalid(field, f"{field}: {value!r} is not a date (YYYY-MM-DD)",
                   f"{field} : {value!r} n'est pas une date (AAAA-MM-JJ)")


def _date_attr(el: etree._Element, name: str) -> dt.date:
    return _parse_date(_attr(el, name), name)


def _date_child(children: _Children, name: str) -> dt.date:
    return _parse_date(_text(children.required(name)), name)


def _optional_text(children: _Children, name: str) -> str | None:
    el = children.optional(name)
    return None if el is None else _text(el)


def _parse_nature_acte(value: str) -> NatureActe:
    code = _parse_int(value, "CodeNatureActe")
    try:
        return NatureActe(code)
    except ValueError:
        raise _invalid("CodeNatureActe", f"CodeNatureActe: unknown nature {code}",
                       f"CodeNatureActe : nature {code} inconnue") from None


def _parse_bytes(data: bytes) -> etree._Element:
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise _invalid("#document", f"expected XML bytes, got {type(data).__name__}",
                       f"octets XML attendus, reçu {type(data).__name__}")
    try:
        return parse_xml(data)
    except ProtocolError:
        raise
    except Exception as exc:  # lxml raises a few non-syntax errors on odd input
        raise UnsafeXML(f"unreadable XML document: {exc}",
                        f"document XML illisible : {exc}", code="XML_MALFORMED") from None


def _root_name(el: etree._Element) -> str:
    """Local name of an actes: root; MESSAGE_UNKNOWN_ROOT for any other namespace."""
    tag = el.tag
    if not isinstance(tag, str):
        raise ProtocolError("the document root is not an element",
                            "la racine du document n'est pas un élément", code=UNKNOWN_ROOT)
    if tag.startswith(_ACTES_PREFIX):  # the usual case, without building a QName
        return tag[len(_ACTES_PREFIX):]
    qname = etree.QName(tag)
    if qname.namespace != NS_ACTES:
        raise ProtocolError(
            f"root element {tag} is not in the @ctes namespace {NS_ACTES}",
            f"l'élément racine {tag} n'est pas dans l'espace de noms @ctes {NS_ACTES}",
            code=UNKNOWN_ROOT, field=qname.localname,
        )
    return qname.localname


# --- Signature payload -----------------------------------------------------------------------


def _base64_payload(text: str) -> bytes | None:
    compact = "".join(text.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None


def _read_signature(el: etree._Element) -> bytes:
    if any(isinstance(c.tag, str) for c in el):
        markup = (el.text or "") + "".join(
            etree.tostring(c, encoding="unicode", with_tail=True) for c in el
        )
        return markup.encode("utf-8")
    text = _text(el)
    payload = _base64_payload(text)
    return text.encode("utf-8") if payload is None else payload


def _signature_text(signature: bytes) -> str:
    try:
        text = signature.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and not NOT_XML_CHAR.search(text) and _base64_payload(text) is None:
        return text
    return base64.b64encode(signature).decode("ascii")


# --- base classes ----------------------------------------------------------------------------


class _Document:
    """A root the actes schema declares: XML bytes and lxml elements in both directions."""

    ROOT: ClassVar[str]

    def _write(self, el: etree._Element) -> None:
        raise NotImplementedError

    @classmethod
    def _read(cls, el: etree._Element) -> Self:
        raise NotImplementedError

    def to_element(self) -> etree._Element:
        """A new root element `actes:<ROOT>` with the namespace declarations."""
        root = _new_root(self.ROOT)
        self._write(root)
        return root

    def to_xml(self) -> bytes:
        """The document as the platform emits it: ISO-8859-1, indented."""
        return _serialize(self.to_element())

    @classmethod
    def from_element(cls, el: etree._Element) -> Self:
        name = _root_name(el)
        if name != cls.ROOT:
            raise ProtocolError(
                f"expected root actes:{cls.ROOT}, got actes:{name}",
                f"racine actes:{cls.ROOT} attendue, reçu actes:{name}",
                code=UNKNOWN_ROOT, field=name,
            )
        try:
            return cls._read(el)
        except ProtocolError:
            raise
        except Exception as exc:  # a guarantee to callers, not an expected path
            raise _invalid(cls.ROOT, f"actes:{cls.ROOT}: unreadable: {exc!r}",
                           f"actes:{cls.ROOT} : illisible : {exc!r}") from exc

    @classmethod
    def from_xml(cls, data: bytes) -> Self:
        """Parse untrusted bytes (ISO-8859-1 or UTF-8); every failure is a ProtocolError."""
        return cls.from_element(_parse_bytes(data))


class _MessageMetier(_Document):
    @property
    def message_type(self) -> MessageType:
        """The codes.MessageType (code "T-S", root, sender) of this message."""
        return MESSAGE_TYPE_BY_ROOT[self.ROOT]


# --- parts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FichierSigne:
    """A file reference (`NomFichier`) with its optional detached signature payload."""

    nom_fichier: str
    signature: bytes | None = None

    def _write(self, el: etree._Element) -> None:
        _sub(el, "NomFichier", self.nom_fichier)
        if self.signature is not None:
            _sub(el, "Signature", _signature_text(self.signature))

    @classmethod
    def _read(cls, el: etree._Element) -> FichierSigne:
        children = _Children(el)
        nom = _text(children.required("NomFichier"))
        sig = children.optional("Signature")
        children.end()
        return cls(nom, None if sig is None else _read_signature(sig))


def _write_files(parent: etree._Element, name: str, files: tuple[FichierSigne, ...]) -> None:
    for f in files:
        f._write(_sub(parent, name))


def _read_files(children: _Children, name: str, *, at_least: int = 0) -> tuple[FichierSigne, ...]:
    return tuple(FichierSigne._read(el) for el in children.many(name, at_least=at_least))


@dataclass(frozen=True)
class Referent:
    """Contact person of an envelope's sender; each part optional."""

    nom: str | None = None
    telephone: str | None = None
    email: str | None = None

    def _write(self, el: etree._Element) -> None:
        for name, value in (("Nom", self.nom), ("Telephone", self.telephone),
                            ("Email", self.email)):
            if value is not None:
                _sub(el, name, value)

    @classmethod
    def _read(cls, el: etree._Element) -> Referent:
        children = _Children(el)
        nom = _optional_text(children, "Nom")
        telephone = _optional_text(children, "Telephone")
        email = _optional_text(children, "Email")
        children.end()
        return cls(nom, telephone, email)


@dataclass(frozen=True)
class IDCL:
    """The sending collectivité: SIREN, département, arrondissement, nature (2 digits)."""

    siren: str
    departement: str
    arrondissement: int
    nature: str

    ELEMENT: ClassVar[str] = "IDCL"

    def _write(self, el: etree._Element) -> None:
        _set(el, "SIREN", self.siren, qname=_SIREN_ATTR)
        _set(el, "Departement", self.departement)
        _set(el, "Arrondissement", str(self.arrondissement))
        _set(el, "Nature", self.nature)

    @classmethod
    def _read(cls, el: etree._Element) -> IDCL:
        _no_children(el)
        return cls(
            siren=_attr(el, "SIREN", qname=_SIREN_ATTR),
            departement=_attr(el, "Departement"),
            arrondissement=_parse_int(_attr(el, "Arrondissement"), "Arrondissement"),
            nature=_parse_digits(_attr(el, "Nature"), "Nature"),
        )


@dataclass(frozen=True)
class IDPref:
    """A préfecture, by département."""

    departement: str

    ELEMENT: ClassVar[str] = "IDPref"

    def _write(self, el: etree._Element) -> None:
        _set(el, "Departement", self.departement)

    @classmethod
    def _read(cls, el: etree._Element) -> Self:
        _no_children(el)
        return cls(_attr(el, "Departement"))


@dataclass(frozen=True)
class IDSGAR(IDPref):
    """A SGAR (regional secretariat), by département."""

    ELEMENT: ClassVar[str] = "IDSGAR"


@dataclass(frozen=True)
class IDSousPref:
    """A sous-préfecture, by département and arrondissement."""

    departement: str
    arrondissement: int

    ELEMENT: ClassVar[str] = "IDSousPref"

    def _write(self, el: etree._Element) -> None:
        _set(el, "Departement", self.departement)
        _set(el, "Arrondissement", str(self.arrondissement))

    @classmethod
    def _read(cls, el: etree._Element) -> IDSousPref:
        _no_children(el)
        return cls(
            _attr(el, "Departement"),
            _parse_int(_attr(el, "Arrondissement"), "Arrondissement"),
        )


EmetteurPrefecture = IDPref | IDSousPref | IDSGAR
_EMETTEURS_PREFECTURE: tuple[type[IDPref] | type[IDSousPref], ...] = (IDSGAR, IDPref, IDSousPref)


# --- envelopes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnveloppeCLMISILL(_Document):
    """Envelope collectivité → ministry: sender, return addresses, message files carried."""

    emetteur: IDCL
    adresses_retour: tuple[str, ...]
    formulaires: tuple[FichierSigne, ...]
    referent: Referent | None = None

    ROOT = "EnveloppeCLMISILL"

    def __post_init__(self) -> None:
        object.__setattr__(self, "adresses_retour", tuple(self.adresses_retour))
        object.__setattr__(self, "formulaires", tuple(self.formulaires))

    def _write(self, el: etree._Element) -> None:
        emetteur = _sub(el, "Emetteur")
        self.emetteur._write(_sub(emetteur, "IDCL"))
        if self.referent is not None:
            self.referent._write(_sub(emetteur, "Referent"))
        adresses = _sub(el, "AdressesRetour")
        for email in self.adresses_retour:
            _sub(adresses, "Email", email)
        _write_files(_sub(el, "FormulairesEnvoyes"), "Formulaire", self.formulaires)

    @classmethod
    def _read(cls, el: etree._Element) -> Self:
        children = _Children(el)
        emetteur = _Children(children.required("Emetteur"))
        idcl = IDCL._read(emetteur.required("IDCL"))
        referent_el = emetteur.optional("Referent")
        emetteur.end()
        adresses = _Children(children.required("AdressesRetour"))
        emails = tuple(_text(e) for e in adresses.many("Email", at_least=1))
        adresses.end()
        formulaires = _Children(children.required("FormulairesEnvoyes"))
        files = _read_files(formulaires, "Formulaire", at_least=1)
        formulaires.end()
        children.end()
        referent = None if referent_el is None else Referent._read(referent_el)
        return cls(idcl, emails, files, referent)


@dataclass(frozen=True)
class EnveloppeMISILLCL(_Document):
    """Envelope ministry → collectivité: sending préfecture, message files, recipient SIREN."""

    emetteur: IDPref | IDSousPref | IDSGAR
    formulaires: tuple[FichierSigne, ...]
    destinataire_siren: str
    referent: Referent | None = None

    ROOT = "EnveloppeMISILLCL"

    def __post_init__(self) -> None:
        object.__setattr__(self, "formulaires", tuple(self.formulaires))

    def _write(self, el: etree._Element) -> None:
        emetteur = _sub(el, "Emetteur")
        self.emetteur._write(_sub(emetteur, self.emetteur.ELEMENT))
        if self.referent is not None:
            self.referent._write(_sub(emetteur, "Referent"))
        _write_files(_sub(el, "FormulairesEnvoyes"), "Formulaire", self.formulaires)
        _set(_sub(el, "Destinataire"), "SIREN", self.destinataire_siren, qname=_SIREN_ATTR)

    @classmethod
    def _read(cls, el: etree._Element) -> Self:
        children = _Children(el)
        emetteur_children = _Children(children.required("Emetteur"))
        emetteur: IDPref | IDSousPref | None = None
        for kind in _EMETTEURS_PREFECTURE:
            found = emetteur_children.optional(kind.ELEMENT)
            if found is not None:
                emetteur = kind._read(found)
                break
        if emetteur is None:
            raise _missing("IDPref", "Emetteur")
        referent_el = emetteur_children.optional("Referent")
        emetteur_children.end()
        formulaires = _Children(children.required("FormulairesEnvoyes"))
        files = _read_files(formulaires, "Formulaire", at_least=1)
        formulaires.end()
        destinataire = children.required("Destinataire")
        _no_children(destinataire)
        siren = _attr(destinataire, "SIREN", qname=_SIREN_ATTR)
        children.end()
        referent = None if referent_el is None else Referent._read(referent_el)
        return cls(emetteur, files, siren, referent)


@dataclass(frozen=True)
class AnomalieEnveloppe(_Document):
    """Rejection of a whole envelope, echoing it (`EnveloppeRecue`).

    `nature` keeps the digits as sent: the schema lists 001–005 and 100, the real platform
    also sends e.g. "5" and "999".
    """

    date: dt.date
    nature: str
    enveloppe_recue: EnveloppeCLMISILL
    detail: str | None = None

    ROOT = "AnomalieEnveloppe"

    def _write(self, el: etree._Element) -> None:
        _sub(el, "Date", self.date.isoformat())
        _sub(el, "Nature", self.nature)
        if self.detail is not None:
            _sub(el, "Detail", self.detail)
        self.enveloppe_recue._write(_sub(el, "EnveloppeRecue"))

    @classmethod
    def _read(cls, el: etree._Element) -> Self:
        children = _Children(el)
        date = _date_child(children, "Date")
        nature = _parse_digits(_text(children.required("Nature")), "Nature")
        detail = _optional_text(children, "Detail")
        recue = EnveloppeCLMISILL._read(children.required("EnveloppeRecue"))
        children.end()
        return cls(date, nature, recue, detail)


# --- transaction 1: acte ---------------------------------------------------------------------


@dataclass(frozen=True)
class Acte(_MessageMetier):
    """1-1: an act (type DonneesActe), also the `ActeRecu` echo of 1-2 and 1-3.

    `codes_matiere` holds CodeMatiere1…5 in order; a level absent between two present ones
    (the platform accepts 1, 2, 3, 5) is None. `nombre_annexes` is `Annexes/@Nombre` only
    when it differs from `len(annexes)`, else None. `document_papier` None means the element
    is absent (or xsi:nil); "" an empty element.
    """

    date: dt.date
    numero_interne: str
    nature: NatureActe
    codes_matiere: tuple[int | None, ...]
    objet: str
    classification_date_version: dt.date
    document: FichierSigne
    annexes: tuple[FichierSigne, ...] = ()
    document_papier: str | None = None
    precedent_id_acte: str | None = None
    nombre_annexes: int | None = None

    ROOT = "Acte"

    def __post_init__(self) -> None:
        if isinstance(self.nature, int) and not isinstance(self.nature, NatureActe):
            object.__setattr__(self, "nature", NatureActe(self.nature))
        codes = tuple(self.codes_matiere)
        while codes and codes[-1] is None:
            codes = codes[:-1]
        object.__setattr__(self, "codes_matiere", codes)
        object.__setattr__(self, "annexes", tuple(self.annexes))
        if self.nombre_annexes == len(self.annexes):
            object.__setattr__(self, "nombre_annexes", None)

    def _write(self, el: etree._Element) -> None:
        _set(el, "Date", self.date.isoformat())
        _set(el, "NumeroInterne", self.numero_interne)
        _set(el, "CodeNatureActe", str(int(self.nature)))
        for level, code in enumerate(self.codes_matiere, start=1):
            if code is not None:
                _sub(el, f"CodeMatiere{level}", CodeMatiere=str(code))
        _sub(el, "Objet", self.objet)
        if self.precedent_id_acte is not None:
            _sub(el, "PrecedentIdentifiantActe", IDActe=self.precedent_id_acte)
        _sub(el, "ClassificationDateVersion", self.classification_date_version.isoformat())
        self.document._write(_sub(el, "Document"))
        nombre = len(self.annexes) if self.nombre_annexes is None else self.nombre_annexes
        _write_files(_sub(el, "Annexes", Nombre=str(nombre)), "Annexe", self.annexes)
        if self.document_papier is not None:
            _sub(el, "DocumentPapier", self.document_papier)

    @classmethod
    def _read(cls, el: etree._Element) -> Self:
        date = _date_attr(el, "Date")
        numero = _attr(el, "NumeroInterne")
        nature = _parse_nature_acte(_attr(el, "CodeNatureActe"))
        children = _Children(el)
        codes: list[int | None] = []
        for level in range(1, 6):
            name = f"CodeMatiere{level}"
            code_el = children.required(name) if level <= 2 else children.optional(name)
            if code_el is None:
                codes.append(None)
                continue
            _no_children(code_el)
            codes.append(_parse_int(_attr(code_el, "CodeMatiere"), "CodeMatiere"))
        objet = _text(children.required("Objet"))
        precedent_el = children.optional("PrecedentIdentifiantActe")
        precedent = None
        if precedent_el is not None:
            _no_children(precedent_el)
            precedent = _attr(precedent_el, "IDActe")
        version = _date_child(children, "ClassificationDateVersion")
        document = FichierSigne._read(children.required("Document"))
        annexes_el = children.required("Annexes")
        nombre = _parse_int(_attr(annexes_el, "Nombre"), "Nombre")
        annexes_children = _Children(annexes_el)
        annexes = _read_files(annexes_children, "Annexe")
        annexes_children.end()
        papier_el = children.optional("DocumentPapier")
        papier = None
        if papier_el is not None and papier_el.get(_XSI_NIL, "").strip() not in ("true", "1"):
            papier = _text(papier_el)
        children.end()
        return cls(
            date=date, numero_interne=numero, nature=nature, codes_matiere=tuple(codes),
            objet=objet, classification_date_version=version, document=document,
            annexes=annexes, document_papier=papier, precedent_id_acte=precedent,
            nombre_annexes=nombre,
        )


@dataclass(frozen=True)
class ARActe(_MessageMetier):
    """1-2: acknowledgement of an act, giving its IDActe and the reception date."""

    id_acte: str
    date_reception: dt.date
    acte_recu: Acte
    classification_date_version_en_cours: dt.date

    ROOT = "ARActe"

    def _write(self, el: etree._Element) -> None:
        _set(el, "IDActe", self.id_acte)
        _set(el, "DateReception", self.date_reception.isoformat())
        self.acte_recu._write(_sub(el, "ActeRecu"))
        _sub(el, "ClassificationDateVersionEnCours",
             self.classification_date_version_en_cours.isoformat())

    @classmethod
    def _read(cls, el: etree._Element) -> Self:
        id_acte = _attr(el, "IDActe")
        reception = _date_attr(el, "DateReception")
        children = _Children(el)
        acte = Acte._read(children.required("ActeRecu"))
        en_cours = _date_child(children, "ClassificationDateVersionEnCours")
        children.end()
        return cls(id_acte, reception, acte, en_cours)


@dataclass(frozen=True)
class AnomalieActe(_MessageMetier):
    """1-3: refusal of an act. `nature` is the 3-digit code (an AnomalieNature when known)."""

    date: dt.date
    nature: AnomalieNature | str
    acte_recu: Acte
    classification_date_version_en_cours: dt.date
    detail: str | None = None

    ROOT = "AnomalieActe"

    def _write(self, el: etree._Element) -> None:
        _sub(el, "Date", self.date.isoformat())
        _sub(el, "Nature", str(getattr(self.nature, "value", self.nature)))
        if self.detail is not None:
            _sub(el, "Detail", self.detail)
        self.acte_recu._write(_sub(el, "ActeRecu"))
        _sub(el, "ClassificationDateVersionEnCours",
             self.classification_date_version_en_cours.isoformat())

    @classmethod
    def _read(cls, el: etree._Element) -> Self:
        children = _Children(el)
        date = _date_child(children, "Date")
        code = _parse_digits(_text(children.required("Nature")), "Nature")
        nature: AnomalieNature | str
        try:
            nature = AnomalieNature(code)
        except ValueError:
            nature = code
        detail = _optional_text(children, "Detail")
        acte = Acte._read(children.required("ActeRecu"))
        en_cours = _date_child(children, "ClassificationDateVersionEnCours")
        children.end()
        return cls(date, nature, acte, en_cours, detail)


# --- transactions 2, 3, 4: préfecture letters and answers ------------------------------------


def _write_courrier(el: etree._Element, id_acte: str, date_courrier_pref: dt.date) -> None:
    _set(el, "IDActe", id_acte)
    _set(el, "DateCourrierPref", date_courrier_pref.isoformat())


def _read_courrier(el: etree._Element) -> tuple[str, dt.date]:
    return _attr(el, "IDActe"), _date_attr(el, "DateCourrierPref")


@dataclass(frozen=True)
class _CourrierAvecDocument(_MessageMetier):
    id_acte: str
    date_courrier_pref: dt.date
    document: FichierSigne

    def _write(self, el: etree._Element) -> None:
        _write_courrier(el, self.id_acte, self.date_courrier_pref)
        self.document._write(_sub(el, "Document"))

    @classmethod
    def _read(cls, el: etree._Element) -> Self:
        id_acte, date = _read_courrier(el)
        children = _Children(el)
        document = FichierSigne._read(children.required("Document"))
        children.end()
        return cls(id_acte, date, document)


class _CourrierAvecTexte(_MessageMetier):
    """A préfecture letter with a text before its document (3-1 DescriptionPieces, 4-1 Motif).

    Subclasses are dataclasses whose fields are (id_acte, date_courrier_pref, text, document).
    """

    TEXTE: ClassVar[str]
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]  # set on each subclass

    if TYPE_CHECKING:  # the dataclass __init__ every subclass gets
        def __init__(self, id_acte: str, date_courrier_pref: dt.date, texte: str,
                     document: FichierSigne, /) -> None: ...

    def _write(self, el: etree._Element) -> None:
        id_acte, date, texte, document = (getattr(self, f.name) for f in dataclasses.fields(self))
        _write_courrier(el, id_acte, date)
        _sub(el, self.TEXTE, texte)
        document._write(_sub(el, "Document"))

    @classmethod
    def _read(cls, el: etree._Element) -> Self:
        id_acte, date = _read_courrier(el)
        children = _Children(el)
        texte = _text(children.required(cls.TEXTE))
        document = FichierSigne._read(children.required("Document"))
        children.end()
        return cls(id_acte, date, texte, document)


@dataclass(frozen=True)
class _AccuseCourrier(_MessageMetier):
    id_acte: str
    date_courrier_pref: dt.date

    def _write(self, el: etree._Element) -> None:
        _write_courrier(el, self.id_acte, self.date_courrier_pref)

    @classmethod
    def _read(cls, el: etree._Element) -> Self:
        _no_children(el)
        return cls(*_read_courrier(el))


@dataclass(frozen=True)
class _ARReponseCL(_MessageMetier):
    """Type ARReponseCL: `InfosCourrierPref` (IDActe, DateCourrierPref) + `@DateReception`."""

    id_acte: str
    date_courrier_pref: dt.date
    date_reception: dt.date

    def _write(self, el: etree._Element) -> None:
        _set(el, "DateReception", self.date_reception.isoformat())
        _write_courrier(_sub(el, "InfosCourrierPref"), self.id_acte, self.date_courrier_pref)

    @classmethod
    def _read(cls, el: etree._Element) -> Self:
        reception = _date_attr(el, "DateReception")
        children = _Children(el)
        infos = children.required("InfosCourrierPref")
        children.end()
        _no_children(infos)
        id_acte, date = _read_courrier(infos)
        return cls(id_acte, date, reception)


@dataclass(frozen=True)
class CourrierSimple(_CourrierAvecDocument):
    """2-1: a simple letter from the préfecture about an act."""

    ROOT = "CourrierSimple"


@dataclass(frozen=True)
class ReponseCourrierSimple(_CourrierAvecDocument):
    """2-2: the collectivité's answer to a simple letter."""

    ROOT = "ReponseCourrierSimple"


@dataclass(frozen=True)
class DemandePieceComplementaire(_CourrierAvecTexte):
    """3-1: the préfecture asks for further documents (`DescriptionPieces`)."""

    id_acte: str
    date_courrier_pref: dt.date
    description_pieces: str
    document: FichierSigne

    ROOT = "DemandePieceComplementaire"
    TEXTE = "DescriptionPieces"


@dataclass(frozen=True)
class ARDemandePieceComplementaire(_AccuseCourrier):
    """3-2: acknowledgement of 3-1, sent automatically by the TdT."""

    ROOT = "ARDemandePieceComplementaire"


@dataclass(frozen=True)
class RefusPieceComplementaire(_CourrierAvecDocument):
    """3-3: explicit refusal to send the documents asked for."""

    ROOT = "RefusPieceComplementaire"


@dataclass(frozen=True)
class PieceComplementaire(_MessageMetier):
    """3-4: the documents asked for (`Documents`, one or more)."""

    id_acte: str
    date_courrier_pref: dt.date
    documents: tuple[FichierSigne, ...]

    ROOT = "PieceComplementaire"

    def __post_init__(self) -> None:
        object.__setattr__(self, "documents", tuple(self.documents))

    def _write(self, el: etree._Element) -> None:
        _write_courrier(el, self.id_acte, self.date_courrier_pref)
        _write_files(_sub(el, "Documents"), "Document", self.documents)

    @classmethod
    def _read(cls, el: etree._Element) -> Self:
        id_acte, date = _read_courrier(el)
        children = _Children(el)
        documents_children = _Children(children.required("Documents"))
        documents = _read_files(documents_children, "Document", at_least=1)
        documents_children.end()
        children.end()
        return cls(id_acte, date, documents)


@dataclass(frozen=True)
class ARPieceComplementaire(_ARReponseCL):
    """3-5: acknowledgement of 3-3 or 3-4."""

    ROOT = "ARPieceComplementaire"


@dataclass(frozen=True)
class LettreObservations(_CourrierAvecTexte):
    """4-1: letter of observations (`Motif`) from the préfecture."""

    id_acte: str
    date_courrier_pref: dt.date
    motif: str
    document: FichierSigne

    ROOT = "LettreObservations"
    TEXTE = "Motif"


@dataclass(frozen=True)
class ARLettreObservations(_AccuseCourrier):
    """4-2: acknowledgement of 4-1, sent automatically by the TdT."""

    ROOT = "ARLettreObservations"


@dataclass(frozen=True)
class RejetLettreObservations(_CourrierAvecDocument):
    """4-3: explicit refusal to answer a letter of observations."""

    ROOT = "RejetLettreObservations"


@dataclass(frozen=True)
class ReponseLettreObservations(_CourrierAvecDocument):
    """4-4: answer to a letter of observations."""

    ROOT = "ReponseLettreObservations"


@dataclass(frozen=True)
class ARReponseRejetLettreObservations(_ARReponseCL):
    """4-5: acknowledgement of 4-3 or 4-4."""

    ROOT = "ARReponseRejetLettreObservations"


# --- transaction 5: déféré -------------------------------------------------------------------


@dataclass(frozen=True)
class DefereTA(_MessageMetier):
    """5-1: the act is referred to the administrative court (no AR, no answer)."""

    id_acte: str
    date_depot: dt.date
    nature_illegalite: str
    pieces_jointes: tuple[FichierSigne, ...] = ()

    ROOT = "DefereTA"

    def __post_init__(self) -> None:
        object.__setattr__(self, "pieces_jointes", tuple(self.pieces_jointes))

    def _write(self, el: etree._Element) -> None:
        _set(el, "IDActe", self.id_acte)
        _sub(el, "DateDepot", self.date_depot.isoformat())
        _sub(el, "NatureIllegalite", self.nature_illegalite)
        _write_files(_sub(el, "PiecesJointes"), "PieceJointe", self.pieces_jointes)

    @classmethod
    def _read(cls, el: etree._Element) -> Self:
        id_acte = _attr(el, "IDActe")
        children = _Children(el)
        depot = _date_child(children, "DateDepot")
        nature = _text(children.required("NatureIllegalite"))
        pieces_children = _Children(children.required("PiecesJointes"))
        pieces = _read_files(pieces_children, "PieceJointe")
        pieces_children.end()
        children.end()
        return cls(id_acte, depot, nature, pieces)


# --- transaction 6: annulation ---------------------------------------------------------------


@dataclass(frozen=True)
class Annulation(_MessageMetier):
    """6-1: cancellation of an acknowledged act."""

    id_acte: str

    ROOT = "Annulation"

    def _write(self, el: etree._Element) -> None:
        _set(el, "IDActe", self.id_acte)

    @classmethod
    def _read(cls, el: etree._Element) -> Self:
        _no_children(el)
        return cls(_attr(el, "IDActe"))


@dataclass(frozen=True)
class ARAnnulation(_MessageMetier):
    """6-2: acknowledgement of a cancellation."""

    id_acte: str
    date_reception: dt.date

    ROOT = "ARAnnulation"

    def _write(self, el: etree._Element) -> None:
        _set(el, "IDActe", self.id_acte)
        _set(el, "DateReception", self.date_reception.isoformat())

    @classmethod
    def _read(cls, el: etree._Element) -> Self:
        _no_children(el)
        return cls(_attr(el, "IDActe"), _date_attr(el, "DateReception"))


# --- transaction 7: classification (7-2 lives in classification.py) --------------------------


@dataclass(frozen=True)
class DemandeClassification(_MessageMetier):
    """7-1: request for the current classification; the date of the one held, if any."""

    date_classification: dt.date | None = None

    ROOT = "DemandeClassification"

    def _write(self, el: etree._Element) -> None:
        if self.date_classification is not None:
            _sub(el, "DateClassification", self.date_classification.isoformat())

    @classmethod
    def _read(cls, el: etree._Element) -> Self:
        children = _Children(el)
        date_el = children.optional("DateClassification")
        children.end()
        date = None if date_el is None else _parse_date(_text(date_el), "DateClassification")
        return cls(date)


@dataclass(frozen=True)
class ReponseClassificationSansChangement(_MessageMetier):
    """7-3: the classification held by the collectivité is the current one."""

    date_classification: dt.date

    ROOT = "ReponseClassificationSansChangement"

    def _write(self, el: etree._Element) -> None:
        _sub(el, "DateClassification", self.date_classification.isoformat())

    @classmethod
    def _read(cls, el: etree._Element) -> Self:
        children = _Children(el)
        date = _date_child(children, "DateClassification")
        children.end()
        return cls(date)


# --- dispatch --------------------------------------------------------------------------------

Message = (
    Acte | ARActe | AnomalieActe | CourrierSimple | ReponseCourrierSimple
    | DemandePieceComplementaire | ARDemandePieceComplementaire | RefusPieceComplementaire
    | PieceComplementaire | ARPieceComplementaire | LettreObservations | ARLettreObservations
    | RejetLettreObservations | ReponseLettreObservations | ARReponseRejetLettreObservations
    | DefereTA | Annulation | ARAnnulation | DemandeClassification
    | ReponseClassificationSansChangement
)
"""Every message métier of this module (7-2 is classification.Classification)."""

Envelope = EnveloppeCLMISILL | EnveloppeMISILLCL | AnomalieEnveloppe

MESSAGE_CLASSES: dict[str, type[Message]] = {
    cls.ROOT: cls
    for cls in (
        Acte, ARActe, AnomalieActe, CourrierSimple, ReponseCourrierSimple,
        DemandePieceComplementaire, ARDemandePieceComplementaire, RefusPieceComplementaire,
        PieceComplementaire, ARPieceComplementaire, LettreObservations, ARLettreObservations,
        RejetLettreObservations, ReponseLettreObservations, ARReponseRejetLettreObservations,
        DefereTA, Annulation, ARAnnulation, DemandeClassification,
        ReponseClassificationSansChangement,
    )
}
"""Root element name → class, for every message métier except 7-2 RetourClassification."""

ENVELOPE_CLASSES: dict[str, type[Envelope]] = {
    cls.ROOT: cls for cls in (EnveloppeCLMISILL, EnveloppeMISILLCL, AnomalieEnveloppe)
}

_CLASSIFICATION_ROOT = "RetourClassification"


def _classification_from_element(root: etree._Element) -> Classification:
    try:
        return Classification.from_element(root)
    except ProtocolError:
        raise
    except Exception as exc:  # keep the "ProtocolError only" promise of parse_message
        raise _invalid(_CLASSIFICATION_ROOT, f"actes:RetourClassification: unreadable: {exc!r}",
                       f"actes:RetourClassification : illisible : {exc!r}") from exc


def _unknown_root(name: str) -> NoReturn:
    raise ProtocolError(
        f"actes:{name} is not an @ctes message or envelope",
        f"actes:{name} n'est ni un message ni une enveloppe @ctes",
        code=UNKNOWN_ROOT, field=name,
    )


def parse_message(data: bytes) -> Message | Envelope | Classification:
    """Parse any @ctes message or envelope, chosen by its root element.

    Raises ProtocolError only: MESSAGE_UNKNOWN_ROOT for a root outside the actes namespace
    or unknown to it, MESSAGE_INVALID (with `field`) for missing or ill-typed parts, and
    the xmlsafe codes (XML_MALFORMED, XML_DTD_FORBIDDEN, …) for unreadable bytes.
    """
    return message_from_element(_parse_bytes(data))


def message_from_element(root: etree._Element) -> Message | Envelope | Classification:
    """Like parse_message, for a root element already parsed by xmlsafe."""
    name = _root_name(root)
    if name == _CLASSIFICATION_ROOT:
        return _classification_from_element(root)
    cls = MESSAGE_CLASSES.get(name) or ENVELOPE_CLASSES.get(name)
    if cls is None:
        _unknown_root(name)
    return cls.from_element(root)
