"""The one form reader: every multipart (and URL-encoded) route reads its body here.

Parts are read as PHP's multipart parser (the one behind S²LOW) reads them, because the
clients written for S²LOW build their bodies for it:

- `Content-Disposition` parameters split on `;` outside quotes; a value quoted (`"…"` or `'…'`,
  backslash escaping the quote) or bare up to the next blank — so Pastell's hand-written
  `name=acte_attachments[]` is a name, not a malformed header;
- `filename*` (RFC 2231/5987, `UTF-8''…`) wins over `filename`; the name kept is the last path
  segment (after `/` or `\\`), its bytes read as UTF-8, else ISO-8859-1;
- `name[]` and `name[3]` are PHP arrays: values kept under `name`, in posted order;
- part headers such as `Content-Type: text/plain; charset=US-ASCII` and
  `Content-Transfer-Encoding: binary` / `8bit` (commons-httpclient's) change nothing: PHP takes
  the bytes as they come.

Where PHP would drop a part without a word (no name, an unknown transfer encoding it would not
decode, an array index given twice), the whole request is refused instead, the part named by
its position and whatever name it has. Files are streamed to temporary files under the
route's size limit (all parts counted together) and the read deadline (408).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qsl, unquote_to_bytes

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.hdrs import CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TRANSFER_ENCODING, CONTENT_TYPE
from aiohttp.helpers import parse_mimetype
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict, CIMultiDictProxy

from ..errors import Kind
from .http import BadRequest, reading_body, spool

_ARRAY = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<index>[^\[\]]*)\]$")
MAX_URLENCODED_BYTES = 1 << 20
"""A URL-encoded body carries text only: aiohttp's own cap on a body read whole."""
IDENTITY_ENCODINGS = frozenset({"7bit", "8bit", "binary"})
"""Transfer encodings that leave the bytes as they are (RFC 2045): the only ones PHP reads right."""


@dataclass(frozen=True)
class Upload:
    """A posted file: the name the client gave it and its spooled copy."""

    filename: str
    path: Path
    size: int
    content_type: str | None = None
    index: str | None = None  # `n` of a posted `name[n]`

    def read(self) -> bytes:
        return self.path.read_bytes()


@dataclass(frozen=True)
class Field:
    """A posted text field: its bytes and the charset its part declared, if any."""

    raw: bytes
    charset: str | None = None
    index: str | None = None  # `n` of a posted `name[n]`

    def text(self) -> str:
        """Its text: the declared charset when the bytes follow it, else UTF-8, else
        ISO-8859-1 (which reads any byte; Pastell sends `subject` so)."""
        if self.charset and self.charset.lower() not in ("utf-8", "utf8", "us-ascii"):
            try:
                return self.raw.decode(self.charset)
            except (LookupError, UnicodeDecodeError):
                pass
        return decode(self.raw)


@dataclass
class Form:
    """A post's fields and files, by PHP name (`type_pj[]` is `type_pj`), in posted order."""

    fields: dict[str, list[Field]] = field(default_factory=dict)
    files: dict[str, list[Upload]] = field(default_factory=dict)

    def values(self, name: str) -> list[str]:
        return [f.text() for f in self.fields.get(name, [])]

    def value(self, name: str) -> str | None:
        """A scalar field: as PHP, the last one posted under that name."""
        values = self.fields.get(name)
        return values[-1].text() if values else None

    def file(self, name: str) -> Upload | None:
        files = self.files.get(name)
        return files[-1] if files else None

    def uploads(self) -> Iterator[Upload]:
        for uploads in self.files.values():
            yield from uploads

    def cleanup(self) -> None:
        for upload in self.uploads():
            upload.path.unlink(missing_ok=True)


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("iso-8859-1")


def php_name(name: str) -> tuple[str, str | None]:
    """PHP's variable for a field name: `a[]` → ("a", ""), `a[2]` → ("a", "2"), `a` → ("a", None)."""
    match = _ARRAY.match(name)
    return (match["name"], match["index"]) if match else (name, None)


def _word(text: str, stop: str) -> tuple[str, str]:
    """PHP's `php_ap_getword`: up to `stop` outside quotes, and the rest after it."""
    i, quote = 0, ""
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\" and text[i + 1:i + 2] == quote:
                i += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == stop:
            return text[:i], text[i + 1:]
        i += 1
    return text, ""


def _value(text: str) -> str:
    """PHP's `php_ap_getword_conf`: a quoted value unescaped, or a bare one up to a blank."""
    text = text.lstrip()
    if text[:1] in ("\"", "'"):
        quote, out, i = text[0], [], 1
        while i < len(text) and text[i] != quote:
            if text[i] == "\\" and text[i + 1:i + 2] == quote:
                i += 1
            out.append(text[i])
            i += 1
        return "".join(out)
    return re.split(r"\s", text, maxsplit=1)[0]


