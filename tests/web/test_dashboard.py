"""The dashboard's pages on a served admin port: French pages, filters, downloads, guarded POSTs."""

from __future__ import annotations

import base64
import datetime as dt
import html
import re

import aiohttp
import pytest

from operator_sim.pki.identity import AGENT_ROLES, Identity
from operator_sim.protocol.codes import TransactionStatus
from operator_sim.protocol.envelope import Collectivite
from operator_sim.testing import corpus
from operator_sim.web import dashboard
from operator_sim.web.guard import csrf_token

from .simkit import OTHER, SIREN, serve

pytestmark = pytest.mark.in_process  # not about TLS: the in-process client


@pytest.fixture
async def virtual(tmp_path, shared_pki_dir):
    """A served simulator on a virtual clock, as CI drives scheduled outcomes."""
    async with serve(tmp_path / "data", shared_pki_dir, clock="virtual") as served:
        yield served


async def submit(served, built, siren=SIREN):
    """Transmit an act as the collectivité's agent, through the API."""
    agent = served.enrol(siren)
    name, data = corpus._pack(built)
    async with served.agent_session(agent) as http, http.post(
            "/api/v1/archives", params={"name": name}, data=data,
            headers={"Content-Type": "application/gzip"}) as r:
        body = await r.json()
        assert r.status == 201, body
    return body["transaction"]


async def submit_held(served, built, tmp_path, siren=SIREN):
    """An act the préfecture has not answered yet ("transmis"), straight through the engine."""
    who = Identity(fingerprint="cd" * 32, name="Agent de test", sirens=frozenset({siren}),
                   roles=AGENT_ROLES, certificate_siren=siren)
    path = built.write(tmp_path)
    outcome = await served.simulator.engine.submit_archive(who, built.name, path, hold=True)
    assert outcome.transaction.status is TransactionStatus.TRANSMIS
    return outcome.transaction


