"""Every other S²LOW endpoint through real mutual TLS: exact parameters, fields and bodies."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import tarfile

import aiohttp
import pytest

from operator_sim.pki.enrol import bind_record
from operator_sim.pki.identity import Account, hash_password
from operator_sim.pki.profiles import AgentSubject, RgsLevel
from operator_sim.store import Collectivite
from operator_sim.testing import corpus

from .conftest import ACTES, OTHER_SIREN, SIREN, create_form, latin1

ID_ACTE = "034-491011698-20240312-DELIB2024_012-DE"


async def get(s2low, path, agent=None, follow=False, **params):
    """One GET; redirections are followed only when asked (Pastell's curl does for documents)."""
    async with s2low.session(agent).get(path, params=params, allow_redirects=follow) as r:
        return r.status, await r.read(), r.headers


# -- status ---------------------------------------------------------------------------------------


async def test_status_by_unique_id_and_refusals_for_unknown_transactions(s2low):
    transaction_id = await s2low.created()
    status, body, _ = await get(s2low, f"{ACTES}/actes_transac_get_status.php", unique_id=ID_ACTE)
    assert status == 200 and latin1(body).startswith("OK\n4\n<?xml")
    for params in ({"transaction": "999999"}, {"transaction": "abc"}, {"unique_id": "nope"}):
        status, body, _ = await get(s2low, f"{ACTES}/actes_transac_get_status.php", **params)
        assert (status, latin1(body)) == (200, "KO\nNum\xe9ro de transaction invalide.")
    assert transaction_id


async def test_status_minus_one_tells_s2low_refusals_from_the_ministrys(s2low):
    """What S²LOW's own analysis catches (a typology its nature does not allow) ends at -1
    "Enveloppe invalide : …" with no ministry XML (journal 1 → -1); what only the ministry
    refuses (a matière the classification does not have) carries its AnomalieActe (1-3)."""
    ours = await s2low.created(create_form(type_acte="99_AI"))
    head, code, rest = await s2low.status(ours)
    assert (head, code) == ("OK", "-1") and rest.startswith(
        "Enveloppe invalide : TYPOLOGIE_NOT_ALLOWED") and "<" not in rest.split(" (")[0]
    assert "AnomalieActe" not in rest
    journal = s2low.served.simulator.store.journal(ours)
    assert [int(e.to_status) for e in journal] == [1, -1]
    assert [m.code for m in s2low.served.simulator.store.messages(ours)] == ["1-1"]
    waiting = await s2low.created(create_form(type_acte="99_AI", number="ATTENTE",
                                              en_attente="1"))
    async with s2low.session().get(f"{ACTES}/actes_transac_post_confirm_api.php",
                                   params={"id": str(waiting)}, allow_redirects=False) as r:
        assert r.status == 302
    assert (await s2low.status(waiting))[2].startswith("Enveloppe invalide : TYPOLOGIE_NOT")
    assert [int(e.to_status) for e in s2low.served.simulator.store.journal(waiting)] == [
        17, 1, -1]
    theirs = await s2low.created(create_form(number="MATIERE", classif1="9", classif2="9"))
    head, code, rest = await s2low.status(theirs)
    assert (head, code) == ("OK", "-1")
    assert "<actes:AnomalieActe" in rest and "Refusé par le MI" in rest.split(
        "</actes:AnomalieActe>")[-1]


async def test_held_act_reads_transmis_then_acquittement_recu(s2low):
    """A scenario holding acts (the préfecture decides later) shows as 3, then 4 with the AR;
    an act waiting at 17 meets the scenario when it is posted."""
    async with s2low.served.admin_session() as admin, \
            admin.post("/admin/scenarios", json={"id": "tenir", "outcome": {"kind": "hold"}}) as r:
        assert r.status == 201, await r.text()
    direct = await s2low.created(create_form(number="DIRECT"))
    waiting = await s2low.created(create_form(number="ATTENTE", en_attente="1"))
    assert (await s2low.status(direct)) == ["OK", "3", ""]
    assert (await s2low.status(waiting))[1] == "17"
    async with s2low.session().get(f"{ACTES}/actes_transac_post_confirm_api.php",
                                   params={"id": str(waiting)}, allow_redirects=False) as r:
        assert (r.status, r.headers["Location"]) == (302, "")
    assert (await s2low.status(waiting)) == ["OK", "3", ""]
    for transaction_id in (direct, waiting):
        await s2low.served.simulator.prefecture.acknowledge(transaction_id)
        head, code, flux = await s2low.status(transaction_id)
        assert (head, code) == ("OK", "4") and "<actes:ARActe" in flux


def _identity(s2low, agent=None):
    from operator_sim.pki.identity import resolve

    pki = s2low.served.simulator.pki
    agent = agent or s2low.agent
    return resolve(s2low.served.simulator.identities, pki.certificate(agent),
                   level=RgsLevel.TWO)


# -- files ----------------------------------------------------------------------------------------


async def test_files_list_has_message_then_act_then_annexes_with_s2low_keys(s2low):
    engine = s2low.served.simulator.engine
    held = (await engine.submit_acte(_identity(s2low), corpus.base_request(numero_interne="ATTENTE"),
                                     hold=True)).transaction.id
    assert (await s2low.status(held))[1] == "3"
    status, body, _ = await get(s2low, f"{ACTES}/actes_transac_get_files_list.php",
                                transaction=str(held))
    assert (status, latin1(body)) == (200, "KO\nPas d'acquittement recu")
    transaction_id = await s2low.created()
    status, body, headers = await get(s2low, f"{ACTES}/actes_transac_get_files_list.php",
                                      transaction=str(transaction_id))
    files = json.loads(body)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert [set(f) for f in files] == [{"id", "name", "posted_filename", "mimetype", "size",
                                        "sign", "code_pj"}] * 3
    assert [f["mimetype"] for f in files] == ["text/xml", "application/pdf", "application/pdf"]
    assert files[0]["name"] == "034-491011698-20240312-DELIB2024_012-DE-1-1_0.xml"
    assert [f["code_pj"] for f in files] == ["", "99_DE", "99_DE"]
    assert files[1]["name"].endswith("-1-1_1.pdf") and files[2]["name"].endswith("-1-1_2.pdf")
    plain = []
    for f in files:
        status, content, headers = await get(s2low, f"{ACTES}/actes_download_file.php",
                                             file=str(f["id"]))
        assert status == 200 and len(content) == f["size"]
        assert headers["Content-Type"] == f["mimetype"]
        plain.append(content)
    assert plain[1] == corpus.minimal_pdf("Deliberation 2024-012")
    # actes_download_file.php answers every refusal with a redirection (message in the session)
    status, body, headers = await get(s2low, f"{ACTES}/actes_download_file.php", file="999999001")
    assert (status, headers["Location"], latin1(body)) == (302, "/", "Fichier inexistant")
    status, body, headers = await get(s2low, f"{ACTES}/actes_download_file.php")
    assert (status, headers["Location"], latin1(body)) == (302, "/", "Param\xe8tre manquant.")


async def test_stamped_download_is_refused_before_the_ar(s2low):
    waiting = await s2low.created(create_form(en_attente="1", number="ATTENTE"))
    status, body, headers = await get(s2low, f"{ACTES}/actes_download_file.php",
                                      file=str(waiting * 1000 + 1), tampon="true")
    assert (status, headers["Location"], latin1(body)) == (302, "/", "Pas d'acquittement recu")
    for path, params in ((f"{ACTES}/actes_create_pdf.php", {"trans_id": str(waiting)}),
                         (f"{ACTES}/actes_transac_get_tampon.php", {"transaction": str(waiting)})):
        status, body, _ = await get(s2low, path, **params)
        assert (status, latin1(body)) == (200, "KO\nPas d'acquittement recu")


async def test_envelope_download_is_the_archive_the_operator_built(s2low):
    transaction_id = await s2low.created()
    status, body, headers = await get(s2low, f"{ACTES}/actes_download_file.php",
                                      env=str(transaction_id))
    assert status == 200 and headers["Content-Type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        names = archive.getnames()
    assert "EACT--491011698--" in names[0] and len(names) == 4


# -- cancel ---------------------------------------------------------------------------------------


async def test_cancel_answers_the_6_1_id_and_the_number_stays_taken(s2low):
    transaction_id = await s2low.created()
    url = f"{ACTES}/actes_transac_cancel.php"
    async with s2low.session().post(url, data={"api": "1", "id": str(transaction_id)}) as r:
        body = latin1(await r.read())
    assert r.status == 200 and body.startswith("OK\n") and body.endswith("\n\n")
    cancel_id = int(body.split("\n")[1])
    assert (await s2low.status(cancel_id))[:2] == ["OK", "4"]
    assert "<actes:ARAnnulation" in (await s2low.status(cancel_id))[2]
    assert (await s2low.status(transaction_id))[:2] == ["OK", "0"]
    async with s2low.session().post(url, data={"api": "1", "id": str(transaction_id)}) as r:
        assert (r.status, latin1(await r.read())) == (
            200, "KO\nImpossible d&#039;annuler une transaction qui n&#039;est pas en \xe9tat "
                 "\xab Acquittement re\xe7u \xbb.\n")
    async with s2low.session().post(url, data={"api": "1"}) as r:
        assert latin1(await r.read()) == ("KO\nPas d&#039;identifiant de transaction \xe0 "
                                          "annuler sp\xe9cifi\xe9.\n")
    async with s2low.session().post(url, data={"api": "1", "id": str(cancel_id)}) as r:
        assert latin1(await r.read()) == "KO\nCe type de transaction ne peut pas \xeatre annul\xe9.\n"
    status, body = await s2low.create()
    assert status == 200 and "existe d\xe9j\xe0" in body


# -- classification -------------------------------------------------------------------------------


async def test_classification_request_then_fetch_returns_the_7_2_received(s2low):
    simulator = s2low.served.simulator
    status, before, _ = await get(s2low, f"{ACTES}/actes_classification_fetch.php", api="1")
    assert (status, before) == (200, "KO\nErreur de r\xe9cup\xe9ration de la derni\xe8re "
                                     "classification.\n".encode("iso-8859-1"))
    status, body, _ = await get(s2low, f"{ACTES}/actes_classification_request.php", api="1")
    lines = latin1(body).split("\n")
    assert status == 200 and lines[0] == "OK" and lines[2] == ""
    request_id = int(lines[1])
    head, code, flux = await s2low.status(request_id)
    assert (head, code) == ("OK", "4") and "RetourClassification" in flux
    status, after, headers = await get(s2low, f"{ACTES}/actes_classification_fetch.php", api="1")
    assert after == flux.encode("iso-8859-1") + b"\r\n"  # pushXMLData's trailing CRLF
    assert headers["Content-Type"].startswith("text/xml")
    assert headers["Content-Disposition"] == 'attachment; filename="classification.xml"'
    assert b"RetourClassification" in after and simulator
    # Asked again, the préfecture answers 7-3: the classification held is current.
    status, body, _ = await get(s2low, f"{ACTES}/actes_classification_request.php", api="1")
    again = int(latin1(body).split("\n")[1])
    assert "ReponseClassificationSansChangement" in (await s2low.status(again))[2]


async def test_classification_request_for_an_unknown_authority_is_ko(s2low):
    stranger = s2low.served.enrol(OTHER_SIREN, "Agent d'ailleurs")
    status, body, _ = await get(s2low, f"{ACTES}/actes_classification_request.php", stranger,
                                api="1")
    assert status == 200 and latin1(body).startswith("KO\nla collectivit\xe9 253400014")


# -- préfecture messages --------------------------------------------------------------------------


async def test_documents_prefecture_listed_read_and_answered(s2low):
    prefecture = s2low.served.simulator.prefecture
    acte = await s2low.created()
    simple = (await prefecture.send_letter(acte, "2-1", text="Pour information")).transaction
    pieces = (await prefecture.send_letter(acte, "3-1")).transaction
    status, body, _ = await get(s2low, f"{ACTES}/api/list_document_prefecture.php")
    assert status == 200 and json.loads(body) == [
        {"id": simple.id, "type": "2", "related_transaction_id": acte, "number": "DELIB2024_012",
         "unique_id": ID_ACTE, "last_status_id": 21},
        {"id": pieces.id, "type": "3", "related_transaction_id": acte, "number": "DELIB2024_012",
         "unique_id": ID_ACTE, "last_status_id": 8}]
    status, body, _ = await get(s2low, f"{ACTES}/actes_transac_get_document.php", id=str(acte))
    assert latin1(body) == f"2-21-{simple.id}\n3-8-{pieces.id}\n"
    status, body, _ = await get(s2low, f"{ACTES}/actes_transac_get_document.php",
                                id=str(pieces.id), follow=True)
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        assert status == 200 and any("-3-1_" in n for n in archive.getnames())
    status, body, _ = await get(s2low, f"{ACTES}/api/document_prefecture_mark_as_read.php",
                                transaction_id=str(simple.id))
    assert json.loads(body) == {"result": "ok"}
    status, body, _ = await get(s2low, f"{ACTES}/api/list_document_prefecture.php")
    assert [m["id"] for m in json.loads(body)] == [pieces.id]
    form = aiohttp.FormData()
    for name, value in (("id", str(pieces.id)), ("api", "1"), ("type_envoie", "4"),
                        ("type_acte", "99_DE"), ("type_pj[]", "99_DE")):
        form.add_field(name, value)
    form.add_field("acte_pdf_file", corpus.minimal_pdf("Pieces"), filename="pieces.pdf")
    form.add_field("acte_attachments[]", corpus.minimal_pdf("Annexe"), filename="annexe.pdf")
    async with s2low.session().post(f"{ACTES}/actes_transac_reponse_create.php", data=form) as r:
        body = latin1(await r.read())
    assert r.status == 200 and body.startswith("OK\n")
    answer = int(body.split("\n")[1])
    assert (await s2low.status(answer))[:2] == ["OK", "4"]
    status, body, _ = await get(s2low, f"{ACTES}/actes_transac_get_document.php", id=str(acte))
    assert latin1(body) == f"2-21-{simple.id}\n3-4-{answer}\n"


async def test_reponse_create_refusals_in_both_api_styles(s2low):
    prefecture = s2low.served.simulator.prefecture
    acte = await s2low.created()
    letter = (await prefecture.send_letter(acte, "4-1")).transaction.id

    def form(**fields):
        data = aiohttp.FormData()
        for name, value in fields.items():
            data.add_field(name, value)
        data.add_field("acte_pdf_file", corpus.minimal_pdf("Reponse"), filename="reponse.pdf")
        return data

    url = f"{ACTES}/actes_transac_reponse_create.php"
    async with s2low.session().post(url, data=form(id=str(letter), api="1", type_envoie="4")) as r:
        assert latin1(await r.read()) == ("KO\nErreur lors de la r\xe9ception du fichier : "
                                          "typologie absente\n")
    async with s2low.session().post(url, params={"api": "1"},
                                    data=form(id=str(letter), type_acte="99_DE")) as r:
        assert latin1(await r.read()) == "KO : Vous devez choisir un type de r\xe9ponse"
    async with s2low.session().post(url, params={"api": "1"},
                                    data=form(id=str(letter), type_acte="99_DE",
                                              type_envoie="3")) as r:
        body = latin1(await r.read())
    assert r.status == 200 and body.startswith("OK : id g\xe9n\xe9r\xe9 : ")
    answer = int(body.rsplit(" ", 1)[1])
    assert s2low.served.simulator.store.get(answer).status == 4


# -- JSON API and connection checks ----------------------------------------------------------------


async def test_actes_status_lists_every_s2low_status(s2low):
    _, body, _ = await get(s2low, f"{ACTES}/api/actes_status.php")
    statuses = json.loads(body)
    assert list(statuses) == [str(i) for i in range(-1, 23)]
    assert statuses["17"] == "En attente d'être postée" and statuses["21"] == "Document reçu (pas d'AR)"
    assert statuses["18"] == "En attente d'être signé"  # S²LOW's label since its rename
    assert statuses["11"] == "Acquittement de document reçu"


async def test_list_and_number_actes_by_status(s2low):
    first = await s2low.created(create_form(number="UN"))
    second = await s2low.created(create_form(number="DEUX", en_attente="1"))
    _, body, _ = await get(s2low, f"{ACTES}/api/list_actes.php", status_id="4")
    listed = json.loads(body)
    assert listed == {"status_id": 4, "authority_id": int(SIREN), "offset": 0, "limit": 100,
                      "transactions": [{"id": first, "subject": "Approbation du règlement intérieur",
                                        "number": "UN", "date": "2024-03-12",
                                        "nature_descr": "Délibérations", "classification": "5.2",
                                        "type": 1}]}
    _, body, _ = await get(s2low, f"{ACTES}/api/number_actes.php", status_id="17")
    assert json.loads(body) == {"status_id": 17, "authority_id": int(SIREN), "nb_transactions": 1}
    _, body, _ = await get(s2low, f"{ACTES}/api/list_actes.php", status_id="17", limit="0")
    assert json.loads(body)["transactions"] == [] and second


async def test_connection_checks(s2low):
    status, body, _ = await get(s2low, "/api/test-connexion.php")
    assert (status, body) == (200, b"OK")
    status, body, _ = await get(s2low, "/admin/users/api-list-login.php")
    assert (status, latin1(body)) == (200, "Alice Martin\n")
    status, body, headers = await get(s2low, "/api/get-nounce.php")
    assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="API S2low"'


@pytest.fixture
def shared(s2low):
    """One certificate shared by two logins, as S²LOW's SharedCertificateAuthenticator allows."""
    pki = s2low.served.simulator.pki
    record = pki.issue_agent(AgentSubject("Mairie", SIREN, "Certificat partagé"),
                             now=s2low.served.simulator.clock.now(), level=RgsLevel.TWO)
    s2low.served.simulator.identities.bind(bind_record(record, SIREN, *(
        Account(name=login.title(), sirens=frozenset({SIREN}), login=login,
                password_hash=hash_password(f"{login}-secret")) for login in ("alice", "bob"))),
        at=s2low.served.simulator.clock.now())
    return record


async def test_shared_certificate_logins_and_nonce(s2low, shared):
    status, body, _ = await get(s2low, "/api/test-connexion.php", shared)
    assert status == 401 and latin1(body).startswith("KO\n\xc9chec de l&#039;authentification")
    basic = {"Authorization": aiohttp.encode_basic_auth("alice", "alice-secret")}
    async with s2low.session(shared, headers=basic) as http:
        async with http.get("/admin/users/api-list-login.php") as r:
            assert latin1(await r.read()) == "alice\nbob\n"
        async with http.get("/api/get-nounce.php") as r:
            nounce = (await r.json())["nounce"]
        digest = hashlib.sha256(f"alice-secret:{nounce}".encode()).hexdigest()
        params = {"nounce": nounce, "login": "alice", "hash": digest}
        async with http.get("/api/test-connexion.php", params=params) as r:
            assert (r.status, await r.read()) == (200, b"OK")
        async with http.get("/api/test-connexion.php", params=params) as r:  # reusable
            assert (r.status, await r.read()) == (200, b"OK")
        async with http.get("/api/test-connexion.php", params={**params, "hash": "0" * 64}) as r:
            assert r.status == 200 and latin1(await r.read()).startswith("KO\n\xc9chec")


async def test_import_of_a_ready_archive_needs_rgs_and_answers_count_and_ids(s2low):
    built = corpus.build()
    name, content = corpus._pack(built)

    def form():
        data = aiohttp.FormData()
        data.add_field("api", "1")
        data.add_field("enveloppe", content, filename=name, content_type="application/gzip")
        return data

    star = s2low.served.enrol(SIREN, "Agent une étoile", level=RgsLevel.ONE)
    async with s2low.session(star).post(f"{ACTES}/actes_transac_import.php", data=form()) as r:
        assert r.status == 200
        assert latin1(await r.read()).startswith(
            "KO\nLa t\xe9l\xe9transmission n\xe9cessite un certificat RGS&lt;br/&gt;Erreur : ")
    async with s2low.session().post(f"{ACTES}/actes_transac_import.php", data=form()) as r:
        body = latin1(await r.read())
    assert r.status == 200 and body.startswith("OK\n1\n")
    assert (await s2low.status(int(body.split("\n")[2])))[1] == "4"


async def test_unknown_certificate_gets_a_ko_body_not_json(s2low):
    pki = s2low.served.simulator.pki
    unbound = pki.issue_agent(AgentSubject("Mairie", SIREN, "Inconnu"),
                              now=s2low.served.simulator.clock.now())
    status, body, _ = await get(s2low, f"{ACTES}/actes_transac_get_status.php", unbound,
                                transaction="1")
    assert status == 200 and latin1(body).startswith(
        "KO\n\xc9chec de l&#039;authentification : Certificat valide mais associ\xe9 \xe0 aucun compte.")


# -- another SIREN's agent ----------------------------------------------------------------------


async def test_another_sirens_agent_is_refused_on_every_route_naming_a_transaction(s2low):
    s2low.served.simulator.store.add_collectivite(Collectivite(OTHER_SIREN, "034", "1", "31", "Autre"))
    stranger = s2low.served.enrol(OTHER_SIREN, "Agent d'ailleurs")
    acte = await s2low.created()
    letter = (await s2low.served.simulator.prefecture.send_letter(acte, "2-1")).transaction.id
    waiting = await s2low.created(create_form(number="ATTENTE", en_attente="1"))
    gets = [("actes_transac_get_status.php", {"transaction": acte}),
            ("actes_transac_get_status.php", {"unique_id": ID_ACTE}),
            ("actes_transac_get_files_list.php", {"transaction": acte}),
            ("actes_download_file.php", {"file": acte * 1000 + 1}),
            ("actes_download_file.php", {"file": acte * 1000 + 1, "tampon": "true"}),
            ("actes_download_file.php", {"env": acte}),
            ("actes_transac_get_tampon.php", {"transaction": acte}),
            ("actes_create_pdf.php", {"trans_id": acte}),
            ("actes_transac_get_document.php", {"id": acte}),
            ("actes_transac_get_document.php", {"unique_id": ID_ACTE}),
            ("actes_transac_post_confirm_api.php", {"id": waiting,
                                                    "url_return": "https://x.test/?e=%%ERROR%%"})]
    async with s2low.session(stranger) as http:
        for path, params in gets:
            async with http.get(f"{ACTES}/{path}", params={k: str(v) for k, v in params.items()},
                                allow_redirects=False) as r:
                body = latin1(await r.read())
                if path.startswith("actes_transac_post_confirm"):
                    assert r.status == 302 and r.headers["Location"].startswith("https://x.test/?e=1"), path
                elif path.startswith("actes_download_file"):
                    assert (r.status, r.headers["Location"], body) == (
                        302, "/modules/actes/index.php", "Acc\xe8s refus\xe9"), path
                else:
                    assert (r.status, body.split("\n")[:2]) == (200, ["KO", "Acc\xe8s refus\xe9"]), path
        for path, data in (("actes_transac_cancel.php", {"api": "1", "id": str(acte)}),):
            async with http.post(f"{ACTES}/{path}", data=data) as r:
                assert (r.status, (await r.read()).split(b"\n")[0]) == (200, b"KO"), path
        form = aiohttp.FormData()
        for name, value in (("id", str(letter)), ("api", "1"), ("type_acte", "99_DE")):
            form.add_field(name, value)
        form.add_field("acte_pdf_file", corpus.minimal_pdf("x"), filename="x.pdf")
        async with http.post(f"{ACTES}/actes_transac_reponse_create.php", data=form) as r:
            assert (r.status, (await r.read()).split(b"\n")[0]) == (200, b"KO")
        async with http.get(f"{ACTES}/api/list_document_prefecture.php") as r:
            assert await r.json() == []
        # S²LOW's UPDATE is filtered on the caller's authority: "ok", and nothing changes
        async with http.get(f"{ACTES}/api/document_prefecture_mark_as_read.php",
                            params={"transaction_id": str(letter)}) as r:
            assert await r.json() == {"result": "ok"}
        async with http.get(f"{ACTES}/api/number_actes.php", params={"status_id": "4"}) as r:
            assert (await r.json())["nb_transactions"] == 0
    assert s2low.served.simulator.store.get(waiting).status == 17
    async with s2low.session().get(f"{ACTES}/api/list_document_prefecture.php") as r:
        assert [d["id"] for d in await r.json()] == [letter]  # still unread
    assert s2low.served.simulator.store.get(acte).status == 4


def test_nonces_never_used_are_forgotten_when_expired_or_over_the_cap():
    from operator_sim.web.s2low import replies

    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    nonces: dict = {}
    for i in range(replies.MAX_OPEN_NONCES + 5):
        replies.remember_nonce(nonces, f"n{i}", replies.Nonce("alice", "h", start + dt.timedelta(minutes=10)),
                               start)
    assert len(nonces) == replies.MAX_OPEN_NONCES and "n0" not in nonces and f"n{i}" in nonces
    later = start + dt.timedelta(minutes=11)
    replies.remember_nonce(nonces, "fresh", replies.Nonce("alice", "h", later + dt.timedelta(minutes=10)),
                           later)
    assert list(nonces) == ["fresh"]
