"""`operator-sim submit / status / cancel` as a user runs them: a real process, real mutual TLS."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from operator_sim.testing import corpus

SIREN, OTHER = corpus.COMMUNE.siren, "253400014"
CLI = str(Path(sys.executable).parent / "operator-sim")


async def cli(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(CLI, *args, cwd=cwd,
                                                   stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


def credentials(served, agent) -> list[str]:
    pki = served.simulator.pki
    return ["--url", served.api_url, "--cert", str(pki.directory / agent.certificate),
            "--key", str(pki.directory / agent.key), "--cacert", str(pki.roots_path)]


async def test_submit_status_cancel_with_pem_files(served, tmp_path):
    agent = credentials(served, served.enrol(SIREN))
    valid = corpus.build().write(tmp_path)
    code, out, err = await cli("submit", str(valid), *agent)
    assert code == 0, err
    assert "ARActe (1-2) IDActe 034-491011698-20240312-DELIB2024_012-DE" in out
    tid = served.simulator.store.list().items[0].id

    code, out, _ = await cli("status", str(tid), *agent)
    assert code == 0 and f"transaction {tid}: 4 Acquittement reçu" in out
    code, out, _ = await cli("status", str(tid), "--json", *agent)
    assert json.loads(out)["transaction"]["id_acte"].endswith("DELIB2024_012-DE")

    code, out, _ = await cli("cancel", str(tid), *agent)
    assert code == 0 and "answered 6-2" in out
    code, out, _ = await cli("cancel", str(tid), *agent)
    assert code == 1 and "refused 409 NOT_CANCELLABLE" in out
    assert served.simulator.store.get(tid).status == 0


async def test_an_anomaly_or_a_refusal_exits_1_and_json_lists_every_answer(served, tmp_path):
    agent = credentials(served, served.enrol(SIREN))
    late = corpus.base_request(numero_interne="LATE", date=corpus.SENT_DATE.replace(year=2099))
    paths = [corpus.build(corpus.base_request(numero_interne="OK1")).write(tmp_path),
             corpus.build(late, numero=2).write(tmp_path)]
    code, out, _ = await cli("submit", *map(str, paths), "--json", *agent)
    answers = json.loads(out)
    assert code == 1
    assert [a["outcome"] for a in answers] == ["1-2", "1-3"]
    code, out, _ = await cli("status", "999", *agent)
    assert code == 1 and "refused 404 NOT_FOUND" in out
    foreign = credentials(served, served.enrol(OTHER))
    code, out, _ = await cli("submit", str(paths[0]), *foreign)
    assert code == 1 and "refused 403 FORBIDDEN_SIREN" in out


async def test_operator_door_fields_with_a_p12(served, tmp_path):
    pki = served.simulator.pki
    p12 = pki.export_p12(served.enrol(SIREN).fingerprint, tmp_path / "agent.p12")
    (tmp_path / "acte.pdf").write_bytes(corpus.minimal_pdf("Arrete"))
    (tmp_path / "annexe.pdf").write_bytes(corpus.minimal_pdf("Annexe"))
    code, out, err = await cli(
        "submit", "--acte", str(tmp_path / "acte.pdf"), "--annexe", str(tmp_path / "annexe.pdf"),
        "--field", "departement=034", "--field", "date=2024-03-12",
        "--field", "numero_interne=AR2024_3", "--field", "nature=AR", "--field", "matiere=6.1",
        "--field", "objet=Arrêté de circulation", "--field", "typologie_annexe=99_AR",
        "--url", served.api_url, "--p12", str(p12), "--cacert", str(pki.roots_path))
    assert code == 0, out + err
    assert "IDActe 034-491011698-20240312-AR2024_3-AR" in out
    code, out, _ = await cli("submit", "--acte", str(tmp_path / "acte.pdf"), "--field", "nature=XX",
                             "--field", "departement=034", "--url", served.api_url,
                             "--p12", str(p12), "--cacert", str(pki.roots_path))
    assert code == 1 and "refused 422" in out and "[" in out


async def test_usage_errors_exit_2(served, tmp_path):
    agent = credentials(served, served.enrol(SIREN))
    archive = str(corpus.build().write(tmp_path))
    for args in (["submit", *agent],
                 ["submit", archive, "--acte", archive, *agent],
                 ["submit", archive, "--field", "nature=DE", *agent],
                 ["submit", archive, "--cert", agent[3]],
                 ["status", "abc", *agent]):
        code, _, err = await cli(*args)
        assert code == 2, (args, err)
    code, _, err = await cli("status", "1", "--url", served.api_url, cwd=tmp_path)
    assert code == 2 and "demo-agent.p12" in err
    code, _, err = await cli("status", "1", *agent[2:], "--url", "https://localhost:1")
    assert code == 1 and "cannot reach" in err
    assert served.simulator.store.list().total == 0
