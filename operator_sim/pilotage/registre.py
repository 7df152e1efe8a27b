"""Reading the référent's files: the collectivités of the département and paper deposits (CSV).

Pure: text and the known rows in, rows to store or refused lines out. A file with any refused
line stores nothing (the caller writes only a clean result), and every refusal names its line,
field and reason so the file can be fixed and sent again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from stdnum.fr import siren as stdnum_siren

from ..errors import Refusal
from ..protocol.codes import NatureActe
from ..protocol.names import is_departement
from ..store import Collectivite
from ..store.pilotage import Fiche, NewDepot

CATEGORIES: dict[str, str] = {
    "commune": "Commune",
    "epci_fp": "EPCI à fiscalité propre",
    "epci": "Autre EPCI ou syndicat",
    "departement": "Département",
    "region": "Région",
    "etablissement_public": "Établissement public",
}
"""The `nature` column's values (a label is accepted too, accents and case aside)."""
IDCL_NATURE = {"commune": "31", "epci_fp": "44", "epci": "41", "departement": "21",
               "region": "11", "etablissement_public": "24"}
"""IDCL/@Nature given to a collectivité first known from the file (one learnt from its
envelopes keeps its own)."""
COLONNES = ("siren", "nom", "nature", "population", "arrondissement", "contact_nom",
            "contact_email")
COLONNES_DEPOTS = ("date", "siren", "nature", "matiere", "nombre")
MAX_LIGNES = 100_000
MAX_NOM = 255
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MATIERE = re.compile(r"[1-9](?:\.[0-9]{1,2}){0,4}")


@dataclass(frozen=True)
class Refus:
    """One refused line: its number in the file (header = 1), the field and why."""

    ligne: int
    champ: str
    raison_fr: str
    raison_en: str

    def to_dict(self) -> dict[str, object]:
        return {"ligne": self.ligne, "champ": self.champ, "raison_fr": self.raison_fr,
                "raison_en": self.raison_en}


@dataclass
class Lecture:
    """What a file gave: the lines to store, or refusals (then nothing is stored)."""

    lignes: list = field(default_factory=list)
    refus: list[Refus] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refus


class FichierInvalide(Refusal, ValueError):
    """The file as a whole cannot be read (encoding, header)."""

    code = "FILE_INVALID"

    def __init__(self, fr: str, en: str) -> None:
        super().__init__(message_fr=fr, message_en=en)


def siren_valide(siren: str) -> bool:
    """Nine digits whose Luhn checksum holds (INSEE's rule)."""
    return bool(re.fullmatch(r"[0-9]{9}", siren)) and stdnum_siren.is_valid(siren)


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_CATEGORY_BY_TEXT = {**{k: k for k in CATEGORIES},
                     **{_plain(label): key for key, label in CATEGORIES.items()}}


def _rows(data: bytes | str, colonnes: tuple[str, ...]) -> Iterable[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV separated by ';' or ',', UTF-8 (BOM allowed)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise FichierInvalide("le fichier n'est pas en UTF-8",
                                  "the file is not UTF-8") from None
    data = data.lstrip("\ufeff")
    first = data.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(data), delimiter=";" if ";" in first else ",")
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise FichierInvalide("fichier vide", "empty file") from None
    missing = [c for c in colonnes if c not in header]
    if missing:
        raise FichierInvalide(f"colonnes manquantes : {', '.join(missing)} (attendues : "
                              f"{';'.join(colonnes)})",
                              f"missing columns: {', '.join(missing)} (expected: "
                              f"{';'.join(colonnes)})")
    try:
        for row in reader:
            if reader.line_num > MAX_LIGNES + 1:
                raise FichierInvalide(f"plus de {MAX_LIGNES} lignes",
                                      f"more than {MAX_LIGNES} lines")
            if not any(cell.strip() for cell in row):
                continue
            yield reader.line_num, {h: (row[i].strip() if i < len(row) else "")
                                    for i, h in enumerate(header)}
    except csv.Error as exc:
        raise FichierInvalide(f"CSV illisible ligne {reader.line_num} : {exc}",
                              f"unreadable CSV at line {reader.line_num}: {exc}") from None


