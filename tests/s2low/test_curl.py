"""The README's curl commands: create, status and stamped download with the real curl binary."""

from __future__ import annotations

import asyncio
import io
import json
import shutil

import pytest
from pypdf import PdfReader

from operator_sim.testing import corpus

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


async def curl(s2low, *args: str) -> tuple[int, bytes]:
    pki = s2low.served.simulator.pki
    process = await asyncio.create_subprocess_exec(
        "curl", "--silent", "--show-error", "--cacert", str(pki.roots_path),
        "--cert", str(pki.directory / s2low.agent.certificate),
        "--key", str(pki.directory / s2low.agent.key), "--write-out", "\n%{http_code}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    body, _, status = out.rpartition(b"\n")
    return int(status), body


async def test_curl_creates_an_act_reads_its_status_and_downloads_it_stamped(s2low, tmp_path):
    acte, annexe = tmp_path / "deliberation.pdf", tmp_path / "annexe.pdf"
    acte.write_bytes(corpus.minimal_pdf("Deliberation 2024-012"))
    annexe.write_bytes(corpus.minimal_pdf("Annexe"))
    base = s2low.served.api_url
    status, body = await curl(
        s2low, "-F", "api=1", "-F", "nature_code=1", "-F", "classif1=5", "-F", "classif2=2",
        "-F", "number=DELIB2024_012", "-F", "decision_date=2024-03-12",
        "-F", "subject=Approbation du règlement intérieur", "-F", "document_papier=0",
        "-F", "type_acte=99_DE", "-F", "type_pj[]=99_DE",
        "-F", f"acte_pdf_file=@{acte};type=application/pdf",
        "-F", f"acte_attachments[]=@{annexe};type=application/pdf",
        f"{base}/modules/actes/actes_transac_create.php")
    assert status == 200 and body.startswith(b"OK\n"), body
    transaction_id = body.split(b"\n")[1].decode()
    status, body = await curl(s2low, f"{base}/modules/actes/actes_transac_get_status.php"
                                     f"?transaction={transaction_id}")
    assert status == 200 and body.startswith(b"OK\n4\n<?xml")
    assert b'actes:IDActe="034-491011698-20240312-DELIB2024_012-DE"' in body
    status, body = await curl(s2low, f"{base}/modules/actes/actes_transac_get_files_list.php"
                                     f"?transaction={transaction_id}")
    main = json.loads(body)[1]["id"]
    status, body = await curl(s2low, f"{base}/modules/actes/actes_download_file.php"
                                     f"?file={main}&tampon=true")
    assert status == 200
    assert "ID : 034-491011698-20240312-DELIB2024_012-DE" in \
        PdfReader(io.BytesIO(body)).pages[0].extract_text()
    status, body = await curl(s2low, "-F", "api=1", "-F", "number=bad number",
                              f"{base}/modules/actes/actes_transac_create.php")
    assert (status, body) == (200, "KO\nLe numéro n&#039;est pas correct\n".encode("iso-8859-1"))
