"""The request journal through real mutual TLS: who presented which certificate, and what came of it."""

from __future__ import annotations

import aiohttp
import pytest
from cryptography import x509

from operator_sim.pki.catalogue import load_manifest
from operator_sim.pki.store import fingerprint
from operator_sim.pki.tls import client_ssl_context

from .simkit import SIREN, act, admin, submit


def catalogue_session(served, name: str) -> tuple[aiohttp.ClientSession, str]:
    """A session presenting catalogue certificate `name`, and that certificate's fingerprint."""
    pki = served.simulator.pki
    folder = pki.catalogue_dir / name
    context = client_ssl_context(cafile=pki.roots_path, certificate=folder / "chain.pem",
                                 key=folder / "key.pem", lenient_own_certificate=True)
    leaf = x509.load_pem_x509_certificate((folder / "cert.pem").read_bytes())
    return (aiohttp.ClientSession(served.api_url, connector=aiohttp.TCPConnector(ssl=context)),
            fingerprint(leaf))


async def journal(served, query: str = "") -> list[dict]:
    status, body = await admin(served, "GET", f"/admin/journal{query}")
    assert status == 200, body
    return body["items"]


async def test_each_request_is_journaled_with_the_certificate_and_the_identity(served):
    agent = served.enrol(SIREN, "Alice Martin")
    async with served.agent_session(agent) as http:
        _, body = await submit(http, act("J1"))
        tid = body["transaction"]["id"]
        async with http.get(f"/api/v1/transactions/{tid}") as r:
            assert r.status == 200
        async with http.get("/api/v1/transactions/999999") as r:
            assert r.status == 404
    entries = await journal(served, f"?fingerprint={agent.fingerprint}")
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("GET", "/api/v1/transactions/999999", 404), ("GET", f"/api/v1/transactions/{tid}", 200),
        ("POST", "/api/v1/archives", 201)]
    submitted = entries[-1]
    assert submitted["transaction_id"] == tid and entries[1]["transaction_id"] == tid
    assert "Alice Martin" in submitted["certificate"]["subject"]
    assert submitted["certificate"]["fingerprint"] == agent.fingerprint
    assert submitted["verdict"] == {"code": "ACCEPTED", "indication": "PASSED", "sub_indication": None}
    assert submitted["identity"]["sirens"] == [SIREN] and submitted["identity"]["name"]
    assert entries[0]["error_code"] == "NOT_FOUND"
    assert submitted["query"].startswith("name=") and submitted["duration_ms"] >= 0


@pytest.mark.parametrize("name", ["expired", "revoked", "siren_mismatch"])
async def test_refused_certificates_are_journaled_with_their_verdict(served, name):
    entry = next(e for e in load_manifest(served.simulator.pki.catalogue_dir / "manifest.json")
                 if e.name == name)
    session, presented = catalogue_session(served, name)
    async with session, session.get("/api/v1/transactions") as r:
        assert r.status == int(entry.tls_outcome.removeprefix("http_"))
    (logged,) = await journal(served, f"?fingerprint={presented}")
    assert logged["status"] == r.status and logged["identity"] is None
    assert logged["certificate"]["fingerprint"] == presented
    assert logged["error_code"] == entry.expected_code
    if entry.stage == "trust":
        assert logged["verdict"] == {"code": entry.expected_code, "indication": entry.indication,
                                     "sub_indication": entry.sub_indication}
    else:  # a certificate the PKI trusts, refused by the identity rules
        assert logged["verdict"]["code"] == "ACCEPTED"


async def test_the_journal_filters_by_status_path_time_and_position(served):
    agent = served.enrol(SIREN)
    session, expired = catalogue_session(served, "expired")
    async with session, session.get("/api/v1/transactions") as r:
        assert r.status == 401
    async with served.agent_session(agent) as http:
        await submit(http, act("F1"))
        async with http.get("/api/v1/transactions") as r:
            assert r.status == 200
    assert [e["certificate"]["fingerprint"] for e in await journal(served, "?status=401")] == [expired]
    assert [e["path"] for e in await journal(served, "?path=/api/v1/arch")] == ["/api/v1/archives"]
    everything = await journal(served)
    assert len(everything) == 3 and [e["id"] for e in everything] == sorted(
        (e["id"] for e in everything), reverse=True)
    assert len(await journal(served, "?limit=1")) == 1
    assert [e["id"] for e in await journal(served, f"?after={everything[1]['id']}")] == [
        everything[0]["id"]]
    assert await journal(served, "?since=2999-01-01T00:00:00%2B00:00") == []
    assert len(await journal(served, "?since=2000-01-01T00:00:00Z")) == 3
    assert [e["verdict"]["code"] for e in await journal(served, "?verdict=CERT_EXPIRED")] == [
        "CERT_EXPIRED"]
    for bad in ("?status=abc", "?since=yesterday", "?since=2026-01-01T00:00:00", "?limit=-1"):
        status, error = await admin(served, "GET", f"/admin/journal{bad}")
        assert status == 400 and error["code"] == "BAD_PARAMETER", bad