def lire_collectivites(data: bytes | str, *, departement: str | None,
                       connues: Mapping[str, Collectivite]) -> Lecture:
    """The collectivités of a CSV with the `COLONNES`, each a (Collectivite, Fiche) pair.

    A collectivité already registered keeps its département and IDCL nature; a new one gets
    `departement` (required then) and the nature's IDCL code."""
    if departement is not None and not is_departement(departement):
        raise FichierInvalide(f"département {departement[:10]!r} inconnu (3 chiffres, 02A, 02B)",
                              f"unknown département {departement[:10]!r} (3 digits, 02A, 02B)")
    lecture = Lecture()
    seen: dict[str, int] = {}
    for number, row in _rows(data, COLONNES):
        def refuse(champ: str, fr: str, en: str, number: int = number) -> None:
            lecture.refus.append(Refus(number, champ, fr, en))

        siren = row["siren"].replace(" ", "")
        if not siren_valide(siren):
            refuse("siren", f"SIREN {siren[:20]!r} invalide (9 chiffres, clé de Luhn)",
                   f"invalid SIREN {siren[:20]!r} (9 digits, Luhn check digit)")
            continue
        if siren in seen:
            refuse("siren", f"SIREN en double (déjà ligne {seen[siren]})",
                   f"duplicate SIREN (already line {seen[siren]})")
            continue
        seen[siren] = number
        nom = row["nom"]
        if not nom or not nom.isprintable() or len(nom) > MAX_NOM:
            refuse("nom", f"texte imprimable de 1 à {MAX_NOM} caractères attendu",
                   f"printable text of 1 to {MAX_NOM} characters expected")
            continue
        categorie = _CATEGORY_BY_TEXT.get(_plain(row["nature"]))
        if categorie is None:
            refuse("nature", f"nature {row['nature'][:40]!r} inconnue ({', '.join(CATEGORIES)})",
                   f"unknown nature {row['nature'][:40]!r} ({', '.join(CATEGORIES)})")
            continue
        population: int | None = None
        if row["population"]:
            if not re.fullmatch(r"-?[0-9]{1,9}", row["population"]):
                refuse("population", "nombre entier attendu", "an integer is expected")
                continue
            population = int(row["population"])
            if population < 0:
                refuse("population", "population négative", "negative population")
                continue
        arrondissement = row["arrondissement"]
        if not re.fullmatch(r"[0-9]", arrondissement):
            refuse("arrondissement", "un chiffre de 0 à 9", "one digit, 0 to 9")
            continue
        email = row["contact_email"]
        if email and not EMAIL.fullmatch(email):
            refuse("contact_email", "adresse électronique invalide", "invalid e-mail address")
            continue
        contact = row["contact_nom"]
        if not contact.isprintable() or len(contact) > MAX_NOM:
            refuse("contact_nom", f"texte imprimable de {MAX_NOM} caractères au plus",
                   f"printable text of at most {MAX_NOM} characters")
            continue
        known = connues.get(siren)
        if known is None and departement is None:
            refuse("siren", "collectivité nouvelle : précisez le département de l'import",
                   "new collectivité: give the import's département")
            continue
        collectivite = Collectivite(
            siren, known.departement if known else departement,  # type: ignore[arg-type]
            arrondissement, known.nature if known else IDCL_NATURE[categorie], nom,
            known.profil if known else None)
        lecture.lignes.append((collectivite, Fiche(siren, categorie, population, contact, email)))
    return lecture


def lire_depot(values: Mapping[str, object], *, connus: Iterable[str], today: dt.date,
               ligne: int = 0) -> NewDepot | Refus:
    """One paper deposit (`date`, `siren`, `nature` as DE…AU or 1–6, `matiere`, `nombre`)."""
    def refus(champ: str, fr: str, en: str) -> Refus:
        return Refus(ligne, champ, fr, en)

    text = {k: str(values.get(k, "")).strip() for k in COLONNES_DEPOTS}
    unknown = sorted(set(values) - set(COLONNES_DEPOTS))
    if unknown:
        return refus(unknown[0], "champ inconnu", "unknown field")
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text["date"]):
            raise ValueError
        day = dt.date.fromisoformat(text["date"])
    except ValueError:
        return refus("date", "date AAAA-MM-JJ attendue", "YYYY-MM-DD date expected")
    if day > today:
        return refus("date", f"date future ({day.isoformat()} après {today.isoformat()})",
                     f"date in the future ({day.isoformat()} after {today.isoformat()})")
    siren = text["siren"]
    if siren not in set(connus):
        return refus("siren", f"SIREN {siren[:20]!r} inconnu (importez d'abord la collectivité)",
                     f"unknown SIREN {siren[:20]!r} (import the collectivité first)")
    nature_text = text["nature"].upper()
    if nature_text in NatureActe.__members__:
        nature = int(NatureActe[nature_text])
    elif re.fullmatch(r"[1-6]", nature_text):
        nature = int(nature_text)
    else:
        return refus("nature", "nature d'acte DE, AR, AI, CC, BF, AU (ou 1 à 6)",
                     "act nature DE, AR, AI, CC, BF, AU (or 1 to 6)")
    if not MATIERE.fullmatch(text["matiere"]):
        return refus("matiere", "matière \"1\" à \"9.9.9\" attendue",
                     "matière \"1\" to \"9.9.9\" expected")
    raw = values.get("nombre", "")
    if isinstance(raw, bool) or not re.fullmatch(r"[0-9]{1,6}", text["nombre"]) or \
            int(text["nombre"]) == 0:
        return refus("nombre", "nombre d'actes entier de 1 à 999999",
                     "number of acts, an integer from 1 to 999999")
    return NewDepot(day, siren, nature, text["matiere"], int(text["nombre"]))


def lire_depots(data: bytes | str | list, *, connus: Iterable[str], today: dt.date) -> Lecture:
    """Paper deposits from a CSV (`COLONNES_DEPOTS`) or a JSON list of objects."""
    known = frozenset(connus)
    lecture = Lecture()
    if isinstance(data, list):
        rows: Iterable[tuple[int, Mapping[str, object]]] = enumerate(data, start=1)
    else:
        rows = ((n, {k: r[k] for k in COLONNES_DEPOTS}) for n, r in _rows(data, COLONNES_DEPOTS))
    for number, row in rows:
        if not isinstance(row, Mapping):
            lecture.refus.append(Refus(number, "", "un objet est attendu", "an object expected"))
            continue
        result = lire_depot(row, connus=known, today=today, ligne=number)
        if isinstance(result, Refus):
            lecture.refus.append(result)
        else:
            lecture.lignes.append(result)
    return lecture
