"""Validation policies (and receipt signers) sent to each worker process once, not pickled
with every archive.

A `ValidationPolicy` pickles to some 32 KB (trust store, classifications), and the worker
rebuilt its certificates on arrival: more than validating a small archive costs. The engine
splits the policy into its fixed part, keyed by a random id that changes whenever that part
does, and the instant of receipt (`PolicyRef`), which alone travels with each archive. A
worker that does not know the key answers None and is sent the fixed part once (`examine`'s
caller retries with it); it keeps the last few it was sent. `Shipper` names any other fixed
part the same way (the receipt's signing keys: `receipts`).
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from ..validation.validator import ValidationPolicy

KEEP = 4
"""Fixed parts a process remembers (a policy changes rarely: a PKI reload, a new setting)."""
_EPOCH = dt.date(1970, 1, 1)
_known: OrderedDict[str, ValidationPolicy] = OrderedDict()
_lock = threading.Lock()  # processes=False runs examinations on threads of the server
T = TypeVar("T")


class Shipper(Generic[T]):
    """Engine side: the key of a fixed part, a new one whenever that part changes."""

    def __init__(self) -> None:
        self._fixed: T | None = None
        self._key = ""

    def key(self, fixed: T) -> str:
        if fixed != self._fixed:  # cheap: the parts are the same objects from call to call
            self._fixed, self._key = fixed, uuid.uuid4().hex
        return self._key


@dataclass(frozen=True)
class PolicyRef:
    """What travels with each archive: the key of the policy's fixed part, and the day and
    instant the archive was received."""

    key: str
    today: dt.date
    received_at: dt.datetime | None


class PolicyShipper:
    """Engine side: the key of the policy's fixed part, a new one whenever that part changes."""

    def __init__(self) -> None:
        self._shipper: Shipper[ValidationPolicy] = Shipper()

    def split(self, policy: ValidationPolicy) -> tuple[PolicyRef, ValidationPolicy]:
        """`policy` as (what to send every time, the fixed part to send a worker once)."""
        fixed = replace(policy, today=_EPOCH, received_at=None)
        return PolicyRef(self._shipper.key(fixed), policy.today, policy.received_at), fixed


def resolve(ref: PolicyRef, fixed: ValidationPolicy | None) -> ValidationPolicy | None:
    """Worker side: the whole policy `ref` names, remembering `fixed` when it is sent; None
    when this process was never sent it."""
    with _lock:
        if fixed is not None:
            _known[ref.key] = fixed
            while len(_known) > KEEP:
                _known.popitem(last=False)
        policy = _known.get(ref.key)
        if policy is None:
            return None
        _known.move_to_end(ref.key)
    return replace(policy, today=ref.today, received_at=ref.received_at)


__all__ = ["PolicyRef", "PolicyShipper", "Shipper", "resolve"]
