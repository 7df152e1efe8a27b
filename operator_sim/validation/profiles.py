"""Matière profiles: which formats, natures and business documents an act may carry.

Each folder under `schemas/profiles/` holds a `profile.toml` (and the XSDs it names). The
profile that applies to an act is the one whose matière prefix is the longest match for the
act's CodeMatiere path; `default` covers the rest.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..protocol.codes import NatureActe
from ..signature.policy import SignatureMode


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
