"""Strict and lenient profiles at the intake: conventions, per-collectivité profiles, and the
leniencies a lenient sender keeps as warnings. Real SQLite, blobs, PKI, TSA."""

from __future__ import annotations

import dataclasses
import datetime as dt

from operator_sim.protocol.codes import NatureActe
from operator_sim.protocol.envelope import Piece
from operator_sim.store import Collectivite, NewConvention
from operator_sim.testing import corpus
from operator_sim.validation.profiles import PlatformProfile

from .test_intake import NOW, identity, submit

NEWCOMER = "213400005"
COMMUNE = dataclasses.replace(corpus.COMMUNE, siren=NEWCOMER)


def newcomer_act(**changes: object):
    return corpus.build(corpus.base_request(**changes), COMMUNE)


async def test_strict_refuses_a_sender_without_a_convention_with_an_anomalie_enveloppe(
        engine, tmp_path):
    outcome = await submit(engine, newcomer_act(), tmp_path, who=identity(NEWCOMER))
    assert (outcome.code, outcome.anomalie[0]) == ("ANO", "005")
    assert "PREF-VERIF-02" in outcome.anomalie[1]
    assert "SENDER_UNKNOWN" in [f.code for f in outcome.report.errors]
    assert engine.sqlite.convention_in_force(NEWCOMER, NOW.date()) is None


async def test_lenient_registers_an_unknown_sender_with_a_warning(engine, tmp_path):
    engine.profile = PlatformProfile.LENIENT
    outcome = await submit(engine, newcomer_act(), tmp_path, who=identity(NEWCOMER))
    assert outcome.code == "1-2"
    assert "SENDER_UNKNOWN" in [f.code for f in outcome.report.warnings]
    assert outcome.report.platform_profile == "lenient"
    assert engine.sqlite.get_collectivite(NEWCOMER).departement == "034"


async def test_lenient_still_refuses_an_idcl_contradicting_the_registered_one(engine, tmp_path):
    """Lenient relaxes the schema's and the convention's rules, not who the sender is."""
    engine.profile = PlatformProfile.LENIENT
    assert (await submit(engine, newcomer_act(), tmp_path / "a",
                         who=identity(NEWCOMER))).code == "1-2"
    moved = corpus.build(corpus.base_request(numero_interne="DELIB2024_013"),
                         dataclasses.replace(COMMUNE, arrondissement=2), numero=2)
    outcome = await submit(engine, moved, tmp_path / "b", who=identity(NEWCOMER))
    assert (outcome.code, outcome.anomalie[0]) == ("ANO", "005"), outcome.anomalie
    assert "IDCL_MISMATCH" in [f.code for f in outcome.report.errors]
    assert engine.sqlite.get_collectivite(NEWCOMER).arrondissement == "3"


async def test_a_convention_in_force_lets_the_sender_in_and_a_terminated_one_does_not(
        engine, tmp_path):
    convention = engine.sqlite.add_convention(NewConvention(NEWCOMER, dt.date(2020, 1, 1), "SLO"))
    outcome = await submit(engine, newcomer_act(), tmp_path / "a", who=identity(NEWCOMER))
    assert outcome.code == "1-2"
    engine.sqlite.terminate_convention(convention.id, NOW.date())
    refused = await submit(engine, newcomer_act(numero_interne="DEL2"), tmp_path / "b",
                           who=identity(NEWCOMER))
    assert (refused.code, refused.anomalie[0]) == ("ANO", "005")


async def test_a_convention_signed_after_today_is_not_in_force(engine, tmp_path):
    engine.sqlite.add_convention(NewConvention(NEWCOMER, NOW.date() + dt.timedelta(days=1), "SLO"))
    refused = await submit(engine, newcomer_act(), tmp_path, who=identity(NEWCOMER))
    assert refused.code == "ANO"


async def test_the_convention_must_cover_the_matiere_and_budget_acts(engine, tmp_path):
    engine.sqlite.add_convention(NewConvention(NEWCOMER, dt.date(2020, 1, 1), "SLO",
                                               matieres=("1", "7.1"), actes_budgetaires=False))
    outside = await submit(engine, newcomer_act(), tmp_path / "a", who=identity(NEWCOMER))
    assert outside.code == "1-3" and outside.anomalie[1].startswith("CONVENTION_MATIERE :")
    budget = dataclasses.replace(corpus.budget_request(NEWCOMER), numero_interne="BP1")
    refused = await submit(engine, corpus.build(budget, COMMUNE), tmp_path / "b",
                           who=identity(NEWCOMER))
    assert refused.code == "1-3" and refused.anomalie[1].startswith("CONVENTION_BUDGET :")
    inside = await submit(engine, newcomer_act(numero_interne="MP1", codes_matiere=(1, 1),
                                               nature=NatureActe.CC,
                                               document=Piece(corpus.minimal_pdf("CC"), "pdf",
                                                              "99_DC"), annexes=()),
                          tmp_path / "c", who=identity(NEWCOMER))
    assert inside.code == "1-2", inside.anomalie


async def test_a_collectivite_may_be_lenient_while_the_deployment_is_strict(engine, tmp_path):
    """A legacy integration keeps its lower-case numbers; the others are held to strict."""
    engine.sqlite.add_convention(NewConvention(NEWCOMER, dt.date(2020, 1, 1), "SLO"))
    engine.sqlite.add_collectivite(Collectivite(NEWCOMER, "034", "3", "31", "Héritage",
                                                profil="lenient"))
    legacy = await submit(engine, newcomer_act(numero_interne="delib1"), tmp_path / "a",
                          who=identity(NEWCOMER))
    assert legacy.code == "1-2"
    assert "NUMERO_INTERNE_LOWERCASE" in [f.code for f in legacy.report.warnings]
    strict = await submit(engine, corpus.build(corpus.base_request(numero_interne="delib1")),
                          tmp_path / "b")
    assert strict.code == "1-3"
    assert strict.anomalie[1].startswith("NUMERO_INTERNE_LOWERCASE :")


async def test_a_strict_collectivite_in_a_lenient_deployment_is_held_to_strict(engine, tmp_path):
    engine.profile = PlatformProfile.LENIENT
    engine.sqlite.add_convention(NewConvention(NEWCOMER, dt.date(2020, 1, 1), "SLO"))
    engine.sqlite.add_collectivite(Collectivite(NEWCOMER, "034", "3", "31", "Stricte",
                                                profil="strict"))
    outcome = await submit(engine, newcomer_act(numero_interne="delib1"), tmp_path,
                           who=identity(NEWCOMER))
    assert outcome.code == "1-3"
