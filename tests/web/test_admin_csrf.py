"""Cross-site request forgery on the admin port: the operator's cookie cannot be used by a page
of another origin — even one on another port of the same host, which SameSite calls the same
site — while the dashboard's own forms and the bearer API keep working.

The browser test drives headless Chromium (Debian's package, as test_dashboard_browser does):
the operator opens the dashboard link, then visits a page served on another loopback port that
tries every write a page may send without a CORS preflight.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web

from operator_sim.engine.scenarios import parse_rule
from operator_sim.protocol.codes import TransactionStatus
from operator_sim.store import TransactionFilter
from operator_sim.testing import corpus
from operator_sim.web.guard import csrf_token

from .simkit import SIREN
from .test_dashboard import browser, login, origin, submit_held

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ready  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

RULE = {"id": "forgee", "outcome": {"kind": "anomalie", "nature": "001"}}

EVIL_PAGE = """<!doctype html><meta charset="utf-8"><title>page tierce</title>
<iframe name="cible" id="cible"></iframe>
<form id="texte" method="post" enctype="text/plain" target="cible"
      action="{admin}/admin/transactions/{first}/acquittement">
  <input type="hidden" name='{{"x":"' value='"}}'>
</form>
<form id="tableau" method="post" target="cible" action="{admin}/admin/actes/{second}/acquitter"></form>
<script>
const admin = "{admin}";
const rule = {rule};
const quietly = (path, body) => fetch(admin + path, {{method: "POST", mode: "no-cors",
    credentials: "include", body}}).catch(() => null);
