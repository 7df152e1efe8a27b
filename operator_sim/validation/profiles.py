"""Profiles: the platform's (strict or lenient) and the matières' (formats, natures, documents).

Platform profile: `strict`, the default, refuses what the ministry schema and the platform
refuse; `lenient` reproduces the leniencies operator-sim had, each named by its finding code
(`LENIENCIES`) and reported as a warning instead of an error. A deployment has one, and a
collectivité may have its own (a legacy integration can stay lenient while others are strict).

Matière profiles: each folder under `schemas/profiles/` holds a `profile.toml` (and the XSDs it
names). The profile that applies to an act is the one whose matière prefix is the longest match
for the act's CodeMatiere path; `default` covers the rest.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..protocol.codes import NatureActe
from ..signature.policy import SignatureMode


class PlatformProfile(StrEnum):
    """How strictly the platform judges: `strict` (default) or `lenient`."""

    STRICT = "strict"
    LENIENT = "lenient"

    @classmethod
    def parse(cls, value: object) -> PlatformProfile:
        """The profile named `value`; ValueError naming both choices otherwise."""
        if isinstance(value, str) and value in cls._value2member_map_:
            return cls(value)
        raise ValueError(f"profile {value!r}: expected strict or lenient")


@dataclass(frozen=True)
class Leniency:
    """A rule `strict` enforces and `lenient` only warns about: its finding code, what it
    requires, and where the requirement comes from."""

    code: str
    rule_fr: str
    rule_en: str
    source: str


LENIENCIES: dict[str, Leniency] = {leniency.code: leniency for leniency in (
    Leniency("DOCUMENT_PAPIER_MISSING", "Acte/DocumentPapier est obligatoire",
             "Acte/DocumentPapier is required",
             "official schema actesv1_1.xsd (DocumentPapier, minOccurs 1)"),
    Leniency("NUMERO_INTERNE_LOWERCASE",
             "le NumeroInterne s'écrit en majuscules, chiffres et _ ([A-Z0-9_]{1,15})",
             "the NumeroInterne is upper case, digits and _ ([A-Z0-9_]{1,15})",
             "S²LOW's number rule; the official IDActe pattern admits lower case"),
    Leniency("DEPARTEMENT_UNKNOWN",
             "le département est l'un des départements réels (001–095 sauf 020, 02A, 02B, "
             "971–976)",
             "the département is a real one (001–095 but 020, 02A, 02B, 971–976)",
             "the real list; the official pattern [0|9]{1}[0-9]{1}[A|B|0-9]{1} is known wrong"),
    Leniency("BUDGET_NOT_XML",
             "un acte budgétaire (BF en 7.1) est transmis en XML TOTEM",
             "a budget act (BF in 7.1) is sent as TOTEM XML",
             "transmission operators (STELA) require the TOTEM XML for budget acts"),
    Leniency("SENDER_UNKNOWN",
             "la collectivité émettrice a une convention enregistrée",
             "the sending collectivité has a registered convention",
             "REFERENCE.md PREF-VERIF-02: the platform refuses a sender without a convention"),
)}
"""Every leniency `lenient` keeps, by finding code (README's table is made from the same list)."""


def matiere_key(codes: Sequence[int]) -> str:
    """(7, 1, 2) → "7.1.2", the notation profiles and messages use."""
    return ".".join(str(c) for c in codes)


def _covers(prefixes: Sequence[str], codes: Sequence[int]) -> bool:
    key = matiere_key(codes)
    return any(key == p or key.startswith(p + ".") for p in prefixes)


@dataclass(frozen=True)
class XmlMainRule:
    """When the main document may be XML instead of PDF, and what that XML must be."""

    natures: frozenset[NatureActe]
    matieres: tuple[str, ...]
    annex_formats: frozenset[str]
    schema: Path
    root: str
    siret_xpath: str | None
    namespaces: dict[str, str]

    def applies(self, nature: NatureActe, codes: Sequence[int]) -> bool:
        return nature in self.natures and _covers(self.matieres, codes)


@dataclass(frozen=True)
class MatiereProfile:
    """One matière profile, loaded from its folder."""

    name: str
    title_fr: str
    title_en: str
    matieres: tuple[str, ...]
    natures: frozenset[NatureActe]
    main_formats: frozenset[str]
    annex_formats: frozenset[str]
    typologie_matieres: tuple[str, ...]
    xml_main: XmlMainRule | None
    folder: Path
    signatures: SignatureMode | None = None
    """Optional `signatures = "off" | "verify-if-present" | "required"`: this matière's mode,
    replacing the deployment's unless the deployment switched signature checks off."""

    @classmethod
    def load(cls, folder: Path) -> MatiereProfile:
        with open(folder / "profile.toml", "rb") as fh:
            data = tomllib.load(fh)
        xml_main = None
        if "xml_main" in data:
            x = data["xml_main"]
            xml_main = XmlMainRule(
                natures=frozenset(NatureActe.from_abrege(n) for n in x["natures"]),
                matieres=tuple(x["matieres"]),
                annex_formats=frozenset(x["annex_formats"]),
                schema=folder / x["schema"],
                root=x["root"],
                siret_xpath=x.get("siret_xpath"),
                namespaces=dict(x.get("namespaces", {})),
            )
        return cls(
            name=data["name"],
            title_fr=data["title_fr"],
            title_en=data["title_en"],
            matieres=tuple(data["matieres"]),
            natures=frozenset(NatureActe.from_abrege(n) for n in data["natures"]),
            main_formats=frozenset(data["main_formats"]),
            annex_formats=frozenset(data["annex_formats"]),
            typologie_matieres=tuple(data.get("typologie_matieres", ())),
            xml_main=xml_main,
            folder=folder,
            signatures=SignatureMode.parse(data["signatures"]) if "signatures" in data else None,
        )

    def specificity(self, codes: Sequence[int]) -> int:
        """How precisely this profile matches a matière path (0: not at all, default: 1)."""
        return self._specificity(matiere_key(codes))

    def _specificity(self, key: str) -> int:
        if not self.matieres:
            return 1
        best = 0
        for p in self.matieres:
            if key == p or key.startswith(p + "."):
                best = max(best, 1 + p.count(".") + 1)
        return best

    def typologie_fits(self, typologie: str) -> bool:
        """Typology codes start with the matière they belong to (22_ → 2.2, 10_ → 1); 99_ is generic."""
        if not self.typologie_matieres or typologie.startswith("99"):
            return True
        return typologie[0] in {p.split(".")[0] for p in self.typologie_matieres}


def load_profiles(folder: Path) -> tuple[MatiereProfile, ...]:
    profiles = tuple(
        MatiereProfile.load(p.parent) for p in sorted(folder.glob("*/profile.toml"))
    )
    if not any(not p.matieres for p in profiles):
        raise ValueError(f"{folder}: no default profile (one with matieres = [])")
    return profiles


def select_profile(profiles: Sequence[MatiereProfile], codes: Sequence[int]) -> MatiereProfile:
    key = matiere_key(codes)
    return max(profiles, key=lambda p: p._specificity(key))
