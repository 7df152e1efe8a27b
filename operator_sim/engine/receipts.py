"""A receipt's cryptography made in the validation worker, with the examination: the RFC 3161
token over the archive, and the ARActe the act gets if it is acknowledged, signed by the
ministère.

On the event loop's process these held the interpreter lock about a fifth of a receipt's
time, and a trip of its own to a worker costs the loop about as much as it saves. None of it
depends on what the service decides after the examination, save the serial in the answer's
file name (added by `outcomes.ar_acte_named`): the token's serial and time are handed out
before (a refused archive only leaves its serial unused, which RFC 3161 allows), and an act
that is not simply acknowledged gets its answer built and signed as before. The signing keys
travel to each worker once (named by `policies.Shipper`), not with every archive.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509

from ..pki.issue import SignerMaterial
from ..pki.profiles import PrivateKey
from ..protocol.errors import ProtocolError
from ..protocol.messages import IDCL, Acte
from ..signature.cms import sign_detached
from ..timestamp import TimeStampAuthority, TsaMaterial
from . import outcomes
from .clock import paris_date
from .policies import Shipper


@dataclass(frozen=True)
class ReceiptKeys:
    """The TSA's and the ministère's keys as bytes: sent once to each worker."""

    tsa: TsaMaterial
    ministere: SignerMaterial


@dataclass(frozen=True)
class ReceiptOrder:
    """What travels with each archive: the keys' name, the token's serial, the instant of
    receipt (the token's genTime, the ARActe's DateReception) and the classification date."""

    key: str
    tsa_serial: int
    at: dt.datetime
    classification: dt.date


@dataclass(frozen=True)
class Receipt:
    order: ReceiptOrder
    token: bytes
    """The RFC 3161 token over the archive's SHA-256."""
    ar_acte: bytes | None = None
    """The ARActe's XML, should the act be acknowledged (None: it could not be named)."""
    signature: bytes | None = None
    """The ministère's detached CMS of `ar_acte`."""


class ReceiptSigners:
    """Service side: an order for each archive, and the keys (the same object while they do
    not change) to send a worker that does not know them yet."""

    def __init__(self, tsa: TimeStampAuthority, ministere: Callable[[], SignerMaterial],
                 clock: Callable[[], dt.datetime], classification: Callable[[], dt.date]) -> None:
        self._tsa, self._tsa_material = tsa, tsa.material()
        self._ministere = ministere
        self._clock = clock
        self._classification = classification
        self._keys: ReceiptKeys | None = None
        self._shipper: Shipper[ReceiptKeys] = Shipper()

    def order(self) -> tuple[ReceiptOrder, ReceiptKeys]:
        ministere = self._ministere()
        if self._keys is None or self._keys.ministere is not ministere:
            self._keys = ReceiptKeys(self._tsa_material, ministere)
        return (ReceiptOrder(self._shipper.key(self._keys), self._tsa.next_serial(),
                             self._clock(), self._classification()), self._keys)


@dataclass(frozen=True)
class _Loaded:
    tsa: TimeStampAuthority
    certificate: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...]


_loaded: dict[str, _Loaded] = {}
_lock = threading.Lock()


def knows(order: ReceiptOrder, keys: ReceiptKeys | None) -> bool:
    """Worker side: whether this process holds the keys `order` names, loading `keys` (once)
    when they are sent."""
    with _lock:
        if order.key in _loaded:
            return True
    if keys is None:
        return False
    loaded = _Loaded(keys.tsa.authority(), *keys.ministere.load())
    with _lock:
        if len(_loaded) >= 4:
            _loaded.clear()
        _loaded[order.key] = loaded
    return True


def make_receipt(order: ReceiptOrder, digest: bytes, acte: Acte | None,
                 idcl: IDCL | None) -> Receipt:
    """The token over `digest`, and the signed ARActe when there is a readable act to name
    (pure CPU: runs in the worker, after `knows`)."""
    with _lock:
        loaded = _loaded[order.key]
    token = loaded.tsa.stamp_at(digest, serial=order.tsa_serial, at=order.at)
    if acte is None or idcl is None:
        return Receipt(order, token)
    try:
        xml = outcomes.ar_acte_xml(acte, idcl, received=paris_date(order.at),
                                   classification=order.classification)
    except ProtocolError:  # an act the platform cannot name gets an AnomalieActe instead
        return Receipt(order, token)
    return Receipt(order, token, xml,
                   sign_detached(xml, loaded.certificate, loaded.key, loaded.chain))


__all__ = ["Receipt", "ReceiptKeys", "ReceiptOrder", "ReceiptSigners", "knows", "make_receipt"]