def browser(served):
    """A cookie-carrying session, as a browser has after opening the link with ?token=."""
    return aiohttp.ClientSession(served.admin_url, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def login(http, served):
    async with http.get("/admin/", params={"token": served.admin_token}, allow_redirects=False) as r:
        assert r.status == 303


def origin(served):
    return {"Origin": served.admin_url}


def from_dashboard(served):
    """What a dashboard form sends with the cookie: its page's origin, the form token."""
    return {"headers": origin(served), "params": {"csrf": csrf_token(served.admin_token)}}


async def text(http, path, status=200, **params):
    async with http.get(path, params=params) as r:
        body = await r.text()
        assert r.status == status, body[:500]
        assert r.content_type == "text/html"
        return html.unescape(body)


async def test_token_link_sets_the_cookie_and_drops_the_token_from_the_address(served):
    async with browser(served) as http:
        async with http.get("/admin/", params={"token": served.admin_token, "siren": SIREN},
                            allow_redirects=False) as r:
            assert r.status == 303
            assert r.headers["Location"] == f"/admin/?siren={SIREN}"
        page = await text(http, "/admin/")  # the cookie alone opens the page now
    assert "Actes reçus" in page


@pytest.mark.parametrize("cookie", [b"[" * 3000, b"{}", b"\xff", b'{"kind": 1}'],
                         ids=["nested", "no-members", "not-utf8", "no-message"])
async def test_a_forged_flash_cookie_is_ignored(served, cookie):
    async with browser(served) as http:
        await login(http, served)
        http.cookie_jar.update_cookies({"operator_sim_flash": base64.urlsafe_b64encode(cookie).decode()})
        page = await text(http, "/admin/")
    assert "Actes reçus" in page and 'class="flash' not in page


async def test_dashboard_needs_the_token(served):
    async with aiohttp.ClientSession(served.admin_url) as http, http.get("/admin/") as r:
        assert r.status == 401


async def test_received_acts_are_listed_with_french_labels(served):
    row = await submit(served, corpus.build())
    async with served.admin_session() as http:
        page = await text(http, "/admin/")
        css = await http.get("/admin/static/dashboard.css")
        assert css.status == 200 and "text/css" in css.headers["Content-Type"]
    for label in ("Tableau de bord", "Actes reçus", "Horloge réelle", "Scénarios", "Filtrer",
                  "Acquittement reçu", "DELIB2024_012", "Approbation du règlement intérieur"):
        assert label in page, label
    assert f'href="/admin/actes/{row["id"]}"' in page


async def test_filters_narrow_the_list_by_siren_status_nature_and_dates(served, tmp_path):
    await submit(served, corpus.build())
    await submit(served, corpus.build(corpus.base_request(numero_interne="DELIB2024_099"),
                                      Collectivite(OTHER, "034")), siren=OTHER)
    await submit_held(served, corpus.build(corpus.budget_request(), numero=2), tmp_path)
    today = served.simulator.clock.today()
    async with served.admin_session() as http:
        everything = await text(http, "/admin/")
        by_siren = await text(http, "/admin/", siren=OTHER)
        held = await text(http, "/admin/", statut=int(TransactionStatus.TRANSMIS))
        budgets = await text(http, "/admin/", nature="BF")
        today_only = await text(http, "/admin/", du=today.isoformat(), au=today.isoformat())
        tomorrow = await text(http, "/admin/", du=(today + dt.timedelta(days=1)).isoformat())
    assert "3 transactions" in everything
    assert "1 transaction" in by_siren and "DELIB2024_099" in by_siren
    assert "DELIB2024_012" not in by_siren
    assert "1 transaction" in held and "BP2024" in held and "DELIB2024" not in held
    assert "1 transaction" in budgets and "BP2024" in budgets
    assert "3 transactions" in today_only
    assert "0 transaction" in tomorrow and "Aucune transaction ne correspond" in tomorrow


async def test_pages_of_results_link_to_each_other_and_keep_the_filters(served, monkeypatch):
    monkeypatch.setattr(dashboard, "PAGE_SIZE", 3)
    for n in range(4):
        request = corpus.base_request(numero_interne=f"DELIB2024_{n:03d}")
        await submit(served, corpus.build(request, numero=n + 1))
    async with served.admin_session() as http:
        first = await text(http, "/admin/", siren=SIREN)
        second = await text(http, "/admin/", siren=SIREN, page=2)
    assert "4 transactions · page 1 sur 2" in first
    assert f'href="/admin/?siren={SIREN}&type=1&page=2" rel="next"' in first
    assert "DELIB2024_003" in first and "DELIB2024_000" not in first
    assert "DELIB2024_000" in second and "DELIB2024_001" not in second and 'rel="prev"' in second


async def test_unusable_filters_are_explained_in_french(served):
    async with served.admin_session() as http:
        page = await text(http, "/admin/", status=400, siren="12", du="14/03/2024", statut="99")
    assert "SIREN : neuf chiffres attendus." in page
    assert "format AAAA-MM-JJ attendu" in page
    assert "Statut inconnu : 99." in page
    assert "Traceback" not in page


async def test_act_page_shows_history_messages_documents_and_serves_each_file(served):
    row = await submit(served, corpus.build())
    tid = row["id"]
    async with served.admin_session() as http:
        page = await text(http, f"/admin/actes/{tid}")
        for label in ("Historique", "Messages", "Documents", "Posté", "Transmis",
                      "Acquittement reçu", "ARActe", "Document principal", "Annexe",
                      "034-491011698-20240312-DELIB2024_012-DE",
                      "Demander des pièces complémentaires", "Envoyer un courrier simple",
                      "Lettre d'observations", "Déféré au tribunal administratif"):
            assert label in page, label
        links = set(re.findall(r'href="(/admin/actes/\d+/[^"]+)"', page))
        for link in links:
            async with http.get(link) as r:
                assert r.status == 200, link
                assert r.headers["Content-Disposition"].startswith("attachment; filename=")
                await r.read()
        ar = next(m for m in await served.simulator.engine.store.messages(tid) if m.code == "1-2")
        async with http.get(f"/admin/actes/{tid}/messages/{ar.id}/signature") as r:
            dashboard_p7s = await r.read()
    async with served.agent_session(served.enrol(SIREN)) as http, http.get(
            f"/api/v1/transactions/{tid}/messages/1-2/signature") as r:
        assert await r.read() == dashboard_p7s
    kinds = {link.rsplit("/", 1)[-1] for link in links if "/messages/" in link}
    assert kinds == {"xml", "signature", "timestamp"}
    assert any("/documents/" in link for link in links) and any(link.endswith("/archive") for link in links)


async def test_document_download_is_the_received_pdf(served):
    built = corpus.build()
    row = await submit(served, built)
    async with served.admin_session() as http:
        page = await text(http, f"/admin/actes/{row['id']}")
        first = re.search(r'href="(/admin/actes/\d+/documents/\d+)"[^>]*>([^<]+)<', page)
        assert first is not None
        async with http.get(first.group(1)) as r:
            assert r.headers["Content-Type"] == "application/pdf"
            assert await r.read() == built.members[first.group(2)]


async def test_unknown_transaction_or_file_is_a_french_404_page(served):
    row = await submit(served, corpus.build())
    async with served.admin_session() as http:
        for path in ("/admin/actes/999999", "/admin/actes/abc",
                     f"/admin/actes/{row['id']}/documents/999999",
                     f"/admin/actes/{row['id']}/messages/999999/xml"):
            page = await text(http, path, status=404)
            assert "Introuvable" in page and "Traceback" not in page


async def test_a_post_from_another_origin_is_refused_and_changes_nothing(served, tmp_path):
    held = await submit_held(served, corpus.build(), tmp_path)
    async with browser(served) as http:
        await login(http, served)
        for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                        {"Referer": "http://evil.example/page"}, {}):
            async with http.post(f"/admin/actes/{held.id}/acquitter", headers=headers,
                                 allow_redirects=False) as r:
                assert r.status == 403, headers
                assert "ne vient pas du tableau de bord" in await r.text()
    assert (await served.simulator.engine.store.get(held.id)).status is TransactionStatus.TRANSMIS


