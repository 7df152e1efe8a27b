"""The pytest plugin as a user meets it: a test file that only asks for `operator_sim`.

Run with pytester in-process (no subprocess), in pytest-asyncio's strict mode as a user's
project without any asyncio configuration would be.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from operator_sim.pki import PkiStore, TrustPolicy

pytest_plugins = ["pytester"]

USER_TESTS = '''
import pytest

from operator_sim.client import ApiError
from operator_sim.testing.corpus import minimal_pdf

ROOTS = []
PDF = minimal_pdf("Deliberation")
FIELDS = {"departement": "034", "date": "2024-03-12", "numero_interne": "D2024_7",
          "nature": "DE", "matiere": "5.2", "objet": "Objet de test"}


@pytest.mark.asyncio
async def test_submit_read_cancel(operator_sim):
    client = operator_sim.client
    body = await client.submit_acte(FIELDS, {"acte": ("acte.pdf", PDF)})
    assert body["outcome"] == "1-2", body
    tid = body["transaction"]["id"]
    assert (await client.wait_for_status(tid, 4))["transaction"]["id_acte"] == body["id_acte"]
    assert (await client.cancel(tid))["outcome"] == "6-2"
    for path in (operator_sim.cert, operator_sim.key, operator_sim.ca):
        assert path.is_file()
    assert operator_sim.api_url.startswith("https://localhost:")
    assert operator_sim.admin_url.startswith("http://localhost:") and operator_sim.admin_token
    ROOTS.append(operator_sim.ca.read_bytes())


@pytest.mark.asyncio
@pytest.mark.operator_sim(signatures="required", itc="ABC")
async def test_other_agent_and_settings(operator_sim):
    other = operator_sim.enrol("253400014")
    with pytest.raises(ApiError) as refused:
        await other.submit_acte({**FIELDS, "siren": "491011698"}, {"acte": ("acte.pdf", PDF)})
    assert (refused.value.status, refused.value.code) == (403, "FORBIDDEN_SIREN")
    assert (await operator_sim.client.list())["total"] == 0
    body = await operator_sim.client.submit_acte(FIELDS, {"acte": ("acte.pdf", PDF)})
    assert body["transaction"]["archive_name"].startswith("ABC-")
    assert operator_sim.simulator.config.signatures == "required"
    ROOTS.append(operator_sim.ca.read_bytes())
    assert len(set(ROOTS)) == 1  # one PKI per session, copied for each test


async def _register(operator_sim, url):
    async with operator_sim.client.session.post("/api/v1/callbacks", json={"url": url}) as r:
        return r.status, await r.json()


@pytest.mark.asyncio
async def test_callbacks_reach_a_local_receiver(operator_sim):
    import asyncio
    from aiohttp import web

    got = []

    async def hook(request):
        got.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        status, _ = await _register(operator_sim, f"http://127.0.0.1:{runner.addresses[0][1]}/hook")
        assert status == 201
        await operator_sim.client.submit_acte(FIELDS, {"acte": ("acte.pdf", PDF)})
        for _ in range(300):
            if len(got) >= 4:
                break
            await asyncio.sleep(0.05)
        assert sorted(p["status"] for p in got) == [1, 2, 3, 4]
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
@pytest.mark.operator_sim(callback_loopback="refuse")
async def test_loopback_callbacks_refused_when_told(operator_sim):
    status, body = await _register(operator_sim, "http://127.0.0.1:9000/hook")
    assert (status, body["code"]) == (422, "CALLBACK_URL_REFUSED")


@pytest.mark.asyncio
async def test_enrol_gives_a_convention_unless_told_not_to(operator_sim):
    enrolled = operator_sim.enrol("253400014")
    body = await enrolled.submit_acte({**FIELDS, "siren": "253400014"},
                                      {"acte": ("acte.pdf", PDF)})
    assert body["outcome"] == "1-2", body
    stranger = operator_sim.enrol("213400005", convention=False)
    refused = await stranger.submit_acte({**FIELDS, "siren": "213400005"},
                                         {"acte": ("acte.pdf", PDF)})
    assert (refused["outcome"], refused["anomalie"]["nature"]) == ("ANO", "005"), refused


@pytest.mark.asyncio
@pytest.mark.operator_sim(profile="lenient")
async def test_a_lenient_simulator_takes_a_sender_without_convention(operator_sim):
    stranger = operator_sim.enrol("213400005", convention=False)
    body = await stranger.submit_acte({**FIELDS, "siren": "213400005"},
                                      {"acte": ("acte.pdf", PDF)})
    assert body["outcome"] == "1-2", body
    assert "SENDER_UNKNOWN" in [w["code"] for w in body["warnings"]]
'''


@pytest.fixture(autouse=True)
def strict_asyncio_project(pytester):
    """A user's project: pytest-asyncio in its default strict mode."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


@pytest.mark.slow  # a whole pytest session with its own PKI
def test_a_user_test_file_gets_a_served_simulator_and_clients(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=6)


def test_the_fixture_and_marker_are_registered(pytester):
    result = pytester.runpytest_inprocess("--fixtures", "-q")
    result.stdout.fnmatch_lines(["operator_sim_pki [[]session scope[]] -- *", "operator_sim -- *"])
    markers = pytester.runpytest_inprocess("--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.operator_sim(**settings)*"])


def test_the_session_pki_has_an_rsa_2048_root_that_agents_trust(operator_sim_pki):
    """Quick to generate (an RSA-4096 root took 0.1-1.4 s of the first test), and still a
    root the trust policy accepts agents under."""
    pki = PkiStore(operator_sim_pki)
    (root,) = x509.load_pem_x509_certificates(pki.roots_path.read_bytes())
    key = root.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    assert key.key_size >= TrustPolicy().min_rsa_bits
