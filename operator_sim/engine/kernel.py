"""The engine's shared kernel: the store, the clock, the serials, signing and time-stamping,
and storing the préfecture's answers. The intake doors (`intake.Engine`), the collectivité's
requests (`requests.Requests`) and the préfecture (`prefecture.Prefecture`) build on it.
Knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import Kind, Refusal
from ..pki.identity import Identity
from ..protocol.classification import Classification
from ..protocol.codes import Sender, TransactionStatus, TransactionType
from ..protocol.messages import IDCL
from ..store.interface import (
    AsyncSimulatorStore,
    NewMessage,
    NewTransaction,
    SimulatorStore,
    TransactionRow,
    TransitionStep,
    WalkStep,
)
from ..validation.report import ValidationReport
from . import lifecycle, outcomes
from .clock import Clock, paris_date
from .scenarios import Decision

S = TransactionStatus
AlsoWrite = Callable[[SimulatorStore, TransactionRow], None]
MAX_DAILY_SERIAL = 9999  # envelope numbers and message _N suffixes have at most 4 digits
MIMETYPES = {"pdf": "application/pdf", "xml": "application/xml", "png": "image/png",
             "jpg": "image/jpeg", "jpeg": "image/jpeg"}


class IntakeRefused(Refusal):
    """A submission refused before any transaction exists: nothing was stored.

    `kind` says how a door answers it (input refused unless set); `report` the findings, if any.
    """

    def __init__(self, code: str, message_fr: str, message_en: str, *,
                 report: ValidationReport | None = None, field: str | None = None,
                 kind: Kind | None = None) -> None:
        super().__init__(code, message_fr, message_en, field=field, kind=kind)
        self.report = report


class RequestRefused(IntakeRefused):
    """A cancellation or request the transaction's state does not allow."""


def transition_conflict(transaction_id: int) -> RequestRefused:
    """Another request moved the transaction first (two cancellations at once): a conflict, and
    the loser's transaction rows are not written."""
    return RequestRefused("TRANSITION_CONFLICT",
                          f"la transaction {transaction_id} a changé d'état entre-temps",
                          f"transaction {transaction_id} changed status meanwhile",
                          kind=Kind.CONFLICT)


@dataclass(frozen=True)
class Outcome:
    """A stored transaction and the message the préfecture answered with."""

    transaction: TransactionRow
    code: str | None  # "1-2", "1-3", "6-2", "7-2", "7-3"; None while the préfecture holds it
    id_acte: str | None = None
    anomalie: tuple[str, str] | None = None  # (Nature, Detail)
    report: ValidationReport | None = None
    scenario: Decision | None = None
    """The scenario decision for a submitted act (its faults are the web layer's to show)."""


@dataclass(kw_only=True)
class Kernel:
    """What every part of the engine shares: the store, the clock, the ministère's signature
    and time-stamp, the daily serials, and storing a signed answer."""

    store: AsyncSimulatorStore
    clock: Clock
    stamp: Callable[[bytes], bytes]
    """SHA-256 digest → RFC 3161 token (DER), genTime from the clock."""
    sign: Callable[[bytes], bytes]
    """Outgoing message XML → detached CMS signature (DER) by the ministère certificate."""
    classification: Callable[[], Classification]
    itc: str = "SLO"
    actor: str = "ministere"

    @property
    def sqlite(self) -> SimulatorStore:
        return self.store.store

    async def daily_serial(self, kind: str, siren: str) -> int:
        """The next number of the day (Paris) for `siren`: 1…9999, as envelope serials are kept
        per authority and reset every day. Past 9999 the day is full: refused as exhausted, nothing stored.
        Reserved without a commit of its own: the commit that stores the message carrying
        it makes it durable (a number no commit carried may come again after a crash)."""
        return self.checked_serial(await self.store.reserve_serial(self.serial_name(kind, siren)),
                                   siren)

    def serial_name(self, kind: str, siren: str) -> str:
        """The counter `daily_serial` reserves from: today's (Paris) for `kind` and `siren`."""
        return f"{kind}-{siren}-{paris_date(self.clock.now()):%Y%m%d}"

    @staticmethod
    def checked_serial(serial: int, siren: str) -> int:
        """`serial` if the day is not full, else refused as exhausted (nothing stored)."""
        if serial > MAX_DAILY_SERIAL:
            raise RequestRefused(
                "DAILY_SERIALS_EXHAUSTED",
                f"plus de {MAX_DAILY_SERIAL} envois pour {siren} aujourd'hui : numéros épuisés",
                f"more than {MAX_DAILY_SERIAL} sendings for {siren} today: serials exhausted",
                kind=Kind.EXHAUSTED)
        return serial

    async def return_serial(self, siren: str) -> int:
        """Serial of a message the ministry sends to `siren` (its envelope and `_N` suffix)."""
        return await self.daily_serial("return-envelope", siren)

    async def store_answer(self, bundle: outcomes.ReturnBundle,
                             token_sha: str | None = None) -> NewMessage:
        """Sign the return message and store it, ready to attach to a transition."""
        return await asyncio.to_thread(self._signed_answer, bundle, token_sha)

    def _signed_answer(self, bundle: outcomes.ReturnBundle, token_sha: str | None,
                       signature: bytes | None = None) -> NewMessage:
        """`store_answer`'s work, off the loop: signing (unless `signature` was made
        already), then the blobs."""
        blobs = self.sqlite.blobs
        signature = self.sign(bundle.xml) if signature is None else signature
        out_sha, sig_sha = blobs.put(bundle.xml), blobs.put(signature)
        return NewMessage(bundle.code, Sender.PREF, bundle.file_name, out_sha,
                          signature_sha256=sig_sha, timestamp_token_sha256=token_sha)

    async def idcl_of(self, row: TransactionRow) -> IDCL:
        """The IDCL of the collectivité a transaction belongs to (registered on intake)."""
        collectivite = await self.store.call(lambda store: store.get_collectivite(row.siren))
        if collectivite is None:  # every act's sender is registered on intake
            raise RequestRefused("COLLECTIVITE_UNKNOWN", f"collectivité {row.siren} inconnue",
                                 f"unknown collectivité {row.siren}", kind=Kind.NOT_FOUND)
        return IDCL(row.siren, collectivite.departement, int(collectivite.arrondissement),
                    collectivite.nature)