async def test_acquitter_answers_a_held_act_with_an_ar_the_collectivite_can_read(served, tmp_path):
    held = await submit_held(served, corpus.build(), tmp_path)
    async with browser(served) as http:
        await login(http, served)
        before = await text(http, f"/admin/actes/{held.id}")
        assert "Acquitter" in before and "Rejeter avec anomalie" in before
        async with http.post(f"/admin/actes/{held.id}/acquitter", **from_dashboard(served),
                             allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == f"/admin/actes/{held.id}"
        after = await text(http, f"/admin/actes/{held.id}")
        again = await text(http, f"/admin/actes/{held.id}")
    assert "Acte acquitté : ARActe (1-2) envoyé" in after
    assert "Acte acquitté" not in again  # a flash message is shown once
    async with served.agent_session(served.enrol(SIREN)) as http, http.get(
            f"/api/v1/transactions/{held.id}") as r:
        body = await r.json()
    assert body["transaction"]["status"] == TransactionStatus.ACQUITTEMENT_RECU
    assert "1-2" in [m["code"] for m in body["messages"]]


async def test_rejeter_sends_the_chosen_anomaly_and_a_second_answer_is_refused_in_french(served, tmp_path):
    held = await submit_held(served, corpus.build(), tmp_path)
    async with browser(served) as http:
        await login(http, served)
        form = {"nature": "013", "detail": "Signature du maire absente"}
        async with http.post(f"/admin/actes/{held.id}/rejeter", data=form, **from_dashboard(served)) as r:
            rejected = html.unescape(await r.text())
        async with http.post(f"/admin/actes/{held.id}/acquitter", **from_dashboard(served)) as r:
            refused = html.unescape(await r.text())
        async with http.post(f"/admin/actes/{held.id}/rejeter", data={"nature": "999", "detail": "x"},
                             **from_dashboard(served)) as r:
            bad_nature = html.unescape(await r.text())
    assert "AnomalieActe (1-3) envoyée, nature 013 — Document métier non conforme" in rejected
    assert "Seul un acte transmis attend une réponse" in refused and "Traceback" not in refused
    assert "Choisissez la nature de l'anomalie" in bad_nature
    messages = await served.simulator.engine.store.messages(held.id)
    anomalie = next(m for m in messages if m.code == "1-3")
    assert b"Signature du maire absente" in served.simulator.store.blobs.read(anomalie.xml_sha256)
    assert [m.code for m in messages].count("1-3") == 1


async def post(http, served, path, data=None):
    """A form POST from the dashboard's own page; returns the page it redirects to."""
    async with http.post(path, data=data, **from_dashboard(served)) as r:
        assert r.status == 200 and r.history and r.history[0].status == 303
        return html.unescape(await r.text())


def letter_form(code, text, document=None):
    form = aiohttp.FormData()
    form.add_field("code", code)
    form.add_field("text", text)
    form.add_field("document", document or b"", filename="courrier.pdf" if document else "",
                   content_type="application/pdf")
    return form


async def test_each_letter_form_sends_its_letter_with_the_uploaded_pdf(served):
    row = await submit(served, corpus.build())
    pdf = corpus.minimal_pdf("Courrier de la prefecture")
    async with browser(served) as http:
        await login(http, served)
        for code, text in (("2-1", "Merci de préciser la délibération."), ("4-1", "Incompétence"),
                           ("5-1", "Vice de procédure")):
            page = await post(http, served, f"/admin/actes/{row['id']}/courriers",
                              letter_form(code, text, pdf if code == "2-1" else None))
            assert "Envoyé à la collectivité : " in page and f"({code})" in page
        assert "Vice de procédure" in page and "Déféré au tribunal administratif" in page
    letters = await served.simulator.prefecture.letters(None)
    by_type = {letter.type.value: letter for letter in letters}
    assert set(by_type) == {2, 4, 5}
    courrier = await served.simulator.prefecture.letter_document(by_type[2].id)
    assert served.simulator.store.blobs.read(courrier.sha256) == pdf
    assert by_type[4].objet == "Incompétence"


async def test_a_refused_letter_is_explained_in_french_and_stores_nothing(served, tmp_path):
    row = await submit(served, corpus.build())
    held = await submit_held(served, corpus.build(corpus.base_request(numero_interne="DELIB2024_2"),
                                                  numero=2), tmp_path)
    async with browser(served) as http:
        await login(http, served)
        not_pdf = await post(http, served, f"/admin/actes/{row['id']}/courriers",
                             letter_form("3-1", "Pièces", b"GIF89a not a pdf at all"))
        not_acknowledged = await post(http, served, f"/admin/actes/{held.id}/courriers",
                                      letter_form("3-1", "Pièces"))
        unknown = await post(http, served, f"/admin/actes/{row['id']}/courriers",
                             letter_form("9-9", "?"))
    assert "format non accepté (PDF)" in not_pdf and 'class="flash erreur"' in not_pdf
    assert "Un courrier ne porte que sur un acte acquitté" in not_acknowledged
    assert "Courrier inconnu" in unknown
    assert await served.simulator.prefecture.letters(None) == ()


async def test_the_clock_panel_advances_a_virtual_clock_and_fires_a_scheduled_ar_once(virtual):
    async with browser(virtual) as http:
        await login(http, virtual)
        added = await post(http, virtual, "/admin/tableau/scenarios",
                           {"id": "ar-a-deux-jours", "kind": "ar", "delay": "P2D", "anomalie": "001",
                            "code": "2-1"})
        assert "Règle ajoutée : ar-a-deux-jours." in added
        row = await submit(virtual, corpus.build())
        assert row["status"] == TransactionStatus.TRANSMIS
        waiting = await text(http, f"/admin/actes/{row['id']}")
        assert re.search(r"Décidé par la règle <a [^>]+>ar-a-deux-jours</a>", waiting)
        assert "réponse à l'acte" in waiting and "en attente" in waiting and "1 programmé" in waiting
        start = virtual.simulator.clock.now()
        async with http.post("/admin/tableau/horloge", params={"retour": f"/admin/actes/{row['id']}",
                                                             "csrf": csrf_token(virtual.admin_token)},
                             data={"quantite": "1", "unite": "jours"}, headers=origin(virtual)) as r:
            one_day = html.unescape(await r.text())
            assert str(r.url).endswith(f"/admin/actes/{row['id']}")
        assert "aucun évènement programmé n'était dû" in one_day and "Transmis" in one_day
        two_days = await post(http, virtual, "/admin/tableau/horloge",
                              {"quantite": "1", "unite": "jours"})
        three_days = await post(http, virtual, "/admin/tableau/horloge",
                                {"quantite": "1", "unite": "jours"})
    assert "1 évènement programmé déclenché (1 exécuté)" in two_days
    assert "aucun évènement programmé n'était dû" in three_days
    assert virtual.simulator.clock.now() - start == dt.timedelta(days=3)
    messages = await virtual.simulator.engine.store.messages(row["id"])
    assert [m.code for m in messages].count("1-2") == 1


async def test_a_real_clock_is_not_moved_and_says_why(served):
    async with browser(served) as http:
        await login(http, served)
        page = await text(http, "/admin/")
        assert "Avancer l'horloge" not in page and "Horloge réelle" in page
        refused = await post(http, served, "/admin/tableau/horloge", {"quantite": "2", "unite": "jours"})
    assert "L'horloge est réelle" in refused


async def test_scenario_rules_are_added_from_toml_or_the_form_removed_and_reset(served):
    await submit(served, corpus.build())
    toml = """
[[rules]]
id = "budgets"
match = { nature = "BF" }
outcome = { kind = "hold" }

[[rules]]
id = "lent"
faults = { slow_ms = 200 }
"""
    async with browser(served) as http:
        await login(http, served)
        added = await post(http, served, "/admin/tableau/scenarios", {"toml": toml})
        again = await post(http, served, "/admin/tableau/scenarios", {"toml": 'id = "lent"'})
        broken = await post(http, served, "/admin/tableau/scenarios", {"toml": "id = "})
        invalid = await post(http, served, "/admin/tableau/scenarios",
                             {"kind": "anomalie", "anomalie": "999", "siren": "491011698"})
        form = await post(http, served, "/admin/tableau/scenarios",
                          {"kind": "anomalie", "anomalie": "012", "detail": "Signature absente",
                           "objet": "règlement", "corrupt_return": "1", "code": "2-1"})
        assert "Règles ajoutées : budgets, lent." in added
        assert "une règle 'lent' existe déjà" in again
        assert "TOML invalide" in broken
        assert "outcome.nature" in invalid and "n'est pas une nature d'anomalie" in invalid
        assert "Règle ajoutée : regle-3." in form
        assert [r.id for r in served.simulator.engine.scenarios.rules] == ["budgets", "lent", "regle-3"]
        listing = await text(http, "/admin/tableau/scenarios")
        for label in ("Scénarios", "Règles (3)", "Garder « transmis »", "nature = BF", "slow_ms = 200",
                      "objet = règlement", "corrupt_return = True", "Réinitialiser le simulateur"):
            assert label in listing, label
        removed = await post(http, served, "/admin/tableau/scenarios/lent/supprimer")
        unknown = await post(http, served, "/admin/tableau/scenarios/personne/supprimer")
        assert "Règle « lent » supprimée." in removed and "Aucune règle « personne »." in unknown
        reset = await post(http, served, "/admin/tableau/reinitialiser",
                           {"transactions": "1", "confirmation": "1"})
        assert "Simulateur réinitialisé : 0 règle(s) du fichier" in reset
        assert "transactions effacés" in reset
        after = await text(http, "/admin/")
    assert served.simulator.engine.scenarios.rules == ()
    assert "0 transaction" in after
