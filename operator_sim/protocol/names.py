"""@ctes names: IDActe, message/document file names, enveloppe names and archive names.

The one place that knows the naming rules: each name is a frozen dataclass that parses and
formats itself, and every refusal is an InvalidName naming the faulty field. Pure: no I/O.
A name that parses always formats back to exactly the same text.

Parsing first tries one regex for the whole name, built from the field regexes below; only a
name it does not match (or whose date is not a real day) is parsed field by field, which
either accepts it the same way or names the faulty field.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal, NoReturn, Self, TypeVar

from .codes import MESSAGE_TYPES, MessageType, NatureActe
from .errors import InvalidName

# --- Regexes of each part (the text must match the whole pattern) ------------------------------

DEPARTEMENT = r"[0-9]{3}|02[AB]"
"""Département: 3 characters, e.g. `034`, `974`, `02A`, `02B`."""
SIREN = r"[0-9]{9}"
DATE = r"[0-9]{4}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
"""YYYYMMDD; a name's date must also be a real calendar date (checked apart)."""
NUMACTE = r"[A-Za-z0-9_]{1,15}"
"""NumeroInterne as the XSD IDActe pattern admits it (lower case allowed)."""
NUMACTE_UPPER = r"[A-Z0-9_]{1,15}"
"""NumeroInterne under the strict profile: upper case only."""
NUMACTE_STRICT = r"(?:[A-Z0-9][A-Z0-9_]{0,13})?[A-Z0-9]"
"""S²LOW's stricter NumeroInterne rule (upper case, no leading/trailing `_`): a warning only."""
NATUREACTE = "|".join(n.abrege for n in NatureActe)
CODEMSG = "|".join(re.escape(code) for code in MESSAGE_TYPES)
NUMERO = r"0|[1-9][0-9]{0,3}"
"""Serial, 1–4 digits, written without leading zeros so that a name formats back unchanged."""
TYPOLOGIE = r"[A-Z0-9_]{5}"
"""Typology prefix of a document file name (CodeTypePJ), e.g. `99_DE`, `22_CO`."""
ITC = r"[A-Z]{3}"
"""Operator trigram heading an archive name, e.g. `SLO`."""
APPLI = r"[FQETD][A-Z]{3}"
"""Application quadrigram heading an enveloppe name, e.g. `EACT`, `TACT`."""
INFO_APPLI = r"[A-Za-z0-9_]*"
"""INFO_APPLI: always empty in every known sample; any `-`-free word is accepted."""
PREFECTURE = rf"PREF(?:{DEPARTEMENT})"
SOUS_PREFECTURE = rf"SPREF(?:{DEPARTEMENT})[0-9]"
SGAR = rf"SGAR(?:{DEPARTEMENT})"
SERVICE = rf"{PREFECTURE}|{SOUS_PREFECTURE}|{SGAR}"
"""Préfecture-side service id: `PREF034`, `SPREF0341` (dept + arrondissement), `SGAR075`."""

MESSAGE_EXTENSIONS: tuple[str, ...] = ("xml", "pdf", "png", "jpg", "jpeg")
ENVELOPPE_EXTENSION = "xml"
ARCHIVE_EXTENSION = "tar.gz"
ANOMALIE_PREFIX = "ANO_"
MAX_NUMERO = 9999

Direction = Literal["CL", "PREF"]


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(f"(?:{pattern})")


def _matches(pattern: str, value: str) -> bool:
    return _compiled(pattern).fullmatch(value) is not None


def ascii_digits(text: str) -> bool:
    """Non-empty and only 0-9. `str.isdigit` also says yes to "²" (which `int` refuses) and
    to "١" (which `int` reads as 1): numbers typed into the protocol's fields are ASCII."""
    return text.isascii() and text.isdigit()


def is_numero_interne(numero_interne: str) -> bool:
    """True when the NumeroInterne can be part of an IDActe (`[A-Za-z0-9_]{1,15}`)."""
    return _matches(NUMACTE, numero_interne)


def is_upper_numero_interne(numero_interne: str) -> bool:
    """True for `[A-Z0-9_]{1,15}`, the strict profile's NumeroInterne (S²LOW's upper case)."""
    return _matches(NUMACTE_UPPER, numero_interne)


DEPARTEMENTS: frozenset[str] = frozenset(
    [f"{n:03d}" for n in range(1, 96) if n != 20] + ["02A", "02B"]
    + [f"{n}" for n in range(971, 977)])
