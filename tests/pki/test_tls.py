"""Real TLS on 127.0.0.1: every catalogue class, authorisation across SIRENs, shared certs."""

from __future__ import annotations

import ssl
from datetime import datetime

import pytest
from aiohttp import encode_basic_auth

from operator_sim.pki.catalogue import CLASSES
from operator_sim.pki.tls import client_ssl_context

from .conftest import SHARED_PASSWORDS, entry_named
from .tlskit import SIREN_A, SIREN_B, Clock, get, make_app, server_context


@pytest.fixture
async def served(aiohttp_server, pki, directory, reference_time):
    clock = Clock(reference_time)
    server = await aiohttp_server(make_app(pki, directory, clock), ssl=server_context(pki))
    return server, clock


def client(pki, certificate, key) -> ssl.SSLContext:
    return client_ssl_context(cafile=pki.roots_path, certificate=certificate, key=key,
                              lenient_own_certificate=True)


def catalogue_client(pki, name: str, chain: str = "chain.pem") -> ssl.SSLContext:
    folder = pki.catalogue_dir / name
    return client(pki, folder / chain, folder / "key.pem")


@pytest.mark.parametrize("name", CLASSES)
async def test_tls_outcome_matches_the_manifest(name, served, pki, manifest):
    server, clock = served
    entry = entry_named(manifest, name)
    clock.now = datetime.fromisoformat(entry.at)
    outcome = await get(server.port, catalogue_client(pki, name), "/whoami")
    assert outcome.kind == entry.tls_outcome, (outcome.error, outcome.body)
    if outcome.status in (401, 403):
        assert outcome.body["code"] == entry.expected_code
        assert outcome.body["indication"] == entry.indication
        assert outcome.body["sub_indication"] == entry.sub_indication
        assert outcome.body["message_fr"] and outcome.body["message_en"]
    if outcome.status == 200:
        assert outcome.body["sirens"] == [entry.account_siren]


async def test_client_without_certificate_is_refused_in_the_handshake(served, pki):
    server, _ = served
    context = client_ssl_context(cafile=pki.roots_path)
    outcome = await get(server.port, context, "/whoami")
    assert outcome.kind == "handshake_refused"


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
async def test_tls_below_1_2_is_refused(served, pki):
    server, _ = served
    context = catalogue_client(pki, "valid_rgs2_ecdsa")
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    outcome = await get(server.port, context, "/whoami")
    assert outcome.kind == "handshake_refused"


async def test_client_sending_only_its_leaf_is_completed_by_known_intermediates(served, pki):
    server, _ = served
    context = catalogue_client(pki, "valid_rgs2_ecdsa", chain="cert.pem")
    outcome = await get(server.port, context, "/whoami")
    assert outcome.status == 200


@pytest.mark.parametrize("path", ["/collectivites/{own}", "/transactions/1001"])
async def test_agent_may_act_for_its_own_siren(served, pki, path):
    server, _ = served
    outcome = await get(server.port, catalogue_client(pki, "valid_rgs2_ecdsa"),
                        path.format(own=SIREN_A))
    assert outcome.status == 200


@pytest.mark.parametrize("path", [f"/collectivites/{SIREN_B}", "/transactions/1002"])
async def test_agent_of_one_siren_is_forbidden_on_another_sirens_routes(served, pki, path):
    server, _ = served
    outcome = await get(server.port, catalogue_client(pki, "valid_rgs2_ecdsa"), path)
    assert outcome.status == 403
    assert outcome.body["code"] == "FORBIDDEN_SIREN"
    assert outcome.body["indication"] is None


async def test_trusted_but_unbound_certificate_is_unknown(served, pki, unbound_agent):
    server, _ = served
    context = client(pki, unbound_agent.certificate, unbound_agent.key)
    outcome = await get(server.port, context, "/whoami")
    assert outcome.status == 401
    assert outcome.body["code"] == "UNKNOWN_CERTIFICATE"


def basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": encode_basic_auth(login, password)}


async def test_shared_certificate_without_login_asks_for_basic_credentials(served, pki,
                                                                           shared_agent):
    server, _ = served
    context = client(pki, shared_agent.certificate, shared_agent.key)
    outcome = await get(server.port, context, "/whoami")
    assert outcome.status == 401
    assert outcome.body["code"] == "CREDENTIALS_REQUIRED"
    assert outcome.headers["WWW-Authenticate"].startswith("Basic ")


async def test_shared_certificate_with_wrong_password_is_refused(served, pki, shared_agent):
    server, _ = served
    context = client(pki, shared_agent.certificate, shared_agent.key)
    for login, password in (("alice", "battery staple"), ("mallory", "x")):
        outcome = await get(server.port, context, "/whoami", basic(login, password))
        assert outcome.status == 401
        assert outcome.body["code"] == "BAD_CREDENTIALS"


@pytest.mark.parametrize(("login", "own", "foreign", "own_tx", "foreign_tx"), [
    ("alice", SIREN_A, SIREN_B, "1001", "1002"),
    ("bob", SIREN_B, SIREN_A, "1002", "1001"),
])
async def test_accounts_behind_one_certificate_are_told_apart_by_login(
        served, pki, shared_agent, login, own, foreign, own_tx, foreign_tx):
    server, _ = served
    context = client(pki, shared_agent.certificate, shared_agent.key)
    credentials = basic(login, SHARED_PASSWORDS[login])
    whoami = await get(server.port, context, "/whoami", credentials)
    assert (whoami.status, whoami.body["login"], whoami.body["sirens"]) == (200, login, [own])
    for path in (f"/collectivites/{own}", f"/transactions/{own_tx}"):
        assert (await get(server.port, context, path, credentials)).status == 200
    for path in (f"/collectivites/{foreign}", f"/transactions/{foreign_tx}"):
        refused = await get(server.port, context, path, credentials)
        assert (refused.status, refused.body["code"]) == (403, "FORBIDDEN_SIREN")


async def test_unreadable_basic_header_is_bad_credentials(served, pki, shared_agent):
    server, _ = served
    context = client(pki, shared_agent.certificate, shared_agent.key)
    outcome = await get(server.port, context, "/whoami", {"Authorization": "Basic !!!"})
    assert (outcome.status, outcome.body["code"]) == (401, "BAD_CREDENTIALS")