def content_disposition(header: str) -> dict[str, str]:
    """A part's `Content-Disposition` parameters (lower-cased keys), as PHP splits them."""
    params: dict[str, str] = {}
    rest = header
    while rest.strip():
        pair, rest = _word(rest.lstrip(), ";")
        if "=" in pair:
            key, value = pair.split("=", 1)
            params.setdefault(key.strip().lower(), _value(value))
    return params


def _header_text(value: str) -> str:
    """A header value's original bytes (aiohttp keeps them as UTF-8 with surrogate escapes),
    read as UTF-8, else ISO-8859-1."""
    return decode(value.encode("utf-8", "surrogateescape"))


def posted_filename(params: dict[str, str]) -> str | None:
    """The file name a part carries (None: a text field), reduced to its last path segment."""
    name = None
    extended = params.get("filename*")
    if extended and extended.count("'") >= 2:
        charset, _language, encoded = extended.split("'", 2)
        try:
            name = unquote_to_bytes(encoded).decode(charset or "utf-8")
        except (LookupError, UnicodeDecodeError):
            name = None
    if name is None and "filename" in params:
        name = _header_text(params["filename"])
    if name is None:
        return None
    return re.split(r"[/\\]", name)[-1]


class _PhpMultipartReader(MultipartReader):
    """aiohttp's boundary scanning, without the liberties PHP does not take: a `_charset_`
    part consumed out of sight, nested `multipart/*` parts split further (PHP keeps their
    bytes as the part's content), a part's own Content-Length trusted over its boundary."""

    async def next(self) -> BodyPartReader | None:
        if self._at_eof:
            return None
        await self._maybe_release_last_part()
        if self._at_bof:
            await self._read_until_first_boundary()
            self._at_bof = False
        else:
            await self._read_boundary()
        if self._at_eof:
            return None
        headers = CIMultiDict(await self._read_headers())
        headers.popall(CONTENT_LENGTH, None)  # PHP reads each part up to its boundary, whatever it says
        part = self.part_reader_cls(self._boundary, CIMultiDictProxy(headers), self._content,
                                    subtype=self._mimetype.subtype, default_charset=None,
                                    client_max_size=self._client_max_size,
                                    max_size_error_cls=self._max_size_error_cls)
        self._last_part = part
        return part


def part_refused(position: int, name: str | None, fr: str, en: str, *,
                 kind: Kind = Kind.MALFORMED, code: str = "BODY_MALFORMED") -> BadRequest:
    """The whole request refused for one part, named by its position and name."""
    label = f"partie n° {position}" + (f" ({name})" if name else " (sans nom)")
    label_en = f"part #{position}" + (f" ({name})" if name else " (no name)")
    return BadRequest(code, f"{label} : {fr} ; rien n'a été enregistré",
                      f"{label_en}: {en}; nothing was stored", field=name, kind=kind)


@dataclass(frozen=True)
class Limits:
    """What one route accepts: all parts' bytes together, and one text field's bytes."""

    total: int
    field: int


async def read_form(request: web.Request, limits: Limits) -> Form:
    """The post's fields and files (multipart or URL-encoded), read under the read deadline;
    the caller must `cleanup()` the form once done. Refusals are `BadRequest`s naming the part:
    400 unreadable, 413 over a limit, 408 too slow."""
    async with reading_body(request) as received:
        if request.content_type.startswith("multipart/"):
            return await _read_multipart(request, limits, received)
        form = Form()
        if request.charset:
            codecs.lookup(request.charset)  # an unknown charset is a malformed body (400)
        if request.content_type == "application/x-www-form-urlencoded" and request.body_exists:
            cap = min(limits.total, MAX_URLENCODED_BYTES)
            body = b""
            while len(body) <= cap and (chunk := await request.content.read(1 << 16)):
                body += chunk
                received(len(body))
            if len(body) > cap:
                raise BadRequest("FORM_TOO_LARGE", f"formulaire de plus de {cap} octets",
                                 f"form larger than {cap} bytes", kind=Kind.TOO_LARGE)
            # Bytes, as PHP takes them whatever the charset says (ISO-8859-1 maps each byte
            # to one character and back).
            for name, value in parse_qsl(body.decode("iso-8859-1"), keep_blank_values=True,
                                         encoding="iso-8859-1"):
                base, _ = php_name(decode(name.encode("iso-8859-1")))
                form.fields.setdefault(base, []).append(Field(value.encode("iso-8859-1")))
        return form