"""The real départements: 001–095 without 020 (Corsica is 02A and 02B), 971–976. The ministry
schema's pattern `[0|9]{1}[0-9]{1}[A|B|0-9]{1}` admits more (`099`, `01A`, `0|1`)."""


def is_departement(value: str) -> bool:
    """True for a real département code (`DEPARTEMENTS`)."""
    return value in DEPARTEMENTS


def is_strict_numero_interne(numero_interne: str) -> bool:
    """True when the NumeroInterne also passes S²LOW's upper-case rule (warning, not error)."""
    return _matches(NUMACTE_STRICT, numero_interne)


def is_service_id(value: str) -> bool:
    """True for a préfecture, sous-préfecture or SGAR id (`PREF034`, `SPREF0341`, `SGAR075`)."""
    return _matches(SERVICE, value)


# --- Field checks, shared by parse() and the constructors --------------------------------------

def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(field: str, message_en: str, message_fr: str, *, code: str | None = None) -> NoReturn:
    raise InvalidName(message_en, message_fr, field=field, code=code or f"NAME_{field.upper()}")


def _fail_structure(text: str, shape: str) -> NoReturn:
    _fail(
        "name",
        f"{_show(text)} does not have the shape {shape}",
        f"{_show(text)} n'a pas la forme {shape}",
        code="NAME_STRUCTURE",
    )


def _check(field: str, pattern: str, value: object, what_en: str, what_fr: str) -> None:
    if not isinstance(value, str) or not _matches(pattern, value):
        _fail(
            field,
            f"{field}: {_show(value)} is not {what_en}",
            f"{field} : {_show(value)} n'est pas {what_fr}",
        )


def _check_departement(value: object) -> None:
    _check("departement", DEPARTEMENT, value,
           "a département code (3 digits, or 02A/02B)",
           "un code de département (3 chiffres, ou 02A/02B)")


def _check_siren(value: object, field: str = "siren") -> None:
    _check(field, SIREN, value, "a SIREN (9 digits)", "un SIREN (9 chiffres)")


def _check_numero_interne(value: object) -> None:
    _check("numero_interne", NUMACTE, value,
           "an act number (1 to 15 letters, digits or _)",
           "un numéro d'acte (1 à 15 lettres, chiffres ou _)")


def _check_date(value: object) -> None:
    if type(value) is not date:
        _fail("date", f"date: {_show(value)} is not a datetime.date",
              f"date : {_show(value)} n'est pas une datetime.date")


def _check_nature(value: object) -> None:
    if not isinstance(value, NatureActe):
        _fail("nature", f"nature: {_show(value)} is not a NatureActe",
              f"nature : {_show(value)} n'est pas une NatureActe")


def _check_numero(value: object) -> None:
    if type(value) is not int or not 0 <= value <= MAX_NUMERO:
        _fail("numero", f"numero: {_show(value)} is not a serial between 0 and {MAX_NUMERO}",
              f"numero : {_show(value)} n'est pas un numéro d'ordre entre 0 et {MAX_NUMERO}")


def _format_date(value: date) -> str:
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def _parse_date(text: str) -> date:
    if not _matches(DATE, text):
        _fail("date", f"date: {_show(text)} is not a YYYYMMDD date",
              f"date : {_show(text)} n'est pas une date AAAAMMJJ")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        _fail("date", f"date: {_show(text)} is not a real calendar date",
              f"date : {_show(text)} n'est pas une date du calendrier")


def _parse_nature(text: str) -> NatureActe:
    if not _matches(NATUREACTE, text):
        _fail("nature", f"nature: {_show(text)} is not one of {NATUREACTE.replace('|', ', ')}",
              f"nature : {_show(text)} n'est pas l'une de {NATUREACTE.replace('|', ', ')}")
    return NatureActe.from_abrege(text)


def _parse_numero(text: str) -> int:
    if not _matches(NUMERO, text):
        _fail("numero",
              f"numero: {_show(text)} is not a serial of 1 to 4 digits without leading zeros",
              f"numero : {_show(text)} n'est pas un numéro d'ordre de 1 à 4 chiffres "
              "sans zéro initial")
    return int(text)


def _require_str(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"a name is parsed from str, not {type(text).__name__}")
    return text


