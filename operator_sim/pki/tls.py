"""TLS contexts for the simulator: the mutual-TLS server and the clients that talk to it.

The handshake only proves a client holds a key certified under the test roots; time,
revocation and the RGS profile are judged afterwards by `pki.trust` on the simulator clock,
so OpenSSL is told not to check validity dates against the wall clock.
"""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# OpenSSL's X509_V_FLAG_NO_CHECK_TIME: Python has no constant, but passes the bit through.
X509_V_FLAG_NO_CHECK_TIME = 0x200000

StrPath = str | os.PathLike[str]


@dataclass(frozen=True)
class HandshakeRefusal:
    """A connection the TLS layer refused before any HTTP: who, and OpenSSL's reason."""

    peer: tuple[str, int] | None
    reason: str
    """OpenSSL's reason code, e.g. CERTIFICATE_VERIFY_FAILED, PEER_DID_NOT_RETURN_A_CERTIFICATE."""
    verify_message: str | None
    """For a certificate refused: X.509 verification's words (unable to get local issuer…)."""
    detail: str


def _refusal_reporter(report: Callable[[HandshakeRefusal], None]) -> type[ssl.SSLObject]:
    """An SSLObject class that tells `report` about each failed server handshake.

    asyncio drops these failures silently (an SSLError is an OSError: logged in debug mode
    only). The peer address is the asyncio protocol's, which calls `do_handshake` itself; the
    certificate a refused peer sent is not exposed by Python's ssl module before the handshake
    completes, so it cannot be kept.
    """
    class ReportingSSLObject(ssl.SSLObject):
        def do_handshake(self) -> None:
            try:
                super().do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                raise
            except ssl.SSLError as error:
                caller = sys._getframe(1).f_locals.get("self")  # asyncio's SSLProtocol
                transport = getattr(caller, "_transport", None)
                peer = None if transport is None else transport.get_extra_info("peername")
                report(HandshakeRefusal(
                    peer=None if peer is None else tuple(peer[:2]),
                    reason=error.reason or type(error).__name__,
                    verify_message=getattr(error, "verify_message", None), detail=str(error)))
                raise

    return ReportingSSLObject


def server_ssl_context(*, certificate_chain: StrPath, key: StrPath,
                       client_cas: Iterable[StrPath],
                       on_refused: Callable[[HandshakeRefusal], None] | None = None,
                       ) -> ssl.SSLContext:
    """Server side: TLS ≥ 1.2, a client certificate required, chained to `client_cas`.

    `client_cas` holds the roots and the published intermediates (so clients that send only
    their leaf still build a chain); the intermediates are not anchors to OpenSSL.
    `on_refused` hears of every handshake refused (unknown CA, bad chain, no certificate…).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate_chain, key)
    context.verify_mode = ssl.CERT_REQUIRED
    for path in client_cas:
        context.load_verify_locations(cafile=os.fspath(path))
    context.verify_flags |= X509_V_FLAG_NO_CHECK_TIME
    if on_refused is not None:
        context.sslobject_class = _refusal_reporter(on_refused)
    return context


def client_ssl_context(*, cafile: StrPath, certificate: StrPath | None = None,
                       key: StrPath | None = None, lenient_own_certificate: bool = False,
                       ) -> ssl.SSLContext:
    """Client side: verifies the simulator against `cafile`, presents `certificate` + `key`.

    `lenient_own_certificate` lowers OpenSSL's security level so a test can *present* a weak
    certificate (RSA-1024, SHA-1) and watch the server refuse it; never use it otherwise.
    """
    context = ssl.create_default_context(cafile=os.fspath(cafile))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if lenient_own_certificate:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    if certificate is not None:
        context.load_cert_chain(certificate, key)
    return context
