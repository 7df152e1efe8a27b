"""Serving a simulator on real sockets: the mutual-TLS API port and the loopback admin port.

`running(simulator, …)` is the one way the CLI, the pytest plugin and the integration tests put
a simulator on the network (port 0 picks a free port), so they all exercise the same wiring.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from asyncio import sslproto
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from ..pki.enrol import enrol_agent
from ..pki.store import CertRecord
from ..pki.tls import client_ssl_context
from ..simulator import Simulator
from . import tsa
from .admin import create_admin_app
from .app import create_app
from .auth import remember_peer
from .connections import Gate, give_memory_back, listening_socket
from .limits import FORM_SLACK, refuse_oversized_expect
from .malformed import log_refusals_in_one_line, refuse_http09

log = logging.getLogger(__name__)


@dataclass
class RunningSimulator:
    """A served simulator: its URLs, and helpers to talk to it as an agent or as admin."""

    simulator: Simulator
    api_url: str
    admin_url: str
    connections: tuple[Gate, ...] = ()
    """The API port's connection gate, then the admin port's (open counts, refusals)."""

    @property
    def admin_token(self) -> str:
        return self.simulator.admin_token

    def enrol(self, siren: str, name: str = "Agent de test", *, convention: bool = True,
              **options: object) -> CertRecord:
        """Issue and register an agent certificate for `siren` (see `pki.enrol.enrol_agent`);
        with `convention`, also give `siren` a convention if it has none (`ensure_convention`),
        so that the strict profile lets its acts through."""
        if convention:
            self.simulator.store.ensure_convention(siren, self.simulator.config.itc)
        return enrol_agent(self.simulator.pki, self.simulator.identities, siren=siren, name=name,
                           now=self.simulator.clock.now(), **options)  # type: ignore[arg-type]

    def agent_ssl_context(self, agent: CertRecord) -> ssl.SSLContext:
        pki = self.simulator.pki
        return client_ssl_context(cafile=pki.roots_path, certificate=pki.directory / agent.certificate,
                                  key=pki.directory / agent.key)

    def agent_session(self, agent: CertRecord, **options: object) -> aiohttp.ClientSession:
        """An HTTP session presenting `agent`'s certificate to the API port."""
        connector = aiohttp.TCPConnector(ssl=self.agent_ssl_context(agent))
        return aiohttp.ClientSession(self.api_url, connector=connector, **options)  # type: ignore[arg-type]

    def admin_session(self, **options: object) -> aiohttp.ClientSession:
        """An HTTP session on the admin port carrying the bearer token."""
        return aiohttp.ClientSession(self.admin_url,
                                     headers={"Authorization": f"Bearer {self.admin_token}"},
                                     **options)  # type: ignore[arg-type]


PeerSource = Callable[[web.Request], bytes | None]
"""Where a request's client certificate (DER) comes from when the API port is not TLS."""


