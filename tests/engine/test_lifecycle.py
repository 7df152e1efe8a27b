import asyncio
import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest

from operator_sim.engine import lifecycle
from operator_sim.engine.clock import VirtualClock
from operator_sim.engine.lifecycle import (
    LIFECYCLES,
    MESSAGE_EFFECTS,
    IllegalInitialStatus,
    IllegalTransition,
    TooEarlyToValidate,
    TransitionConflict,
)
from operator_sim.protocol.codes import MESSAGE_TYPES, Sender, TransactionStatus, TransactionType
from operator_sim.store import AsyncStore, StatusConflict, TransitionStep

from ..store.factories import T0, message, new_acte, new_transaction, open_store

S = TransactionStatus
T = TransactionType
STEP = timedelta(days=70)  # more than the two months "Validé" waits for after the AR

LEGAL_PATHS = [
    (T.ACTE, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ACQUITTEMENT_RECU, S.VALIDE]),
    (T.ACTE, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ACQUITTEMENT_RECU, S.ANNULE]),
    (T.ACTE, [S.EN_ATTENTE_D_ETRE_POSTEE, S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION]),
    (T.ACTE, [S.EN_ATTENTE_D_ETRE_SIGNEE]),
    (T.ACTE, [S.POSTE, S.ERREUR]),
    (T.ACTE, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ERREUR]),
    (T.ACTE, [S.ERREUR]),  # a duplicate, refused on reception
    (T.COURRIER_SIMPLE, [S.DOCUMENT_RECU_PAS_D_AR]),
    (T.COURRIER_SIMPLE, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ERREUR]),
    (T.COURRIER_SIMPLE, [S.POSTE, S.ERREUR]),
    (T.DEFERE, [S.DOCUMENT_RECU_PAS_D_AR]),
    *[(t, path) for t in (T.PIECES_COMPLEMENTAIRES, T.LETTRE_OBSERVATIONS) for path in (
        [S.DOCUMENT_RECU, S.ACQUITTEMENT_ENVOYE],
        [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ACQUITTEMENT_RECU],
        [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ERREUR],
        [S.POSTE, S.ERREUR])],
    *[(t, path) for t in (T.ANNULATION, T.CLASSIFICATION) for path in (
        [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ACQUITTEMENT_RECU],
        [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ERREUR],
        [S.POSTE, S.ERREUR])],
]

# (type, path walked legally first, refused target)
ILLEGAL = [
    (T.ACTE, [S.POSTE], S.TRANSMIS),
    (T.ACTE, [S.POSTE], S.ACQUITTEMENT_RECU),
    (T.ACTE, [S.POSTE], S.POSTE),
    (T.ACTE, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION], S.ERREUR),
    (T.ACTE, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS], S.VALIDE),
    (T.ACTE, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS], S.ANNULE),
    (T.ACTE, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ACQUITTEMENT_RECU], S.ERREUR),
    (T.ACTE, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ACQUITTEMENT_RECU, S.ANNULE],
     S.ACQUITTEMENT_RECU),
    (T.ACTE, [S.POSTE, S.ERREUR], S.EN_ATTENTE_DE_TRANSMISSION),
    (T.ACTE, [S.EN_ATTENTE_D_ETRE_POSTEE], S.EN_ATTENTE_DE_TRANSMISSION),
    (T.ACTE, [S.EN_ATTENTE_D_ETRE_SIGNEE], S.POSTE),  # S²LOW's web UI only: no API way out
    (T.COURRIER_SIMPLE, [S.DOCUMENT_RECU_PAS_D_AR], S.ACQUITTEMENT_ENVOYE),
    (T.COURRIER_SIMPLE, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS], S.ACQUITTEMENT_RECU),
    (T.PIECES_COMPLEMENTAIRES, [S.DOCUMENT_RECU], S.ACQUITTEMENT_RECU),
    (T.PIECES_COMPLEMENTAIRES, [S.DOCUMENT_RECU, S.ACQUITTEMENT_ENVOYE], S.DOCUMENT_RECU),
    (T.LETTRE_OBSERVATIONS, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ACQUITTEMENT_RECU],
     S.VALIDE),
    (T.DEFERE, [S.DOCUMENT_RECU_PAS_D_AR], S.ACQUITTEMENT_RECU),
    (T.ANNULATION, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ACQUITTEMENT_RECU], S.ANNULE),
    (T.CLASSIFICATION, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ACQUITTEMENT_RECU], S.POSTE),
]


@pytest.fixture
def store(tmp_path):
    store = open_store(tmp_path)
    yield store
    store.close()


