"""What every PDF the simulator prints shares: French dates, and the simulator's clock as the
document's creation date (reportlab's `invariant` output carries a fixed one, so that the same
facts give the same bytes).
"""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

from pypdf import PdfReader, PdfWriter

PARIS = ZoneInfo("Europe/Paris")
"""The zone printed dates are in (as `engine.clock.PARIS`; this package sits below the engine)."""


def dated(pdf: bytes, at: dt.datetime) -> bytes:
    """The document with its creation and modification dates set to `at`."""
    stamp = at.astimezone(dt.UTC).strftime("D:%Y%m%d%H%M%SZ")
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.add_metadata({"/CreationDate": stamp, "/ModDate": stamp})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


__all__ = ["PARIS", "dated"]
