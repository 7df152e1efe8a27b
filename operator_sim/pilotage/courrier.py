"""The reminder letter the référent sends a collectivité on one of the lists to act on, as a PDF.

The wording is here: one paragraph per list the collectivité is on, with the reason computed
for it; the layout is the préfecture's letters' (`pdf.courrier`). Pure: facts in, bytes out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from .. import pdf  # reportlab and pypdf load at the first letter drawn (`pdf` lazy exports)
from .indicateurs import LISTES

DEMANDES = {
    "non_connectees": "Votre collectivité n'est pas raccordée à @CTES. Le raccordement demande "
                      "une délibération, des certificats RGS, un opérateur de transmission "
                      "homologué et une convention signée avec la préfecture.",
    "inactives": "Votre collectivité est raccordée à @CTES mais n'a pas télétransmis d'acte "
                 "récemment. Nous vous invitons à transmettre vos actes par voie électronique.",
    "partielles": "Une partie de vos actes nous parvient encore sur papier. La "
                  "télétransmission peut couvrir l'ensemble de vos actes.",
    "sans_budget": "Vos documents budgétaires ne sont pas encore télétransmis (Actes "
                   "budgétaires). Nous vous invitons à étendre votre convention et votre "
                   "télétransmission aux actes budgétaires.",
    "notre_non_conformes": "Depuis le 7 août 2020 (loi NOTRe, article 128), votre collectivité "
                           "est tenue de transmettre par voie électronique l'ensemble de ses "
                           "actes soumis au contrôle de légalité et au contrôle budgétaire.",
}


def render_relance(ligne: Mapping[str, object], *, prefecture: str,
                   generated_at: dt.datetime) -> bytes:
    """The letter to the collectivité `ligne` describes (a report's `collectivites` item)."""
    raisons: Mapping[str, str] = ligne["raisons"]  # type: ignore[assignment]
    contact = str(ligne.get("contact_nom") or "Madame, Monsieur le Maire ou le Président")
    return pdf.render_courrier(pdf.Courrier(
        expediteur=prefecture, service="Mission référent @CTES",
        destinataire=(f"{ligne['nom']} (SIREN {ligne['siren']})", f"À l'attention de : {contact}",
                      str(ligne.get("contact_email") or "")),
        date=generated_at.date(), objet="télétransmission de vos actes par @CTES",
        paragraphes=tuple(pdf.Paragraphe(DEMANDES[name], f"Constat : {raisons[name]}.")
                          for name in LISTES if name in raisons),
        cloture=("Le référent @CTES de la préfecture se tient à votre disposition pour vous "
                 "accompagner.",
                 "Je vous prie d'agréer, Madame, Monsieur, l'expression de ma considération "
                 "distinguée."),
        titre=f"Relance @CTES — {ligne['nom']}"), generated_at=generated_at)