def _walk(store, type_, path, *, numero="P1"):
    at = T0
    row = lifecycle.create(store, new_transaction(store, type_, path[0], numero=numero), at=at, actor="t")
    for status in path[1:]:
        at += STEP
        row = lifecycle.transition(store, row.id, status, at=at, actor="t")
    return row, at


def _label(value):
    return value.name if isinstance(value, T | S) else "-".join(str(int(s)) for s in value)


@pytest.mark.parametrize(("type_", "path"), LEGAL_PATHS, ids=lambda v: _label(v))
def test_every_legal_path_is_walked_and_journaled(store, type_, path):
    row, _ = _walk(store, type_, path)
    assert row.status == path[-1]
    events = store.journal(row.id)
    assert [e.to_status for e in events] == path
    assert [e.from_status for e in events] == [None, *path[:-1]]


def test_the_legal_paths_exercise_every_creation_status_and_every_move():
    walked = {(t, a, b) for t, path in LEGAL_PATHS for a, b in itertools.pairwise(path)}
    table = {(t, a, b) for t, lc in LIFECYCLES.items() for a, targets in lc.moves.items() for b in targets}
    assert walked == table
    assert {(t, path[0]) for t, path in LEGAL_PATHS} == {
        (t, s) for t, lc in LIFECYCLES.items() for s in lc.initial}


@pytest.mark.parametrize(("type_", "path", "target"), ILLEGAL, ids=lambda v: _label(v))
def test_illegal_transitions_are_refused_and_change_nothing(store, type_, path, target):
    row, at = _walk(store, type_, path)
    before = store.journal(row.id)
    with pytest.raises(IllegalTransition) as refused:
        lifecycle.transition(store, row.id, target, at=at + STEP, actor="t", always_can_validate=True)
    assert refused.value.code == "ILLEGAL_TRANSITION"
    assert (refused.value.from_status, refused.value.to_status) == (path[-1], target)
    assert store.get(row.id).status == path[-1]
    assert store.journal(row.id) == before


@pytest.mark.parametrize(("type_", "status"), [
    (T.ACTE, S.TRANSMIS), (T.ACTE, S.DOCUMENT_RECU_PAS_D_AR), (T.DEFERE, S.POSTE),
    (T.ANNULATION, S.EN_ATTENTE_D_ETRE_POSTEE), (T.PIECES_COMPLEMENTAIRES, S.DOCUMENT_RECU_PAS_D_AR),
    (T.COURRIER_SIMPLE, S.DOCUMENT_RECU)], ids=lambda v: _label(v))
def test_transactions_cannot_be_created_in_a_status_their_type_does_not_start_in(store, type_, status):
    with pytest.raises(IllegalInitialStatus) as refused:
        lifecycle.create(store, new_transaction(store, type_, status), at=T0, actor="t")
    assert refused.value.code == "ILLEGAL_INITIAL_STATUS"
    assert store.list().total == 0


def test_every_message_effect_is_a_move_or_a_creation_the_machine_allows():
    assert set(MESSAGE_EFFECTS) == set(MESSAGE_TYPES)
    for code, effects in MESSAGE_EFFECTS.items():
        for effect in effects:
            lc = LIFECYCLES[effect.transaction_type]
            if effect.from_status is None:
                assert effect.to_status in lc.initial, code
                assert effect.transaction_type == MESSAGE_TYPES[code].transaction
            else:
                assert lc.allows(effect.from_status, effect.to_status), code


def _at_transmis(store, numero):
    row, at = _walk(store, T.ACTE, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS], numero=numero)
    return row, at + STEP


def _race(*calls):
    start = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(i, call):
        start.wait()
        try:
            outcomes[i] = call()
        except Exception as error:
            outcomes[i] = error

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_of_two_racing_transitions_from_transmis_exactly_one_wins(store):
    for round_ in range(10):
        row, at = _at_transmis(store, f"R{round_}")
        outcomes = _race(
            lambda row=row, at=at: lifecycle.transition(store, row.id, S.ACQUITTEMENT_RECU, at=at,
                                                        actor="ar", expected_from=S.TRANSMIS),
            lambda row=row, at=at: lifecycle.transition(store, row.id, S.ERREUR, at=at,
                                                        actor="anomalie", expected_from=S.TRANSMIS))
        winners = [o for o in outcomes if not isinstance(o, Exception)]
        losers = [o for o in outcomes if isinstance(o, Exception)]
        assert len(winners) == 1 and len(losers) == 1
        assert isinstance(losers[0], TransitionConflict) and losers[0].code == "TRANSITION_CONFLICT"
        events = store.journal(row.id)
        assert [e.to_status for e in events] == [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS,
                                                 winners[0].status]
        assert store.get(row.id).status == winners[0].status


