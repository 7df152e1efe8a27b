"""Client-certificate authentication middleware: trust, identity, and refusals as JSON.

Reads the peer certificate from the TLS transport, judges it with `pki.trust` at the app
clock's time, resolves the identity (HTTP Basic for shared certificates) and hands handlers
`request[IDENTITY]`. It answers 401 (untrusted, unknown) or 403 (forbidden) itself, and turns
`IdentityError`s raised by handlers (e.g. `authorize`) into the same JSON body. The binding
comes from the directory's memory when it has it; only a miss costs a store read, off the loop.

A user's certificate forwarded in `org.s2low.forward-x509-identification` (Pastell acting for
its user, as S²LOW allows) is believed only from a declared trusted intermediary (certificate
fingerprint or address, `Config.trusted_intermediaries`): it then selects the identity, while
the connection keeps the level of the certificate actually presented (`Identity.level`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import BasicAuth, hdrs, web
from aiohttp.typedefs import LooseHeaders
from cryptography import x509

from ..errors import Kind
from ..pki.identity import (
    BadCredentials,
    CertificateBinding,
    Identity,
    IdentityDirectory,
    IdentityError,
    identify,
)
from ..pki.trust import DEFAULT_POLICY, Reason, TrustPolicy, TrustStore, Verdict, judge
from .faults import json_status
from .keys import (
    CLOCK,
    IDENTITY,
    IDENTITY_DIRECTORY,
    PEER_CERTIFICATE,
    TRUST_POLICY,
    TRUST_SOURCE,
    VERDICT,
    Handler,
)

FORWARD_HEADER = "org.s2low.forward-x509-identification"
CERTIFICATE_ONLY = ("/admin/users/api-list-login.php",)
"""Paths S²LOW answers from the certificate alone (no login asked, even when shared)."""


@dataclass(frozen=True)
class Intermediaries:
    """Who may forward a user's certificate: client certificate fingerprints, IP addresses."""

    fingerprints: frozenset[str] = frozenset()
    addresses: frozenset[str] = frozenset()

    def trust(self, fingerprint: str, address: str | None) -> bool:
        return fingerprint in self.fingerprints or (address or "") in self.addresses


TRUSTED_INTERMEDIARIES = web.AppKey("trusted_intermediaries", Intermediaries)


class ForwardRefused(IdentityError):
    """A forwarded certificate that may not select the user."""

    code = "FORWARD_REFUSED"
    kind = Kind.FORBIDDEN
    message_fr = "La connexion n'a pas pu être établie"
    message_en = "The connection could not be established"

    def __init__(self, detail: str, *, kind: Kind = Kind.FORBIDDEN) -> None:
        super().__init__(detail)
        self.kind = kind
        self.message_fr = f"{ForwardRefused.message_fr} : {detail}"

_BASIC_CHALLENGE = {hdrs.WWW_AUTHENTICATE: 'Basic realm="operator-sim", charset="UTF-8"'}


def setup_client_auth(app: web.Application, *, trust: Callable[[], TrustStore],
                      directory: IdentityDirectory, clock: Callable[[], datetime],
                      policy: TrustPolicy = DEFAULT_POLICY,
                      intermediaries: Intermediaries = Intermediaries()) -> None:
    """Store what the middleware needs under its AppKeys and install it."""
    app[TRUST_SOURCE] = trust
    app[TRUST_POLICY] = policy
    app[IDENTITY_DIRECTORY] = directory
    app[CLOCK] = clock
    app[TRUSTED_INTERMEDIARIES] = intermediaries
    app.middlewares.append(client_certificate_auth)


def refusal(status: int, code: str, message_fr: str, message_en: str, *,
            indication: str | None = None, sub_indication: str | None = None,
            detail: str = "", headers: LooseHeaders | None = None) -> web.Response:
    """The one JSON shape of every authentication or authorisation refusal."""
    body = {"code": code, "indication": indication, "sub_indication": sub_indication,
            "message_fr": message_fr, "message_en": message_en, "detail": detail}
    return web.json_response(body, status=status, headers=headers)


def _trust_refusal(verdict: Verdict) -> web.Response:
    reason = verdict.reason or Reason.CHAIN_INVALID
    return refusal(401, reason.code, reason.message_fr, reason.message_en,
                   indication=reason.indication, sub_indication=reason.sub_indication,
                   detail=verdict.detail)


def _identity_refusal(error: IdentityError) -> web.Response:
    headers = _BASIC_CHALLENGE if error.kind is Kind.UNAUTHENTICATED and error.code in (
        "CREDENTIALS_REQUIRED", "BAD_CREDENTIALS") else None
    return refusal(json_status(error), error.code, error.message_fr, error.message_en,
                   detail=error.detail, headers=headers)


def peer_certificate(request: web.Request) -> x509.Certificate | None:
    """The client's leaf certificate, or None on plain HTTP or without one.

    Python 3.11 exposes only the leaf; the trust store's intermediates complete the chain.
    """
    return _peer(request)[0]


