"""The committed corpus: every case gets its expected verdict and first finding code."""

import hashlib
import json

import pytest

from operator_sim.simulator import DEMO_COMMUNE
from operator_sim.testing.corpus import CASES, COMMUNE, write_corpus
from operator_sim.validation.validator import validate_archive

from .conftest import FIXTURES


def test_corpus_has_at_least_thirty_cases_with_both_verdicts():
    assert len(CASES) >= 30
    assert sum(c.valid for c in CASES) >= 5
    assert sum(not c.valid for c in CASES) >= 25
    assert all(c.valid == (c.code is None) for c in CASES)


def test_committed_fixtures_match_a_fresh_generation(tmp_path, manifest):
    fresh = json.loads(write_corpus(tmp_path).read_text(encoding="utf-8"))
    assert fresh == manifest, "fixtures/ is stale: run `operator-sim envelope corpus fixtures`"
    for entry in manifest:
        data = (FIXTURES / "cases" / entry["archive"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.slug)
def test_each_case_gets_its_expected_verdict_and_code(case, manifest, policy):
    entry = next(e for e in manifest if e["slug"] == case.slug)
    report = validate_archive(FIXTURES / "cases" / entry["archive"], policy)
    assert report.valid is case.valid, report.findings
    if case.code is not None:
        assert report.errors[0].code == case.code, [f.code for f in report.findings]
        nature, detail = report.anomalie()
        assert nature == report.errors[0].anomalie_nature
        assert detail.startswith(case.code)
    else:
        assert report.anomalie() is None


def test_the_corpus_is_sent_by_the_commune_serve_registers():
    """The served simulator may not import test material, so it states its demo commune itself:
    the two must agree, or fixtures/ could not be submitted by the demo agent."""
    assert COMMUNE == DEMO_COMMUNE
