"""The collectivités the platform knows: registered by the first transmission or by the admin
API, and the IDCL every later envelope must agree with."""

from __future__ import annotations

import asyncio

import pytest
from yarl import URL

from .simkit import OTHER, SIREN, act, admin, serve, submit
from .test_admin_hostile import dashboard_post

pytestmark = pytest.mark.in_process  # not about TLS: the in-process client

COMMUNE = {"departement": "034", "arrondissement": "3", "nature": "31"}


async def test_the_first_transmission_registers_and_the_admin_api_corrects(served):
    assert await admin(served, "GET", "/admin/collectivites") == (200, {"items": []})
    async with served.agent_session(served.enrol(SIREN)) as http:
        assert (await submit(http, act("DELIB1")))[1]["outcome"] == "1-2"
        status, listed = await admin(served, "GET", "/admin/collectivites")
        (item,) = listed["items"]
        conventions = item.pop("conventions")  # the test kit's (served.enrol gives one)
        assert (status, item) == (200, {"siren": SIREN, **COMMUNE, "nom": SIREN, "profil": None})
        assert [(c["operateur"], c["statut"]) for c in conventions] == [("SLO", "signee")]

        # The préfecture moves the commune to another arrondissement: the same envelope is now
        # refused as a whole (AnomalieEnveloppe 005, IDCL_MISMATCH), and the name set earlier
        # is kept.
        status, body = await admin(served, "PUT", f"/admin/collectivites/{SIREN}",
                                   {**COMMUNE, "arrondissement": "2", "nom": "Commune de test"})
        assert (status, body["arrondissement"]) == (200, "2"), body
        status, body = await admin(served, "PUT", f"/admin/collectivites/{SIREN}",
                                   {**COMMUNE, "arrondissement": "2"})
        assert body["nom"] == "Commune de test"
        name, data = act("DELIB2")
        status, body = await submit(http, (name, data))
        assert (status, body["outcome"], body["anomalie"]["nature"]) == (201, "ANO", "005"), body
        assert body["anomalie"]["detail"].startswith(f"{name} -> IDCL_MISMATCH : "), body
        assert body["anomalie"]["detail"].endswith("Arrondissement 3 au lieu de 2")
        refused = body["transaction"]["id"]
        async with http.get(f"/api/v1/transactions/{refused}/messages/ANO") as r:
            assert r.status == 200 and b"<actes:AnomalieEnveloppe" in await r.read()
        async with http.get(f"/modules/actes/actes_transac_get_status.php?transaction={refused}") as r:
            status_text = (await r.read()).decode("iso-8859-1")
    assert status_text.startswith("OK\n-1\n") and "<actes:AnomalieEnveloppe" in status_text
    assert "Enveloppe rejetée (005 : " in status_text and "IDCL_MISMATCH" in status_text


async def test_a_collectivite_registered_beforehand_is_held_to_its_idcl(served):
    status, body = await admin(served, "PUT", f"/admin/collectivites/{OTHER}",
                               {"departement": "034", "arrondissement": "1", "nature": "32",
                                "nom": "Département de test"})
    assert (status, body["nom"]) == (201, "Département de test"), body
    async with served.agent_session(served.enrol(OTHER)) as http:
        status, body = await submit(http, act("DELIB1", siren=OTHER))  # IDCL 034 / 3 / 31
    assert (status, body["outcome"], body["anomalie"]["nature"]) == (201, "ANO", "005"), body
    assert body["anomalie"]["detail"].endswith(
        "Arrondissement 3 au lieu de 1, Nature 31 au lieu de 32"), body


