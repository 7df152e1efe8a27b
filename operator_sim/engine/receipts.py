"""A receipt's cryptography in a worker process: the RFC 3161 token over the archive, and the
answer (ARActe or AnomalieActe) built and signed by the ministère.

On the event loop's process these held the interpreter lock about a fifth of a receipt's
time, leaving the second core to the validation workers alone. The service keeps what must
stay unique or ordered (the TSA serial, the answer's serial, the instant) and sends them with
the job; the signing keys travel to each worker once (`policies.Shipper`), not with every job.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509

from ..pki.profiles import PrivateKey
from ..signature.cms import SignerMaterial, sign_detached
from ..timestamp import TimeStampAuthority, TsaMaterial
from .outcomes import ReturnBundle
from .policies import Shipper, known


@dataclass(frozen=True)
class ReceiptKeys:
    """The TSA's and the ministère's keys as bytes: sent once to each worker."""

    tsa: TsaMaterial
    ministere: SignerMaterial


@dataclass(frozen=True)
class ReceiptJob:
    """One receipt: the archive's SHA-256 to stamp, with the TSA serial and genTime the
    service gave, and the answer to build (a picklable call of `outcomes`), if any."""

    digest: bytes
    tsa_serial: int
    at: dt.datetime
    answer: Callable[[], ReturnBundle] | None


@dataclass(frozen=True)
class Receipt:
    token: bytes
    answer: ReturnBundle | None
    signature: bytes | None
    """The ministère's detached CMS of `answer.xml`."""


class ReceiptSigners:
    """Service side: the keys to send (the same object while they do not change) and the
    TSA's serials and clock."""

    def __init__(self, tsa: TimeStampAuthority, ministere: Callable[[], SignerMaterial],
                 clock: Callable[[], dt.datetime]) -> None:
        self._tsa, self._tsa_material = tsa, tsa.material()
        self._ministere = ministere
        self._clock = clock
        self._keys: ReceiptKeys | None = None
        self._shipper: Shipper[ReceiptKeys] = Shipper()

    def job(self, digest: bytes, answer: Callable[[], ReturnBundle] | None) -> ReceiptJob:
        return ReceiptJob(digest, self._tsa.next_serial(), self._clock(), answer)

    def keys(self) -> tuple[str, ReceiptKeys]:
        """(the key naming them, the keys) for `make_receipt_shipped`."""
        ministere = self._ministere()
        if self._keys is None or self._keys.ministere is not ministere:
            self._keys = ReceiptKeys(self._tsa_material, ministere)
        return self._shipper.key(self._keys), self._keys


@dataclass(frozen=True)
class _Loaded:
    tsa: TimeStampAuthority
    certificate: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...]


_loaded: dict[str, _Loaded] = {}
_lock = threading.Lock()


def make_receipt(job: ReceiptJob, key: str, keys: ReceiptKeys | None) -> Receipt | None:
    """The token and the signed answer (pure CPU: runs in a worker, or on a thread) with the
    keys `key` names, loaded once per process; None when this process was never sent them:
    call again with `keys`."""
    with _lock:
        loaded = _loaded.get(key)
    if loaded is None:
        sent = known(key, keys)
        if sent is None:
            return None
        loaded = _load(sent)
        with _lock:
            if len(_loaded) >= 4:
                _loaded.clear()
            _loaded[key] = loaded
    return _make(job, loaded)


def _load(keys: ReceiptKeys) -> _Loaded:
    return _Loaded(keys.tsa.authority(), *keys.ministere.load())


def _make(job: ReceiptJob, loaded: _Loaded) -> Receipt:
    token = loaded.tsa.stamp_at(job.digest, serial=job.tsa_serial, at=job.at)
    if job.answer is None:
        return Receipt(token, None, None)
    answer = job.answer()
    return Receipt(token, answer, sign_detached(answer.xml, loaded.certificate, loaded.key,
                                                loaded.chain))


__all__ = ["Receipt", "ReceiptJob", "ReceiptKeys", "ReceiptSigners", "make_receipt"]