def test_the_store_compare_and_set_alone_lets_only_one_racer_win(store):
    row, at = _at_transmis(store, "CAS")
    outcomes = _race(*(
        lambda to=to: store.transition(row.id, to, at=at, actor="x", expected_from=S.TRANSMIS)
        for to in (S.ACQUITTEMENT_RECU, S.ERREUR, S.ACQUITTEMENT_RECU, S.ERREUR)))
    assert sum(not isinstance(o, Exception) for o in outcomes) == 1
    assert all(isinstance(o, StatusConflict) for o in outcomes if isinstance(o, Exception))
    assert len(store.journal(row.id)) == 4


async def test_racing_engine_steps_from_the_event_loop_are_serialised(store):
    row, at = _at_transmis(store, "ASYNC")
    astore = AsyncStore(store)
    try:
        outcomes = await asyncio.gather(*(
            astore.call(lifecycle.transition, row.id, to, at=at, actor="loop", expected_from=S.TRANSMIS)
            for to in (S.ACQUITTEMENT_RECU, S.ERREUR)), return_exceptions=True)
    finally:
        astore.close()
    assert sorted(type(o).__name__ for o in outcomes) == ["TransactionRow", "TransitionConflict"]
    assert len(store.journal(row.id)) == 4


def test_cancellation_moves_the_act_and_the_annulation_together(store):
    acte, at = _walk(store, T.ACTE, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ACQUITTEMENT_RECU])
    annulation, _ = _walk(store, T.ANNULATION, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS])
    ar = message(store, "6-2", Sender.PREF, "034-491011698-20250310-P1-DE-6-2_1.xml")
    steps = [TransitionStep(annulation.id, S.TRANSMIS, S.ACQUITTEMENT_RECU, "ARAnnulation", attach=ar),
             TransitionStep(acte.id, S.ACQUITTEMENT_RECU, S.ANNULE, "Annulé")]
    done = lifecycle.apply_steps(store, steps, at=at + STEP, actor="pref")
    assert [r.status for r in done] == [S.ACQUITTEMENT_RECU, S.ANNULE]
    with pytest.raises(TransitionConflict):
        lifecycle.apply_steps(store, steps, at=at + STEP, actor="pref")


def test_an_illegal_step_among_several_refuses_them_all(store):
    acte, at = _walk(store, T.ACTE, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ACQUITTEMENT_RECU])
    annulation, _ = _walk(store, T.ANNULATION, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS])
    steps = [TransitionStep(annulation.id, S.TRANSMIS, S.ACQUITTEMENT_RECU),
             TransitionStep(acte.id, S.ACQUITTEMENT_RECU, S.ERREUR)]
    with pytest.raises(IllegalTransition):
        lifecycle.apply_steps(store, steps, at=at, actor="pref")
    assert store.get(annulation.id).status == S.TRANSMIS


def test_validation_waits_two_calendar_months_in_paris_time(store):
    clock = VirtualClock(datetime(2024, 12, 31, 12, 0, tzinfo=UTC))
    row = lifecycle.create(store, new_acte(store, "V1"), at=clock.now(), actor="t")
    for status in (S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ACQUITTEMENT_RECU):
        row = lifecycle.transition(store, row.id, status, at=clock.now(), actor="t")
    # AR on 31 December 13:00 Paris: the end of February is the earliest day, same hour.
    clock.set(datetime(2025, 2, 28, 11, 59, tzinfo=UTC))
    with pytest.raises(TooEarlyToValidate) as refused:
        lifecycle.transition(store, row.id, S.VALIDE, at=clock.now(), actor="agent")
    assert refused.value.code == "TOO_EARLY_TO_VALIDATE"
    clock.advance(timedelta(minutes=1))
    assert lifecycle.transition(store, row.id, S.VALIDE, at=clock.now(), actor="agent").status == S.VALIDE


def test_validation_delay_can_be_waived_like_s2low_always_can_validate(store):
    row, at = _walk(store, T.ACTE, [S.POSTE, S.EN_ATTENTE_DE_TRANSMISSION, S.TRANSMIS, S.ACQUITTEMENT_RECU])
    with pytest.raises(TooEarlyToValidate):
        lifecycle.transition(store, row.id, S.VALIDE, at=at, actor="agent")
    validated = lifecycle.transition(store, row.id, S.VALIDE, at=at, actor="agent", always_can_validate=True)
    assert validated.status == S.VALIDE