@pytest.mark.parametrize(("path", "body", "status", "code", "field"), [
    (f"/admin/collectivites/{SIREN}", {**COMMUNE, "departement": "34"}, 422, "FIELD_INVALID",
     "departement"),
    (f"/admin/collectivites/{SIREN}", {**COMMUNE, "arrondissement": 3}, 422, "FIELD_INVALID",
     "arrondissement"),
    (f"/admin/collectivites/{SIREN}", {**COMMUNE, "nature": "99"}, 422, "FIELD_INVALID", "nature"),
    (f"/admin/collectivites/{SIREN}", {"arrondissement": "3", "nature": "31"}, 422,
     "FIELD_INVALID", "departement"),
    (f"/admin/collectivites/{SIREN}", {**COMMUNE, "nom": "  "}, 422, "FIELD_INVALID", "nom"),
    (f"/admin/collectivites/{SIREN}", {**COMMUNE, "couleur": "bleu"}, 422, "FIELD_UNKNOWN",
     "couleur"),
    (f"/admin/collectivites/{SIREN}", None, 400, "JSON_INVALID", None),
    ("/admin/collectivites/12345", COMMUNE, 404, "COLLECTIVITE_UNKNOWN", None),
])
async def test_a_wrong_registration_is_refused_and_changes_nothing(served, path, body, status,
                                                                   code, field):
    got, answer = await admin(served, "PUT", path, body)
    assert (got, answer["code"], answer.get("field")) == (status, code, field), answer
    assert await admin(served, "GET", "/admin/collectivites") == (200, {"items": []})


async def test_a_form_is_a_415_and_a_body_without_content_type_is_read_as_json(served):
    async with served.admin_session() as http:
        async with http.put(f"/admin/collectivites/{SIREN}", data=COMMUNE) as response:
            assert response.status == 415
            assert (await response.json())["code"] == "UNSUPPORTED_MEDIA_TYPE"
        raw = b'{"departement": "034", "arrondissement": "3", "nature": "31"}'
        async with http.put(f"/admin/collectivites/{SIREN}", data=raw,
                            skip_auto_headers=["Content-Type"]) as response:
            assert response.status == 201, await response.text()


async def test_aiohttp_own_refusals_speak_french_too(served):
    """Over client_max_size (1 MiB) and unknown addresses: aiohttp refuses before any handler."""
    async with served.admin_session() as http:
        big = b'{"nom": "' + b"x" * (2 << 20) + b'"}'
        async with http.put(f"/admin/collectivites/{SIREN}", data=big,
                            headers={"Content-Type": "application/json"}) as response:
            body = await response.json()
            assert (response.status, body["code"]) == (413, "HTTP_413")
            assert body["message_fr"] == "corps de la requête trop volumineux", body
        async with http.get("/admin/nulle-part") as response:
            assert (await response.json())["message_fr"] == "adresse inconnue"


@pytest.mark.slow  # waits out a read deadline
async def test_a_json_body_trickled_in_is_cut_at_the_read_deadline(tmp_path, shared_pki_dir):
    async with serve(tmp_path / "data", shared_pki_dir, read_timeout=1) as served:
        url = URL(served.admin_url)
        reader, writer = await asyncio.open_connection(url.host, url.port)
        body = b'{"departement": "034", "arrondissement": "3", "nature": "31"}'
        writer.write(f"PUT /admin/collectivites/{SIREN} HTTP/1.1\r\nHost: x\r\n"
                     f"Authorization: Bearer {served.admin_token}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        started = asyncio.get_running_loop().time()

        async def trickle() -> None:  # one byte every 0.2 s: 12 s in all, against a 1 s deadline
            for byte in body:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.2)

        sending = asyncio.create_task(trickle())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        writer.close()
        assert head.startswith(b"HTTP/1.1 408"), head
        assert asyncio.get_running_loop().time() - started < 4
        assert served.simulator.store.collectivites() == []


CONVENTION = {"date_signature": "2024-01-15", "operateur": "SLO", "matieres": ["5", "7.1"],
              "actes_budgetaires": True}
NEWCOMER = "213400005"


