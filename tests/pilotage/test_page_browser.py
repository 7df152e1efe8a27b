"""The Pilotage page driven in headless Chromium: filters, the charts' points, a list's CSV
export fetched by the browser and parsed, a paper deposit through the form, a screenshot."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest

from tests.pilotage import scenario
from tests.pilotage.test_api import QUERY, _populate

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ready  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow  # headless Chromium

POINTS = """return ["graphe-mois", "graphe-matieres", "graphe-taux"].map(function (id) {
  var chart = Chart.getChart(document.getElementById(id));
  return chart.data.datasets.map(function (d) { return d.data; }); });"""
FETCH = """var done = arguments[arguments.length - 1];
fetch(document.querySelector(arguments[0]).href).then(function (r) {
  return r.text().then(function (t) { done([r.status, r.headers.get("Content-Disposition"), t]); });
});"""


def drive(driver, url: str, token: str, screenshot) -> dict:
    wait = WebDriverWait(driver, 20)
    seen: dict = {}
    driver.get(f"{url}/admin/tableau/pilotage?{QUERY}&token={token}")
    wait.until(ready.title_contains("Pilotage"))
    seen["points"] = driver.execute_script(POINTS)
    seen["arrondissements"] = [row.text for row in driver.find_elements(
        By.CSS_SELECTOR, "#arrondissements tbody tr")]
    seen["export"] = driver.execute_async_script(FETCH, "#liste-partielles a.export")
    driver.save_screenshot(str(screenshot))

    # Filter on arrondissement 2 through the form.
    field = driver.find_element(By.CSS_SELECTOR, "#filtres input[name=arrondissement]")
    field.clear()
    field.send_keys("2")
    driver.find_element(By.CSS_SELECTOR, "#filtres button").click()
    wait.until(lambda d: "arrondissement=2" in d.current_url)
    seen["filtered_points"] = driver.execute_script(POINTS)
    seen["filtered_rows"] = [row.find_element(By.CSS_SELECTOR, "td").text for row in
                             driver.find_elements(By.CSS_SELECTOR, "#indicateurs tbody tr")]

    # A paper deposit for B in June, then its figure on the page the form returns to.
    form = driver.find_element(By.ID, "depot")
    date = form.find_element(By.NAME, "date")
    driver.execute_script("arguments[0].value = '2025-06-15'", date)
    form.find_element(By.NAME, "siren").send_keys(scenario.B)
    form.find_element(By.NAME, "matiere").send_keys("1.1")
    number = form.find_element(By.NAME, "nombre")
    number.clear()
    number.send_keys("3")
    form.find_element(By.CSS_SELECTOR, "button").click()
    seen["flash"] = wait.until(ready.visibility_of_element_located(
        (By.CSS_SELECTOR, "p.flash"))).text
    driver.get(f"{url}/admin/tableau/pilotage?{QUERY}")
    wait.until(ready.title_contains("Pilotage"))
    seen["after_deposit"] = driver.execute_script(POINTS)
    return seen


async def test_the_pilotage_page_shows_the_figures_charts_and_exports(
        served, chromium, tmp_path):
    await _populate(served)
    screenshot = tmp_path / "pilotage.png"
    url = served.admin_url.replace("localhost", "127.0.0.1")
    seen = await asyncio.to_thread(drive, chromium, url, served.admin_token, screenshot)
    print(f"screenshot: {screenshot}")
    assert screenshot.stat().st_size > 10_000

    s = scenario.SERIES
    assert seen["points"] == [
        [s["teletransmis_par_mois"], s["papier_par_mois"]],
        [s["teletransmis_par_matiere"], s["papier_par_matiere"]],
        [[round(a["taux"] * 100, 1) for a in scenario.ARRONDISSEMENTS]]]
    assert len(seen["points"][0][0]) == 6  # one point per month of the period
    assert [row.split()[0] for row in seen["arrondissements"]] == ["1", "2", "3"]
    assert seen["arrondissements"][1].endswith("14.3 %")

    status, disposition, text = seen["export"]
    assert status == 200 and "pilotage-partielles" in disposition
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert [(r["siren"], r["raison"]) for r in rows] == [
        (scenario.D, scenario.EXPECTED[scenario.D]["raisons"]["partielles"])]

    assert seen["filtered_rows"] == [scenario.D, scenario.C]
    assert seen["filtered_points"][0] == [[0, 0, 0, 0, 0, 1], [0, 4, 0, 2, 0, 0]]
    assert seen["filtered_points"][2] == [[14.3]]

    assert "Dépôt papier enregistré" in seen["flash"], seen["flash"]
    assert seen["after_deposit"][0][1] == [0, 4, 0, 2, 0, 3]
