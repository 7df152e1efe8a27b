"""The transaction state machine, as data: which statuses a transaction of each type may be
created in, which status changes are legal, and which @ctes message causes which change.

Owns the refusal of illegal and racing transitions (through the store's compare-and-set).
Never writes SQL, never reads the wall clock: `at` comes from the caller's clock.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..errors import Kind, Refusal
from ..protocol.codes import TransactionStatus, TransactionType
from ..store.interface import (
    NewMessage,
    NewTransaction,
    StatusConflict,
    TransactionRow,
    TransactionStore,
    TransitionStep,
    WalkStep,
)
from .clock import PARIS

S = TransactionStatus
T = TransactionType


@dataclass(frozen=True)
class Lifecycle:
    """One transaction type's machine: creation statuses and allowed moves."""

    initial: frozenset[TransactionStatus]
    moves: Mapping[TransactionStatus, frozenset[TransactionStatus]]

    def allows(self, from_status: TransactionStatus, to_status: TransactionStatus) -> bool:
        return to_status in self.moves.get(from_status, frozenset())

    @property
    def terminal(self) -> frozenset[TransactionStatus]:
        """Statuses reachable here that nothing leaves."""
        reached = set(self.initial).union(*self.moves.values())
        return frozenset(s for s in reached if not self.moves.get(s))


def _moves(**pairs: tuple[TransactionStatus, ...]) -> dict[TransactionStatus, frozenset[TransactionStatus]]:
    return {TransactionStatus[name]: frozenset(targets) for name, targets in pairs.items()}


# A message the TdT sends and the ministry acknowledges: 1 posté → 2 (TdT validation OK) or
# -1 (local validation failed); 2 → 3 transmis; 3 → 4 on the acknowledgement, or -1 on an
# anomaly (AnomalieActe for acts, AnomalieEnveloppe for any envelope).
_SENT_WITH_AR = _moves(
    POSTE=(S.EN_ATTENTE_DE_TRANSMISSION, S.ERREUR),
    EN_ATTENTE_DE_TRANSMISSION=(S.TRANSMIS,),
    TRANSMIS=(S.ACQUITTEMENT_RECU, S.ERREUR),
)
# ReponseCourrierSimple (2-2) has no acknowledgement message (no 2-3 exists): it ends at 3,
# unless an envelope anomaly puts it in error.
_SENT_WITHOUT_AR = _moves(
    POSTE=(S.EN_ATTENTE_DE_TRANSMISSION, S.ERREUR),
    EN_ATTENTE_DE_TRANSMISSION=(S.TRANSMIS,),
    TRANSMIS=(S.ERREUR,),
)
# A préfecture letter that expects the TdT's automatic AR (3-1 → 3-2, 4-1 → 4-2): 7 → 8.
_LETTER_WITH_AR = _moves(DOCUMENT_RECU=(S.ACQUITTEMENT_ENVOYE,))

LIFECYCLES: Mapping[TransactionType, Lifecycle] = {
    # 17 (waiting for an RGS-authenticated confirmation) → 1; 18 (waiting to be signed in the
    # operator's web UI, which no API moves on) stays; 4 → 0 after ARAnnulation (6-2),
    # 4 → 5 "Validé" by hand two months after the AR.
    # Created at -1 directly when refused on reception as a duplicate: its number is still
    # held by a live act, so it could not even be posted.
    T.ACTE: Lifecycle(
        initial=frozenset({S.POSTE, S.EN_ATTENTE_D_ETRE_POSTEE, S.EN_ATTENTE_D_ETRE_SIGNEE,
                           S.ERREUR}),
        moves={**_SENT_WITH_AR,
               S.EN_ATTENTE_D_ETRE_POSTEE: frozenset({S.POSTE}),
               S.ACQUITTEMENT_RECU: frozenset({S.ANNULE, S.VALIDE})},
    ),
    # 2-1 from the préfecture is created at 21 and stays there; a 2-2 reply is created at 1.
    T.COURRIER_SIMPLE: Lifecycle(
        initial=frozenset({S.DOCUMENT_RECU_PAS_D_AR, S.POSTE}),
        moves=_SENT_WITHOUT_AR,
    ),
    # 3-1 / 4-1 created at 7, → 8 once the TdT's AR is sent; replies (3-3, 3-4 / 4-3, 4-4)
    # are created at 1 and reach 4 with ARPieceComplementaire (3-5) / ARReponseRejet… (4-5).
    T.PIECES_COMPLEMENTAIRES: Lifecycle(
        initial=frozenset({S.DOCUMENT_RECU, S.POSTE}),
        moves={**_SENT_WITH_AR, **_LETTER_WITH_AR},
    ),
    T.LETTRE_OBSERVATIONS: Lifecycle(
        initial=frozenset({S.DOCUMENT_RECU, S.POSTE}),
        moves={**_SENT_WITH_AR, **_LETTER_WITH_AR},
    ),
    # Déféré (5-1): created at 21, no AR, no reply foreseen.
    T.DEFERE: Lifecycle(initial=frozenset({S.DOCUMENT_RECU_PAS_D_AR}), moves={}),
    # Annulation (6-1) → 4 with ARAnnulation (6-2); classification request (7-1) → 4 with 7-2/7-3.
    T.ANNULATION: Lifecycle(initial=frozenset({S.POSTE}), moves=_SENT_WITH_AR),
    T.CLASSIFICATION: Lifecycle(initial=frozenset({S.POSTE}), moves=_SENT_WITH_AR),
}