async def test_a_collectivite_registered_with_its_convention_may_transmit_then_not_once_terminated(
        served):
    """Under strict, the collectivité and its convention come first (PUT with `convention`);
    the agent is enrolled without the kit's convention, so the register alone decides. Before
    and after the convention: an AnomalieEnveloppe 005, on the API and S²LOW's status."""
    async with served.agent_session(served.enrol(NEWCOMER, convention=False)) as http:
        status, body = await submit(http, act("DELIB1", siren=NEWCOMER))
        assert (status, body["outcome"], body["anomalie"]["nature"]) == (201, "ANO", "005"), body
        assert "PREF-VERIF-02" in body["anomalie"]["detail"]
        refused = body["transaction"]["id"]
        async with http.get(f"/api/v1/transactions/{refused}/messages/ANO") as r:
            assert r.status == 200 and b"<actes:AnomalieEnveloppe" in await r.read()
        async with http.get(f"/modules/actes/actes_transac_get_status.php?transaction={refused}") as r:
            status_text = (await r.read()).decode("iso-8859-1")
        assert status_text.startswith("OK\n-1\n") and "<actes:AnomalieEnveloppe" in status_text
        assert "Enveloppe rejetée (005 : " in status_text
        status, body = await admin(served, "PUT", f"/admin/collectivites/{NEWCOMER}",
                                   {**COMMUNE, "nom": "Commune nouvelle", "profil": "strict",
                                    "convention": CONVENTION})
        # 200: the refused envelope registered its IDCL (not a convention).
        assert status == 200 and body["profil"] == "strict", body
        (convention,) = body["conventions"]
        assert convention == {"id": convention["id"], "siren": NEWCOMER, **CONVENTION,
                              "statut": "signee", "date_resiliation": None}
        status, body = await submit(http, act("DELIB2", siren=NEWCOMER))
        assert (status, body["outcome"]) == (201, "1-2"), body
        status, body = await submit(http, act("URBA1", siren=NEWCOMER, matiere=(2, 1)))
        assert body["anomalie"]["detail"].startswith("CONVENTION_MATIERE :"), body

        status, ended = await admin(served, "POST",
                                    f"/admin/conventions/{convention['id']}/resiliation",
                                    {"date": "2024-01-16"})
        assert (status, ended["statut"], ended["date_resiliation"]) == (
            200, "resiliee", "2024-01-16"), ended
        status, body = await submit(http, act("DELIB3", siren=NEWCOMER))
        assert (status, body["outcome"], body["anomalie"]["nature"]) == (201, "ANO", "005"), body
        status, again = await admin(served, "POST",
                                    f"/admin/conventions/{convention['id']}/resiliation")
        assert (status, again["code"]) == (409, "CONVENTION_NOT_TERMINABLE")

        status, added = await admin(served, "POST", f"/admin/collectivites/{NEWCOMER}/conventions",
                                    {"date_signature": "2024-02-01"})
        assert (status, added["matieres"], added["operateur"]) == (201, [], "SLO"), added
        status, listed = await admin(served, "GET", f"/admin/conventions?siren={NEWCOMER}")
        assert [c["statut"] for c in listed["items"]] == ["resiliee", "signee"]
        status, body = await submit(http, act("DELIB4", siren=NEWCOMER))
        assert (status, body["outcome"]) == (201, "1-2"), body


async def test_a_lenient_collectivite_is_registered_by_its_first_envelope(tmp_path,
                                                                        shared_pki_dir):
    async with serve(tmp_path / "data", shared_pki_dir, profile="lenient") as served:
        async with served.agent_session(served.enrol(NEWCOMER, convention=False)) as http:
            status, body = await submit(http, act("DELIB1", siren=NEWCOMER))
        assert (status, body["outcome"]) == (201, "1-2"), body
        assert "SENDER_UNKNOWN" in [f["code"] for f in body["warnings"]]
        status, listed = await admin(served, "GET", "/admin/collectivites")
        assert [(c["siren"], c["conventions"]) for c in listed["items"]] == [(NEWCOMER, [])]


@pytest.mark.parametrize(("path", "body", "status", "code", "field"), [
    (f"/admin/collectivites/{SIREN}", {**COMMUNE, "departement": "096"}, 422, "FIELD_INVALID",
     "departement"),
    (f"/admin/collectivites/{SIREN}", {**COMMUNE, "profil": "souple"}, 422, "FIELD_INVALID",
     "profil"),
    (f"/admin/collectivites/{SIREN}", {**COMMUNE, "convention": {"operateur": "SLO"}}, 422,
     "FIELD_INVALID", "convention.date_signature"),
    (f"/admin/collectivites/{SIREN}", {**COMMUNE, "convention": "oui"}, 422, "FIELD_INVALID",
     "convention.date_signature"),
    (f"/admin/collectivites/{SIREN}/conventions", {"date_signature": "2024-02-30"}, 422,
     "FIELD_INVALID", "date_signature"),
    (f"/admin/collectivites/{SIREN}/conventions",
     {"date_signature": "2024-01-01", "operateur": "slo"}, 422, "FIELD_INVALID", "operateur"),
    (f"/admin/collectivites/{SIREN}/conventions",
     {"date_signature": "2024-01-01", "matieres": ["7.1", "x"]}, 422, "FIELD_INVALID", "matieres"),
    (f"/admin/collectivites/{SIREN}/conventions",
     {"date_signature": "2024-01-01", "actes_budgetaires": "non"}, 422, "FIELD_INVALID",
     "actes_budgetaires"),
    (f"/admin/collectivites/{SIREN}/conventions", {"date_signature": "2024-01-01", "x": 1}, 422,
     "FIELD_UNKNOWN", "x"),
    ("/admin/collectivites/12345/conventions", {"date_signature": "2024-01-01"}, 404,
     "COLLECTIVITE_UNKNOWN", None),
    ("/admin/conventions/999/resiliation", {"date": "2024-01-01"}, 404, "CONVENTION_UNKNOWN",
     None),
    ("/admin/conventions/1/resiliation", {"date": "hier"}, 422, "FIELD_INVALID", "date"),
])
async def test_a_wrong_convention_is_refused_with_its_field_and_changes_nothing(
        served, path, body, status, code, field):
    before = await admin(served, "GET", "/admin/conventions")
    method = "PUT" if path.count("/") == 3 else "POST"
    got, answer = await admin(served, method, path, body)
    assert (got, answer["code"], answer.get("field")) == (status, code, field), answer
    assert await admin(served, "GET", "/admin/conventions") == before
    assert await admin(served, "GET", "/admin/collectivites") == (200, {"items": []})


