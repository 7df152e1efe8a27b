"""The request/response toolbox every route module shares: the refusal the API answers with
(`BadRequest`) and the one JSON error shape (`json_errors`), reading bodies (the read deadline,
408 for a trickling client; spooling a body or a part to a temporary file, or keeping a small
body in memory; a JSON object),
reading ids and numbers from the URL and the query, the JSON of a transaction or outcome, and
the hand-written OpenAPI documents (`openapi.json` for /api/v1, `admin-openapi.json` for the
admin port).

Below the route modules (`api`, `courriers`, `dashboard`, …) and the one form reader (`forms`):
it imports only `keys` and the answering helpers of `auth`, `downloads` and `faults`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import tempfile
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path
from typing import IO, Any, Literal, overload

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..engine.intake import IntakeRefused, Outcome
from ..errors import Kind, Refusal
from ..protocol.names import ascii_digits
from ..simulator import Simulator
from ..store import BlobCorrupted, BlobNotFound, NotFound
from ..store.interface import SQLITE_MAX_INTEGER, TransactionRow
from ..store.small_blobs import SMALL_BLOB
from .auth import refusal
from .downloads import store_fault
from .faults import JSON_STATUS, fault_of, json_status
from .keys import MAX_ARCHIVE_BYTES, READ_TIMEOUT, SCENARIO, SIMULATOR, UPLOAD_DIR, Handler

log = logging.getLogger(__name__)

MIN_UPLOAD_RATE = 64 * 1024
"""Bytes of body that earn an upload one more second beyond `read_timeout` (like the MinRate of
Apache's mod_reqtimeout): big uploads on slow links pass, a trickling client does not."""


class BadRequest(Refusal):
    """A request the web layer refuses before the engine sees it: malformed unless `kind` says
    otherwise (`faults` gives each door's answer); `field` names the faulty input."""

    kind = Kind.MALFORMED


@contextlib.asynccontextmanager
async def reading_body(request: web.Request) -> AsyncIterator[Callable[[int], None]]:
    """Read a request's body under its deadline (slowloris guard): `read_timeout` seconds, plus
    one per MIN_UPLOAD_RATE bytes received, reported through the yielded `received(total)`.

    What aiohttp raises on a malformed body (no boundary, cut short, a part header with a
    NUL, an unknown charset, bytes not in it, a Content-Encoding the bytes do not follow) is a
    400 BODY_MALFORMED: only body reading belongs inside this block."""
    timeout = request.app[READ_TIMEOUT]
    start = asyncio.get_running_loop().time()
    try:
        async with asyncio.timeout(timeout) as deadline:
            yield lambda total: deadline.reschedule(start + timeout + total / MIN_UPLOAD_RATE)
    except TimeoutError:
        raise BadRequest("REQUEST_TIMEOUT",
                         f"corps de la requête trop lent à arriver (plus de {timeout:g} s)",
                         f"request body too slow to arrive (over {timeout:g} s)") from None
    except (ValueError, LookupError, HttpProcessingError, web.RequestPayloadError):
        raise BadRequest("BODY_MALFORMED",
                         "corps de la requête mal formé (formulaire ou multipart illisible)",
                         "malformed request body (unreadable form or multipart)") from None


SPOOL_IN_MEMORY = SMALL_BLOB
"""A body kept in memory by `spool(in_memory=True)` is at most this long: an archive that size
is then stored as a small-blob row in the commit recording its transaction (no temporary file,
no file blob, no fsync of its own), while a larger one becomes a file blob anyway, which an
upload's temporary file is moved into (`Blobs.adopt`) rather than copied. It also bounds the
memory an upload in flight holds."""


@overload
async def spool(request: web.Request, source: Any, *, suffix: str, limit: int,
                field: str | None = None, received: Callable[[int], None] = ...,
                already: int = 0, in_memory: Literal[False] = False) -> tuple[Path, int]: ...


@overload
async def spool(request: web.Request, source: Any, *, suffix: str, limit: int,
                field: str | None = None, received: Callable[[int], None] = ...,
                already: int = 0, in_memory: Literal[True]) -> tuple[Path | bytes, int]: ...


async def spool(request: web.Request, source: Any, *, suffix: str, limit: int,
                field: str | None = None, received: Callable[[int], None] = lambda total: None,
                already: int = 0, in_memory: bool = False) -> tuple[Path | bytes, int]:
    """Copy a body or a multipart part to a temporary file; 413 past `limit` bytes.

    `in_memory`: a body of at most SPOOL_IN_MEMORY bytes comes back as bytes, never written;
    past that it goes to a temporary file as any other (memory stays bounded).
    `received` is told the running total (`already` bytes read before this part, plus these)."""
    kept: bytearray | None = bytearray() if in_memory else None
    handle = None if in_memory else _temporary(request, suffix)
    size = 0
    try:
        while chunk := await (source.read_chunk() if hasattr(source, "read_chunk")
                              else source.read(1 << 16)):
            size += len(chunk)
            received(already + size)
            if size > limit:
                raise BadRequest("ARCHIVE_TOO_LARGE",
                                 f"envoi de plus de {request.app[MAX_ARCHIVE_BYTES]} octets",
                                 f"upload larger than {request.app[MAX_ARCHIVE_BYTES]} bytes",
                                 field=field, kind=Kind.TOO_LARGE)
            if kept is not None:
                kept += chunk
                if size <= SPOOL_IN_MEMORY:
                    continue
                # Past the threshold: what came so far, and all the rest, to a file.
                handle, chunk, kept = _temporary(request, suffix), bytes(kept), None
            assert handle is not None
            handle.write(chunk)
    except BaseException:
        if handle is not None:
            handle.close()
            Path(handle.name).unlink(missing_ok=True)
        raise
    if handle is None:
        assert kept is not None
        return bytes(kept), size
    handle.close()
    return Path(handle.name), size


def _temporary(request: web.Request, suffix: str) -> IO[bytes]:
    """A new temporary file in the upload folder, kept when closed (the caller unlinks it)."""
    return tempfile.NamedTemporaryFile(dir=request.app[UPLOAD_DIR], delete=False,
                                       suffix=suffix)


async def json_object(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object body (`{}` when there is none and that is `optional`).

    A body sent as another media type is a 415, so that a form posted by mistake is named
    as such rather than reported as broken JSON. No Content-Type at all is taken as JSON. The
    body comes under the read deadline (408), like uploads.
    """
    body = b""
    if request.can_read_body:
        async with reading_body(request):
            body = await request.read()
    if not body:
        if optional:
            return {}
        raise BadRequest("JSON_INVALID", "un objet JSON est attendu",
                         "a JSON object is expected")
    if "Content-Type" in request.headers and request.content_type != "application/json":
        raise BadRequest("UNSUPPORTED_MEDIA_TYPE",
                         f"type {request.content_type} non accepté (application/json)",
                         f"content type {request.content_type} not accepted (application/json)")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # syntax, not UTF-8, or nested beyond the parser
        raise BadRequest("JSON_INVALID", "corps JSON illisible", "unreadable JSON body") from None
    if not isinstance(data, dict):
        raise BadRequest("JSON_INVALID", "un objet JSON est attendu", "a JSON object is expected")
    return data


def _error(status: int, code: str, fr: str, en: str, **extra: Any) -> web.Response:
    """`refusal`'s JSON shape, plus the members that apply (field, findings)."""
    response = refusal(status, code, fr, en)
    extra = {k: v for k, v in extra.items() if v is not None}
    if extra:
        response = web.json_response({**json.loads(response.text or "{}"), **extra}, status=status)
    return response


_FRENCH_REASONS = {
    404: "adresse inconnue",
    405: "méthode non acceptée à cette adresse",
    413: "corps de la requête trop volumineux",
}
"""`message_fr` of the refusals aiohttp itself raises (routing, body size)."""


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost middleware: every failure becomes the one JSON error shape, a `Refusal` with
    the status `faults.JSON_STATUS` gives its kind."""
    try:
        return await handler(request)
    except (BlobCorrupted, BlobNotFound) as exc:  # a disk fault or a hand edit: never a 500
        return refusal(json_status(exc), *store_fault(request, exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return refusal(exc.status, f"HTTP_{exc.status}", _FRENCH_REASONS.get(exc.status, exc.reason),
                       exc.reason)
    except Exception as exc:
        fault = fault_of(exc)
        if fault is not None:  # the machine's, not the request's: 503/507, never a 500
            status = JSON_STATUS[fault.kind]
            log.warning("%s %s refused %d %s: %s", request.method, request.path, status,
                        fault.code, exc)
            return refusal(status, fault.code, fault.message_fr, fault.message_en,
                           headers=fault.headers)
        if isinstance(exc, Refusal):
            report = exc.report if isinstance(exc, IntakeRefused) else None
            return _error(json_status(exc), exc.code, exc.message_fr, exc.message_en,
                          field=exc.field,
                          findings=None if report is None else report.to_dict()["findings"])
        log.exception("unexpected failure on %s %s", request.method, request.path)
        return refusal(500, "INTERNAL", "erreur interne du simulateur",
                       "internal simulator error")


def transaction_json(row: TransactionRow) -> dict:
    return {
        "id": row.id, "type": int(row.type), "type_label": row.type.libelle,
        "status": int(row.status), "status_label": row.status.libelle, "siren": row.siren,
        "id_acte": row.id_acte, "numero_interne": row.numero_interne,
        "nature": row.nature.abrege if row.nature else None, "matiere": row.matiere,
        "objet": row.objet,
        "decision_date": row.decision_date.isoformat() if row.decision_date else None,
        "archive_name": row.archive_name, "related_transaction_id": row.related_transaction_id,
        "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
    }


def show_scenario(request: web.Request, outcome: Outcome) -> None:
    """Every door that submits or posts an act calls this: the decision's faults (slow answer,
    dropped connection) are then shown by the `scenarios.show_faults` middleware and the rule
    named in the journal. (A 503 was already raised by the engine, nothing stored.)"""
    if outcome.scenario is not None:
        request[SCENARIO] = outcome.scenario


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    """An act's outcome as both APIs show it: the transaction, the answer's code, the IDActe
    and the anomaly (nature, detail), if any."""
    return {"transaction": transaction_json(outcome.transaction), "outcome": outcome.code,
            "id_acte": outcome.id_acte,
            "anomalie": None if outcome.anomalie is None else
            {"nature": outcome.anomalie[0], "detail": outcome.anomalie[1]}}


def row_id(raw: str) -> int | None:
    """A row id read from a URL or a query: ASCII digits within SQLite's INTEGER range (what
    `int()` also takes — signs, spaces, `_`, other scripts' digits, huge values — is None)."""
    return int(raw) if ascii_digits(raw) and len(raw) <= 19 and int(raw) <= SQLITE_MAX_INTEGER \
        else None


def path_id(request: web.Request, key: str = "id") -> int:
    """The row id in the URL's `{key}` segment; 404 when it cannot name a row (see `row_id`)."""
    found = row_id(request.match_info[key])
    if found is None:
        raise NotFound()
    return found


def query_number(request: web.Request, name: str) -> int | None:
    """A whole number ≥ 0 from the query string (None when absent); 400 BAD_PARAMETER otherwise."""
    raw = request.query.get(name)
    if raw is None:
        return None
    value = row_id(raw)
    if value is None:
        raise BadRequest("BAD_PARAMETER", f"{name} doit être un entier positif",
                         f"{name} must be a positive integer")
    return value


def query_int(request: web.Request, key: str, default: int | None = None) -> int | None:
    """A whole number (sign allowed) from the query string, within SQLite's integers; `default`
    when absent, 400 BAD_PARAMETER naming the field otherwise."""
    raw = request.query.get(key)
    if raw is None:
        return default
    digits = raw.removeprefix("-")
    if not ascii_digits(digits):  # int() would also take "١", " 5" or "1_0"
        raise BadRequest("BAD_PARAMETER", f"{key} doit être un entier",
                         f"{key} must be an integer", field=key)
    if len(digits) > 19 or abs(value := int(raw)) > SQLITE_MAX_INTEGER:
        raise BadRequest("BAD_PARAMETER", f"{key} hors limites", f"{key} out of range",
                         field=key)
    return value


def simulator_of(request: web.Request) -> Simulator:
    """The simulator an admin handler works on (its engine, préfecture, scheduler, book)."""
    return request.app[SIMULATOR]


@functools.cache
def openapi_document(name: str = "openapi.json") -> bytes:
    """A hand-written OpenAPI description (package data): the API's (`openapi.json`), or the
    admin port's (`admin-openapi.json`)."""
    return resources.files(__package__).joinpath(name).read_bytes()


__all__ = ["MIN_UPLOAD_RATE", "SPOOL_IN_MEMORY", "BadRequest", "json_errors", "json_object",
           "openapi_document", "outcome_json", "path_id", "query_int", "query_number",
           "reading_body", "row_id", "show_scenario", "simulator_of", "spool", "transaction_json"]
