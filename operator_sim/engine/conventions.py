"""The conventions register as the préfecture keeps it: who may transmit, through whom, what.

A collectivité signs a convention with its préfecture to transmit acts through a transmission
operator; the platform refuses a sender without one (PREF-VERIF-02). One reader of a
convention's fields for the admin API, the dashboard and the CLI, so all three refuse the same
things with the same field named. Pure: the store writes what this returns.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from ..errors import Refusal
from ..protocol.codes import COLLECTIVITE_NATURES
from ..protocol.names import DEPARTEMENT, is_departement
from ..store.interface import Collectivite, Convention, NewConvention
from ..validation.profiles import PlatformProfile

FIELDS = frozenset({"date_signature", "operateur", "matieres", "actes_budgetaires"})
COLLECTIVITE_FIELDS = frozenset({"departement", "arrondissement", "nature", "nom", "profil"})
MATIERE = r"[1-9](?:\.[0-9]{1,2}){0,4}"
"""A matière prefix as conventions list them: "1", "7.1", "2.2.3"."""
MAX_MATIERES = 100
MAX_NOM = 255
"""A collectivité's name is laid out on every bordereau: 200 000 characters of it took 13 s."""


class ConventionInvalid(Refusal, ValueError):
    """A field of a convention or collectivité that cannot be registered, named."""

    field: str

    def __init__(self, field: str, fr: str, en: str, *, code: str = "FIELD_INVALID") -> None:
        super().__init__(code, f"{field} : {fr}", f"{field}: {en}", field=field)


def parse_convention(siren: str, data: Mapping[str, object], *,
                     default_operateur: str) -> NewConvention:
    """A convention from JSON-like `data` (`date_signature` required, ISO; `operateur`, a
    trigram, default `default_operateur`; `matieres`, a list of prefixes, default every
    matière; `actes_budgetaires`, default true)."""
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise ConventionInvalid(unknown[0], "champ inconnu", "unknown field", code="FIELD_UNKNOWN")
    signed = data.get("date_signature")
    if not isinstance(signed, str):
        raise ConventionInvalid("date_signature", "date de signature AAAA-MM-JJ obligatoire",
                                "signing date YYYY-MM-DD required")
    day = parse_day("date_signature", signed)
    operateur = data.get("operateur", default_operateur)
    if not isinstance(operateur, str) or not re.fullmatch(r"[A-Z]{3}", operateur):
        raise ConventionInvalid("operateur", "trigramme de l'opérateur, 3 majuscules (SLO)",
                                "the operator's trigram, 3 capital letters (SLO)")
    matieres = data.get("matieres", [])
    if isinstance(matieres, str):  # "1, 7.1" from a form or the command line
        matieres = [m.strip() for m in matieres.split(",") if m.strip()]
    if not isinstance(matieres, list) or len(matieres) > MAX_MATIERES or not all(
            isinstance(m, str) and re.fullmatch(MATIERE, m) for m in matieres):
        raise ConventionInvalid("matieres", "liste de matières (\"1\", \"7.1\"), vide pour toutes",
                                "list of matières (\"1\", \"7.1\"), empty for all")
    budget = data.get("actes_budgetaires", True)
    if not isinstance(budget, bool):
        raise ConventionInvalid("actes_budgetaires", "true ou false", "true or false")
    return NewConvention(siren, day, operateur, tuple(dict.fromkeys(matieres)), budget)


def parse_collectivite(siren: str, data: Mapping[str, object],
                       known: Collectivite | None) -> Collectivite:
    """The collectivité `data` describes: its IDCL (`departement`, `arrondissement`,
    `nature`), `nom` (default the registered one, else the SIREN) and `profil` (strict,
    lenient, or null for the deployment's; default the registered one)."""
    departement = _field(data, "departement", DEPARTEMENT, "3 chiffres, ou 02A/02B",
                         "3 digits, or 02A/02B")
    if not is_departement(departement):
        raise ConventionInvalid("departement", "ce département n'existe pas (001 à 095 sauf "
                                "020, 02A, 02B, 971 à 976)",
                                "no such département (001 to 095 but 020, 02A, 02B, 971 to 976)")
    arrondissement = _field(data, "arrondissement", "[0-9]", "un chiffre de 0 à 9",
                            "one digit, 0 to 9")
    nature = _field(data, "nature", "|".join(COLLECTIVITE_NATURES),
                    "une nature de collectivité connue (31 = commune)",
                    "a known collectivité nature (31 = commune)")
    nom = data.get("nom", known.nom if known else siren)
    if not isinstance(nom, str) or not nom.strip() or not nom.isprintable() or len(nom) > MAX_NOM:
        raise ConventionInvalid("nom", f"texte imprimable de 1 à {MAX_NOM} caractères attendu",
                                f"printable text of 1 to {MAX_NOM} characters expected")
    profil = data.get("profil", known.profil if known else None)
    if profil is not None and profil not in tuple(PlatformProfile):
        raise ConventionInvalid("profil", "strict, lenient, ou null (celui du déploiement)",
                                "strict, lenient, or null (the deployment's)")
    return Collectivite(siren, departement, arrondissement, nature, nom.strip(),
                        None if profil is None else str(profil))


def parse_day(field: str, text: str) -> dt.date:
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConventionInvalid(field, f"{text[:40]!r} n'est pas une date AAAA-MM-JJ",
                                f"{text[:40]!r} is not a YYYY-MM-DD date") from None


def _field(data: Mapping[str, object], key: str, pattern: str, fr: str, en: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise ConventionInvalid(key, fr, en)
    return value


def convention_json(c: Convention) -> dict[str, object]:
    """A stored convention as the admin API shows it."""
    return {"id": c.id, "siren": c.siren, "date_signature": c.date_signature.isoformat(),
            "operateur": c.operateur, "matieres": list(c.matieres),
            "actes_budgetaires": c.actes_budgetaires, "statut": c.statut,
            "date_resiliation": None if c.date_resiliation is None
            else c.date_resiliation.isoformat()}