async def test_the_dashboard_registers_a_collectivite_with_its_convention_and_terminates_it(
        served):
    form = {"siren": NEWCOMER, "nom": "Commune du tableau", "nature": "31", "departement": "034",
            "arrondissement": "2", "profil": "lenient", "operateur": "SLO",
            "date_signature": "2024-01-15", "matieres": "5, 7.1", "actes_budgetaires": "1"}
    where, message = await dashboard_post(served, "/admin/tableau/collectivites", data=form)
    assert where == "/admin/tableau/collectivites" and "enregistrée avec la convention" in message
    _, listed = await admin(served, "GET", f"/admin/conventions?siren={NEWCOMER}")
    (convention,) = listed["items"]
    assert (convention["matieres"], convention["actes_budgetaires"]) == (["5", "7.1"], True)
    _, collectivites = await admin(served, "GET", "/admin/collectivites")
    assert [(c["nom"], c["arrondissement"], c["profil"]) for c in collectivites["items"]] == [
        ("Commune du tableau", "2", "lenient")]
    async with served.admin_session() as http, http.get("/admin/tableau/collectivites") as page:
        html = await page.text()
    assert page.status == 200 and "Commune du tableau" in html and "5, 7.1" in html

    _, refused = await dashboard_post(served, "/admin/tableau/collectivites",
                                      data={**form, "departement": "096"})
    assert refused.startswith("Departement : ce département n'existe pas"), refused
    _, refused = await dashboard_post(served, "/admin/tableau/collectivites",
                                      data={**form, "matieres": "sept"})
    assert refused.startswith("Matieres :"), refused
    assert len((await admin(served, "GET", f"/admin/conventions?siren={NEWCOMER}"))[1]["items"]) == 1

    _, message = await dashboard_post(
        served, f"/admin/tableau/conventions/{convention['id']}/resilier", data={"date": "2024-06-30"})
    assert message == f"Convention {convention['id']} ({NEWCOMER}) résiliée le 30/06/2024.", message
    _, message = await dashboard_post(
        served, f"/admin/tableau/conventions/{convention['id']}/resilier", data={"date": "2024-07-01"})
    assert "déjà résiliée" in message


async def test_the_listing_gives_each_collectivite_its_own_conventions(served):
    for siren in (SIREN, OTHER):
        status, _ = await admin(served, "PUT", f"/admin/collectivites/{siren}", COMMUNE)
        assert status == 201
    for signed in ("2020-01-01", "2022-06-01"):
        status, _ = await admin(served, "POST", f"/admin/collectivites/{SIREN}/conventions",
                                {"date_signature": signed, "operateur": "SLO"})
        assert status == 201
    status, listed = await admin(served, "GET", "/admin/collectivites")
    assert status == 200
    # 2001-01-01: the convention the test kit gives every SIREN it serves
    assert {c["siren"]: [v["date_signature"] for v in c["conventions"]]
            for c in listed["items"]} == {SIREN: ["2001-01-01", "2020-01-01", "2022-06-01"],
                                          OTHER: ["2001-01-01"]}
