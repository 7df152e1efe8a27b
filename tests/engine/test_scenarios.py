"""Scenario rules as data: parsing with precise errors, matching, reproducible delays, durations."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from operator_sim.engine.scenarios import (
    Decision,
    Delay,
    Facts,
    ScenarioError,
    corrupt,
    format_duration,
    load_rules_file,
    parse_duration,
    parse_rule,
    parse_rules,
)
from operator_sim.protocol.codes import AnomalieNature, NatureActe

DAY = dt.timedelta(days=1)


def facts(**changes: object) -> Facts:
    base = {"siren": "491011698", "nature": NatureActe.DE, "matiere": (5, 2),
            "objet": "Approbation du règlement intérieur", "numero_interne": "DELIB1", "headers": {}}
    return Facts(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "expected"), [
    ("P2D", 2 * DAY), ("PT90S", dt.timedelta(seconds=90)), ("P1DT12H", 1.5 * DAY),
    ("P1W", 7 * DAY), ("pt1m30s", dt.timedelta(seconds=90)), (45, dt.timedelta(seconds=45)),
    ("45", dt.timedelta(seconds=45)), (0.25, dt.timedelta(milliseconds=250)),
])
def test_durations_in_seconds_or_iso_8601(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P", "PT", "P1DT", "-5", -5, True, "2 days", None,
                                  float("nan"), float("inf"), 10**20, "P99999999D"])
def test_ambiguous_or_malformed_durations_are_refused(text):
    with pytest.raises(ScenarioError) as error:
        parse_duration(text, "outcome.delay")
    assert error.value.field == "outcome.delay"


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=999_999))
def test_a_formatted_duration_reads_back_the_same(seconds, microseconds):
    delta = dt.timedelta(seconds=seconds, microseconds=microseconds)
    assert parse_duration(format_duration(delta)) == delta


def test_each_criterion_narrows_the_match():
    rule = parse_rule({"id": "x", "match": {"siren": "491011698", "nature": "DE", "matiere": "5",
                                            "objet": "RÈGLEMENT", "objet_regex": r"^Approbation\b",
                                            "header": "X-Scenario: slow-ar"}})
    hit = facts(headers={"x-scenario": "slow-ar"})
    assert rule.match.matches(hit)
    for miss in (facts(), facts(headers={"x-scenario": "other"}),
                 facts(headers={"x-scenario": "slow-ar"}, siren="253400014"),
                 facts(headers={"x-scenario": "slow-ar"}, nature=NatureActe.AR),
                 facts(headers={"x-scenario": "slow-ar"}, matiere=(51,)),
                 facts(headers={"x-scenario": "slow-ar"}, objet="Approbation du budget"),
                 facts(headers={"x-scenario": "slow-ar"}, objet="Une approbation du règlement")):
        assert not rule.match.matches(miss), miss


def test_matiere_is_a_prefix_by_level_and_nature_takes_a_code_or_its_abbreviation():
    assert parse_rule({"id": "m", "match": {"matiere": "5.2"}}).match.matches(facts(matiere=(5, 2, 1)))
    assert not parse_rule({"id": "m", "match": {"matiere": "5.2"}}).match.matches(facts(matiere=(5,)))
    assert parse_rule({"id": "n", "match": {"nature": 1}}).match.nature is NatureActe.DE
    assert parse_rule({"id": "h", "match": {"header": "X-Flag"}}).match.matches(
        facts(headers={"x-flag": ""}))
    assert parse_rule({"id": "all"}).match.matches(facts())


@pytest.mark.parametrize(("rule", "field"), [
    ({"id": "x", "colour": "red"}, "colour"),
    ({"id": "bad id!"}, "id"),
    ({"id": "x", "match": {"siren": "12"}}, "match.siren"),
    ({"id": "x", "match": {"nature": "ZZ"}}, "match.nature"),
    ({"id": "x", "match": {"matiere": "5."}}, "match.matiere"),
    ({"id": "x", "match": {"objet_regex": "("}}, "match.objet_regex"),
    ({"id": "x", "match": {"header": "Bad Header: x"}}, "match.header"),
    ({"id": "x", "outcome": {"kind": "maybe"}}, "outcome.kind"),
    ({"id": "x", "outcome": {"kind": "anomalie", "nature": "999"}}, "outcome.nature"),
    ({"id": "x", "outcome": {"kind": "letter", "code": "5-1"}}, "outcome.code"),
    ({"id": "x", "outcome": {"kind": "hold", "delay": "P1D"}}, "outcome.delay"),
    ({"id": "x", "outcome": {"kind": "ar", "delay": {"min": "P2D", "max": "P1D"}}}, "outcome.delay"),
    ({"id": "x", "faults": {"slow_ms": -1}}, "faults.slow_ms"),
    ({"id": "x", "faults": {"unavailable": True, "drop_connection": True}}, "faults.unavailable"),
    ({"id": "x", "times": 0}, "times"),
])
def test_a_bad_rule_is_refused_naming_its_member(rule, field):
    with pytest.raises(ScenarioError) as error:
        parse_rule(rule)
    assert error.value.field == field
    assert error.value.message_fr and error.value.message_en


def test_a_rule_reads_back_from_its_own_json():
    rule = parse_rule({"id": "full", "description": "all of it",
                       "match": {"siren": "491011698", "nature": "BF", "matiere": "7.1",
                                 "objet": "budget", "objet_regex": "^B", "header": "X-S: a"},
                       "outcome": {"kind": "anomalie", "nature": "4", "detail": "schéma",
                                   "delay": {"min": "PT1H", "max": "P1D", "seed": 3}},
                       "faults": {"slow_ms": 10, "corrupt_return": True}, "times": 2})
    assert rule.plan.nature is AnomalieNature.SCHEMA
    assert parse_rule(rule.to_dict()) == rule


def test_random_delays_are_reproducible_and_within_bounds():
    delay = Delay(DAY, 3 * DAY, seed=42)
    picks = [delay.pick(f"rule:491011698:N{i}") for i in range(50)]
    assert picks == [delay.pick(f"rule:491011698:N{i}") for i in range(50)]
    assert all(DAY <= p <= 3 * DAY for p in picks) and len(set(picks)) > 1
    assert picks != [Delay(DAY, 3 * DAY, seed=43).pick(f"rule:491011698:N{i}") for i in range(50)]


def test_decisions_say_what_waits_and_what_follows():
    received = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
    later_ar = Decision("a", parse_rule({"id": "a", "outcome": {"delay": "P2D"}}).plan,
                        parse_rule({"id": "a"}).faults, 2 * DAY)
    assert later_ar.holds and later_ar.anomalie_now is None
    assert later_ar.followup(received) == (received + 2 * DAY, "answer", {"anomalie": None, "rule": "a"})
    letter = parse_rule({"id": "l", "outcome": {"kind": "letter", "code": "4-1", "delay": "P5D"}})
    decided = Decision("l", letter.plan, letter.faults, 5 * DAY)
    assert not decided.holds
    assert decided.followup(received) == (received + 5 * DAY, "letter",
                                          {"code": "4-1", "text": "", "rule": "l"})
    refused = parse_rule({"id": "r", "outcome": {"kind": "anomalie", "nature": "013"}})
    now = Decision("r", refused.plan, refused.faults)
    assert not now.holds and now.anomalie_now == (AnomalieNature.DOCUMENT_METIER,
                                                  AnomalieNature.DOCUMENT_METIER.libelle)


def test_rule_lists_get_ids_and_refuse_duplicates():
    rules = parse_rules([{}, {"id": "named"}])
    assert [r.id for r in rules] == ["rule-1", "named"]
    with pytest.raises(ScenarioError) as error:
        parse_rules([{"id": "a"}, {"id": "a"}])
    assert error.value.field == "rules[1].id"


def test_rules_file_in_toml(tmp_path):
    path = tmp_path / "scenarios.toml"
    path.write_text('[[rules]]\nid = "slow"\nmatch = { header = "X-Scenario: slow" }\n'
                    'outcome = { kind = "ar", delay = "P2D" }\nfaults = { slow_ms = 200 }\n',
                    encoding="utf-8")
    (rule,) = load_rules_file(path)
    assert rule.id == "slow" and rule.plan.delay.minimum == 2 * DAY and rule.faults.slow_ms == 200
    path.write_text('[[rules]]\nid = "x"\noutcome = { kind = "nope" }\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as error:
        load_rules_file(path)
    assert str(path) in error.value.message_en and error.value.field == "rules[0].outcome.kind"


def test_corruption_keeps_the_length_and_changes_the_bytes():
    data = b"<actes:ARActe>" + b"x" * 500 + b"</actes:ARActe>"
    damaged = corrupt(data)
    assert len(damaged) == len(data) and damaged != data
    assert corrupt(b"") == b""
