"""S²LOW's form posts read the way PHP reads them: `name[]` arrays, files spooled to disk.

Text fields (multipart or URL-encoded) are taken as UTF-8, or as ISO-8859-1 when they are not
UTF-8 (Pastell converts `subject` to ISO-8859-1 before posting). Files are streamed to temporary
files under the service's size limit, all files of one post counted together, as S²LOW's
`post_max_size`. A malformed body is refused by `reading_body` (400).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, web

from ..api import MAX_ARCHIVE_BYTES, BadRequest, _spool, reading_body
from .replies import S2lowKO

MAX_FIELD_BYTES = 64 * 1024
_ARRAY = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<index>\d*)\]$")


@dataclass(frozen=True)
class Upload:
    """A posted file: the name the client gave it and its spooled copy."""

    filename: str
    path: Path
    size: int

    def read(self) -> bytes:
        return self.path.read_bytes()


@dataclass
class Form:
    """A post's fields and files, by PHP name (`type_pj[]` is `type_pj`), in posted order."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, list[Upload]] = field(default_factory=dict)

    def value(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None

    def values(self, name: str) -> list[str]:
        return self.fields.get(name, [])

    def file(self, name: str) -> Upload | None:
        files = self.files.get(name)
        return files[0] if files else None

    def cleanup(self) -> None:
        for uploads in self.files.values():
            for upload in uploads:
                upload.path.unlink(missing_ok=True)


def php_name(name: str) -> str:
    match = _ARRAY.match(name)
    return match["name"] if match else name


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("iso-8859-1")


async def read_form(request: web.Request) -> Form:
    """The post's fields and files; the caller must `cleanup()` the form once done."""
    async with reading_body(request) as received:  # slowloris guard: 408 past the deadline
        return await _read_form(request, received)


async def _read_form(request: web.Request, received: Callable[[int], None]) -> Form:
    form = Form()
    if not request.content_type.startswith("multipart/"):
        if request.content_type == "application/x-www-form-urlencoded" and request.body_exists:
            # Bytes, as PHP takes them whatever the charset says (ISO-8859-1 maps each byte to
            # one character and back), then read as UTF-8 or ISO-8859-1 by `decode`.
            body = (await request.read()).decode("iso-8859-1")
            for name, value in parse_qsl(body, keep_blank_values=True, encoding="iso-8859-1"):
                form.fields.setdefault(php_name(decode(name.encode("iso-8859-1"))), []).append(
                    decode(value.encode("iso-8859-1")))
        return form
    limit = request.app[MAX_ARCHIVE_BYTES]
    room = limit
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or not part.name:
                continue
            name = php_name(part.name)
            if part.filename is not None:
                try:
                    path, size = await _spool(request, part, suffix=".upload", limit=room,
                                              received=received, already=limit - room)
                except BadRequest as error:
                    if error.status == 413:
                        raise S2lowKO("La taille totale des fichiers est trop importante "
                                      f"(max : {limit})", status=413) from None
                    raise
                room -= size
                form.files.setdefault(name, []).append(Upload(Path(part.filename).name, path, size))
            else:
                raw = await part.read_chunk(MAX_FIELD_BYTES + 1)
                if len(raw) > MAX_FIELD_BYTES or await part.read_chunk():
                    raise S2lowKO(f"Le champ {name} est trop long (max : {MAX_FIELD_BYTES})",
                                  status=413)
                form.fields.setdefault(name, []).append(decode(raw))
    except BaseException:
        form.cleanup()
        raise
    return form


__all__ = ["Form", "Upload", "decode", "read_form"]
