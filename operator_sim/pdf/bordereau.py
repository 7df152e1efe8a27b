"""The acknowledgement slip ("bordereau d'acquittement") of a transmitted act, as a PDF.

Lists what S²LOW's slip lists: the collectivité and the agent, the transaction, the act's
IDActe, number, dates, nature, matière and objet, the files sent, and the transaction's
history. Drawn with reportlab's platypus (wrapping long objets and file names); the document
date comes from the caller's clock. Pure: facts in, bytes out.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, PropertySet, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from .metadata import PARIS, dated


@dataclass(frozen=True)
class Fichier:
    """One file of the transmission, as the slip names it."""

    nom: str
    """Name in the archive (protocol name)."""
    nom_depose: str | None
    """Name the client uploaded it under, when known."""
    mimetype: str
    taille: int


@dataclass(frozen=True)
class Etape:
    """One status change of the transaction."""

    at: dt.datetime
    statut: str
    message: str


@dataclass(frozen=True)
class BordereauFacts:
    """Everything the slip shows; built by the caller from the stored transaction."""

    transaction_id: int
    type_transaction: str
    collectivite: str
    siren: str
    agent: str
    id_acte: str
    numero_interne: str
    date_decision: dt.date
    nature: str
    matiere: str
    objet: str
    document_papier: bool
    envoye_le: dt.datetime
    recu_le: dt.date
    fichiers: tuple[Fichier, ...]
    cycle: tuple[Etape, ...] = ()


def render_bordereau(facts: BordereauFacts, *, generated_at: dt.datetime) -> bytes:
    """The slip as PDF bytes, dated `generated_at` (metadata and footer)."""
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontSize=9, leading=11)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10)
    tiny = ParagraphStyle("tiny", parent=body, fontSize=7, leading=9)
    title = ParagraphStyle("title", parent=styles["Title"], fontSize=15)

    def p(text: str, style: PropertySet = body) -> Paragraph:
        return Paragraph(escape(text), style)

    local = generated_at.astimezone(PARIS)
    story: list = [
        p("Bordereau d'acquittement de transaction", title),
        p(f"Collectivité : {facts.collectivite} (SIREN {facts.siren})"),
        p(f"Utilisateur : {facts.agent}"),
        Spacer(1, 4 * mm),
    ]
    rows = [
        ("Identifiant de la transaction", str(facts.transaction_id)),
        ("Type de transaction", facts.type_transaction),
        ("Identifiant unique (IDActe)", facts.id_acte),
        ("Numéro de l'acte", facts.numero_interne),
        ("Date de la décision", f"{facts.date_decision:%d/%m/%Y}"),
        ("Nature de l'acte", facts.nature),
        ("Classification matières/sous-matières", facts.matiere),
        ("Objet", facts.objet),
        ("Documents papiers complémentaires", "OUI" if facts.document_papier else "NON"),
        ("Date d'envoi en préfecture",
         f"{facts.envoye_le.astimezone(PARIS):%d/%m/%Y à %H:%M:%S}"),
        ("Date de réception par la préfecture (accusé de réception)",
         f"{facts.recu_le:%d/%m/%Y}"),
    ]
    story.append(_table([(p(k), p(v)) for k, v in rows], widths=(62 * mm, 108 * mm)))
    story += [Spacer(1, 5 * mm), p("Fichiers transmis", styles["Heading3"])]
    files = [(p("Fichier (nom déposé)", small), p("Type", small), p("Taille", small))]
    files += [(Paragraph(escape(f.nom) + (f"<br/>({escape(f.nom_depose)})" if f.nom_depose else ""),
                         tiny), p(f.mimetype, small), p(f"{f.taille} octets", small))
              for f in facts.fichiers]
    story.append(_table(files, widths=(112 * mm, 32 * mm, 26 * mm), header=True))
    if facts.cycle:
        story += [Spacer(1, 5 * mm), p("Cycle de vie de la transaction", styles["Heading3"])]
        steps = [(p("Date", small), p("État", small), p("Message", small))]
        steps += [(p(f"{e.at.astimezone(PARIS):%d/%m/%Y %H:%M:%S}", small), p(e.statut, small),
                   p(e.message, small)) for e in facts.cycle]
        story.append(_table(steps, widths=(34 * mm, 46 * mm, 90 * mm), header=True))
    story += [Spacer(1, 6 * mm), p(f"Édité le {local:%d/%m/%Y à %H:%M:%S}", small)]

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm,
                            topMargin=18 * mm, bottomMargin=18 * mm, invariant=True,
                            title=f"Bordereau d'acquittement {facts.id_acte}",
                            author="operator-sim", creator="operator-sim")
    doc.build(story)
    return dated(buffer.getvalue(), generated_at)


def _table(rows: list, *, widths: tuple[float, ...], header: bool = False) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    # reportlab's commands: (name, start cell, end cell, values…)
    style: list[tuple[Any, ...]] = [("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                                    ("VALIGN", (0, 0), (-1, -1), "TOP")]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde4f0")))
    else:
        style.append(("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#eef1f7")))
    table.setStyle(TableStyle(style))
    return table


__all__ = ["BordereauFacts", "Etape", "Fichier", "render_bordereau"]