def walk_of(kind: TransactionType, current: TransactionStatus,
            steps: list[TransactionStatus], *, final: NewMessage | None, id_acte: str | None,
            message: str, transaction_id: int | None = None) -> list[WalkStep]:
    """The chain's walk from `current` through `steps`, each allowed from the one before,
    the last step carrying the answer."""
    labels = {S.EN_ATTENTE_DE_TRANSMISSION: "Accepté par le TdT : validation OK",
              S.TRANSMIS: "Transmis au MI"}
    walk: list[WalkStep] = []
    for i, to in enumerate(steps):
        lifecycle.check_transition(kind, current, to, transaction_id=transaction_id)
        last = i == len(steps) - 1
        walk.append(WalkStep(to, message if last else labels.get(to, ""),
                             final if last else None, id_acte if last else None))
        current = to
    return walk


def path_to(store: SimulatorStore, row: TransactionRow, steps: list[TransactionStatus], *,
             at: dt.datetime, actor: str, final: NewMessage | None, id_acte: str | None,
             message: str) -> TransactionRow:
    """Walk `row` through `steps` as the chain does, the last step carrying the answer."""
    moves: list[TransitionStep] = []
    current = row.status
    for step in walk_of(row.type, row.status, steps, final=final, id_acte=id_acte,
                        message=message, transaction_id=row.id):
        moves.append(TransitionStep(row.id, current, step.to_status, step.message, step.attach,
                                    step.id_acte))
        current = step.to_status
    return store.transition_many(moves, at=at, actor=actor)[-1]


def create_and_answer(store: SimulatorStore, new: NewTransaction, answer: NewMessage | None,
                       at: dt.datetime, actor: str, ministere: str, id_acte: str | None,
                       anomalie: str | None, then: AlsoWrite | None = None) -> TransactionRow:
    """Create the transaction and walk it to its answer; without one, stop at "transmis".
    One INSERT in the walk's last status, a journal row per step (`create_transaction`).
    `then` writes more in the same commit (the scenario's record and follow-up)."""
    steps, message = _answer_path(answer, at=at, anomalie=anomalie)
    walk = walk_of(new.type, new.status, steps, final=answer, message=message,
                   id_acte=None if answer is None else id_acte)

    def write() -> TransactionRow:
        row = lifecycle.create(store, new, at=at, actor=actor, message="Posté", walk=walk,
                               walk_by=ministere)
        if then is not None:
            then(store, row)
        return row

    return store.atomic(write)


def _answer_path(answer: NewMessage | None, *, at: dt.datetime, anomalie: str | None,
                 ) -> tuple[list[TransactionStatus], str]:
    """From "posté": the statuses to the answer (4, or -1 on an anomaly) and the last one's
    journal message; without an answer, to "transmis"."""
    if answer is None:
        return [S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS], "Transmis au MI"
    refused = anomalie is not None
    message = (f"Refusé par le MI : {anomalie}" if refused
               else f"Reçu par le MI le {paris_date(at).strftime('%d/%m/%Y')}")
    return [S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS,
            S.ERREUR if refused else S.ACQUITTEMENT_RECU], message


def to_answer(store: SimulatorStore, row: TransactionRow, answer: NewMessage | None, *,
               at: dt.datetime, ministere: str, id_acte: str | None, anomalie: str | None,
               then: AlsoWrite | None) -> TransactionRow:
    """From "posté", walk to the answer (4, or -1 on an anomaly); without one, to "transmis".
    `then` writes more in the same commit (the scenario's record and follow-up)."""
    steps, message = _answer_path(answer, at=at, anomalie=anomalie)
    row = path_to(store, row, steps, at=at, actor=ministere, final=answer,
                  id_acte=None if answer is None else id_acte, message=message)
    if then is not None:
        then(store, row)
    return row


def only_siren(identity: Identity) -> str:
    """The one SIREN `identity` acts for; refused (input, field "siren") when it acts for several."""
    if len(identity.sirens) != 1:
        raise RequestRefused("FIELD_REQUIRED",
                             "siren requis : ce compte agit pour plusieurs collectivités",
                             "siren required: this account acts for several collectivités",
                             field="siren")
    (siren,) = identity.sirens
    return siren


def actor_label(identity: Identity) -> str:
    """How the journal names an agent: login (or name) and its certificate's fingerprint."""
    who = identity.login or identity.name
    return f"{who} ({identity.fingerprint[:16]})"