def peer_fingerprint(request: web.Request) -> str | None:
    """`pki.fingerprint` of the client's leaf, hashed from the bytes the handshake gave
    (re-encoding the certificate costs ten times more)."""
    return _peer(request)[1]


def _peer(request: web.Request) -> tuple[x509.Certificate | None, str | None]:
    """Read once per request: the auth middleware and the request journal both need it."""
    peer = request.get(PEER_CERTIFICATE)
    if peer is None:
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        peer = remember_peer(request, der)
    return peer


def remember_peer(request: web.Request, der: bytes | None) -> tuple[x509.Certificate | None, str | None]:
    """Record the client's leaf (DER, as the TLS handshake gives it) for this request. The
    same few agents send every request: each leaf is parsed and hashed once (`_PEERS`)."""
    if not der:
        peer: tuple[x509.Certificate | None, str | None] = (None, None)
    elif (known := _PEERS.get(der)) is not None:
        peer = known
    else:
        if len(_PEERS) >= _PEERS_KEPT:
            _PEERS.clear()
        peer = _PEERS[der] = (x509.load_der_x509_certificate(der), hashlib.sha256(der).hexdigest())
    request[PEER_CERTIFICATE] = peer
    return peer


_PEERS: dict[bytes, tuple[x509.Certificate | None, str | None]] = {}
"""Leaves seen lately, by their DER bytes: a certificate is immutable, its bytes its identity."""
_PEERS_KEPT = 1024


def _basic_credentials(request: web.Request) -> tuple[str, str] | None:
    """RFC 7617 credentials (UTF-8), or None when the request carries none."""
    header = request.headers.get(hdrs.AUTHORIZATION)
    if not header:
        return None
    try:
        credentials = BasicAuth.decode(header, encoding="utf-8")
    except ValueError as error:  # UnicodeError included
        raise BadCredentials(f"unreadable Authorization header: {error}") from None
    return credentials.login, credentials.password


def _forwarded(request: web.Request, print_: str) -> tuple[x509.Certificate, str] | None:
    """The user certificate a trusted intermediary forwards, judged like a presented one;
    None without the header. Refused from anyone not declared trusted."""
    raw = request.headers.get(FORWARD_HEADER)
    if raw is None:
        return None
    app = request.app
    if not app[TRUSTED_INTERMEDIARIES].trust(print_, request.remote):
        raise ForwardRefused(f"{FORWARD_HEADER} n'est accepté que d'un intermédiaire de "
                             "confiance déclaré (trusted_intermediaries)")
    try:
        der = base64.b64decode(raw.strip(), validate=True)
        forwarded = x509.load_der_x509_certificate(der)
    except (ValueError, binascii.Error):
        raise ForwardRefused("certificat transmis illisible", kind=Kind.UNAUTHENTICATED) from None
    verdict = judge([forwarded], at=app[CLOCK](), store=app[TRUST_SOURCE](),
                    policy=app[TRUST_POLICY])
    if not verdict.accepted:
        reason = verdict.reason.message_fr if verdict.reason else verdict.detail
        raise ForwardRefused(f"certificat transmis refusé : {reason}", kind=Kind.UNAUTHENTICATED)
    return forwarded, hashlib.sha256(der).hexdigest()


def _certificate_only(binding: CertificateBinding | None, print_: str) -> Identity:
    """Who a certificate is when only the certificate is asked: no rights of any account."""
    return Identity(fingerprint=print_, name="certificat", sirens=frozenset(), roles=frozenset(),
                    certificate_siren=binding.siren if binding else "")


@web.middleware
async def client_certificate_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    leaf, print_ = _peer(request)
    app = request.app
    verdict = (Verdict(None, Reason.NO_CERTIFICATE) if leaf is None else
               judge([leaf], at=app[CLOCK](), store=app[TRUST_SOURCE](), policy=app[TRUST_POLICY]))
    request[VERDICT] = verdict  # kept on refusals too: the request journal reads it
    if not verdict.accepted:
        return _trust_refusal(verdict)
    assert leaf is not None and print_ is not None
    try:
        forwarded = _forwarded(request, print_)
        if forwarded is not None:  # the user it names, at the presented certificate's level
            leaf, print_ = forwarded
        credentials = _basic_credentials(request)
        directory = app[IDENTITY_DIRECTORY]
        binding = directory.cached(print_)
        if binding is None:
            binding = await asyncio.to_thread(directory.binding, print_)
        if credentials is None and request.path in CERTIFICATE_ONLY:
            identity = _certificate_only(binding, print_)
        elif credentials is None:
            identity = identify(binding, leaf, level=verdict.level)
        else:  # scrypt is deliberately slow: keep it off the event loop
            identity = await asyncio.to_thread(identify, binding, leaf, credentials=credentials,
                                               level=verdict.level)
        request[IDENTITY] = identity
        return await handler(request)
    except IdentityError as error:
        return _identity_refusal(error)
