"""Callbacks: URLs agents register to be told of every status change and préfecture message.

An outbox tails the append-only journal past a persisted cursor: fanning the new events out to
the registrations of their SIREN and moving the cursor is one commit, so no change is missed
and none is queued twice, whichever code path wrote it. Each delivery is POSTed as JSON, signed
with HMAC-SHA256 under the registration's secret, retried with exponential backoff up to a
bound, every attempt journaled. Retries are timed on real time (`retry_clock`): a virtual clock
standing still must not stop deliveries.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from ..pki.identity import Identity, authorize
from ..protocol.codes import TransactionStatus, TransactionType
from ..store import simulation as rows
from ..store.database import AsyncStore
from ..store.simulation import Callback, Delivery
from .clock import Clock, SystemClock
from .intake import RequestRefused, only_siren

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Operator-Sim-Signature"
EVENT_HEADER = "X-Operator-Sim-Event"
DELIVERY_HEADER = "X-Operator-Sim-Delivery"
CURSOR = "callbacks_journal_cursor"
MAX_URL = 2000
FAN_OUT_BATCH = 200


class CallbackRefused(RequestRefused):
    """A registration request refused; `status`, `code` and messages go to the client as is."""


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` POSTs at most; the n-th retry waits first_delay × 2^(n-1), capped."""

    attempts: int = 6
    first_delay: dt.timedelta = dt.timedelta(seconds=1)
    max_delay: dt.timedelta = dt.timedelta(minutes=10)
    timeout_seconds: float = 10.0

    def delay_after(self, attempt: int) -> dt.timedelta:
        return min(self.first_delay * 2 ** (attempt - 1), self.max_delay)


