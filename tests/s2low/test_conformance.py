"""S²LOW's answers route by route, as its PHP scripts give them (issue 13, items 3 to 10).

Requests are sent as the clients send them: Pastell's `ensureLogin` POSTs or GETs
api-list-login with the certificate alone, MegActe reuses one nonce for every call, curl's
`-F` for multipart; each answer is checked with its HTTP status, since S²LOW never sets one.
"""

from __future__ import annotations

import hashlib
import json

import aiohttp

from operator_sim.pki.enrol import bind_record
from operator_sim.pki.identity import Account, hash_password
from operator_sim.pki.profiles import AgentSubject, RgsLevel
from operator_sim.testing import corpus

from .conftest import ACTES, SIREN, create_form, latin1


def _shared(s2low):
    simulator = s2low.served.simulator
    record = simulator.pki.issue_agent(AgentSubject("Mairie", SIREN, "Certificat partagé"),
                                       now=simulator.clock.now(), level=RgsLevel.TWO)
    simulator.identities.bind(bind_record(record, SIREN, *(
        Account(name=login.title(), sirens=frozenset({SIREN}), login=login,
                password_hash=hash_password(f"{login}-secret")) for login in ("alice", "bob"))),
        at=simulator.clock.now())
    return record


async def test_api_list_login_answers_any_method_from_the_certificate_alone(s2low):
    """Pastell's ensureLogin (no login configured) and its letter actions POST or GET it with
    the shared certificate and no credentials: S²LOW lists the logins either way."""
    shared = _shared(s2low)
    async with s2low.session(shared) as http:
        for method in ("GET", "POST", "PUT"):
            async with http.request(method, "/admin/users/api-list-login.php") as r:
                assert (r.status, await r.read()) == (200, b"alice\nbob\n"), method
        # the certificate alone opens nothing else
        async with http.get("/api/test-connexion.php") as r:
            assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Basic")


async def test_one_nonce_serves_every_call_for_five_minutes_as_megacte_uses_it(s2low):
    shared = _shared(s2low)
    basic = {"Authorization": aiohttp.encode_basic_auth("bob", "bob-secret")}
    async with s2low.session(shared, headers=basic) as http, \
            http.get("/api/get-nounce.php") as r:
        nounce = (await r.json())["nounce"]
    params = {"nounce": nounce, "login": "bob",
              "hash": hashlib.sha256(f"bob-secret:{nounce}".encode()).hexdigest()}
    async with s2low.session(shared, headers=basic) as http:
        for _ in range(3):
            async with http.get(f"{ACTES}/api/number_actes.php", params={**params,
                                                                         "status_id": "4"}) as r:
                assert r.status == 200 and (await r.json())["nb_transactions"] == 0


async def test_test_rgs_and_info_connexion(s2low):
    star = s2low.served.enrol(SIREN, "Agent une étoile", level=RgsLevel.ONE)
    async with s2low.session().get("/api/test-rgs.php") as r:
        assert (r.status, await r.read()) == (200, b"OK")
    async with s2low.session(star).get("/api/test-rgs.php") as r:
        assert (r.status, await r.read()) == (200, b"KO")
    async with s2low.session().get("/api/info-connexion.php") as r:
        info = json.loads(await r.read())
    assert info["user_info"]["name"] == "Alice Martin"
    assert info["authority_info"]["id"] == int(SIREN)
    assert info["authority_info"]["name"] == "Commune de Saint-Exemple"


async def test_get_aracte_serves_the_ar_or_redirects(s2low):
    transaction_id = await s2low.created()
    waiting = await s2low.created(create_form(number="ATTENTE", en_attente="1"))
    url = f"{ACTES}/actes_transac_get_ARActe.php"
    async with s2low.session().get(url, params={"id": str(transaction_id)}) as r:
        body = await r.read()
        assert r.status == 200 and r.headers["Content-Type"] == "application/xml"
    assert b"<actes:ARActe" in body and body == (await s2low.status(transaction_id))[2].encode(
        "iso-8859-1")
    for params, location in (({"id": str(waiting)}, "index.php"),
                             ({"id": "999999"}, "/modules/actes/index.php")):
        async with s2low.session().get(url, params=params, allow_redirects=False) as r:
            assert (r.status, r.headers["Location"]) == (302, location), params


