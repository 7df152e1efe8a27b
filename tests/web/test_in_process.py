"""The in-process client answers as real mutual TLS does once the handshake is over: the same
statuses and bodies for a trusted, a revoked and an unknown agent, the same journal row; and
without a certificate it is refused as a plain connection would be."""

from __future__ import annotations

import aiohttp
import pytest

from .simkit import SIREN, act, admin, serve, submit


async def answers(served) -> list[object]:
    """A trusted agent submits and lists, a revoked one lists: statuses, bodies, journal rows."""
    good, revoked = served.enrol(SIREN, "Agent valide"), served.enrol(SIREN, "Agent révoqué")
    served.simulator.pki.revoke(revoked.serial, now=served.simulator.clock.now())
    seen: list[object] = []
    async with served.agent_session(good) as http:
        status, body = await submit(http, act("INPROC_1"))
        seen.append((status, body["outcome"]))
        async with http.get("/api/v1/transactions") as r:
            seen.append((r.status, [t["status"] for t in (await r.json())["items"]]))
    async with served.agent_session(revoked) as http, http.get("/api/v1/transactions") as r:
        body = await r.json()
        assert body.pop("detail").startswith("revoked at")  # the second it was revoked
        seen.append((r.status, body))
    for agent in (good, revoked):
        _, journal = await admin(served, "GET", f"/admin/journal?fingerprint={agent.fingerprint}")
        seen.append([(e["method"], e["path"], e["status"], e["verdict"], e["error_code"],
                      e["certificate"]["fingerprint"] == agent.fingerprint,
                      (e["identity"] or {}).get("sirens")) for e in journal["items"]])
    return seen


async def test_the_in_process_client_gets_what_mutual_tls_gets(tmp_path, shared_pki_dir):
    results = []
    for tls in (True, False):
        async with serve(tmp_path / f"data-{tls}", shared_pki_dir, tls=tls) as served:
            assert served.api_url.startswith("https://" if tls else "http://")
            results.append(await answers(served))
    assert results[0] == results[1]
    assert results[0][0] == (201, "1-2")
    assert results[0][2][0] == 401 and results[0][2][1]["indication"] == "TOTAL_FAILED"
    assert len(results[0][3]) == 2 and len(results[0][4]) == 1  # the journal saw them all


@pytest.mark.in_process
async def test_without_a_certificate_the_in_process_client_is_refused(served):
    assert served.api_url.startswith("http://")
    async with aiohttp.ClientSession(served.api_url) as http, http.get("/api/v1/transactions") as r:
        assert r.status == 401 and (await r.json())["code"] == "NO_CERTIFICATE"