def _real_date(text: str) -> date | None:
    """The day a DATE-shaped text names, or None when there is no such day (20230230)."""
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


_T = TypeVar("_T")


def _checked(cls: type[_T], *values: object) -> _T:
    """An instance from values a whole-name regex already checked: __post_init__ would only
    check them a second time."""
    name = object.__new__(cls)
    name.__dict__.update(zip(cls.__dataclass_fields__, values, strict=True))  # type: ignore[attr-defined]
    return name


# --- IDActe ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class IDActe:
    """Unique act identifier `DPT-SIREN-YYYYMMDD-NUMACTE-NA` (date = decision date)."""

    departement: str
    siren: str
    date: date
    numero_interne: str
    nature: NatureActe

    def __post_init__(self) -> None:
        _check_departement(self.departement)
        _check_siren(self.siren)
        _check_date(self.date)
        _check_numero_interne(self.numero_interne)
        _check_nature(self.nature)

    @classmethod
    def parse(cls, text: str) -> Self:
        """`034-491011698-20240115-DELIB2024_01-DE` → IDActe, or InvalidName."""
        parts = _require_str(text).split("-")
        if len(parts) < 5:
            _fail_structure(text, "DPT-SIREN-YYYYMMDD-NUMACTE-NA")
        departement, siren, day, *numero, nature = parts
        _check_departement(departement)
        _check_siren(siren)
        parsed_date = _parse_date(day)
        numero_interne = "-".join(numero)
        _check_numero_interne(numero_interne)
        return cls(departement, siren, parsed_date, numero_interne, _parse_nature(nature))

    def __str__(self) -> str:
        return (f"{self.departement}-{self.siren}-{_format_date(self.date)}-"
                f"{self.numero_interne}-{self.nature.abrege}")


# --- Message and document file names -----------------------------------------------------------

@dataclass(frozen=True)
class MessageFileName:
    """`[TYPO-]DPT-SIREN-DATE-NUMACTE-NA-T-S_N.ext`, a message XML or a document of a message.

    Date, act number and nature are all present or all None (classification requests
    `034-491011698----7-1_0.xml`, ministry anomalies `044-214400152----1-3_1.xml`).
    The serial N is the producer's: S²LOW uses `_0` for the message, `_1`, `_2`… for the
    documents, but STELA and the ministry number otherwise, so no role is inferred from it.
    """

    departement: str
    siren: str
    date: date | None
    numero_interne: str | None
    nature: NatureActe | None
    code: str
    numero: int
    extension: str
    typologie: str | None = None

    def __post_init__(self) -> None:
        if self.typologie is not None:
            _check_typologie(self.typologie)
        _check_departement(self.departement)
        _check_siren(self.siren)
        present = (self.date is not None, self.numero_interne is not None,
                   self.nature is not None)
        if any(present) and not all(present):
            missing = ("date", "numero_interne", "nature")[present.index(False)]
            _fail(missing,
                  f"{missing}: date, act number and nature are either all given or all empty",
                  f"{missing} : date, numéro et nature de l'acte sont tous présents ou tous vides")
        if all(present):
            _check_date(self.date)
            _check_numero_interne(self.numero_interne)
            _check_nature(self.nature)
        _check_code_message(self.code)
        _check_numero(self.numero)
        _check_extension(self.extension, MESSAGE_EXTENSIONS)

    @classmethod
    def parse(cls, text: str) -> Self:
        """`045-214502494-20170717-D201717-DE-1-1_0.xml` → MessageFileName, or InvalidName."""
        match = _MESSAGE_FILE_NAME.fullmatch(_require_str(text))
        if match is not None:
            typologie, departement, siren, day, numero_interne, nature, code, numero, extension = \
                match.groups()
            parsed_date = _real_date(day) if day else None
            if parsed_date is not None or not day:
                return _checked(cls, departement, siren, parsed_date, numero_interne,
                                nature and NatureActe[nature], code, int(numero), extension,
                                typologie)
        return cls._parse_fields(text)

    @classmethod
    def _parse_fields(cls, text: str) -> Self:
        shape = "[TYPO-]DPT-SIREN-YYYYMMDD-NUMACTE-NA-T-S_N.ext"
        stem, dot, extension = text.rpartition(".")
        if not dot:
            _fail("extension", f"{_show(text)} has no extension",
                  f"{_show(text)} n'a pas d'extension")
        parts = stem.split("-")
        # A typology prefix has 5 characters, a département 3: the first part tells which.
        typologie = parts.pop(0) if len(parts[0]) == 5 else None
        if len(parts) < 7:
            _fail_structure(text, shape)
        departement, siren, day, *numero, nature, transaction, last = parts
        if typologie is not None:
            _check_typologie(typologie)
        _check_departement(departement)
        _check_siren(siren)
        numero_interne = "-".join(numero)
        acte_fields = (day, numero_interne, nature)
        if any(acte_fields) and not all(acte_fields):
            missing = ("date", "numero_interne", "nature")[acte_fields.index("")]
            _fail(missing,
                  f"{missing}: empty while the other act fields are given",
                  f"{missing} : vide alors que les autres champs de l'acte sont présents")
        parsed_date = parsed_nature = None
        if all(acte_fields):
            parsed_date = _parse_date(day)
            _check_numero_interne(numero_interne)
            parsed_nature = _parse_nature(nature)
        sous_type, underscore, serial = last.partition("_")
        code = f"{transaction}-{sous_type}"
        _check_code_message(code)
        if not underscore:
            _fail("numero", f"{_show(text)} has no _N serial after the message code",
                  f"{_show(text)} n'a pas de numéro _N après le code du message")
        parsed_numero = _parse_numero(serial)
        _check_extension(extension, MESSAGE_EXTENSIONS)
        return cls(departement, siren, parsed_date, numero_interne or None, parsed_nature,
                   code, parsed_numero, extension, typologie)

    def __str__(self) -> str:
        prefix = f"{self.typologie}-" if self.typologie is not None else ""
        if self.date is None or self.nature is None:
            acte = "--"
        else:
            acte = f"{_format_date(self.date)}-{self.numero_interne}-{self.nature.abrege}"
        transaction, sous_type = self.code.split("-")
        return (f"{prefix}{self.departement}-{self.siren}-{acte}-{transaction}-{sous_type}_"
                f"{self.numero}.{self.extension}")

    @property
    def id_acte(self) -> IDActe | None:
        """The IDActe built from the name's fields, or None when they are empty."""
        if self.date is None or self.numero_interne is None or self.nature is None:
            return None
        return IDActe(self.departement, self.siren, self.date, self.numero_interne, self.nature)

    @property
    def message_type(self) -> MessageType:
        return MESSAGE_TYPES[self.code]


