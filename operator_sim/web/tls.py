"""TLS contexts for the simulator: the mutual-TLS server and the clients that talk to it.

The handshake only proves a client holds a key certified under the test roots; time,
revocation and the RGS profile are judged afterwards by `pki.trust` on the simulator clock,
so OpenSSL is told not to check validity dates against the wall clock.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterable

# OpenSSL's X509_V_FLAG_NO_CHECK_TIME: Python has no constant, but passes the bit through.
X509_V_FLAG_NO_CHECK_TIME = 0x200000

StrPath = str | os.PathLike[str]


def server_ssl_context(*, certificate_chain: StrPath, key: StrPath,
                       client_cas: Iterable[StrPath]) -> ssl.SSLContext:
    """Server side: TLS ≥ 1.2, a client certificate required, chained to `client_cas`.

    `client_cas` holds the roots and the published intermediates (so clients that send only
    their leaf still build a chain); the intermediates are not anchors to OpenSSL.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate_chain, key)
    context.verify_mode = ssl.CERT_REQUIRED
    for path in client_cas:
        context.load_verify_locations(cafile=os.fspath(path))
    context.verify_flags |= X509_V_FLAG_NO_CHECK_TIME
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
