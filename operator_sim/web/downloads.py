"""Serving stored files, on every door: one Content-Disposition, and bytes proven sound.

A stored name (an archive's, a document's) comes from a client and may hold quotes, `;` or
line breaks: `content_disposition` never splices it into the header as is (RFC 6266: a quoted
ASCII fallback, the exact name in `filename*`). A blob is re-hashed before its first byte is
sent (`sound_file`, streamed, never loaded whole): altered bytes (`BlobCorrupted`) or a blob
gone from disk (`BlobNotFound`) are refused with a clear error, which each door answers in its
own shape after `store_fault` noted it for the request journal — never served as if sound.
"""

from __future__ import annotations

import asyncio
import logging
import re
from urllib.parse import quote

from aiohttp import web

from ..store.blobs import BlobCorrupted, BlobNotFound
from ..store.small_blobs import Blobs
from .keys import INTEGRITY_FAULT

log = logging.getLogger(__name__)
PLAIN_NAME = re.compile(r'[\x20-\x7e]+')
UNSAFE_IN_FALLBACK = re.compile(r'[^A-Za-z0-9 ._()+,=@~-]')
CORRUPTED_FR = "fichier stocké altéré (son empreinte SHA-256 ne correspond plus) : rien n'est envoyé"
CORRUPTED_EN = "stored file altered (its SHA-256 no longer matches): nothing is sent"
MISSING_FR = "fichier stocké absent du magasin : rien n'est envoyé"
MISSING_EN = "stored file missing from the store: nothing is sent"
StoreFault = BlobCorrupted | BlobNotFound
MESSAGE_FILES = {"xml": ("xml_sha256", "application/xml", ""),
                 "signature": ("signature_sha256", "application/pkcs7-signature", ".p7s"),
                 "timestamp": ("timestamp_token_sha256", "application/timestamp-token", ".tst")}
"""What a stored message's download serves, by kind: (MessageRow field, media type, suffix) of
the XML, its detached CMS signature, the RFC 3161 token beside it."""


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """`attachment; filename="…"` for a plain ASCII name; otherwise an ASCII fallback with
    every doubtful character replaced by `_`, and the exact name as UTF-8 in `filename*`."""
    if PLAIN_NAME.fullmatch(filename) and not UNSAFE_IN_FALLBACK.search(filename):
        return f'{disposition}; filename="{filename}"'
    fallback = UNSAFE_IN_FALLBACK.sub("_", filename) or "fichier"
    exact = quote(filename, safe="", encoding="utf-8", errors="replace")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{exact}"


def store_fault(request: web.Request, error: StoreFault) -> tuple[str, str, str]:
    """Note an altered or missing blob for the request journal and the log; each door's error
    handler calls this, then answers the returned (code, message_fr, message_en) its own way."""
    if isinstance(error, BlobCorrupted):
        code, fr, en, note = error.code, CORRUPTED_FR, CORRUPTED_EN, str(error)
    else:
        code, fr, en = "BLOB_MISSING", MISSING_FR, MISSING_EN
        note = f"blob {error.args[0] if error.args else '?'} missing from the store"
    request[INTEGRITY_FAULT] = (code, note)
    log.error("%s %s: %s", request.method, request.path, note)
    return code, fr, en


async def sound_file(blobs: Blobs, sha256: str, *, filename: str,
                     mimetype: str, disposition: str = "attachment") -> web.StreamResponse:
    """A blob served once its bytes were re-hashed and found sound (`StoreFault` otherwise,
    which the door's error handler passes to `store_fault` and answers): a file blob from
    disk, a small one from its row."""
    sound = await asyncio.to_thread(blobs.sound, sha256)
    headers = {"Content-Type": mimetype,
               "Content-Disposition": content_disposition(filename, disposition)}
    if isinstance(sound, bytes):
        return web.Response(body=sound, headers=headers)
    return web.FileResponse(sound, headers=headers)


__all__ = ["CORRUPTED_EN", "CORRUPTED_FR", "MESSAGE_FILES", "MISSING_EN", "MISSING_FR",
           "StoreFault", "content_disposition", "sound_file", "store_fault"]