def _check_typologie(value: object) -> None:
    _check("typologie", TYPOLOGIE, value,
           "a typology code (5 upper-case letters, digits or _)",
           "un code de typologie (5 majuscules, chiffres ou _)")


def _check_code_message(value: object) -> None:
    if not isinstance(value, str) or value not in MESSAGE_TYPES:
        _fail("code_message", f"code_message: {_show(value)} is not an @ctes message code",
              f"code_message : {_show(value)} n'est pas un code de message @ctes")


def _check_extension(value: object, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        _fail("extension",
              f"extension: {_show(value)} is not one of {', '.join(allowed)}",
              f"extension : {_show(value)} n'est pas l'une de {', '.join(allowed)}")


# --- Enveloppe names ---------------------------------------------------------------------------

@dataclass(frozen=True)
class EnveloppeName:
    """`[ANO_]APPLI-INFO_APPLI-EMETTEUR-DESTINATAIRE-YYYYMMDD-N.xml`.

    Two forms exist: collectivité → préfecture `EACT--491011698--20240115-1.xml` (emetteur
    = SIREN, destinataire empty) and préfecture → collectivité
    `EACT--SPREF0341-491011698-20240115-3.xml` (emetteur = service id, destinataire = SIREN).
    `ANO_` marks an envelope anomaly; it echoes either form.
    """

    appli: str
    info_appli: str
    emetteur: str
    destinataire: str
    date: date
    numero: int
    anomalie: bool = False

    def __post_init__(self) -> None:
        _check_appli(self.appli)
        _check("info_appli", INFO_APPLI, self.info_appli,
               "an INFO_APPLI word (letters, digits or _)",
               "un mot INFO_APPLI (lettres, chiffres ou _)")
        _check_correspondents(self.emetteur, self.destinataire)
        _check_date(self.date)
        _check_numero(self.numero)
        if type(self.anomalie) is not bool:
            _fail("anomalie", f"anomalie: {_show(self.anomalie)} is not a bool",
                  f"anomalie : {_show(self.anomalie)} n'est pas un booléen")

    @classmethod
    def from_collectivite(cls, siren: str, date: dt.date, numero: int,
                          appli: str = "EACT") -> Self:
        """Collectivité → préfecture: `EACT--<SIREN>--<YYYYMMDD>-<N>.xml`."""
        return cls(appli, "", siren, "", date, numero)

    @classmethod
    def from_service(cls, service: str, siren: str, date: dt.date, numero: int,
                     appli: str = "EACT") -> Self:
        """Préfecture → collectivité: `EACT--<SERVICE>-<SIREN>-<YYYYMMDD>-<N>.xml`."""
        return cls(appli, "", service, siren, date, numero)

    @classmethod
    def parse(cls, text: str) -> Self:
        """`EACT--491011698--20240115-1.xml` → EnveloppeName, or InvalidName."""
        match = _ENVELOPPE_NAME.fullmatch(_require_str(text))
        if match is not None:
            name = cls._from_match(match, 2, anomalie=match.group(1) is not None)
            if name is not None:
                return name
        return cls._parse_fields(text)

    @classmethod
    def _parse_fields(cls, text: str) -> Self:
        return cls._parse_stem(text, _strip_extension(text, ENVELOPPE_EXTENSION))

    @classmethod
    def _from_match(cls, match: re.Match[str], first: int, *, anomalie: bool) -> Self | None:
        """The name whose _ENVELOPPE_STEM groups start at `first`; None if its date is no day."""
        appli, info_appli, siren, service, destinataire, day, numero = \
            match.group(*range(first, first + 7))
        parsed_date = _real_date(day)
        if parsed_date is None:
            return None
        if siren is not None:
            return _checked(cls, appli, info_appli, siren, "", parsed_date, int(numero), anomalie)
        return _checked(cls, appli, info_appli, service, destinataire, parsed_date, int(numero),
                        anomalie)

    @classmethod
    def _parse_stem(cls, text: str, stem: str) -> Self:
        anomalie = stem.startswith(ANOMALIE_PREFIX)
        if anomalie:
            stem = stem[len(ANOMALIE_PREFIX):]
        parts = stem.split("-")
        if len(parts) != 6:
            _fail_structure(text, "[ANO_]APPLI-INFO_APPLI-EMETTEUR-DESTINATAIRE-YYYYMMDD-N.xml")
        appli, info_appli, emetteur, destinataire, day, numero = parts
        _check_appli(appli)
        _check("info_appli", INFO_APPLI, info_appli,
               "an INFO_APPLI word (letters, digits or _)",
               "un mot INFO_APPLI (lettres, chiffres ou _)")
        _check_correspondents(emetteur, destinataire)
        return cls(appli, info_appli, emetteur, destinataire, _parse_date(day),
                   _parse_numero(numero), anomalie)

    def __str__(self) -> str:
        return f"{self.stem}.{ENVELOPPE_EXTENSION}"

    @property
    def stem(self) -> str:
        """The name without `.xml` (still with `ANO_` for an anomaly)."""
        prefix = ANOMALIE_PREFIX if self.anomalie else ""
        return (f"{prefix}{self.appli}-{self.info_appli}-{self.emetteur}-{self.destinataire}-"
                f"{_format_date(self.date)}-{self.numero}")

    @property
    def direction(self) -> Direction:
        """Form of the name: "CL" (emetteur is the SIREN) or "PREF" (emetteur is a service).

        An `ANO_` name echoing a collectivité envelope has direction "CL" although the
        ministry sends it: the direction describes the envelope the name is about.
        """
        return "PREF" if self.destinataire else "CL"

    @property
    def siren(self) -> str:
        """The collectivité's SIREN, whichever side it sits on."""
        return self.destinataire if self.destinataire else self.emetteur


def _check_appli(value: object) -> None:
    _check("appli", APPLI, value,
           "an application quadrigram ([FQETD] + 3 upper-case letters, e.g. EACT)",
           "un quadrigramme d'application ([FQETD] + 3 majuscules, ex. EACT)")


def _check_correspondents(emetteur: object, destinataire: object) -> None:
    if isinstance(emetteur, str) and _matches(SIREN, emetteur):
        if destinataire != "":
            _fail("destinataire",
                  f"destinataire: must be empty when the emetteur is a SIREN, "
                  f"not {_show(destinataire)}",
                  f"destinataire : doit être vide quand l'émetteur est un SIREN, "
                  f"pas {_show(destinataire)}")
    elif isinstance(emetteur, str) and is_service_id(emetteur):
        _check_siren(destinataire, field="destinataire")
    else:
        _fail("emetteur",
              f"emetteur: {_show(emetteur)} is neither a SIREN nor a préfecture service id "
              "(PREFddd, SPREFddda, SGARddd)",
              f"emetteur : {_show(emetteur)} n'est ni un SIREN ni un identifiant de service "
              "préfectoral (PREFddd, SPREFddda, SGARddd)")


def _strip_extension(text: str, extension: str) -> str:
    suffix = f".{extension}"
    if not text.endswith(suffix):
        found = text.partition(".")[2] if "." in text else ""
        _fail("extension", f"extension: {_show(found)} instead of {suffix}",
              f"extension : {_show(found)} au lieu de {suffix}")
    return text[: -len(suffix)]


# --- Archive names -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ArchiveName:
    """`ITC-<enveloppe name without .xml>.tar.gz`, e.g. `SLO-EACT--214502494--20170717-5.tar.gz`."""

    itc: str
    enveloppe: EnveloppeName

    def __post_init__(self) -> None:
        _check("itc", ITC, self.itc, "an operator trigram (3 upper-case letters)",
               "un trigramme d'opérateur (3 majuscules)")
        if not isinstance(self.enveloppe, EnveloppeName) or self.enveloppe.anomalie:
            _fail("enveloppe",
                  f"enveloppe: {_show(self.enveloppe)} is not a (non-anomaly) EnveloppeName",
                  f"enveloppe : {_show(self.enveloppe)} n'est pas un EnveloppeName "
                  "(hors anomalie)")

    @classmethod
    def parse(cls, text: str) -> Self:
        """`SLO-EACT--214502494--20170717-5.tar.gz` → ArchiveName, or InvalidName."""
        match = _ARCHIVE_NAME.fullmatch(_require_str(text))
        if match is not None:
            enveloppe = EnveloppeName._from_match(match, 2, anomalie=False)
            if enveloppe is not None:
                return _checked(cls, match.group(1), enveloppe)
        return cls._parse_fields(text)

    @classmethod
    def _parse_fields(cls, text: str) -> Self:
        stem = _strip_extension(text, ARCHIVE_EXTENSION)
        itc, dash, rest = stem.partition("-")
        if not dash:
            _fail_structure(text, "ITC-APPLI-INFO_APPLI-EMETTEUR-DESTINATAIRE-YYYYMMDD-N.tar.gz")
        _check("itc", ITC, itc, "an operator trigram (3 upper-case letters)",
               "un trigramme d'opérateur (3 majuscules)")
        if rest.startswith(ANOMALIE_PREFIX):
            _fail("appli", "appli: an archive never carries an ANO_ enveloppe",
                  "appli : une archive ne contient jamais d'enveloppe ANO_")
        return cls(itc, EnveloppeName._parse_stem(text, rest))

    def __str__(self) -> str:
        return f"{self.itc}-{self.enveloppe.stem}.{ARCHIVE_EXTENSION}"

    @functools.cached_property
    def enveloppe_file(self) -> str:
        """Name the enveloppe XML must have inside the archive (no ITC-, `.xml`)."""
        return str(self.enveloppe)


# --- Whole-name regexes: the fast path of parse() ----------------------------------------------

_MESSAGE_FILE_NAME = re.compile(
    rf"(?:({TYPOLOGIE})-)?({DEPARTEMENT})-({SIREN})-(?:({DATE})-({NUMACTE})-({NATUREACTE})|--)-"
    rf"({CODEMSG})_({NUMERO})\.({'|'.join(MESSAGE_EXTENSIONS)})")
_ENVELOPPE_STEM = (rf"({APPLI})-({INFO_APPLI})-(?:({SIREN})-|({SERVICE})-({SIREN}))-({DATE})-"
                   rf"({NUMERO})")
_ENVELOPPE_NAME = re.compile(
    rf"({re.escape(ANOMALIE_PREFIX)})?{_ENVELOPPE_STEM}\.{re.escape(ENVELOPPE_EXTENSION)}")
_ARCHIVE_NAME = re.compile(rf"({ITC})-{_ENVELOPPE_STEM}\.{re.escape(ARCHIVE_EXTENSION)}")
