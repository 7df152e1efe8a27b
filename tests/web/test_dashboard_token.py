"""The admin guard on the dashboard: a browser without the token reads a French page (401)
telling it which URL to open; JSON clients and the admin API keep the JSON 401."""

from __future__ import annotations

import html
import shutil
import subprocess

import aiohttp
import pytest

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def fetch(served, method, path, accept, **options):
    async with aiohttp.ClientSession(served.admin_url) as http, \
            http.request(method, path, headers={"Accept": accept}, allow_redirects=False,
                         **options) as r:
        return r.status, r.content_type, await r.text(), r.headers


@pytest.mark.parametrize(("method", "path"), [("GET", "/admin/"), ("GET", "/admin/actes/1"),
                                              ("GET", "/admin/tableau/scenarios"),
                                              ("POST", "/admin/tableau/reinitialiser")])
async def test_a_browser_gets_a_french_page_saying_which_url_to_open(served, method, path):
    status, content_type, body, headers = await fetch(served, method, path, BROWSER)
    assert (status, content_type) == (401, "text/html")
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert headers["Cache-Control"] == "no-store"
    page = html.unescape(body)
    assert "Jeton d'administration requis" in page and "?token=" in page
    assert "operator-sim serve" in page and "admin (loopback)" in page
    assert "n'est pas celui" not in page
    assert served.admin_token not in page


async def test_a_wrong_token_says_so(served):
    status, content_type, body, _ = await fetch(served, "GET", "/admin/", BROWSER,
                                                params={"token": "faux"})
    assert (status, content_type) == (401, "text/html")
    assert "Le jeton présenté n'est pas celui de ce simulateur." in html.unescape(body)


@pytest.mark.skipif(shutil.which("xmllint") is None, reason="needs xmllint")
async def test_the_page_is_well_formed_html(served, tmp_path):
    _, content_type, body, _ = await fetch(served, "GET", "/admin/", BROWSER)
    assert content_type == "text/html" and "<h1>" in body
    (tmp_path / "jeton.html").write_text(body, encoding="utf-8")
    check = subprocess.run(["xmllint", "--html", "--noout", str(tmp_path / "jeton.html")],
                           capture_output=True, text=True)
    assert check.returncode == 0 and check.stderr == "", check.stderr


@pytest.mark.parametrize(("path", "accept"), [
    ("/admin/", "application/json"),                     # a JSON client on a page
    ("/admin/", "application/json, text/html;q=0.5"),   # prefers JSON
    ("/admin/", "*/*"),                                   # curl's default
    ("/admin/", ""),
    ("/admin/scenarios", BROWSER),                        # the admin API, even from a browser
    ("/admin/health", BROWSER),
    ("/admin/static/dashboard.css", BROWSER),
])
async def test_json_clients_and_the_admin_api_keep_the_json_401(served, path, accept):
    status, content_type, body, headers = await fetch(served, "GET", path, accept)
    assert (status, content_type) == (401, "application/json")
    assert '"code": "ADMIN_TOKEN_REQUIRED"' in body or '"code":"ADMIN_TOKEN_REQUIRED"' in body
    assert headers["WWW-Authenticate"].startswith("Bearer")


async def test_with_the_token_the_browser_gets_the_dashboard(served):
    status, content_type, body, _ = await fetch(served, "GET", "/admin/", BROWSER,
                                                cookies={"operator_sim_admin": served.admin_token})
    assert (status, content_type) == (200, "text/html") and "Actes reçus" in html.unescape(body)