def signature(secret: str, body: bytes) -> str:
    """The signature header's value: "sha256=" + hex HMAC-SHA256 of the exact body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def notification(event: dict[str, Any]) -> dict[str, Any]:
    """The JSON told about one journal event (a row of `journal_after`)."""
    status = TransactionStatus(event["to_status"])
    kind = TransactionType(event["type"])
    from_prefecture = event["message_direction"] == "PREF"
    return {
        "event_id": event["event_id"], "event": "message" if from_prefecture else "status",
        "transaction_id": event["transaction_id"], "type": int(kind), "type_label": kind.libelle,
        "status": int(status), "label": status.libelle,
        "from_status": event["from_status"], "message": event["message"],
        "message_code": event["message_code"], "message_file": event["file_name"],
        "id_acte": event["id_acte"], "siren": event["siren"],
        "related_transaction_id": event["related_transaction_id"], "at": event["at"],
    }


def _unseen_events(db: Any) -> bool:
    """Whether the journal grew past the outbox cursor (a cheap read before any write)."""
    return rows.last_journal_id(db) > int(rows.state_get(db, CURSOR) or 0)


def _fan_out(db: Any, created_at: dt.datetime) -> int:
    """Queue a delivery per (new journal event, live registration of its SIREN); one commit."""
    cursor = int(rows.state_get(db, CURSOR) or 0)
    found = rows.journal_after(db, cursor, FAN_OUT_BATCH)
    if not found:
        return 0
    registered = rows.callbacks(db, sirens={e["siren"] for e in found})
    for event in found:
        for callback in registered:
            if callback.siren == event["siren"] and event["event_id"] > callback.since_event:
                rows.add_delivery(db, callback_id=callback.id, event_id=event["event_id"],
                                  transaction_id=event["transaction_id"],
                                  payload=notification(event), created_at=created_at)
    rows.state_set(db, CURSOR, str(found[-1]["event_id"]))
    return len(found)


class Callbacks:
    """Registrations (through the agents' API) and the outbox that delivers to them."""

    def __init__(self, store: AsyncStore, clock: Clock, policy: RetryPolicy = RetryPolicy(), *,
                 retry_clock: Clock | None = None, poll_seconds: float = 0.2,
                 concurrency: int = 8) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy
        self.retry_clock = retry_clock or SystemClock()
        self.poll_seconds = poll_seconds
        self.concurrency = concurrency
        self._inflight: dict[int, asyncio.Task[None]] = {}

    # -- registrations --------------------------------------------------------------------

    async def register(self, identity: Identity, url: str, siren: str | None = None) -> Callback:
        """Register `url` for `siren` (default: the identity's only SIREN); the returned
        registration carries the secret its deliveries are signed with."""
        siren = siren or only_siren(identity)
        authorize(identity, siren, "read")
        checked = _checked_url(url)
        return await self.store.write(
            lambda db: rows.add_callback(db, siren=siren, url=checked, secret=secrets.token_urlsafe(32),
                                         owner_fingerprint=identity.fingerprint,
                                         owner_name=identity.login or identity.name,
                                         created_at=self.clock.now()))

    async def registered(self, identity: Identity, siren: str | None = None) -> list[Callback]:
        """The live registrations of the identity's SIRENs (or of `siren`, if it may read it)."""
        if siren is not None:
            authorize(identity, siren, "read")
        return await self.store.read(rows.callbacks, sirens=[siren] if siren else identity.sirens)

    async def delete(self, identity: Identity, callback_id: int) -> None:
        """Retire a registration of the identity's SIRENs: nothing more is sent to it."""
        found = await self.store.read(rows.get_callback, callback_id)
        if found is None or found.deleted_at is not None:
            raise CallbackRefused(404, "CALLBACK_UNKNOWN", f"aucun callback {callback_id}",
                                  f"no callback {callback_id}")
        authorize(identity, found.siren, "read")
        await self.store.write(rows.delete_callback, callback_id, self.clock.now())

    # -- the outbox -------------------------------------------------------------------------

    async def pump(self, session: aiohttp.ClientSession) -> None:
        """One pass: queue deliveries for new journal events, start the due ones."""
        if await self.store.read(_unseen_events):  # an idle pass takes no write lock
            while await self.store.write(_fan_out, self.clock.now()) == FAN_OUT_BATCH:
                pass
        room = self.concurrency - len(self._inflight)
        if room <= 0:
            return
        due = await self.store.read(rows.due_deliveries, self.retry_clock.now(),
                                    room + len(self._inflight))
        for delivery in due:
            if delivery.id not in self._inflight and len(self._inflight) < self.concurrency:
                task = asyncio.create_task(self._deliver(session, delivery))
                self._inflight[delivery.id] = task
                task.add_done_callback(lambda _t, key=delivery.id: self._inflight.pop(key, None))

    async def _deliver(self, session: aiohttp.ClientSession, delivery: Delivery) -> None:
        body = delivery.payload.encode()
        headers = {"Content-Type": "application/json", "User-Agent": "operator-sim",
                   SIGNATURE_HEADER: signature(delivery.secret, body),
                   EVENT_HEADER: str(delivery.event_id), DELIVERY_HEADER: str(delivery.id)}
        status = error = None
        started = time.monotonic()
        try:
            async with session.post(delivery.url, data=body, headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=self.policy.timeout_seconds),
                                    allow_redirects=False) as response:
                status = response.status
                await response.content.read(64 * 1024)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            # ValueError: a URL registered before `_checked_url` refused its kind still counts
            # as a failed attempt, rather than a task dying and the delivery retried at once.
            error = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        duration_ms = int((time.monotonic() - started) * 1000)
        attempt = delivery.attempts + 1
        now = self.retry_clock.now()
        if status is not None and 200 <= status < 300:
            state, next_at = "delivered", None
        else:
            error = error or f"HTTP {status}"
            state = "failed" if attempt >= self.policy.attempts else "pending"
            next_at = None if state == "failed" else now + self.policy.delay_after(attempt)
        await self.store.write(rows.record_attempt, delivery.id, at=now, status=status, error=error,
                               duration_ms=duration_ms, state=state, next_attempt_at=next_at)

    async def run(self) -> None:
        """Deliver until cancelled (a background task of the served application)."""
        async with aiohttp.ClientSession() as session:
            try:
                while True:
                    try:
                        await self.pump(session)
                    except Exception:
                        log.exception("the callback outbox's pass failed; trying again")
                    await asyncio.sleep(self.poll_seconds)
            finally:
                for task in list(self._inflight.values()):
                    task.cancel()
                await asyncio.gather(*self._inflight.values(), return_exceptions=True)

    async def deliveries(self, **filters: Any) -> list[dict[str, Any]]:
        return await self.store.read(rows.deliveries, **filters)


def _checked_url(url: object) -> str:
    text = url.strip() if isinstance(url, str) else ""
    try:
        parsed: URL | None = URL(text)
        # A host must decode and encode as IDNA (`xn--`, `a..b`, labels over 63 characters
        # fail), or no delivery could ever be attempted.
        if parsed.host is not None:
            parsed.host.encode("idna")
    except ValueError:  # UnicodeError included
        parsed = None
    if not text or len(text) > MAX_URL or parsed is None or parsed.scheme not in ("http", "https") \
            or not parsed.host:
        raise CallbackRefused(422, "CALLBACK_URL_INVALID",
                              "url : une adresse http:// ou https:// absolue est attendue",
                              "url: an absolute http:// or https:// address is expected", field="url")
    return text


__all__ = ["CallbackRefused", "Callbacks", "RetryPolicy", "signature"]
