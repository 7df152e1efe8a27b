"""`/admin/pilotage…` on a served simulator: the CSV and deposits imported through the API, the
indicators, lists and CSV exports compared with the figures computed by hand (scenario.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from pypdf import PdfReader

from tests.pilotage import scenario
from tests.web.simkit import admin

pytestmark = pytest.mark.in_process  # not about TLS: the in-process client

QUERY = f"du={scenario.DU}&au={scenario.AU}&inactivite={scenario.INACTIVITE}"


async def _send(served, method: str, path: str, data: str | bytes,
                content_type: str = "text/csv") -> tuple[int, dict]:
    async with served.admin_session() as http, http.request(
            method, path, data=data, headers={"Content-Type": content_type}) as response:
        return response.status, await response.json()


async def _get_csv(served, path: str) -> tuple[int, str, list[dict[str, str]]]:
    async with served.admin_session() as http, http.get(path) as response:
        text = (await response.read()).decode("utf-8-sig")
        disposition = response.headers.get("Content-Disposition", "")
        return response.status, disposition, list(csv.DictReader(io.StringIO(text),
                                                                 delimiter=";"))


async def _populate(served) -> None:
    status, body = await _send(served, "POST", "/admin/pilotage/collectivites?departement=034",
                               scenario.CSV)
    assert (status, body) == (200, {"crees": 5, "modifies": 0, "inchanges": 0, "lignes": 5})
    scenario.activity(served.simulator.store)
    status, body = await admin(served, "POST", "/admin/pilotage/depots", scenario.DEPOTS)
    assert status == 201 and len(body["items"]) == 2, body


async def test_the_report_the_exports_and_the_lists_match_the_hand_computed_figures(served):
    await _populate(served)
    status, report = await admin(served, "GET", f"/admin/pilotage?{QUERY}")
    assert status == 200, report
    got = {c["siren"]: c for c in report["collectivites"]}
    for siren, expected in scenario.EXPECTED.items():
        assert {k: got[siren][k] for k in expected} == expected, siren
    assert report["arrondissements"] == scenario.ARRONDISSEMENTS
    assert report["series"] == scenario.SERIES
    assert {n: [line["siren"] for line in lines] for n, lines in report["listes"].items()} \
        == scenario.LISTES

    status, disposition, rows = await _get_csv(served, f"/admin/pilotage/export/collectivites.csv?{QUERY}")
    assert status == 200 and "attachment" in disposition
    by_siren = {r["siren"]: r for r in rows}
    for siren, expected in scenario.EXPECTED.items():
        assert by_siren[siren]["teletransmis"] == str(expected["teletransmis"])
        assert by_siren[siren]["papier"] == str(expected["papier"])
        assert by_siren[siren]["taux"] == ("" if expected["taux"] is None else str(expected["taux"]))
        assert by_siren[siren]["raccordee"] == ("oui" if expected["raccordee"] else "non")
    for name, sirens in scenario.LISTES.items():
        status, _, rows = await _get_csv(served, f"/admin/pilotage/export/{name}.csv?{QUERY}")
        assert [r["siren"] for r in rows] == sirens
        assert [r["raison"] for r in rows] == [scenario.EXPECTED[s]["raisons"][name]
                                               for s in sirens]
    status, _, rows = await _get_csv(served, f"/admin/pilotage/export/arrondissements.csv?{QUERY}")
    assert [(r["arrondissement"], r["taux"]) for r in rows] == [
        (a["arrondissement"], str(a["taux"])) for a in scenario.ARRONDISSEMENTS]

    # The inactivity threshold is a setting; the query may override it.
    assert await admin(served, "PUT", "/admin/pilotage/reglages", {"inactivite_jours": 10}) \
        == (200, {"inactivite_jours": 10})
    _, report = await admin(served, "GET", f"/admin/pilotage?du={scenario.DU}&au={scenario.AU}")
    assert [c["siren"] for c in report["collectivites"] if c["inactive"]] == [
        scenario.A, scenario.D, scenario.B]  # 20, 29 and 211 days without an act
    status, listed = await admin(served, "GET", f"/admin/pilotage/depots?{QUERY}")
    assert [(d["siren"], d["nature"], d["nombre"]) for d in listed["items"]] == [
        (scenario.C, 1, 4), (scenario.D, 5, 2)]


async def test_importing_the_same_file_twice_changes_nothing(served):
    await _populate(served)
    _, before = await admin(served, "GET", f"/admin/pilotage?{QUERY}")
    status, body = await _send(served, "POST", "/admin/pilotage/collectivites", scenario.CSV)
    assert (status, body) == (200, {"crees": 0, "modifies": 0, "inchanges": 5, "lignes": 5})
    assert await admin(served, "GET", f"/admin/pilotage?{QUERY}") == (200, before)


BAD_LINES = [
    ("213401723;Ville;commune;10;1;;", "siren"),  # Luhn
    ("213401722;Ville;hameau;10;1;;", "nature"),
    ("213401722;Ville;commune;-5;1;;", "population"),
    ("491011698;Village bis;commune;800;1;;", "siren"),  # duplicate of line 2
]


@pytest.mark.parametrize(("line", "field"), BAD_LINES)
async def test_a_bad_csv_is_refused_whole_with_its_lines_and_changes_nothing(served, line, field):
    await _populate(served)
    _, before = await admin(served, "GET", f"/admin/pilotage?{QUERY}")
    good = "491011698;Village B renommé;commune;900;1;Bruno;b@b.example"
    status, body = await _send(served, "POST", "/admin/pilotage/collectivites",
                               scenario.CSV.splitlines()[0] + "\n" + good + "\n" + line + "\n")
    assert status == 422 and body["code"] == "LINES_REFUSED", body
    assert [(r["ligne"], r["champ"]) for r in body["refus"]] == [(3, field)]
    assert body["message_fr"] and body["message_en"]
    assert await admin(served, "GET", f"/admin/pilotage?{QUERY}") == (200, before)


@pytest.mark.parametrize(("depot", "field"), [
    ({"siren": "732829320"}, "siren"),
    ({"date": "2999-01-01"}, "date"),
    ({"nombre": -3}, "nombre"),
    ({"nature": "ZZ"}, "nature"),
])
async def test_a_bad_deposit_is_refused_and_changes_nothing(served, depot, field):
    await _populate(served)
    good = {"date": "2025-06-01", "siren": scenario.B, "nature": "DE", "matiere": "1.1",
            "nombre": 1}
    status, body = await admin(served, "POST", "/admin/pilotage/depots",
                               [good, {**good, **depot}])
    assert status == 422 and [(r["ligne"], r["champ"]) for r in body["refus"]] == [(2, field)]
    _, listed = await admin(served, "GET", "/admin/pilotage/depots?du=2020-01-01&au=2029-01-01")
    assert len(listed["items"]) == 2


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/admin/pilotage?du=2025-13-01", 400, "FIELD_INVALID"),
    ("GET", "/admin/pilotage?du=2025-06-01&au=2025-01-01", 400, "FIELD_INVALID"),
    ("GET", "/admin/pilotage?arrondissement=12", 400, "FIELD_INVALID"),
    ("GET", "/admin/pilotage?au=9999-12-31", 400, "FIELD_INVALID"),
    ("GET", "/admin/pilotage?au=0001-01-05", 400, "FIELD_INVALID"),
    ("GET", "/admin/pilotage?du=2000-01-01&au=2025-01-01", 400, "FIELD_INVALID"),
    ("GET", "/admin/pilotage/export/inactives.csv?du=2999-12-31&au=2999-12-31", 200, None),
    ("GET", "/admin/pilotage?inactivite=0", 400, "FIELD_INVALID"),
    ("GET", "/admin/pilotage/export/tous.csv", 404, "EXPORT_UNKNOWN"),
    ("PUT", "/admin/pilotage/reglages", 422, "FIELD_INVALID"),
])
async def test_bad_queries_get_a_clear_error(served, method, path, status, code):
    body = {"inactivite_jours": "beaucoup"} if method == "PUT" else None
    if code is None:  # the edge of what is accepted
        async with served.admin_session() as http, http.get(path) as response:
            assert response.status == status
        return
    got, answer = await admin(served, method, path, body)
    assert (got, answer["code"]) == (status, code), answer
    assert answer["message_fr"] and answer["message_en"]


async def test_a_file_without_its_columns_or_not_utf8_is_refused(served):
    status, body = await _send(served, "POST", "/admin/pilotage/collectivites?departement=034",
                               "siren;nom\n213401722;Ville\n")
    assert (status, body["code"]) == (422, "FILE_INVALID") and "population" in body["message_en"]
    status, body = await _send(served, "POST", "/admin/pilotage/collectivites?departement=034",
                               (scenario.CSV + "491011698;Ch\xe2teau;commune;1;1;;\n")
                               .encode("latin-1"))
    assert (status, body["code"]) == (422, "FILE_INVALID")
    assert await admin(served, "GET", "/admin/collectivites") == (200, {"items": []})


async def test_the_period_defaults_to_the_last_twelve_months(served):
    _, report = await admin(served, "GET", "/admin/pilotage")
    today = served.simulator.clock.today()
    assert (report["au"], report["du"], report["inactivite_jours"]) == (
        today.isoformat(), (today - dt.timedelta(days=364)).isoformat(), 90)


async def test_a_reminder_letter_per_collectivite_says_why(served, tmp_path):
    await _populate(served)
    async with served.admin_session() as http:
        async with http.get(f"/admin/pilotage/courriers/{scenario.D}.pdf?{QUERY}") as r:
            assert r.status == 200 and r.content_type == "application/pdf"
            pdf = await r.read()
        async with http.get(f"/admin/pilotage/courriers/{scenario.A}.pdf?{QUERY}") as r:
            assert (r.status, (await r.json())["code"]) == (409, "NOTHING_TO_REMIND")
        async with http.get(f"/admin/pilotage/courriers/732829320.pdf?{QUERY}") as r:
            assert (r.status, (await r.json())["code"]) == (404, "COLLECTIVITE_UNKNOWN")
    path = tmp_path / "relance.pdf"
    path.write_bytes(pdf)
    text = " ".join(PdfReader(path).pages[0].extract_text().split())
    assert "Bourg D (SIREN 225774637)" in text and "Denis" in text
    for name in ("partielles", "sans_budget"):  # D's two lists, each with its reason
        assert " ".join(scenario.EXPECTED[scenario.D]["raisons"][name].split()) in text, name
    assert "loi NOTRe" not in text  # D is not obliged


async def test_the_page_with_a_bad_filter_says_which_in_french(served):
    async with served.admin_session() as http, http.get(
            "/admin/tableau/pilotage?du=2025-02-30") as response:
        page = await response.text()
    assert response.status == 400 and "du : date AAAA-MM-JJ attendue" in page
    assert 'id="depot"' in page  # the deposit form is still there
