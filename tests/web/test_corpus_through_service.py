"""Every corpus case through the running service over real mutual TLS.

Valid acts of each matière profile get an ARActe whose RFC 3161 token `openssl ts -verify`
accepts over the archive as sent; each invalid case gets the answer the offline validator
announces: a 1-3 with the finding's AnomalieActe nature, or a 422 naming the finding when the
archive holds no readable act (nothing stored then). An envelope sent in the name of another
SIREN than the agent's is refused before anything else (403).
"""

from __future__ import annotations

import subprocess

import pytest

from operator_sim.protocol.errors import ProtocolError
from operator_sim.protocol.names import ArchiveName
from operator_sim.testing import corpus
from operator_sim.validation.profiles import PlatformProfile
from operator_sim.validation.report import ANOMALIE_BY_CODE

from .simkit import serve


def _siren(name: str) -> str:
    try:
        return ArchiveName.parse(name).enveloppe.siren
    except ProtocolError:
        return corpus.COMMUNE.siren


@pytest.mark.parametrize("case", corpus.CASES, ids=lambda case: case.slug)
async def test_corpus_case_gets_the_announced_answer(served, case, tmp_path):
    await _gets_the_announced_answer(served, case, case.valid, case.code, tmp_path)


@pytest.mark.parametrize("case", [c for c in corpus.CASES if c.leniency is not None],
                         ids=lambda case: case.slug)
async def test_a_lenient_deployment_gives_the_lenient_verdict(case, tmp_path, shared_pki_dir):
    """The offline validator's `--profile lenient` verdicts are the service's under lenient."""
    async with serve(tmp_path / "data", shared_pki_dir, profile="lenient") as served:
        await _gets_the_announced_answer(served, case, *case.verdict(PlatformProfile.LENIENT),
                                         tmp_path)


async def _gets_the_announced_answer(served, case, valid, code, tmp_path):
    name, data = case.make()
    agent = served.enrol(_siren(name))
    async with served.agent_session(agent) as http:
        async with http.post("/api/v1/archives", params={"name": name}, data=data,
                             headers={"Content-Type": "application/gzip"}) as r:
            status, body = r.status, await r.json()
        if valid:
            assert status == 201 and body["outcome"] == "1-2", body
            tid = body["transaction"]["id"]
            async with http.get(f"/api/v1/transactions/{tid}/messages/1-2/timestamp") as r:
                assert r.status == 200
                token = await r.read()
            (tmp_path / "archive.tar.gz").write_bytes(data)
            (tmp_path / "token.tst").write_bytes(token)
            pki = served.simulator.pki
            check = subprocess.run(
                ["openssl", "ts", "-verify", "-data", str(tmp_path / "archive.tar.gz"),
                 "-in", str(tmp_path / "token.tst"), "-token_in", "-CAfile", str(pki.roots_path),
                 "-untrusted", str(pki.intermediates_path)], capture_output=True, text=True)
            assert "Verification: OK" in check.stdout, check.stdout + check.stderr
        elif code in ("NAME_ARCHIVE", "NAME_ENVELOPE") or (code == "NAME_MISMATCH"
                                                             and case.slug.startswith("archive")):
            # The envelope itself is wrongly named: the platform refuses it as a whole.
            assert status == 201 and body["outcome"] == "ANO", body
            assert body["anomalie"]["nature"] == "002" and f" -> {code} : " in \
                body["anomalie"]["detail"], body
        elif status == 201:
            assert body["outcome"] == "1-3", body
            assert body["anomalie"]["nature"] == ANOMALIE_BY_CODE[code].value, body
            assert body["anomalie"]["detail"].startswith(code), body
        elif case.slug == "emetteur-siren-mismatch":
            assert status == 403 and body["code"] == "FORBIDDEN_SIREN", body
        else:
            assert status == 422 and body["code"] == code, body
        if status >= 400:
            assert served.simulator.store.list().total == 0
