"""The reminder letter the référent sends a collectivité on one of the lists to act on, as a PDF.

On the letters' stack (reportlab's platypus, as the acknowledgement slip): one paragraph per
list the collectivité is on, with the reason computed for it. Pure: facts in, bytes out.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

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
    styles = getSampleStyleSheet()
    body = ParagraphStyle("corps", parent=styles["BodyText"], fontSize=10.5, leading=14)
    small = ParagraphStyle("petit", parent=body, fontSize=8.5, leading=11)

    def p(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(text), style)

    raisons: Mapping[str, str] = ligne["raisons"]  # type: ignore[assignment]
    contact = str(ligne.get("contact_nom") or "Madame, Monsieur le Maire ou le Président")
    story = [p(prefecture), p("Mission référent @CTES", small), Spacer(1, 10 * mm),
             p(f"{ligne['nom']} (SIREN {ligne['siren']})"), p(f"À l'attention de : {contact}"),
             p(str(ligne.get("contact_email") or ""), small), Spacer(1, 8 * mm),
             p(f"Le {generated_at.strftime('%d/%m/%Y')}"), Spacer(1, 4 * mm),
             p("Objet : télétransmission de vos actes par @CTES"), Spacer(1, 6 * mm),
             p("Madame, Monsieur,")]
    for name in LISTES:
        if name in raisons:
            story += [Spacer(1, 3 * mm), p(DEMANDES[name]), p(f"Constat : {raisons[name]}.", small)]
    story += [Spacer(1, 6 * mm),
              p("Le référent @CTES de la préfecture se tient à votre disposition pour vous "
                "accompagner."),
              Spacer(1, 4 * mm),
              p("Je vous prie d'agréer, Madame, Monsieur, l'expression de ma considération "
                "distinguée.")]
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=22 * mm, rightMargin=22 * mm,
                            topMargin=20 * mm, bottomMargin=20 * mm,
                            title=f"Relance @CTES — {ligne['nom']}", author=prefecture,
                            creator="operator-sim")
    doc.build(story)
    return out.getvalue()
