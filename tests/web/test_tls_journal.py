"""Connections refused in the TLS handshake are journaled: peer address, time, OpenSSL's reason.

Clients are curl, presenting a certificate openssl made (self-signed: unknown CA), the test
PKI's catalogue leaf whose signature does not verify under its issuer (bad chain), and none.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from operator_sim.pki.profiles import RgsLevel

from .simkit import SIREN

OPENSSL_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def self_signed(folder: Path) -> tuple[Path, Path]:
    openssl("req", "-x509", *OPENSSL_KEY, "-keyout", "intrus.key", "-out", "intrus.pem",
            "-days", "30", "-subj", "/C=FR/O=Intrus/CN=Agent inconnu", cwd=folder)
    return folder / "intrus.pem", folder / "intrus.key"


async def curl(served, *options: str) -> int:
    process = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-o", "/dev/null", "--cacert", str(served.simulator.pki.roots_path),
        *options, f"{served.api_url}/api/v1/transactions",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return await asyncio.wait_for(process.wait(), 30)


async def refusals(served):
    async with served.admin_session() as http, http.get(
            "/admin/journal", params={"verdict": "TLS_HANDSHAKE_REFUSED"}) as r:
        assert r.status == 200
        return (await r.json())["items"]


async def test_refused_handshakes_are_journaled_with_peer_time_and_reason(served, tmp_path):
    before = served.simulator.clock.now()
    unknown = self_signed(tmp_path)
    bad_chain = served.simulator.pki.catalogue_dir / "bad_signature_leaf"
    for cert, key in (unknown, (bad_chain / "chain.pem", bad_chain / "key.pem")):
        assert await curl(served, "--cert", str(cert), "--key", str(key)) != 0
    assert await curl(served) != 0  # no certificate at all
    found = list(reversed(await refusals(served)))
    assert len(found) == 3, found
    for item in found:
        assert item["method"] == "TLS" and item["remote"] == "127.0.0.1"
        assert item["status"] is None and item["identity"] is None
        assert before <= dt.datetime.fromisoformat(item["at"]) <= served.simulator.clock.now()
        assert item["verdict"]["code"] == "TLS_HANDSHAKE_REFUSED"
        assert "peer port" in item["note"]
    unknown_ca, bad_chain, no_certificate = found
    assert unknown_ca["verdict"]["indication"] == "CERTIFICATE_VERIFY_FAILED"
    assert "self-signed" in unknown_ca["verdict"]["sub_indication"]
    assert bad_chain["verdict"]["indication"] == "CERTIFICATE_VERIFY_FAILED"
    assert "signature" in bad_chain["verdict"]["sub_indication"]
    assert no_certificate["verdict"]["indication"] == "PEER_DID_NOT_RETURN_A_CERTIFICATE"


async def test_a_sound_handshake_is_not_a_refusal(served):
    agent = served.enrol(SIREN, level=RgsLevel.TWO)
    pki = served.simulator.pki
    assert await curl(served, "--cert", str(pki.directory / agent.certificate),
                      "--key", str(pki.directory / agent.key)) == 0
    assert await refusals(served) == []
    assert urlsplit(served.api_url).hostname == "localhost"
