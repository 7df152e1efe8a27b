"""The admin port: the TSA stays public, everything else needs the bearer token."""

from __future__ import annotations

import aiohttp
import pytest

pytestmark = pytest.mark.in_process  # not about TLS: the in-process client


async def test_admin_routes_refuse_a_missing_or_wrong_token(served):
    async with aiohttp.ClientSession(served.admin_url) as http:
        async with http.get("/admin/health") as r:
            assert r.status == 401
            body = await r.json()
            assert body["code"] == "ADMIN_TOKEN_REQUIRED"
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
        async with http.get("/admin/health", headers={"Authorization": "Bearer nope"}) as r:
            assert r.status == 401


async def test_bearer_token_opens_the_admin_api(served):
    async with served.admin_session() as http, http.get("/admin/health") as r:
        assert r.status == 200
        body = await r.json()
    assert body["status"] == "ok" and body["clock_kind"] == "real"


async def test_token_in_the_query_sets_a_cookie_for_the_browser(served):
    async with aiohttp.ClientSession(served.admin_url,
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get("/admin/health", params={"token": served.admin_token}) as r:
            assert r.status == 200
        async with http.get("/admin/health") as r:  # the cookie alone now suffices
            assert r.status == 200


async def test_tsa_needs_no_token(served):
    async with aiohttp.ClientSession(served.admin_url) as http, http.post(
            "/tsa", data=b"not a query", headers={"Content-Type": "application/timestamp-query"}) as r:
        assert r.status != 401
