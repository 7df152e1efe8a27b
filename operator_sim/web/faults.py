"""How a `Refusal` is answered, one table per reply dialect; and the machine's own faults.

`JSON_STATUS` gives the status of the JSON API (and admin API) answers, `S2LOW_STATUS` the
status of S²LOW's `KO` answers (HTTP 200, as S²LOW answers, but for the simulator's own
faults), `DASHBOARD_PAGE` the status of the dashboard's error pages (its actions answer a
refusal with a 303 back to their page, but for `DASHBOARD_ACTION_OF_CODE`); each maps every
`Kind` (a test checks it), and a few codes where one kind covers answers that differ.

Refusals for what the machine, not the request, got wrong: never a 500 for those.

Another process holding the database, a validation worker killed twice under the same job: 503
with `Retry-After` (the same request may pass a little later, nothing was stored). A full disk
(while spooling an upload, writing a blob or the database): 507, nothing half-written. Both
doors share the mapping: JSON on the API and admin ports, `KO` text on S²LOW's paths.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from ..errors import Kind, Refusal
from ..store import StoreBusy, StoreFull

_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


@dataclass(frozen=True)
class Fault:
    """The machine's fault as answered: always unavailable or no space, never the request's."""

    kind: Kind
    code: str
    message_fr: str
    message_en: str
    retry_after: int | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


STORE_BUSY = Fault(Kind.UNAVAILABLE, "STORE_BUSY",
                   "base de données occupée par un autre processus, rien n'a été enregistré : "
                   "réessayez plus tard",
                   "database held by another process, nothing was stored: try again later",
                   retry_after=10)
WORKERS_LOST = Fault(Kind.UNAVAILABLE, "VALIDATION_UNAVAILABLE",
                     "le processus de validation s'est arrêté deux fois sur cette requête, rien "
                     "n'a été enregistré : réessayez plus tard",
                     "the validation process stopped twice on this request, nothing was stored: "
                     "try again later", retry_after=5)
NO_SPACE = Fault(Kind.NO_SPACE, "INSUFFICIENT_STORAGE",
                 "espace disque épuisé sur le simulateur, rien n'a été enregistré",
                 "the simulator's disk is full, nothing was stored")


JSON_STATUS: Mapping[Kind, int] = {
    Kind.MALFORMED: 400,
    Kind.INVALID: 422,
    Kind.CONFLICT: 409,
    Kind.NOT_FOUND: 404,
    Kind.UNAUTHENTICATED: 401,
    Kind.FORBIDDEN: 403,
    Kind.EXHAUSTED: 429,
    Kind.UNAVAILABLE: 503,
    Kind.TOO_LARGE: 413,
    Kind.GONE: 410,
    Kind.NO_SPACE: 507,
}
JSON_STATUS_OF_CODE: Mapping[str, int] = {
    "UNSUPPORTED_MEDIA_TYPE": 415,  # read as malformed, named by its own status
    "REQUEST_TIMEOUT": 408,  # a body too slow to come: the web server's answer
}

S2LOW_STATUS: Mapping[Kind, int] = {
    Kind.MALFORMED: 200,
    Kind.INVALID: 200,
    Kind.CONFLICT: 200,
    Kind.NOT_FOUND: 200,
    Kind.UNAUTHENTICATED: 200,  # a login asked for stays a 401 (`replies.CHALLENGED`)
    Kind.FORBIDDEN: 200,
    Kind.EXHAUSTED: 200,
    Kind.UNAVAILABLE: 503,  # a scenario's outage, a database held: the simulator's own
    Kind.TOO_LARGE: 200,
    Kind.GONE: 410,
    Kind.NO_SPACE: 507,
}
S2LOW_STATUS_OF_CODE: Mapping[str, int] = {"REQUEST_TIMEOUT": 408}


DASHBOARD_PAGE: Mapping[Kind, int] = {
    Kind.MALFORMED: 500,
    Kind.INVALID: 500,
    Kind.CONFLICT: 500,
    Kind.NOT_FOUND: 404,
    Kind.UNAUTHENTICATED: 500,
    Kind.FORBIDDEN: 500,
    Kind.EXHAUSTED: 500,
    Kind.UNAVAILABLE: 500,
    Kind.TOO_LARGE: 500,
    Kind.GONE: 410,
    Kind.NO_SPACE: 500,
}
"""The status of the French error page a dashboard page (GET) shows: a page refuses only what
is missing or damaged, any other refusal there is the simulator's fault."""
DASHBOARD_ACTION_OF_CODE: Mapping[str, int] = {"NOT_FOUND": 404, "REQUEST_TIMEOUT": 408}
"""A dashboard action (a form) answers these with an error page of this status; any other
refusal with a 303 back to its page, where the refusal's French sentence is shown."""


def json_status(refusal: Refusal) -> int:
    """The JSON API's status for `refusal`."""
    return JSON_STATUS_OF_CODE.get(refusal.code) or JSON_STATUS[refusal.kind]


def s2low_status(refusal: Refusal) -> int:
    """The status of the `KO` S²LOW's paths answer `refusal` with."""
    return S2LOW_STATUS_OF_CODE.get(refusal.code) or S2LOW_STATUS[refusal.kind]


def fault_of(error: BaseException) -> Fault | None:
    """The refusal `error` calls for, or None when it is a genuine bug (a 500)."""
    if isinstance(error, StoreBusy):
        return STORE_BUSY
    if isinstance(error, BrokenProcessPool):
        return WORKERS_LOST
    if isinstance(error, StoreFull) or (isinstance(error, OSError) and error.errno in _NO_SPACE):
        return NO_SPACE
    return None


__all__ = ["DASHBOARD_ACTION_OF_CODE", "DASHBOARD_PAGE", "JSON_STATUS", "JSON_STATUS_OF_CODE",
           "NO_SPACE", "S2LOW_STATUS", "S2LOW_STATUS_OF_CODE", "STORE_BUSY", "WORKERS_LOST", "Fault",
           "fault_of", "json_status", "s2low_status"]
