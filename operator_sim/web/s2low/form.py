"""S²LOW's form posts, read by the one form reader (`web.forms`, PHP's rules) with S²LOW's limits.

Text fields are taken as UTF-8, or as ISO-8859-1 when they are not UTF-8 (Pastell converts
`subject` to ISO-8859-1 before posting). All files of one post are counted together, as
S²LOW's `post_max_size`. A part that cannot be read refuses the whole post (`KO`, the part
named): nothing is stored.
"""

from __future__ import annotations

from aiohttp import web

from ...errors import Kind
from ..forms import Form, Limits, Upload, decode
from ..forms import read_form as read_any_form
from ..http import BadRequest
from ..keys import MAX_ARCHIVE_BYTES
from .replies import S2lowKO

MAX_FIELD_BYTES = 64 * 1024


async def read_form(request: web.Request) -> Form:
    """The post's fields and files; the caller must `cleanup()` the form once done."""
    limit = request.app[MAX_ARCHIVE_BYTES]
    try:
        return await read_any_form(request, Limits(total=limit, field=MAX_FIELD_BYTES))
    except BadRequest as error:
        if error.code == "FIELD_TOO_LONG":
            raise S2lowKO(f"Le champ {error.field} est trop long (max : {MAX_FIELD_BYTES})",
                          status=413) from None
        if error.kind is Kind.TOO_LARGE:
            raise S2lowKO("La taille totale des fichiers est trop importante "
                          f"(max : {limit})", status=413) from None
        raise


__all__ = ["Form", "Upload", "decode", "read_form"]
