"""The operator's stamp ("tampon") on an acknowledged act's PDF, as S²LOW prints it.

Draws the four lines S²LOW puts in a box at the top right of the first page — sent to and
received by the préfecture, published, IDActe — with reportlab, and merges that overlay onto
the original page with pypdf: every page, and everything on it, is kept. Pure: bytes and
facts in, bytes out; no clock, no storage.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from pypdf import PdfReader, PdfWriter
from pypdf.errors import PyPdfError
from reportlab.lib.colors import Color
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

FONT = "Helvetica"
FONT_SIZE = 8.0
MARGIN = 18.0  # points between the box and the page's top and right edges
PADDING = 4.0
LEADING = FONT_SIZE * 1.3
INK = Color(0.05, 0.15, 0.45)


class TamponError(ValueError):
    """The document cannot be stamped (not a PDF pypdf can read, or no page)."""


@dataclass(frozen=True)
class Tampon:
    """What the stamp says. Dates are calendar days (Paris), as the protocol's xsd:date."""

    id_acte: str
    envoye_le: dt.date
    """Day the act was sent to the préfecture (S²LOW: the envelope's submission date)."""
    recu_le: dt.date
    """Day the préfecture received it: ARActe/@DateReception."""
    publie_le: dt.date | None = None
    """Publication day, when the collectivité gives one (Pastell's `date_affichage`)."""

    def lines(self) -> tuple[str, ...]:
        publie = f" {self.publie_le:%d/%m/%Y}" if self.publie_le else ""
        return (f"Envoyé en préfecture le {self.envoye_le:%d/%m/%Y}",
                f"Reçu en préfecture le {self.recu_le:%d/%m/%Y}",
                f"Publié le{publie}",
                f"ID : {self.id_acte}")


def stamp_pdf(pdf: bytes, tampon: Tampon) -> bytes:
    """The document with the stamp merged onto its first page; other pages untouched."""
    try:
        reader = PdfReader(io.BytesIO(pdf))
        if reader.is_encrypted or not reader.pages:
            raise TamponError("encrypted PDF or PDF without pages")
        writer = PdfWriter(clone_from=reader)
        page = writer.pages[0]
        # A rotated page would turn the stamp with it: fold the rotation into the content.
        if page.rotation:
            page.transfer_rotation_to_content()
        box = page.mediabox
        overlay = _overlay(float(box.left), float(box.bottom), float(box.width), float(box.height),
                           tampon.lines())
        page.merge_page(PdfReader(io.BytesIO(overlay)).pages[0])
        out = io.BytesIO()
        writer.write(out)
    except TamponError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise TamponError(f"unreadable PDF: {error}") from error
    return out.getvalue()


def _overlay(left: float, bottom: float, width: float, height: float,
             lines: tuple[str, ...]) -> bytes:
    """One transparent page the size of the target, carrying the boxed stamp top right."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(left + width, bottom + height), invariant=True,
                    pageCompression=0)
    text_width = max(stringWidth(line, FONT, FONT_SIZE) for line in lines)
    box_width = text_width + 2 * PADDING
    box_height = LEADING * len(lines) + 2 * PADDING
    x = left + width - MARGIN - box_width
    y = bottom + height - MARGIN - box_height
    canvas.setStrokeColor(INK)
    canvas.setFillColor(INK)
    canvas.setLineWidth(0.8)
    canvas.rect(x, y, box_width, box_height, stroke=1, fill=0)
    text = canvas.beginText(x + PADDING, y + box_height - PADDING - FONT_SIZE)
    text.setFont(FONT, FONT_SIZE, LEADING)
    for line in lines:
        text.textLine(line)
    canvas.drawText(text)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


__all__ = ["Tampon", "TamponError", "stamp_pdf"]
