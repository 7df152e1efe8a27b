"""Callbacks: URLs agents register to be told of every status change and préfecture message.

An outbox tails the append-only journal past a persisted cursor: fanning the new events out to
the registrations of their SIREN and moving the cursor is one commit, so no change is missed
and none is queued twice, whichever code path wrote it. Each delivery is POSTed as JSON, signed
with HMAC-SHA256 under the registration's secret, retried with exponential backoff up to a
bound, every attempt journaled.

Deliveries fall due on the simulator's clock, as the events they tell of: a delivery is due when
queued, a retry when the clock passes its backoff (with a virtual clock, when it is moved past
it); once due it goes out at once in real time, and a clock move wakes the outbox. Each attempt
is journaled at its clock time and its real time.

Fairness: the next free slot goes to the SIREN with the fewest POSTs in flight, with bounded
concurrency per SIREN and per target (scheme, host, port), so one collectivité's hanging
receivers cannot hold back another's notifications.

Targets: http(s) only; never the simulator's own ports; loopback addresses only when allowed
(`Targets.allow_loopback`). Names are checked when registered and resolved-then-checked again
on every connection (the HTTP client connects only to the addresses that passed), so numeric
forms (0x7f000001, 127.1, [::1], ::ffff:127.0.0.1) and DNS answers are judged by address.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import ipaddress
import logging
import secrets
import socket
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from ..errors import Kind
from ..pki.identity import Identity, authorize
from ..protocol.codes import TransactionStatus, TransactionType
from ..store.interface import AsyncSimulatorStore, Callback, Delivery, SimulatorStore
from .clock import Clock, SystemClock
from .kernel import RequestRefused, only_siren

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Operator-Sim-Signature"
EVENT_HEADER = "X-Operator-Sim-Event"
DELIVERY_HEADER = "X-Operator-Sim-Delivery"
CURSOR = "callbacks_journal_cursor"
MAX_URL = 2000
FAN_OUT_BATCH = 200
RESOLVE_SECONDS = 2.0
"""How long a registration waits for DNS to vet a name (unresolved: vetted again at delivery)."""
THIS_HOST = ipaddress.ip_network("0.0.0.0/8")  # "this host on this network": connects locally


class CallbackRefused(RequestRefused):
    """A registration request refused; `kind`, `code` and messages go to the client as is."""


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` POSTs at most; the n-th retry waits first_delay × 2^(n-1), capped."""

    attempts: int = 6
    first_delay: dt.timedelta = dt.timedelta(seconds=1)
    max_delay: dt.timedelta = dt.timedelta(minutes=10)
    timeout_seconds: float = 10.0

    def delay_after(self, attempt: int) -> dt.timedelta:
        return min(self.first_delay * 2 ** (attempt - 1), self.max_delay)


@dataclass(frozen=True)
class Limits:
    """Concurrent POSTs at most: in all, of one SIREN, to one target (scheme, host, port);
    and live registrations of one SIREN (each event is queued once per registration)."""

    total: int = 16
    per_siren: int = 4
    per_target: int = 2
    registrations_per_siren: int = 100


class TargetRefused(OSError):
    """A callback address deliveries may not reach; `fr`/`en` say why."""

    def __init__(self, fr: str, en: str) -> None:
        super().__init__(en)
        self.fr, self.en = fr, en


