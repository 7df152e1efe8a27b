"""Where callbacks may go: http(s) only, never the simulator's own ports, loopback only when
the `callback_loopback` setting allows it, checked at registration in every address form and
resolved-then-checked again when delivering."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from operator_sim.config import ConfigError, load_config

from .simkit import SIREN, act, admin, serve, submit

LOOPBACK_FORMS = [
    "http://127.0.0.1:9000/hook", "http://127.9.8.7:9000/", "http://0x7f000001:9000/",
    "http://0x7F.1:9000/", "http://127.1:9000/", "http://2130706433:9000/", "http://0177.0.0.1:9000/",
    "http://[::1]:9000/", "http://[0:0:0:0:0:0:0:1]:9000/", "http://[::ffff:127.0.0.1]:9000/",
    "http://localhost:9000/", "https://LOCALHOST.:9000/", "http://api.localhost:9000/",
    "http://0.0.0.0:9000/", "http://0:9000/", "http://[::]:9000/",
]


async def register(served, url: str) -> tuple[int, dict]:
    async with served.agent_session(served.enrol(SIREN)) as http, http.post(
            "/api/v1/callbacks", json={"url": url}) as r:
        return r.status, await r.json()


@pytest.fixture
async def strict(tmp_path, shared_pki_dir):
    """The default setting: loopback targets refused."""
    async with serve(tmp_path / "data", shared_pki_dir, callback_loopback="refuse") as running:
        yield running


@pytest.mark.parametrize("url", LOOPBACK_FORMS)
async def test_loopback_in_any_form_is_refused_by_default(strict, url):
    status, answer = await register(strict, url)
    assert status == 422, answer
    assert answer["code"] == "CALLBACK_URL_REFUSED" and answer["field"] == "url"
    assert "callback_loopback" in answer["message_en"] and "callback_loopback" in answer["message_fr"]


@pytest.mark.parametrize("url", [
    "ftp://example.test/x", "file:///etc/passwd", "gopher://127.0.0.1:22/", "javascript:alert(1)",
    "ws://example.test/", "data:text/plain,x", "//example.test/x",
])
async def test_other_schemes_are_refused(strict, url):
    status, answer = await register(strict, url)
    assert (status, answer["code"]) == (422, "CALLBACK_URL_INVALID"), answer


@pytest.mark.parametrize(("url", "usual"), [
    ("http://3221226000:80/", "192.0.2.16"), ("http://192.0.528:80/", "192.0.2.16"),
    ("http://0xc0000210/", "192.0.2.16"), ("http://0300.0.2.16/", "192.0.2.16"),
])
async def test_an_allowed_address_in_an_unusual_form_is_refused_with_its_usual_form(strict, url, usual):
    """The HTTP client would refuse it or take it for a name: it could never be delivered."""
    status, answer = await register(strict, url)
    assert (status, answer["code"]) == (422, "CALLBACK_URL_INVALID"), answer
    assert usual in answer["message_en"]


async def test_a_public_address_is_accepted(strict):
    status, answer = await register(strict, "https://192.0.2.10/hook")  # TEST-NET-1
    assert status == 201, answer


@pytest.fixture
async def allowing(tmp_path, shared_pki_dir):
    async with serve(tmp_path / "data", shared_pki_dir, callback_loopback="allow") as running:
        yield running


def _ports(served) -> dict[str, int]:
    return {"api": int(served.api_url.rsplit(":", 1)[1]), "admin": int(served.admin_url.rsplit(":", 1)[1])}


@pytest.mark.parametrize("form", [
    "http://127.0.0.1:{admin}/admin/reset", "http://0x7f000001:{admin}/admin/reset",
    "http://127.1:{api}/api/v1/archives", "https://localhost:{api}/", "http://[::1]:{admin}/",
    "http://[::ffff:127.0.0.1]:{api}/", "http://2130706433:{admin}/", "http://0.0.0.0:{admin}/",
])
async def test_the_simulators_own_ports_are_refused_even_with_loopback_allowed(allowing, form):
    url = form.format(**_ports(allowing))
    status, answer = await register(allowing, url)
    assert (status, answer["code"]) == (422, "CALLBACK_URL_REFUSED"), answer
    assert "own ports" in answer["message_en"]


async def test_other_loopback_ports_are_accepted_when_allowed(allowing):
    for url in ("http://127.0.0.1:9000/hook", "http://localhost:9000/", "http://[::1]:9000/"):
        status, answer = await register(allowing, url)
        assert status == 201, (url, answer)


@pytest.fixture
async def listener():
    """A local receiver counting the POSTs it gets."""
    got: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.read())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield got, runner.addresses[0][1]
    await runner.cleanup()


async def until(condition, seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_delivery_checks_the_address_again_and_sends_nothing_refused(allowing, listener, host):
    """A target that passed registration but is refused when delivering (a name now resolving
    to loopback; here the setting turned off): no POST leaves, the delivery fails at once with
    the reason. 127.0.0.1 is checked as written, localhost through the client's resolver."""
    got, port = listener
    status, _ = await register(allowing, f"http://{host}:{port}/hook")
    assert status == 201
    allowing.simulator.callbacks.targets.allow_loopback = False
    async with allowing.agent_session(allowing.enrol(SIREN)) as http:
        assert (await submit(http, act("TGT")))[0] == 201

    async def all_failed() -> bool:
        _, seen = await admin(allowing, "GET", "/admin/callbacks/deliveries")
        return len(seen["items"]) == 4 and all(d["state"] == "failed" for d in seen["items"])

    await until(all_failed)
    _, seen = await admin(allowing, "GET", "/admin/callbacks/deliveries")
    for delivery in seen["items"]:
        assert delivery["attempts"] == 1  # refused: not retried
        attempt = delivery["history"][0]
        assert attempt["status"] is None and attempt["error"].startswith("refused target:")
        assert "callback_loopback" in attempt["error"]
    assert got == []


async def test_delivery_reaches_an_allowed_loopback_receiver_by_name(allowing, listener):
    got, port = listener
    assert (await register(allowing, f"http://localhost:{port}/hook"))[0] == 201
    async with allowing.agent_session(allowing.enrol(SIREN)) as http:
        assert (await submit(http, act("TGT2")))[0] == 201

    async def four() -> bool:
        return len(got) >= 4

    await until(four)


def test_the_setting_takes_refuse_or_allow_only():
    assert load_config(environ={}).callback_loopback == "refuse"
    assert load_config(environ={"OPERATOR_SIM_CALLBACK_LOOPBACK": "allow"}).callback_loopback == "allow"
    with pytest.raises(ConfigError, match="callback_loopback"):
        load_config(environ={"OPERATOR_SIM_CALLBACK_LOOPBACK": "yes"})
