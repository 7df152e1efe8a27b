"""Reads shared by the S²LOW routes: the transaction a request names, its returned messages.

Everything here goes through the engine's store (reads only) and answers refusals with S²LOW's
texts; the state machine itself stays in the engine.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from ...engine.intake import Engine
from ...protocol.codes import TransactionStatus
from ...protocol.names import ascii_digits
from ...store import NotFound
from ...store.interface import MessageRow, TransactionRow
from ..keys import ENGINE, IDENTITY
from .replies import ACCES_REFUSE, S2lowKO

INVALID_TRANSACTION = "Numéro de transaction invalide."


def engine_of(request: web.Request) -> Engine:
    return request.app[ENGINE]


PHP_INT_MAX = 2**63 - 1


def php_int(raw: str | None) -> int:
    """PHP's `intval` on a request parameter: leading digits, else 0."""
    digits = ""
    for char in (raw or "").strip():
        if not ascii_digits(char):
            break
        digits += char
    return min(int(digits[:20]), PHP_INT_MAX) if digits else 0  # intval saturates


async def owned(request: web.Request, transaction_id: int, *,
                invalid: str = INVALID_TRANSACTION, escaped: bool = False) -> TransactionRow:
    """The transaction, if it exists and belongs to one of the caller's collectivités."""
    if transaction_id <= 0:
        raise S2lowKO(invalid, escaped=escaped)
    try:
        row = await engine_of(request).store.get(transaction_id)
    except NotFound:
        raise S2lowKO(invalid, escaped=escaped) from None
    if not request[IDENTITY].can_act_for(row.siren):
        raise S2lowKO(ACCES_REFUSE, escaped=escaped)
    return row


async def by_unique_id(request: web.Request, id_acte: str, *,
                       invalid: str = INVALID_TRANSACTION, escaped: bool = False) -> TransactionRow:
    """The act this IDActe was given to (S²LOW's `unique_id`)."""
    row = await engine_of(request).store.find_by_id_acte(id_acte)
    if row is None:
        raise S2lowKO(invalid, escaped=escaped)
    return await owned(request, row.id, invalid=invalid, escaped=escaped)


async def requested(request: web.Request, id_parameter: str, *,
                    invalid: str = INVALID_TRANSACTION) -> TransactionRow:
    """The transaction named by `unique_id` (an IDActe) when given, else by `id_parameter`."""
    unique_id = request.query.get("unique_id")
    if unique_id:
        return await by_unique_id(request, unique_id, invalid=invalid)
    return await owned(request, php_int(request.query.get(id_parameter)), invalid=invalid)


async def returned_message(engine: Engine, row: TransactionRow,
                           status: TransactionStatus) -> MessageRow | None:
    """The message that brought the transaction to `status` (S²LOW's `flux_retour`)."""
    events = [e for e in await engine.store.journal(row.id)
              if e.to_status == status and e.message_id is not None]
    if not events:
        return None
    return next((m for m in await engine.store.messages(row.id) if m.id == events[-1].message_id),
                None)


async def read_blob(engine: Engine, sha256: str) -> bytes:
    return await asyncio.to_thread(engine.sqlite.blobs.read, sha256)


__all__ = ["INVALID_TRANSACTION", "by_unique_id", "engine_of", "owned", "php_int", "read_blob",
           "returned_message"]