async def _read_multipart(request: web.Request, limits: Limits,
                          received: Callable[[int], None]) -> Form:
    form = Form()
    indexes: dict[str, set[str]] = {}
    total = 0
    position = 0
    try:
        reader = _PhpMultipartReader(request.headers, request.content)  # limits: ours
        while True:
            position += 1
            try:
                part = await reader.next()
            except (ValueError, LookupError, HttpProcessingError) as error:
                if position == 1:
                    raise  # no boundary, no first part: the body itself (reading_body's 400)
                raise part_refused(position, None, f"en-têtes illisibles ({error})",
                                   f"unreadable headers ({error})") from None
            if part is None:
                break
            params = content_disposition(part.headers.get(CONTENT_DISPOSITION, ""))
            raw_name = _header_text(params["name"]) if params.get("name") else None
            if raw_name is None:
                raise part_refused(position, posted_filename(params),
                                   "Content-Disposition sans nom de champ",
                                   "Content-Disposition without a field name")
            encoding = part.headers.get(CONTENT_TRANSFER_ENCODING, "").strip().lower()
            if encoding and encoding not in IDENTITY_ENCODINGS:
                raise part_refused(position, raw_name,
                                   f"Content-Transfer-Encoding {encoding} non pris en charge "
                                   "(binary, 8bit ou 7bit)",
                                   f"Content-Transfer-Encoding {encoding} not supported "
                                   "(binary, 8bit or 7bit)")
            name, index = php_name(raw_name)
            if index:  # an explicit index PHP would overwrite the second time
                if index in indexes.setdefault(name, set()):
                    raise part_refused(position, raw_name, "indice de tableau déjà donné",
                                       "array index given twice")
                indexes[name].add(index)
            content_type = part.headers.get(CONTENT_TYPE)
            try:
                filename = posted_filename(params)
                if filename is not None:
                    path, size = await spool(request, part, suffix=".upload",
                                             limit=limits.total - total, received=received,
                                             already=total)
                    total += size
                    form.files.setdefault(name, []).append(
                        Upload(filename, path, size, content_type, index or None))
                else:
                    raw = await _read_field(part, limits, total, received)
                    total += len(raw)
                    charset = parse_mimetype(content_type).parameters.get("charset") \
                        if content_type else None
                    form.fields.setdefault(name, []).append(Field(raw, charset, index or None))
            except BadRequest as error:
                if error.code == "ARCHIVE_TOO_LARGE":  # spool's words name the archive limit
                    raise part_refused(position, raw_name,
                                       f"envoi de plus de {limits.total} octets",
                                       f"upload larger than {limits.total} bytes", kind=Kind.TOO_LARGE,
                                       code=error.code) from None
                if error.kind is Kind.TOO_LARGE:
                    raise part_refused(position, raw_name, error.message_fr, error.message_en,
                                       kind=Kind.TOO_LARGE,
                                       code=error.code) from None
                raise
            except (ValueError, HttpProcessingError, web.RequestPayloadError) as error:
                raise part_refused(position, raw_name, f"contenu illisible ({error})",
                                   f"unreadable content ({error})") from None
    except BaseException:
        form.cleanup()
        raise
    _by_index(form)
    return form


def _by_index(form: Form) -> None:
    """Arrays posted with explicit indexes (`acte_attachments[1]`, `[0]`, as web-delib does) in
    index order, the order PHP's scripts walk them in (`for ($i = 0; …)`)."""
    _sort_indexed(form.fields)
    _sort_indexed(form.files)


_Entry = TypeVar("_Entry", Field, Upload)


def _sort_indexed(table: dict[str, list[_Entry]]) -> None:
    for name, entries in table.items():
        if all(e.index is not None and e.index.isdigit() for e in entries):
            table[name] = sorted(entries, key=lambda e: int(e.index or 0))


async def _read_field(part: BodyPartReader, limits: Limits, total: int,
                      received: Callable[[int], None]) -> bytes:
    raw = await part.read_chunk(limits.field + 1)
    received(total + len(raw))
    while len(raw) <= limits.field and (chunk := await part.read_chunk(limits.field + 1 - len(raw))):
        raw += chunk
        received(total + len(raw))
    if len(raw) > limits.field or await part.read_chunk():
        raise BadRequest("FIELD_TOO_LONG", f"champ de plus de {limits.field} octets",
                         f"field longer than {limits.field} bytes", kind=Kind.TOO_LARGE)
    if total + len(raw) > limits.total:
        raise BadRequest("FORM_TOO_LARGE", f"formulaire de plus de {limits.total} octets",
                         f"form larger than {limits.total} bytes", kind=Kind.TOO_LARGE)
    return raw


__all__ = ["Field", "Form", "Limits", "Upload", "content_disposition", "decode", "part_refused",
           "php_name", "posted_filename", "read_form"]
