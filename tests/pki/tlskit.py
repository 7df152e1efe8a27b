"""A tiny mutual-TLS app using the real middleware, and a raw `ssl` client for it."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from operator_sim.pki import IdentityDirectory, PkiStore, authorize
from operator_sim.pki.tls import server_ssl_context
from operator_sim.web.auth import setup_client_auth
from operator_sim.web.keys import IDENTITY

SIREN_A, SIREN_B = "491011698", "253400014"
TRANSACTIONS = {"1001": SIREN_A, "1002": SIREN_B}  # transaction id → owning SIREN


@dataclass
class Clock:
    """The simulator clock stand-in: whatever the test sets."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def make_app(pki: PkiStore, directory: IdentityDirectory, clock: Clock) -> web.Application:
    app = web.Application()
    setup_client_auth(app, trust=pki.trust_store, directory=directory, clock=clock)

    async def whoami(request: web.Request) -> web.Response:
        identity = request[IDENTITY]
        return web.json_response({"name": identity.name, "login": identity.login,
                                  "sirens": sorted(identity.sirens),
                                  "level": identity.level.value if identity.level else None})

    async def collectivite(request: web.Request) -> web.Response:
        siren = request.match_info["siren"]
        authorize(request[IDENTITY], siren, "read")
        return web.json_response({"siren": siren})

    async def transaction(request: web.Request) -> web.Response:
        owner = TRANSACTIONS.get(request.match_info["id"])
        if owner is None:
            raise web.HTTPNotFound()
        authorize(request[IDENTITY], owner, "read")
        return web.json_response({"id": request.match_info["id"], "siren": owner})

    app.router.add_get("/whoami", whoami)
    app.router.add_get("/collectivites/{siren}", collectivite)
    app.router.add_get("/transactions/{id}", transaction)
    return app


def server_context(pki: PkiStore) -> ssl.SSLContext:
    return server_ssl_context(certificate_chain=pki.server_chain_path, key=pki.server_key_path,
                              client_cas=[pki.roots_path, pki.intermediates_path])


@dataclass
class Outcome:
    kind: str  # handshake_refused | http_<status>
    status: int | None = None
    body: dict = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""


async def get(port: int, context: ssl.SSLContext, path: str,
              headers: dict[str, str] | None = None) -> Outcome:
    """One HTTP/1.1 GET over real TLS, from a thread so the server's loop keeps running."""
    return await asyncio.to_thread(_get, port, context, path, headers or {})


def _get(port: int, context: ssl.SSLContext, path: str, headers: dict[str, str]) -> Outcome:
    lines = [f"GET {path} HTTP/1.1", "Host: localhost", "Connection: close",
             *(f"{k}: {v}" for k, v in headers.items())]
    chunks = []
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw_socket, \
                context.wrap_socket(raw_socket, server_hostname="localhost",
                                suppress_ragged_eofs=False) as tls:
            tls.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            while chunk := tls.recv(65536):
                chunks.append(chunk)
    except ssl.SSLError as error:
        # The server refuses during the handshake: a TLS alert, or (asyncio servers drop the
        # connection without flushing the alert) an EOF before a single byte of HTTP.
        alert = "ALERT" in str(error).upper()
        if not (alert or (isinstance(error, ssl.SSLEOFError) and not chunks)):
            raise
        return Outcome("handshake_refused", error=str(error))
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split()[1])
    parsed_headers = dict(line.split(": ", 1) for line in header_lines)
    return Outcome(f"http_{status}", status, json.loads(body) if body else {}, parsed_headers)