const form = (fields) => new URLSearchParams(fields);
function submitted(id) {{
  return new Promise((done) => {{
    const frame = document.getElementById("cible");
    frame.onload = () => done();
    document.getElementById(id).submit();
    setTimeout(done, 5000);
  }});
}}
(async () => {{
  await quietly("/admin/transactions/{first}/acquittement");                  // empty body
  await quietly("/admin/transactions/{second}/acquittement", new Blob([]));   // type-less
  await quietly("/admin/scenarios", new Blob([JSON.stringify(rule)]));        // type-less JSON
  await quietly("/admin/scenarios", JSON.stringify({{...rule, id: "texte"}}));  // text/plain
  await quietly("/admin/actes/{first}/acquitter", form({{}}));
  await quietly("/admin/tableau/scenarios", form({{id: "formulaire", kind: "hold"}}));
  await quietly("/admin/tableau/reinitialiser",
                form({{transactions: "1", callbacks: "1", confirmation: "1"}}));
  await quietly("/admin/reset");
  await submitted("texte");
  await submitted("tableau");
  document.title = "fini";
}})();
</script>
"""


async def evil_site(html: str):
    """A page served on another loopback port: another origin, the same site."""
    app = web.Application()

    async def page(_request):
        return web.Response(text=html, content_type="text/html")

    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/"


def visit(driver, admin_url: str, token: str, evil_url: str) -> None:
    wait = WebDriverWait(driver, 30)
    driver.get(f"{admin_url}/admin/?token={token}")  # the operator is logged in (cookie)
    wait.until(ready.title_contains("Actes reçus"))
    driver.get(evil_url)
    wait.until(ready.title_is("fini"))


def acknowledge_from_the_dashboard(driver, admin_url: str, acte_id: int) -> str:
    wait = WebDriverWait(driver, 20)
    driver.get(f"{admin_url}/admin/actes/{acte_id}")
    wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, "aside.actions")))
    driver.find_element(By.XPATH, "//button[normalize-space()='Acquitter']").click()
    return wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, "p.flash"))).text


@pytest.mark.slow  # headless Chromium
async def test_a_page_on_another_local_port_cannot_write_with_the_operators_cookie(
        served, chromium, tmp_path):
    store = served.simulator.engine.store
    first = await submit_held(served, corpus.build(), tmp_path)
    second = await submit_held(served, corpus.build(corpus.budget_request(), numero=2), tmp_path)
    total = (await store.list(TransactionFilter())).total
    admin_url = served.admin_url.replace("localhost", "127.0.0.1")
    html = EVIL_PAGE.format(admin=admin_url, first=first.id, second=second.id,
                            rule=json.dumps(RULE))
    runner, evil_url = await evil_site(html)
    try:
        await asyncio.to_thread(visit, chromium, admin_url, served.admin_token, evil_url)
    finally:
        await runner.cleanup()

    assert (await store.get(first.id)).status is TransactionStatus.TRANSMIS
    assert (await store.get(second.id)).status is TransactionStatus.TRANSMIS
    assert (await store.list(TransactionFilter())).total == total
    assert list(served.simulator.scenarios.rules) == []
    journal = await store.journal(first.id)
    assert [e.to_status for e in journal][-1] is TransactionStatus.TRANSMIS

    # The dashboard's own form, in the same browser, still acknowledges.
    flash = await asyncio.to_thread(acknowledge_from_the_dashboard, chromium, admin_url, first.id)
    assert "Acte acquitté" in flash, flash
    assert (await store.get(first.id)).status is TransactionStatus.ACQUITTEMENT_RECU


# -- the same rules, without a browser ---------------------------------------------------------

async def test_cookie_writes_need_this_origin_and_a_json_body(served, tmp_path):
    held = await submit_held(served, corpus.build(), tmp_path)
    path = f"/admin/transactions/{held.id}/acquittement"
    other_port = served.admin_url.rsplit(":", 1)[0] + ":1"
    refused = [
        ({"Origin": other_port}, None, 403, "CROSS_ORIGIN_REFUSED"),
        ({"Origin": "null"}, None, 403, "CROSS_ORIGIN_REFUSED"),
        ({}, None, 403, "CROSS_ORIGIN_REFUSED"),  # no Origin nor Referer
        ({"Origin": served.admin_url, "Sec-Fetch-Site": "same-site"}, None, 403,
         "CROSS_ORIGIN_REFUSED"),
        ({"Origin": served.admin_url}, None, 415, "JSON_REQUIRED"),  # empty, type-less
        ({"Origin": served.admin_url}, b"{}", 415, "JSON_REQUIRED"),  # type-less JSON
        ({"Origin": served.admin_url, "Content-Type": "text/plain"}, b"{}", 415, "JSON_REQUIRED"),
    ]
    async with browser(served) as http:
        await login(http, served)
        for headers, body, status, code in refused:
            async with http.post(path, data=body, headers=headers) as r:
                assert (r.status, (await r.json())["code"]) == (status, code), headers
            async with http.post("/admin/reset", data=body, headers=headers) as r:
                assert r.status == status, headers
        assert (await served.simulator.engine.store.get(held.id)).status is TransactionStatus.TRANSMIS
        await served.simulator.scenarios.add(parse_rule({"id": "gardee"}))
        async with http.delete("/admin/scenarios/gardee", headers={"Origin": other_port}) as r:
            assert (r.status, (await r.json())["code"]) == (403, "CROSS_ORIGIN_REFUSED")
        async with http.put(f"/admin/collectivites/{SIREN}", data=b'{"nom": "x"}',
                            headers=origin(served)) as r:
            assert (r.status, (await r.json())["code"]) == (415, "JSON_REQUIRED")
        assert [r.id for r in served.simulator.scenarios.rules] == ["gardee"]
        async with http.post(path, json={}, headers={**origin(served),
                                                      "Sec-Fetch-Site": "same-origin"}) as r:
            assert r.status == 201, await r.text()  # the dashboard origin's own JSON call
        async with http.get("/admin/health") as r:  # reads need nothing more than the cookie
            assert r.status == 200


async def test_the_bearer_api_stays_token_only(served, tmp_path):
    held = await submit_held(served, corpus.build(), tmp_path)
    async with served.admin_session() as http:
        async with http.post(f"/admin/transactions/{held.id}/acquittement") as r:  # empty body
            assert r.status == 201, await r.text()
        async with http.post("/admin/reset", params={}, data=b"") as r:
            assert r.status == 200, await r.text()


async def test_a_dashboard_form_with_the_cookie_needs_the_form_token(served, tmp_path):
    held = await submit_held(served, corpus.build(), tmp_path)
    path = f"/admin/actes/{held.id}/acquitter"
    async with browser(served) as http:
        await login(http, served)
        async with http.get(f"/admin/actes/{held.id}") as r:
            page = await r.text()
        token = csrf_token(served.admin_token)
        assert f"{path}?csrf={token}" in page and served.admin_token not in page
        for params in ({}, {"csrf": "0" * 32}, {"csrf": token[:-1]}):
            async with http.post(path, headers=origin(served), params=params,
                                 allow_redirects=False) as r:
                assert r.status == 403, params
                assert "ne vient pas du tableau de bord" in await r.text()
        async with http.post(path, headers={"Origin": served.admin_url.rsplit(":", 1)[0] + ":1"},
                             params={"csrf": token}, allow_redirects=False) as r:
            assert r.status == 403
        assert (await served.simulator.engine.store.get(held.id)).status is TransactionStatus.TRANSMIS
        async with http.post(path, headers=origin(served), params={"csrf": token},
                             allow_redirects=False) as r:
            assert r.status == 303
    assert (await served.simulator.engine.store.get(held.id)).status is \
        TransactionStatus.ACQUITTEMENT_RECU


async def test_a_foreign_cookie_session_cannot_even_post_a_letter(served, tmp_path):
    """The multipart letter form (read by its handler) is guarded before its body is read."""
    held = await submit_held(served, corpus.build(), tmp_path)
    await served.simulator.prefecture.acknowledge(held.id)
    form = aiohttp.FormData()
    form.add_field("code", "2-1")
    form.add_field("text", "forgé")
    async with browser(served) as http:
        await login(http, served)
        async with http.post(f"/admin/actes/{held.id}/courriers", data=form,
                             headers={"Origin": "http://127.0.0.1:1"},
                             allow_redirects=False) as r:
            assert r.status == 403
    assert "2-1" not in [m.code for m in await served.simulator.engine.store.messages(held.id)]
