"""The dashboard driven in headless Chromium: a préfecture agent asks for pièces complémentaires.

Chromium and its driver come from the distribution's packages (`scripts/setup` installs them);
no browser is ever downloaded. Selenium's calls block, so they run in a thread while the
simulator keeps serving on the test's event loop.
"""

from __future__ import annotations

import asyncio

import pytest

from operator_sim.protocol.messages import DemandePieceComplementaire, parse_message
from operator_sim.testing import corpus

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ready  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow  # headless Chromium

REQUEST = "Merci de transmettre l'annexe financière signée (délibération n° 12)."


def ask_for_pieces(driver, admin_url: str, token: str, numero_interne: str, screenshot) -> str:
    """What the agent does: open the link, find the act, ask for pièces, send. Returns the flash."""
    wait = WebDriverWait(driver, 20)
    driver.get(f"{admin_url}/admin/?token={token}")
    wait.until(ready.title_contains("Actes reçus"))
    assert "token=" not in driver.current_url  # the token stays out of the address bar
    driver.find_element(By.LINK_TEXT, numero_interne).click()
    wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, "aside.actions")))
    summary = driver.find_element(
        By.XPATH, "//summary[normalize-space()='Demander des pièces complémentaires']")
    summary.click()
    letter = summary.find_element(By.XPATH, "..")
    letter.find_element(By.NAME, "text").send_keys(REQUEST)
    letter.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    try:
        return wait.until(ready.visibility_of_element_located((By.CSS_SELECTOR, "p.flash"))).text
    finally:  # the page as the agent saw it, whatever happened
        driver.save_screenshot(str(screenshot))


async def test_agent_asks_for_pieces_complementaires_and_the_collectivite_sees_the_3_1(
        served, chromium, tmp_path):
    agent = served.enrol(corpus.COMMUNE.siren)
    name, data = corpus._pack(corpus.build())
    async with served.agent_session(agent) as http, http.post(
            "/api/v1/archives", params={"name": name}, data=data,
            headers={"Content-Type": "application/gzip"}) as r:
        acte = (await r.json())["transaction"]
        assert r.status == 201 and acte["status"] == 4

    screenshot = tmp_path / "dashboard-demande-pieces.png"
    admin_url = served.admin_url.replace("localhost", "127.0.0.1")
    flash = await asyncio.to_thread(ask_for_pieces, chromium, admin_url, served.admin_token,
                                    acte["numero_interne"], screenshot)
    print(f"screenshot: {screenshot}")
    assert screenshot.stat().st_size > 10_000
    assert "3-1" in flash and "Erreur" not in flash, flash

    async with served.agent_session(agent) as http:
        async with http.get("/api/v1/courriers", params={"pending": 1}) as r:
            pending = (await r.json())["items"]
        assert [(c["code"], c["acte_transaction_id"], c["text"]) for c in pending] == [
            ("3-1", acte["id"], REQUEST)]
        assert pending[0]["answers"] == ["3-3", "3-4"]
        letter = pending[0]["transaction"]["id"]
        async with http.get(f"/api/v1/transactions/{letter}/messages/3-1") as r:
            assert r.status == 200
            demande = parse_message(await r.read())
    assert isinstance(demande, DemandePieceComplementaire)
    assert demande.description_pieces == REQUEST
    assert demande.id_acte == "034-491011698-20240312-DELIB2024_012-DE"
