"""Refusals for what the machine, not the request, got wrong: never a 500 for those.

Another process holding the database, a validation worker killed twice under the same job: 503
with `Retry-After` (the same request may pass a little later, nothing was stored). A full disk
(while spooling an upload, writing a blob or the database): 507, nothing half-written. Both
doors share the mapping: JSON on the API and admin ports, `KO` text on S²LOW's paths.
"""

from __future__ import annotations

import errno
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from ..store import StoreBusy, StoreFull

_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


@dataclass(frozen=True)
class Fault:
    status: int
    code: str
    message_fr: str
    message_en: str
    retry_after: int | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


STORE_BUSY = Fault(503, "STORE_BUSY",
                   "base de données occupée par un autre processus, rien n'a été enregistré : "
                   "réessayez plus tard",
                   "database held by another process, nothing was stored: try again later",
                   retry_after=10)
WORKERS_LOST = Fault(503, "VALIDATION_UNAVAILABLE",
                     "le processus de validation s'est arrêté deux fois sur cette requête, rien "
                     "n'a été enregistré : réessayez plus tard",
                     "the validation process stopped twice on this request, nothing was stored: "
                     "try again later", retry_after=5)
NO_SPACE = Fault(507, "INSUFFICIENT_STORAGE",
                 "espace disque épuisé sur le simulateur, rien n'a été enregistré",
                 "the simulator's disk is full, nothing was stored")


def fault_of(error: BaseException) -> Fault | None:
    """The refusal `error` calls for, or None when it is a genuine bug (a 500)."""
    if isinstance(error, StoreBusy):
        return STORE_BUSY
    if isinstance(error, BrokenProcessPool):
        return WORKERS_LOST
    if isinstance(error, StoreFull) or (isinstance(error, OSError) and error.errno in _NO_SPACE):
        return NO_SPACE
    return None


__all__ = ["NO_SPACE", "STORE_BUSY", "WORKERS_LOST", "Fault", "fault_of"]