async def test_list_actes_filters_by_type_acte_and_dates(s2low):
    first = await s2low.created(create_form(number="UN"))
    url = f"{ACTES}/api/list_actes.php"
    async with s2low.session() as http:
        for params, ids in (({"type_acte": "99_DE"}, [first]), ({"type_acte": "99_AI"}, []),
                            ({"min_date": "2999-01-01"}, []), ({"max_date": "2000-01-01"}, []),
                            ({"min_date": "2000-01-01", "max_date": "2999-01-01"}, [first])):
            async with http.get(url, params={"status_id": "4", **params}) as r:
                listed = await r.json()
            assert [t["id"] for t in listed["transactions"]] == ids, params
            assert listed["authority_id"] == int(SIREN)
        async with http.get(url, params={"status_id": "4", "type_acte": "DE"}) as r:
            assert (await r.json())["error"].startswith("Code invalide : valeur parmi 99_DE")


async def test_reponse_create_requires_a_typology_per_annex(s2low):
    prefecture = s2low.served.simulator.prefecture
    acte = await s2low.created()
    letter = (await prefecture.send_letter(acte, "3-1")).transaction.id
    form = aiohttp.FormData()
    for name, value in (("id", str(letter)), ("api", "1"), ("type_envoie", "4"),
                        ("type_acte", "99_DE")):
        form.add_field(name, value)
    form.add_field("acte_pdf_file", b"%PDF-1.4\n%%EOF\n", filename="lettre.pdf")
    form.add_field("acte_attachments[]", b"%PDF-1.4\n%%EOF\n", filename="piece.pdf")
    async with s2low.session().post(f"{ACTES}/actes_transac_reponse_create.php",
                                    data=form) as r:
        assert (r.status, latin1(await r.read())) == (
            200, "KO\nErreur lors de la r\xe9ception du fichier annexe piece.pdf : "
                 "typologie absente\n")
    assert [t.id for t in s2low.served.simulator.store.list().items if t.related_transaction_id
            == letter] == []


async def test_reponse_create_names_each_file_with_its_typology(s2low):
    """S²LOW's `getStdFileName($env, true, $type)`: the answer's files are `<typology>-…`."""
    prefecture = s2low.served.simulator.prefecture
    acte = await s2low.created()
    letter = (await prefecture.send_letter(acte, "3-1")).transaction.id
    form = aiohttp.FormData()
    for name, value in (("id", str(letter)), ("api", "1"), ("type_envoie", "4"),
                        ("type_acte", "99_AU"), ("type_pj[]", "99_DE"), ("type_pj[]", "99_AI")):
        form.add_field(name, value)
    form.add_field("acte_pdf_file", corpus.minimal_pdf("Reponse"), filename="lettre.pdf")
    for piece in ("a.pdf", "b.pdf"):
        form.add_field("acte_attachments[]", corpus.minimal_pdf("Reponse"), filename=piece)
    async with s2low.session().post(f"{ACTES}/actes_transac_reponse_create.php",
                                    data=form) as r:
        body = latin1(await r.read())
    assert r.status == 200 and body.startswith("OK\n"), body
    answer = int(body.split("\n")[1])
    names = [d.file_name for d in s2low.served.simulator.store.documents(answer)]
    assert [n.split("-", 1)[0] for n in names] == ["99_AU", "99_DE", "99_AI"]
    assert all(n.endswith(f"-3-4_{i}.pdf") for i, n in enumerate(names, 1))
    form = aiohttp.FormData()
    for name, value in (("id", str(letter)), ("api", "1"), ("type_envoie", "4"),
                        ("type_acte", "99_AUTRE")):
        form.add_field(name, value)
    form.add_field("acte_pdf_file", corpus.minimal_pdf("Reponse"), filename="lettre.pdf")
    async with s2low.session().post(f"{ACTES}/actes_transac_reponse_create.php",
                                    data=form) as r:
        assert latin1(await r.read()) == ("KO\nErreur de validation du fichier de l&#039;acte :"
                                          "\nLe code de la PJ doit faire 5 caract\xe8res\n\n")