@dataclass
class Targets:
    """Where deliveries may go: never the simulator's own ports (on a loopback address, or one
    it listens on), loopback addresses only when `allow_loopback`."""

    allow_loopback: bool = False
    own_ports: set[int] = field(default_factory=set)
    own_addresses: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = field(default_factory=set)

    def check(self, host: str, address: str, port: int) -> None:
        """Raise TargetRefused when `address` (an IP text, `host` resolved) may not be reached."""
        ip = _ip(address)
        if ip is None:
            raise TargetRefused(f"{host} : adresse {address!r} illisible",
                                f"{host}: unreadable address {address!r}")
        local = _local(ip)
        if port in self.own_ports and (local or ip in self.own_addresses):
            raise TargetRefused(f"{host}:{port} est un port du simulateur lui-même",
                                f"{host}:{port} is one of the simulator's own ports")
        if local and not self.allow_loopback:
            raise TargetRefused(
                f"{host} désigne cette machine ({ip}) : autorisé seulement avec le réglage "
                "callback_loopback = \"allow\"",
                f"{host} is this machine ({ip}): only allowed with the setting "
                "callback_loopback = \"allow\"")

    def serving(self, hosts: list[str], ports: list[int]) -> None:
        """The simulator listens on `ports` of `hosts` (an unspecified host: every address of
        this machine that its name resolves to)."""
        self.own_ports.update(ports)
        for host in hosts:
            for address in _addresses(host, numeric=False) or []:
                ip = _ip(address)
                if ip is None:
                    continue
                if ip.is_unspecified:
                    for own in _addresses(socket.gethostname(), numeric=False) or []:
                        if (found := _ip(own)) is not None:
                            self.own_addresses.add(found)
                else:
                    self.own_addresses.add(ip)


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _local(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """An address that reaches this machine whatever its network: loopback, unspecified, 0/8."""
    return ip.is_loopback or ip.is_unspecified or (ip.version == 4 and ip in THIS_HOST)


def _addresses(host: str, port: int = 0, *, numeric: bool = True) -> list[str] | None:
    """The addresses a host is (numeric: only if it is an address in any of the forms the
    system's resolver reads, 127.1 and 0x7f000001 included, without asking DNS)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_NUMERICHOST if numeric else 0)
    except (OSError, UnicodeError):
        return None
    return [str(info[4][0]) for info in found]


def _local_name(host: str) -> bool:
    """localhost and names under it are this machine (RFC 6761), whatever DNS says."""
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


class _CheckingResolver(AbstractResolver):
    """The HTTP client's resolver: every address a name resolves to is checked before any
    connection, and a name with one refused address is refused (no DNS-rebinding pick)."""

    def __init__(self, targets: Targets) -> None:
        self._inner = ThreadedResolver()
        self._targets = targets

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if _local_name(host):
            self._targets.check(host, "127.0.0.1", port)
        found = await self._inner.resolve(host, port, family)
        for result in found:
            self._targets.check(host, result["host"], port)
        return found

    async def close(self) -> None:
        await self._inner.close()


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


def _unseen_events(store: SimulatorStore) -> bool:
    """Whether the journal grew past the outbox cursor (a cheap read before any write)."""
    return store.last_journal_id() > int(store.state(CURSOR) or 0)


def _fan_out(store: SimulatorStore, created_at: dt.datetime) -> int:
    """Queue a delivery per (new journal event, live registration of its SIREN); one commit."""
    def write() -> int:
        cursor = int(store.state(CURSOR) or 0)
        if not store.callbacks():  # nobody to notify: a registration made later starts later
            last = store.last_journal_id()
            store.set_state(CURSOR, str(last))
            return last - cursor
        found = store.journal_after(cursor, FAN_OUT_BATCH)
        if not found:
            return 0
        registered = store.callbacks(sirens={e["siren"] for e in found})
        for event in found:
            for callback in registered:
                if callback.siren == event["siren"] and event["event_id"] > callback.since_event:
                    store.add_delivery(callback_id=callback.id, event_id=event["event_id"],
                                       transaction_id=event["transaction_id"],
                                       payload=notification(event), created_at=created_at)
        store.set_state(CURSOR, str(found[-1]["event_id"]))
        return len(found)

    return store.atomic(write)


class Callbacks:
    """Registrations (through the agents' API) and the outbox that delivers to them."""

    def __init__(self, store: AsyncSimulatorStore, clock: Clock, policy: RetryPolicy = RetryPolicy(), *,
                 real_clock: Clock | None = None, poll_seconds: float = 0.2,
                 limits: Limits = Limits(), targets: Targets | None = None) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy
        self.real_clock = real_clock or SystemClock()
        self.poll_seconds = poll_seconds
        self.limits = limits
        self.targets = targets or Targets()
        self._inflight: dict[int, tuple[str, tuple[str, str, int]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake: asyncio.Event | None = None

    # -- registrations --------------------------------------------------------------------

    async def register(self, identity: Identity, url: object, siren: str | None = None) -> Callback:
        """Register `url` for `siren` (default: the identity's only SIREN); the returned
        registration carries the secret its deliveries are signed with. `url` is whatever the
        client posted: anything but an absolute http(s) address is refused (422)."""
        siren = siren or only_siren(identity)
        authorize(identity, siren, "read")
        checked = _checked_url(url)
        await self._vet(URL(checked))
        cap = self.limits.registrations_per_siren

        def add(store: SimulatorStore) -> Callback | None:
            if len(store.callbacks(sirens=[siren])) >= cap:  # counted in the write itself
                return None
            return store.add_callback(siren=siren, url=checked, secret=secrets.token_urlsafe(32),
                                      owner_fingerprint=identity.fingerprint,
                                      owner_name=identity.login or identity.name,
                                      created_at=self.clock.now())

        added = await self.store.call(lambda store: store.atomic(lambda: add(store)))
        if added is None:
            raise CallbackRefused("CALLBACK_LIMIT",
                                  f"le SIREN {siren} a déjà {cap} callbacks : en supprimer un d'abord",
                                  f"SIREN {siren} already has {cap} callbacks: delete one first",
                                  kind=Kind.CONFLICT)
        return added

    async def _vet(self, url: URL) -> None:
        """Refuse a target by its addresses now (a name that does not resolve yet is vetted
        on each delivery, as every name is)."""
        host, port = url.raw_host or "", url.port or 0
        addresses = _addresses(host, port)
        if addresses is None and _local_name(host):
            addresses = ["127.0.0.1"]
        if addresses is None:
            try:
                found = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM), RESOLVE_SECONDS)
                addresses = [str(info[4][0]) for info in found]
            except (OSError, UnicodeError, TimeoutError):
                return
        try:
            for address in addresses:
                self.targets.check(host, address, port)
        except TargetRefused as refused:
            raise CallbackRefused("CALLBACK_URL_REFUSED", f"url : {refused.fr}",
                                  f"url: {refused.en}", field="url") from None
        if _addresses(host, port) is not None and _ip(host) is None:
            # 2130706433, 127.1, 0xc0000207: the HTTP client refuses such forms (or takes them
            # for names), so nothing could ever be delivered there.
            raise CallbackRefused("CALLBACK_URL_INVALID",
                                  f"url : adresse {host} à écrire sous sa forme usuelle "
                                  f"({addresses[0]})",
                                  f"url: write address {host} in its usual form ({addresses[0]})",
                                  field="url")

    async def registered(self, identity: Identity, siren: str | None = None) -> list[Callback]:
        """The live registrations of the identity's SIRENs (or of `siren`, if it may read it)."""
        if siren is not None:
            authorize(identity, siren, "read")
        return await self.store.query(lambda s: s.callbacks(sirens=[siren] if siren else identity.sirens))

    async def delete(self, identity: Identity, callback_id: int) -> None:
        """Retire a registration of the identity's SIRENs: nothing more is sent to it."""
        found = await self.store.query(lambda s: s.get_callback(callback_id))
        if found is None or found.deleted_at is not None:
            raise CallbackRefused("CALLBACK_UNKNOWN", f"aucun callback {callback_id}",
                                  f"no callback {callback_id}", kind=Kind.NOT_FOUND)
        authorize(identity, found.siren, "read")
        now = self.clock.now()
        await self.store.call(lambda s: s.delete_callback(callback_id, now))

    # -- the outbox -------------------------------------------------------------------------

    def wake(self) -> None:
        """Make the outbox pass now rather than at its next poll (a clock move, a free slot)."""
        if self._wake is not None:
            self._wake.set()

    async def clock_moved(self, before: dt.datetime) -> None:
        """The simulator's clock was set or advanced from `before`: set back, what was pending
        falls due at once; either way the outbox passes now, for what fell due."""
        now = self.clock.now()
        if now < before:
            await self.store.call(lambda s: s.rewind_deliveries(now))
        self.wake()

    async def pump(self, session: aiohttp.ClientSession) -> None:
        """One pass: queue deliveries for new journal events, start the due ones fairly."""
        if await self.store.query(_unseen_events):  # an idle pass takes no write lock
            while await self.store.call(_fan_out, self.clock.now()) == FAN_OUT_BATCH:
                pass
        limits = self.limits
        if len(self._inflight) >= limits.total:
            return
        now, skip = self.clock.now(), list(self._inflight)
        due = await self.store.query(lambda s: s.due_deliveries(now, per_callback=limits.per_target,
                                                                skip=skip))
        sirens = Counter(siren for siren, _ in self._inflight.values())
        targets = Counter(target for _, target in self._inflight.values())
        queues: dict[str, deque[tuple[int, Delivery]]] = {}
        for rank, delivery in enumerate(due):  # oldest due first
            queues.setdefault(delivery.siren, deque()).append((rank, delivery))
        while queues and len(self._inflight) < limits.total:
            # The SIREN with the fewest POSTs in flight goes next (its oldest due, on a tie):
            # a collectivité whose receivers hang keeps its share, never the others'.
            siren = min(queues, key=lambda s: (sirens[s], queues[s][0][0]))
            _, delivery = queues[siren].popleft()
            if not queues[siren] or sirens[siren] >= limits.per_siren:
                del queues[siren]
                if sirens[siren] >= limits.per_siren:
                    continue
            target = _target(delivery.url)
            if targets[target] >= limits.per_target:
                continue
            sirens[siren] += 1
            targets[target] += 1
            self._inflight[delivery.id] = (siren, target)
            task = asyncio.create_task(self._deliver(session, delivery))
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._finished, delivery_id=delivery.id))

    def _finished(self, task: asyncio.Task[None], delivery_id: int) -> None:
        self._tasks.discard(task)
        self._inflight.pop(delivery_id, None)
        self.wake()  # a slot is free: the next due delivery of that SIREN or target may go

    async def _deliver(self, session: aiohttp.ClientSession, delivery: Delivery) -> None:
        body = delivery.payload.encode()
        headers = {"Content-Type": "application/json", "User-Agent": "operator-sim",
                   SIGNATURE_HEADER: signature(delivery.secret, body),
                   EVENT_HEADER: str(delivery.event_id), DELIVERY_HEADER: str(delivery.id)}
        status = error = None
        refused = False
        started = time.monotonic()
        try:
            url = URL(delivery.url)
            host, port = url.raw_host or "", url.port or 0
            # An address written in the URL never reaches the resolver: checked here, in any
            # numeric form the system reads; names are checked by `_CheckingResolver`.
            for address in _addresses(host, port) or []:
                self.targets.check(host, address, port)
            async with session.post(delivery.url, data=body, headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=self.policy.timeout_seconds),
                                    allow_redirects=False) as response:
                status = response.status
                await response.content.read(64 * 1024)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            # ValueError: a URL registered before `_checked_url` refused its kind still counts
            # as a failed attempt, rather than a task dying and the delivery retried at once.
            cause = exc if isinstance(exc, TargetRefused) else exc.__cause__
            if isinstance(cause, TargetRefused):
                refused, error = True, f"refused target: {cause.en}"
            else:
                error = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        duration_ms = int((time.monotonic() - started) * 1000)
        attempt = delivery.attempts + 1
        now = self.clock.now()
        if status is not None and 200 <= status < 300:
            state, next_at = "delivered", None
        else:
            error = error or f"HTTP {status}"
            state = "failed" if refused or attempt >= self.policy.attempts else "pending"
            next_at = None if state == "failed" else now + self.policy.delay_after(attempt)
        real_at = self.real_clock.now()
        await self.store.call(lambda s: s.record_attempt(
            delivery.id, at=now, real_at=real_at, status=status, error=error,
            duration_ms=duration_ms, state=state, next_attempt_at=next_at))

    async def run(self) -> None:
        """Deliver until cancelled (a background task of the served application)."""
        self._wake = asyncio.Event()
        # No DNS cache and no kept-alive connection: each POST resolves and checks afresh.
        connector = aiohttp.TCPConnector(resolver=_CheckingResolver(self.targets),
                                         use_dns_cache=False, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            try:
                while True:
                    self._wake.clear()
                    try:
                        await self.pump(session)
                    except Exception:
                        log.exception("the callback outbox's pass failed; trying again")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            finally:
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def deliveries(self, **filters: Any) -> list[dict[str, Any]]:
        return await self.store.query(lambda s: s.deliveries(**filters))


def _target(url: str) -> tuple[str, str, int]:
    """Whom a POST loads: scheme, host, port (concurrency is bounded per target)."""
    try:
        parsed = URL(url)
        return parsed.scheme, (parsed.raw_host or "").lower(), parsed.port or 0
    except ValueError:
        return "", url, 0


def _checked_url(url: object) -> str:
    text = url.strip() if isinstance(url, str) else ""
    try:
        candidate = URL(text)
        # A host must decode and encode as IDNA (`xn--`, `a..b`, labels over 63 characters
        # fail), or no delivery could ever be attempted.
        if candidate.host is not None:
            candidate.host.encode("idna")
        parsed: URL | None = candidate
    except ValueError:  # UnicodeError included
        parsed = None
    if not text or len(text) > MAX_URL or parsed is None or parsed.scheme not in ("http", "https") \
            or not parsed.host:
        raise CallbackRefused("CALLBACK_URL_INVALID",
                              "url : une adresse http:// ou https:// absolue est attendue",
                              "url: an absolute http:// or https:// address is expected", field="url")
    return text


__all__ = ["CallbackRefused", "Callbacks", "Limits", "RetryPolicy", "TargetRefused", "Targets", "signature"]
