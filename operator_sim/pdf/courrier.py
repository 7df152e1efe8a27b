"""Letters as PDF: the one layout for what the préfecture writes (a courrier about an act,
2-1 to 5-1, and the pilotage reminder to a collectivité).

Sender, addressee, date, objet, salutation, paragraphs (each with an optional smaller note),
closing; drawn with reportlab's platypus as the acknowledgement slip, so long texts wrap.
Pure: facts in, bytes out; the creation date is the caller's clock.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer

from .metadata import dated


@dataclass(frozen=True)
class Paragraphe:
    """One paragraph of the body, and an optional note printed smaller under it."""

    texte: str
    note: str | None = None


@dataclass(frozen=True)
class Courrier:
    """Everything a letter shows."""

    expediteur: str
    service: str | None
    """Printed smaller under the sender (e.g. "Mission référent @CTES")."""
    destinataire: tuple[str, ...]
    """The address block, one line each (empty lines are left out)."""
    date: dt.date
    objet: str
    paragraphes: tuple[Paragraphe, ...]
    titre: str
    """The document's title (metadata)."""
    appel: str = "Madame, Monsieur,"
    cloture: tuple[str, ...] = ()
    """Closing paragraphs, after the body."""


def render_courrier(courrier: Courrier, *, generated_at: dt.datetime) -> bytes:
    """The letter as PDF bytes, created at `generated_at` (metadata)."""
    styles = getSampleStyleSheet()
    body = ParagraphStyle("corps", parent=styles["BodyText"], fontSize=10.5, leading=14)
    small = ParagraphStyle("petit", parent=body, fontSize=8.5, leading=11)

    def p(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(text), style)

    story: list[Flowable] = [p(courrier.expediteur)]
    if courrier.service:
        story.append(p(courrier.service, small))
    story.append(Spacer(1, 10 * mm))
    story += [p(line) for line in courrier.destinataire if line]
    story += [Spacer(1, 8 * mm), p(f"Le {courrier.date:%d/%m/%Y}"), Spacer(1, 4 * mm),
              p(f"Objet : {courrier.objet}"), Spacer(1, 6 * mm), p(courrier.appel)]
    for paragraphe in courrier.paragraphes:
        story += [Spacer(1, 3 * mm), p(paragraphe.texte)]
        if paragraphe.note:
            story.append(p(paragraphe.note, small))
    for n, text in enumerate(courrier.cloture):
        story += [Spacer(1, (6 if n == 0 else 4) * mm), p(text)]
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=22 * mm, rightMargin=22 * mm,
                            topMargin=20 * mm, bottomMargin=20 * mm, invariant=True,
                            title=courrier.titre, author=courrier.expediteur,
                            creator="operator-sim")
    doc.build(story)
    return dated(out.getvalue(), generated_at)


__all__ = ["Courrier", "Paragraphe", "render_courrier"]
