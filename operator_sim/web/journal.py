"""The request journal: every API request, its outcome and the client certificate it presented.

`record_requests` is the API app's outermost middleware, so it also sees what the certificate
check refused (the auth middleware leaves its verdict on the request either way). Handshakes
the TLS layer refuses never reach HTTP: `handshake_recorder` journals them (method `TLS`,
verdict `TLS_HANDSHAKE_REFUSED`, the peer, OpenSSL's reason and verification message).

A row does not cost a commit (an fsync) of its own, nor hold up the answer: it joins the next
write transaction of the store (`defer_write`), and a commit is forced `FLUSH_AFTER` seconds
after it if none came; the admin query and a clean shutdown commit what waits. A SIGKILL or a
power cut can lose the rows of the requests answered in the last `FLUSH_AFTER` seconds (never
anything those requests stored: their own commits came before their answers). Queried on the
admin port:

    GET /admin/journal?fingerprint=&status=&path=(prefix)&verdict=&transaction=&since=&after=&limit=
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any

from aiohttp import web
from cryptography import x509

from ..pki.tls import HandshakeRefusal
from ..store import SqliteStore, StoreError
from .auth import peer_certificate, peer_fingerprint
from .http import BadRequest, query_number, row_id, simulator_of
from .keys import CLOCK, DROPPED, IDENTITY, INTEGRITY_FAULT, SCENARIO, VERDICT

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_LIMIT = 1000
FLUSH_AFTER = 0.05
"""Seconds a journal row may wait for another commit to join before one is forced."""


class JournalBuffer:
    """Journal rows queued on the store's next commit, and the timer that forces one."""

    def __init__(self, store: SqliteStore, *, delay: float | None = None) -> None:
        self.store = store
        self.delay = FLUSH_AFTER if delay is None else delay
        self._timer: asyncio.TimerHandle | None = None

    def add(self, entry: dict[str, Any]) -> None:
        self.store.defer_request(entry)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.delay, self._commit_soon)

    def _commit_soon(self) -> None:
        self._timer = None
        if self.store.has_deferred:  # often another request's commit took them already
            with contextlib.suppress(StoreError):  # closed meanwhile: closing committed them
                self.store.run_on_writer(self.store.flush_deferred).add_done_callback(_log_failure)

    async def flush(self) -> None:
        """Commit every waiting row now."""
        await commit_waiting(self.store)

    async def close(self, _app: web.Application | None = None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.flush()


JOURNAL = web.AppKey("journal_buffer", JournalBuffer)


def setup_journal(app: web.Application, store: SqliteStore) -> None:
    """Journal `app`'s requests into `store` (`record_requests` must be its outermost
    middleware); what waits is committed when the app is cleaned up."""
    app[JOURNAL] = buffer = JournalBuffer(store)
    app.on_cleanup.append(buffer.close)


async def commit_waiting(store: SqliteStore) -> None:
    """Commit the rows waiting for a commit (`defer_write`), from the event loop."""
    await asyncio.wrap_future(store.run_on_writer(store.flush_deferred))


def _log_failure(done: Future[None]) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.error("could not journal requests", exc_info=done.exception())


@web.middleware
async def record_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.monotonic()
    at = request.app[CLOCK]()
    response: web.StreamResponse | None = None
    status: int | None = None
    note: str | None = None
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        note = "client went away before the answer"
        raise
    except Exception:
        status = 500
        raise
    finally:
        if request.get(DROPPED):
            status, note = None, "connection dropped by a scenario (the request was processed)"
        entry = _entry(request, response, at=at, status=status, note=note,
                       duration_ms=int((time.monotonic() - started) * 1000))
        try:
            request.app[JOURNAL].add(entry)
        except Exception:
            log.exception("could not journal %s %s", request.method, request.path)


def _entry(request: web.Request, response: web.StreamResponse | None, *, at: dt.datetime,
           status: int | None, note: str | None, duration_ms: int) -> dict[str, Any]:
    leaf = peer_certificate(request)
    verdict = request.get(VERDICT)  # set by the auth middleware, refusals included
    identity = request.get(IDENTITY)
    failed = status is not None and status >= 400
    from_path = _path_transaction_id(request)
    # The answer's JSON is read again only for what it alone tells: an error's code, or the
    # transaction a request created (not on a GET: a listing is never parsed twice).
    creates = from_path is None and request.method not in ("GET", "HEAD")
    body = _json_body(response) if failed or creates else {}
    decision = request.get(SCENARIO)
    fault = request.get(INTEGRITY_FAULT)  # an altered or missing blob: (code, note)
    return {
        "at": at, "method": request.method, "path": request.path, "query": request.query_string,
        "status": status, "duration_ms": duration_ms, "remote": request.remote,
        "subject": None if leaf is None else _names(leaf)[0],
        "issuer": None if leaf is None else _names(leaf)[1],
        "serial": None if leaf is None else format(leaf.serial_number, "x"),
        "fingerprint": peer_fingerprint(request),
        "verdict": None if verdict is None else verdict.code,
        "indication": None if verdict is None else verdict.indication,
        "sub_indication": None if verdict is None else verdict.sub_indication,
        "identity": None if identity is None else {
            "name": identity.name, "login": identity.login, "sirens": sorted(identity.sirens),
            "roles": sorted(identity.roles), "certificate_siren": identity.certificate_siren,
            "level": None if identity.level is None else str(identity.level.name)},
        "transaction_id": from_path if from_path is not None else _body_transaction_id(body),
        "error_code": fault[0] if fault else body.get("code") if failed else None,
        "scenario": None if decision is None else decision.rule_id,
        "note": note or (fault[1] if fault else None),
    }


@functools.lru_cache(maxsize=1024)
def _names(leaf: x509.Certificate) -> tuple[str, str]:
    """The subject and issuer as RFC 4514 strings: written at every request, worked out once
    per certificate (certificates compare and hash by their bytes)."""
    return leaf.subject.rfc4514_string(), leaf.issuer.rfc4514_string()


def handshake_recorder(app: web.Application) -> Callable[[HandshakeRefusal], None]:
    """What the API port's TLS context calls on a refused handshake: a journal row."""
    def record(refusal: HandshakeRefusal) -> None:
        host, port = refusal.peer if refusal.peer is not None else (None, None)
        try:
            app[JOURNAL].add({
                "at": app[CLOCK](), "method": "TLS", "path": "", "query": "", "status": None,
                "duration_ms": 0, "remote": host, "verdict": "TLS_HANDSHAKE_REFUSED",
                "indication": refusal.reason, "sub_indication": refusal.verify_message,
                "error_code": refusal.reason,
                "note": f"TLS handshake refused (peer port {port}): {refusal.detail}"})
        except Exception:  # never let journaling break the TLS layer
            log.exception("could not journal a refused TLS handshake")
    return record


async def record_fault(request: web.Request, status: int, code: str, note: str) -> None:
    """Journal a refusal of the admin port that must be found again (an altered blob met by
    the dashboard): that port's requests are not journaled otherwise."""
    simulator = simulator_of(request)
    entry = {"at": simulator.clock.now(), "method": request.method, "path": request.path,
             "query": request.query_string, "status": status, "duration_ms": 0,
             "remote": request.remote, "verdict": "ADMIN", "error_code": code, "note": note}
    try:
        await simulator.engine.store.call(lambda s: s.record_request(entry))
    except StoreError:
        log.exception("could not journal %s %s", request.method, request.path)


def _json_body(response: web.StreamResponse | None) -> dict[str, Any]:
    if not isinstance(response, web.Response) or response.content_type != "application/json" \
            or not isinstance(response.body, bytes) or len(response.body) > 1_000_000:
        return {}
    try:
        data = json.loads(response.body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _path_transaction_id(request: web.Request) -> int | None:
    transaction_id = row_id(request.match_info.get("id", ""))
    return transaction_id if request.path.startswith("/api/v1/transactions/") else None


def _body_transaction_id(body: dict[str, Any]) -> int | None:
    transaction = body.get("transaction")
    if isinstance(transaction, dict) and isinstance(transaction.get("id"), int):
        return transaction["id"]
    return None


# -- admin ----------------------------------------------------------------------------------------

async def query(request: web.Request) -> web.Response:
    """Journaled requests, newest first."""
    q = request.query
    since = None
    if "since" in q:
        try:
            since = dt.datetime.fromisoformat(q["since"])
        except ValueError:
            since = None
        if since is None or since.tzinfo is None:
            raise BadRequest("BAD_PARAMETER", "since : instant ISO 8601 avec fuseau",
                             "since: ISO 8601 instant with an offset")
    store = simulator_of(request).engine.store
    await store.flush_deferred()  # rows still waiting for a commit are shown too
    filters = {"fingerprint": (q.get("fingerprint") or "").lower() or None,
               "status": query_number(request, "status"), "path": q.get("path") or None,
               "verdict": q.get("verdict") or None, "since": since,
               "after": query_number(request, "after"),
               "transaction_id": query_number(request, "transaction"),
               "limit": min(query_number(request, "limit") or 100, MAX_LIMIT)}
    found = await store.query(lambda s: s.requests(**filters))
    return web.json_response({"items": [_item(r) for r in found]})


def _item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "at": row["at"], "method": row["method"], "path": row["path"],
        "query": row["query"], "status": row["status"], "duration_ms": row["duration_ms"],
        "remote": row["remote"],
        "certificate": None if row["fingerprint"] is None else {
            "subject": row["subject"], "issuer": row["issuer"], "serial": row["serial"],
            "fingerprint": row["fingerprint"]},
        "verdict": {"code": row["verdict"], "indication": row["indication"],
                    "sub_indication": row["sub_indication"]},
        "identity": row["identity"], "transaction_id": row["transaction_id"],
        "error_code": row["error_code"], "scenario": row["scenario"], "note": row["note"],
    }


def add_admin_routes(app: web.Application) -> None:
    app.router.add_get("/admin/journal", query)


__all__ = ["FLUSH_AFTER", "JOURNAL", "JournalBuffer", "add_admin_routes", "commit_waiting",
           "handshake_recorder", "record_fault", "record_requests", "setup_journal"]