@dataclass(frozen=True)
class Effect:
    """What receiving or sending message `code` does to which transaction."""

    transaction_type: TransactionType
    to_status: TransactionStatus
    from_status: TransactionStatus | None = None  # None: the message creates the transaction


# REFERENCE §5, read as data. 6-2 has two effects, applied together (`apply_steps`).
MESSAGE_EFFECTS: Mapping[str, tuple[Effect, ...]] = {
    "1-1": (Effect(T.ACTE, S.POSTE),),
    "1-2": (Effect(T.ACTE, S.ACQUITTEMENT_RECU, S.TRANSMIS),),
    "1-3": (Effect(T.ACTE, S.ERREUR, S.TRANSMIS),),
    "2-1": (Effect(T.COURRIER_SIMPLE, S.DOCUMENT_RECU_PAS_D_AR),),
    "2-2": (Effect(T.COURRIER_SIMPLE, S.POSTE),),
    "3-1": (Effect(T.PIECES_COMPLEMENTAIRES, S.DOCUMENT_RECU),),
    "3-2": (Effect(T.PIECES_COMPLEMENTAIRES, S.ACQUITTEMENT_ENVOYE, S.DOCUMENT_RECU),),
    "3-3": (Effect(T.PIECES_COMPLEMENTAIRES, S.POSTE),),
    "3-4": (Effect(T.PIECES_COMPLEMENTAIRES, S.POSTE),),
    "3-5": (Effect(T.PIECES_COMPLEMENTAIRES, S.ACQUITTEMENT_RECU, S.TRANSMIS),),
    "4-1": (Effect(T.LETTRE_OBSERVATIONS, S.DOCUMENT_RECU),),
    "4-2": (Effect(T.LETTRE_OBSERVATIONS, S.ACQUITTEMENT_ENVOYE, S.DOCUMENT_RECU),),
    "4-3": (Effect(T.LETTRE_OBSERVATIONS, S.POSTE),),
    "4-4": (Effect(T.LETTRE_OBSERVATIONS, S.POSTE),),
    "4-5": (Effect(T.LETTRE_OBSERVATIONS, S.ACQUITTEMENT_RECU, S.TRANSMIS),),
    "5-1": (Effect(T.DEFERE, S.DOCUMENT_RECU_PAS_D_AR),),
    "6-1": (Effect(T.ANNULATION, S.POSTE),),
    "6-2": (Effect(T.ANNULATION, S.ACQUITTEMENT_RECU, S.TRANSMIS),
            Effect(T.ACTE, S.ANNULE, S.ACQUITTEMENT_RECU)),
    "7-1": (Effect(T.CLASSIFICATION, S.POSTE),),
    "7-2": (Effect(T.CLASSIFICATION, S.ACQUITTEMENT_RECU, S.TRANSMIS),),
    "7-3": (Effect(T.CLASSIFICATION, S.ACQUITTEMENT_RECU, S.TRANSMIS),),
}

# S²LOW's `canValidate`: "Validé" only once two months have passed since the AR (status 4).
VALIDATION_DELAY_MONTHS = 2


# --- errors -------------------------------------------------------------------------------------


class IllegalTransition(Refusal):
    """A status change (or creation status) the machine refuses. `code` is stable; `detail`
    (English) is the message."""

    kind = Kind.CONFLICT
    code = "ILLEGAL_TRANSITION"
    message_fr = "changement de statut refusé par le cycle de vie"

    def __init__(self, detail: str, *, transaction_id: int | None = None,
                 from_status: TransactionStatus | None = None,
                 to_status: TransactionStatus | None = None) -> None:
        super().__init__(message_en=detail)
        self.transaction_id = transaction_id
        self.from_status = from_status
        self.to_status = to_status


class IllegalInitialStatus(IllegalTransition):
    code = "ILLEGAL_INITIAL_STATUS"