@asynccontextmanager
async def running(simulator: Simulator, *, api_host: str | None = None,
                  api_port: int | None = None, admin_host: str | None = None,
                  admin_port: int | None = None,
                  peer_from: PeerSource | None = None) -> AsyncIterator[RunningSimulator]:
    """Serve both ports until the block ends (ports default to the config's; 0 = any free).

    With `peer_from`, the API port speaks plain HTTP and each request's client certificate is
    `peer_from(request)`, handed on where the TLS handshake would: the in-process client of
    the tests that are not about TLS. Everything after the handshake is the same wiring."""
    config = simulator.config
    api_host = api_host or config.api_host
    admin_host = admin_host or config.admin_host
    # keepalive_timeout also bounds how long a connection may take to send a request's headers.
    # shutdown_timeout: what requests in flight are granted once the block ends.
    api_app, admin_app = create_app(simulator), create_admin_app(simulator)
    if peer_from is not None:
        api_app.middlewares.insert(0, _peer_given_by(peer_from))
    for app in (api_app, admin_app):
        app.middlewares.insert(0, refuse_http09)
    log_refusals_in_one_line()
    bound_tls_buffers()
    body_limit = config.max_archive_bytes + FORM_SLACK
    refuse_oversized_expect(api_app, body_limit)
    refuse_oversized_expect(admin_app, body_limit,
                            limits={"/tsa": (tsa.MAX_QUERY_BYTES, tsa.too_large)})
    api = web.AppRunner(api_app, keepalive_timeout=config.read_timeout,
                        shutdown_timeout=config.shutdown_grace)
    admin = web.AppRunner(admin_app, keepalive_timeout=config.read_timeout,
                          shutdown_timeout=config.shutdown_grace)
    await api.setup()
    await admin.setup()
    gates = (Gate(config.max_connections, config.max_connections_per_address),
             Gate(config.max_connections, config.max_connections_per_address))
    trimming = asyncio.get_running_loop().create_task(give_memory_back(*gates))
    try:
        api_socket = listening_socket(api_host, config.api_port if api_port is None
                                      else api_port, gates[0])
        await web.SockSite(api, api_socket, ssl_context=None if peer_from is not None
                           else simulator.server_ssl_context()).start()
        admin_socket = listening_socket(admin_host, config.admin_port if admin_port is None
                                        else admin_port, gates[1])
        await web.SockSite(admin, admin_socket).start()
        # Callbacks never reach the ports actually bound (port 0 is only known now).
        simulator.callbacks.targets.serving([api_host, admin_host],
                                            [a[1] for r in (api, admin) for a in r.addresses])
        scheme = "http" if peer_from is not None else "https"
        yield RunningSimulator(simulator, f"{scheme}://{_authority(api_host, api)}",
                               f"http://{_authority(admin_host, admin)}", gates)
    finally:
        trimming.cancel()
        await stop(api, admin)


def _peer_given_by(peer_from: PeerSource) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def peer_given(request: web.Request, handler: Callable[[web.Request], Awaitable[
            web.StreamResponse]]) -> web.StreamResponse:
        remember_peer(request, peer_from(request))
        return await handler(request)
    return peer_given


TLS_READ_BUFFER = 32 * 1024
"""Bytes asyncio's TLS layer allocates per connection to receive into (its default is 256 KiB,
taken at accept, before the handshake: ~300 KiB of RSS per connection, unauthenticated ones
included). Two TLS records fit; reads of large uploads just take more, smaller steps."""


def bound_tls_buffers() -> None:
    """Lower asyncio's per-connection TLS receive buffer (`SSLProtocol.max_size`, a class
    attribute read when each connection is accepted) to `TLS_READ_BUFFER`."""
    sslproto.SSLProtocol.max_size = min(sslproto.SSLProtocol.max_size, TLS_READ_BUFFER)


async def stop(*runners: web.AppRunner) -> None:
    """Stop accepting on every port at once, then let each runner finish its requests in
    flight (within its shutdown_timeout, then cut) and clean its app up (journal flushed)."""
    for runner in runners:
        for site in list(runner.sites):
            await site.stop()
    await asyncio.gather(*(runner.cleanup() for runner in runners))


async def until_signalled(signals: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT),
                          ) -> signal.Signals:
    """Wait for the first of `signals` and return it.

    The handlers are installed explicitly (a shell starting a process in the background
    leaves SIGINT ignored, which Python keeps) and stay until the loop closes: a second
    signal while the service stops is ignored rather than cutting its clean-up short."""
    loop = asyncio.get_running_loop()
    received: asyncio.Future[signal.Signals] = loop.create_future()

    def handle(signum: signal.Signals) -> None:
        if received.done():
            log.warning("%s ignored: already stopping", signum.name)
        else:
            received.set_result(signum)

    for signum in signals:
        loop.add_signal_handler(signum, handle, signum)
    return await received


def _authority(host: str, runner: web.AppRunner) -> str:
    """host:port of the runner's first socket; 127.0.0.1 is named localhost to match the cert."""
    port = runner.addresses[0][1]
    return f"{'localhost' if host == '127.0.0.1' else host}:{port}"