class TransitionConflict(IllegalTransition):
    """Legal when asked, but another transition changed the status first and won."""

    code = "TRANSITION_CONFLICT"


class TooEarlyToValidate(IllegalTransition):
    code = "TOO_EARLY_TO_VALIDATE"


# --- checks -------------------------------------------------------------------------------------


def check_initial(transaction_type: TransactionType, status: TransactionStatus) -> None:
    if status not in LIFECYCLES[transaction_type].initial:
        raise IllegalInitialStatus(
            f"a {transaction_type.name} transaction cannot be created {status.name}",
            to_status=status)


def check_transition(transaction_type: TransactionType, from_status: TransactionStatus,
                     to_status: TransactionStatus, *, transaction_id: int | None = None) -> None:
    if not LIFECYCLES[transaction_type].allows(from_status, to_status):
        raise IllegalTransition(
            f"{transaction_type.name}: {from_status.name} ({int(from_status)}) → "
            f"{to_status.name} ({int(to_status)}) is not allowed",
            transaction_id=transaction_id, from_status=from_status, to_status=to_status)


def _add_months(at: datetime, months: int) -> datetime:
    """Same wall-clock time in Paris `months` later, the day clamped to the month's end."""
    local = at.astimezone(PARIS)
    month_index = local.month - 1 + months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day)


def _check_validation_delay(store: TransactionStore, row: TransactionRow, at: datetime) -> None:
    acknowledged = [e.at for e in store.journal(row.id) if e.to_status == S.ACQUITTEMENT_RECU]
    if not acknowledged:
        return
    earliest = _add_months(acknowledged[-1], VALIDATION_DELAY_MONTHS)
    if at < earliest:
        raise TooEarlyToValidate(
            f"transaction {row.id} can be validated from {earliest.isoformat()}",
            transaction_id=row.id, from_status=row.status, to_status=S.VALIDE)


# --- operations ---------------------------------------------------------------------------------


def create(store: TransactionStore, new: NewTransaction, *, at: datetime, actor: str,
           message: str = "", walk: Sequence[WalkStep] = (),
           walk_by: str | None = None) -> TransactionRow:
    """Create a transaction in a status its type may start in; with `walk` (checked by
    `kernel.walk_of`), inserted where the walk leaves it (`create_transaction`)."""
    check_initial(new.type, new.status)
    return store.create_transaction(new, at=at, actor=actor, message=message, walk=walk,
                                    walk_by=walk_by)


def transition(store: TransactionStore, transaction_id: int, to: TransactionStatus, *,
               at: datetime, actor: str, message: str = "", attach: NewMessage | None = None,
               id_acte: str | None = None, expected_from: TransactionStatus | None = None,
               always_can_validate: bool = False) -> TransactionRow:
    """Move a transaction to `to` if the machine allows it from the status it is in.

    The store's compare-and-set makes the check and the write one decision: of two racing
    transitions from the same status exactly one wins; the other gets `TransitionConflict`.
    `expected_from` pins the status the caller reasoned about (e.g. a 1-2 expects 3).
    """
    row = store.get(transaction_id)
    from_status = row.status if expected_from is None else expected_from
    if row.status != from_status:
        raise TransitionConflict(
            f"transaction {transaction_id} is {row.status.name}, not {from_status.name}",
            transaction_id=transaction_id, from_status=row.status, to_status=to)
    check_transition(row.type, from_status, to, transaction_id=transaction_id)
    if to == S.VALIDE and not always_can_validate:
        _check_validation_delay(store, row, at)
    try:
        return store.transition(transaction_id, to, at=at, actor=actor, expected_from=from_status,
                                message=message, attach=attach, id_acte=id_acte)
    except StatusConflict as lost:
        raise TransitionConflict(str(lost), transaction_id=transaction_id,
                                 from_status=lost.actual, to_status=to) from lost


def apply_steps(store: TransactionStore, steps: Sequence[TransitionStep], *, at: datetime,
                actor: str) -> tuple[TransactionRow, ...]:
    """Several transitions that must happen together (6-2: annulation → 4 and act → 0)."""
    for step in steps:
        row = store.get(step.transaction_id)
        if row.status != step.expected_from:
            raise TransitionConflict(
                f"transaction {row.id} is {row.status.name}, not {step.expected_from.name}",
                transaction_id=row.id, from_status=row.status, to_status=step.to_status)
        check_transition(row.type, step.expected_from, step.to_status, transaction_id=row.id)
    try:
        return store.transition_many(steps, at=at, actor=actor)
    except StatusConflict as lost:
        raise TransitionConflict(str(lost), transaction_id=lost.transaction_id,
                                 from_status=lost.actual) from lost
