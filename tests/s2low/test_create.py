"""actes_transac_create.php through real mutual TLS: S²LOW's fields, `OK`/`KO` bodies, 17."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from operator_sim.config import ConfigError, load_config, parse_intermediaries
from operator_sim.engine.clock import paris_date
from operator_sim.pki.enrol import bind_record
from operator_sim.pki.identity import Account
from operator_sim.pki.profiles import AgentSubject, RgsLevel
from operator_sim.testing import corpus
from tests.web.simkit import serve

from .conftest import (
    ACTES,
    ANNEXE,
    OTHER_SIREN,
    PDF,
    SIREN,
    create_form,
    latin1,
    s2low_client,
)

KO_CASES = {
    "bad number": (create_form(number="delib-12"), 200,
                   "KO\nLe num\xe9ro n&#039;est pas correct\n"),
    "future date": (create_form(decision_date="2999-01-01"), 200,
                    "KO\nLa date de d\xe9cision est une date dans le futur\n"),
    "missing typology of the act": (create_form(drop=("type_acte",)), 200,
                                    "KO\nErreur lors de la r\xe9ception du fichier deliberation.pdf"
                                    " : typologie absente\n"),
    "missing typology of an annex": (create_form(type_pj=[]), 200,
                                     "KO\nErreur lors de la r\xe9ception du fichier annexe "
                                     "reglement.pdf : typologie absente\n"),
    "act of the wrong type": (
        create_form(files=[("acte_pdf_file", "acte.txt", b"du texte, pas un PDF")]), 200,
        "KO\nErreur de validation du fichier de l&#039;acte :\nLe fichier de l&#039;acte &quot; "
        "acte.txt &quot; est de type &quot; text/plain &quot;. Fichier PDF ou XML requis.\n"),
    "annex of the wrong type": (
        create_form(files=[("acte_pdf_file", "deliberation.pdf", PDF),
                           ("acte_attachments[]", "notes.txt", b"quelques notes")]), 200,
        "KO\nErreur de validation d&#039;un fichier de pi\xe8ce jointe :\nLe fichier attach\xe9 "
        "&quot; notes.txt &quot; est de type &quot; text/plain &quot;. Fichier PDF, XML, PNG ou "
        "JPEG requis.\n"),
    "XML act outside budgets": (
        create_form(files=[("acte_pdf_file", "budget.xml", b"<?xml version='1.0'?><a/>")],
                    type_pj=[]), 200,
        "KO\nErreur de validation du fichier de l&#039;acte :\nSeuls les documents budg\xe9taires "
        "et financiers peuvent \xeatre au format XML.\n"),
    "typology code of the wrong length": (create_form(type_acte="99_DELIB"), 200,
                                          "KO\nErreur de validation du fichier de l&#039;acte :\n"
                                          "Le code de la PJ doit faire 5 caract\xe8res\n"),
    "no act file": (create_form(files=[]), 200,
                    "KO\nAucun fichier acte n&#039;a \xe9t\xe9 post\xe9 \n"),
    "one classification level": (create_form(classif2=""), 200,
                                 "KO\nErreur lors de l&#039;enregistrement de la transaction :\n"
                                 "Les deux premiers niveaux de classification sont obligatoires.\n"),
}


@pytest.mark.parametrize("case", sorted(KO_CASES))
async def test_refused_creation_answers_s2low_ko_body_in_latin1_and_stores_nothing(s2low, case):
    form, status, expected = KO_CASES[case]
    async with s2low.session().post(f"{ACTES}/actes_transac_create.php", data=form) as r:
        body = await r.read()
        assert (r.status, r.content_type, r.charset) == (status, "text/plain", "iso-8859-1")
    assert latin1(body) == expected
    assert s2low.served.simulator.store.list().total == 0


async def test_duplicate_number_is_refused_with_s2low_text(s2low):
    first = await s2low.created(create_form(decision_date="2024-03-12"))
    status, body = await s2low.create()
    assert (status, body) == (200, "KO\nUn acte portant le m\xeame num\xe9ro interne existe d\xe9j\xe0 "
                                   "dans la base de donn\xe9es.\nIl faut peut-\xeatre ajouter un "
                                   "suffixe au num\xe9ro.\n")
    assert [r.id for r in s2low.served.simulator.store.list().items] == [first]


async def test_created_act_answers_ok_with_its_id_and_is_acknowledged(s2low):
    status, body = await s2low.create()
    assert status == 200 and body.startswith("OK\n") and body.endswith("\n\n")
    transaction_id = int(body.split("\n")[1])
    head, code, flux = await s2low.status(transaction_id)
    assert (head, code) == ("OK", "4")
    assert 'actes:IDActe="034-491011698-20240312-DELIB2024_012-DE"' in flux
    row = s2low.served.simulator.store.get(transaction_id)
    assert (row.numero_interne, row.matiere, row.objet) == (
        "DELIB2024_012", "5.2", "Approbation du règlement intérieur")


async def test_subject_posted_in_latin1_as_pastell_does_is_read_right(s2low):
    transaction_id = await s2low.created(create_form(encoding="iso-8859-1",
                                                     subject="Désignation des délégués"))
    assert s2low.served.simulator.store.get(transaction_id).objet == "Désignation des délégués"


async def test_too_large_post_is_refused_with_s2low_text(tmp_path, shared_pki_dir):
    async with serve(tmp_path / "data", shared_pki_dir, max_archive_bytes=40_000) as small, \
            s2low_client(small) as s2low:
        big = PDF + b"%" + b"x" * 50_000 + b"\n"
        status, body = await s2low.create(create_form(files=[("acte_pdf_file", "gros.pdf", big)],
                                                      type_pj=[]))
        assert (status, body) == (200, "KO\nLa taille totale des fichiers est trop importante "
                                       "(max : 40000)\n")
        assert small.simulator.store.list().total == 0


# -- 17 "en attente d'être postée" and post-confirm --------------------------------------------


RGS_KO = ("KO\nLa t\xe9l\xe9transmission n\xe9cessite un certificat RGS&lt;br/&gt;Erreur : niveau "
          "RGS du certificat de connexion : * (** requis)\n")


async def test_non_rgs_certificate_is_refused_at_create_and_cannot_post_a_waiting_act(s2low):
    """S²LOW's create checks `RgsConnexion` before any field: a non-RGS TLS certificate gets
    its KO (HTTP 200) and nothing is stored; an act an RGS agent left at 17 (`en_attente`)
    is posted only by an RGS connection."""
    star = s2low.served.enrol(SIREN, "Agent une étoile", level=RgsLevel.ONE)
    assert await s2low.create(agent=star) == (200, RGS_KO)
    assert s2low.served.simulator.store.list().total == 0
    transaction_id = await s2low.created(create_form(en_attente="1"))
    assert (await s2low.status(transaction_id))[:2] == ["OK", "17"]
    url = f"{ACTES}/actes_transac_post_confirm_api.php"
    back = "https://pastell.example/retour?error=%%ERROR%%&message=%%MESSAGE%%"
    params = {"id": str(transaction_id), "url_return": back}
    async with s2low.session(star).get(url, params=params, allow_redirects=False) as r:
        assert r.status == 302
        query = parse_qs(urlsplit(r.headers["Location"]).query)
    assert query["error"] == ["1"] and "certificat RGS<br/>Erreur" in query["message"][0]
    assert (await s2low.status(transaction_id))[1] == "17"
    async with s2low.session().get(url, params=params, allow_redirects=False) as r:
        assert r.status == 302
        assert r.headers["Location"] == "https://pastell.example/retour?error=0&message="
    assert (await s2low.status(transaction_id))[1] == "4"
    history = [e.to_status for e in s2low.served.simulator.store.journal(transaction_id)]
    assert [int(s) for s in history] == [17, 1, 2, 3, 4]
    async with s2low.session().get(url, params=params, allow_redirects=False) as r:
        query = parse_qs(urlsplit(r.headers["Location"]).query)
    assert query["error"] == ["1"] and "En attente d'être posté" in query["message"][0]


async def test_post_confirm_redirects_even_without_url_return(s2low):
    """S²LOW always answers post-confirm with `Location:` (empty when no url_return); the
    message replaces %%MESSAGE%% as is (no URL encoding by S²LOW)."""
    url = f"{ACTES}/actes_transac_post_confirm_api.php"
    async with s2low.session().get(url, params={"id": "999999"}, allow_redirects=False) as r:
        assert (r.status, r.headers["Location"]) == (302, "")
    async with s2low.session().get(url, params={"url_return": "/r?m=%%MESSAGE%%"},
                                   allow_redirects=False) as r:
        location = urlsplit(r.headers["Location"])
    assert location.path == "/r" and parse_qs(location.query) == {
        "m": ["Pas d'identifiant de transaction spécifié"]}


async def test_en_attente_keeps_even_an_rgs_act_at_17_and_multi_posts_a_batch(s2low):
    first = await s2low.created(create_form(en_attente="1", number="A1"))
    second = await s2low.created(create_form(en_attente="1", number="A2"))
    assert [(await s2low.status(t))[1] for t in (first, second)] == ["17", "17"]
    async with s2low.session().get(f"{ACTES}/actes_transac_post_confirm_api_multi.php",
                                   params=[("id[]", str(first)), ("id[]", str(second)),
                                           ("url_return", "https://pastell.example/ok")],
                                   allow_redirects=False) as r:
        assert (r.status, r.headers["Location"]) == (302, "https://pastell.example/ok")
    assert [(await s2low.status(t))[1] for t in (first, second)] == ["4", "4"]


def _forward(pki, agent) -> dict[str, str]:
    der = pki.certificate(agent).public_bytes(Encoding.DER)
    return {"org.s2low.forward-x509-identification": base64.b64encode(der).decode()}


async def test_forwarded_certificate_from_an_undeclared_agent_is_refused(s2low):
    """Issue 17 item 11: an RGS * agent forwarding the public certificate of an RGS ** agent
    (no key needed) gets nothing: no act, no posting of a waiting one."""
    pki = s2low.served.simulator.pki
    star = s2low.served.enrol(SIREN, "Agent une étoile", level=RgsLevel.ONE)
    double = s2low.served.enrol(SIREN, "Agent deux étoiles", level=RgsLevel.TWO)
    waiting = await s2low.created(create_form(en_attente="1", number="ATTENTE"))
    async with s2low.session(star, headers=_forward(pki, double)) as session:
        async with session.post(f"{ACTES}/actes_transac_create.php", data=create_form()) as r:
            body = latin1(await r.read())
            assert r.status == 200
        assert body.startswith("KO\nAcc\xe8s refus\xe9 : La connexion n&#039;a pas pu \xeatre "
                               "\xe9tablie") and "trusted_intermediaries" in body
        async with session.get(f"{ACTES}/actes_transac_post_confirm_api.php",
                               params={"id": str(waiting)}, allow_redirects=False) as r:
            assert r.status == 200 and (await r.read()).startswith(b"KO\n")
    assert [r.id for r in s2low.served.simulator.store.list().items] == [waiting]
    assert (await s2low.status(waiting))[1] == "17"


async def test_trusted_intermediary_selects_the_user_but_never_raises_the_rgs_level(
        tmp_path, shared_pki_dir):
    async with serve(tmp_path / "data", shared_pki_dir,
                     trusted_intermediaries="127.0.0.1") as served, \
            s2low_client(served) as s2low:
        pki = served.simulator.pki
        connector = served.enrol(SIREN, "Connecteur Pastell", level=RgsLevel.ONE)
        user = served.enrol(SIREN, "Élu signataire", level=RgsLevel.TWO)
        async with s2low.session(connector, headers=_forward(pki, user)) as session:
            async with session.get("/api/info-connexion.php") as r:
                assert (await r.json())["user_info"]["name"] == "Élu signataire"
            async with session.get("/api/test-rgs.php") as r:
                assert await r.read() == b"KO"
            async with session.post(f"{ACTES}/actes_transac_create.php",
                                    data=create_form()) as r:
                assert latin1(await r.read()) == RGS_KO
        assert served.simulator.store.list().total == 0
        rgs_connector = served.enrol(SIREN, "Connecteur RGS", level=RgsLevel.TWO)
        async with s2low.session(rgs_connector, headers=_forward(pki, user)).post(
                f"{ACTES}/actes_transac_create.php", data=create_form()) as r:
            transaction_id = int(latin1(await r.read()).split("\n")[1])
        assert (await s2low.status(transaction_id))[1] == "4"
        assert served.simulator.store.journal(transaction_id)[0].actor.startswith("Élu")
        for value, text in ((base64.b64encode(b"pas un certificat").decode(),
                             "certificat transmis illisible"),):
            async with s2low.session(rgs_connector, headers={
                    "org.s2low.forward-x509-identification": value}).post(
                    f"{ACTES}/actes_transac_create.php", data=create_form(number="X2")) as r:
                body = latin1(await r.read())
            assert body.startswith("KO\n\xc9chec de l&#039;authentification") and text in body


async def test_unknown_collectivite_is_refused_with_a_ko(s2low):
    agent = s2low.served.enrol(OTHER_SIREN, "Agent sans collectivité")
    status, body = await s2low.create(agent=agent)
    assert status == 200 and body.startswith("KO\ndepartement requis")


async def test_decision_date_today_is_accepted(s2low):
    today = paris_date(s2low.served.simulator.clock.now())
    transaction_id = await s2low.created(create_form(decision_date=today.isoformat(),
                                                     number="AUJOURDHUI"))
    assert (await s2low.status(transaction_id))[1] in ("4", "-1")


async def test_annex_png_is_accepted(s2low):
    form = create_form(files=[("acte_pdf_file", "deliberation.pdf", PDF),
                              ("acte_attachments[]", "plan.png", corpus.minimal_png()),
                              ("acte_attachments[]", "annexe.pdf", ANNEXE)],
                       type_pj=["99_DE", "99_DE"])
    transaction_id = await s2low.created(form)
    names = [d.file_name for d in s2low.served.simulator.store.documents(transaction_id)]
    assert [n.rsplit(".", 1)[1] for n in names] == ["pdf", "png", "pdf"]


async def test_trusted_intermediary_may_be_declared_by_its_certificate_fingerprint(
        tmp_path, shared_pki_dir):
    """Declared by fingerprint (colons and capitals as `openssl x509 -fingerprint` prints it),
    the intermediary is believed whatever its address; another agent on the same address is
    not."""
    async with serve(tmp_path / "first", shared_pki_dir) as first:
        connector = first.simulator.pki.issue_agent(
            AgentSubject("Mairie", SIREN, "Connecteur Pastell"), now=first.simulator.clock.now(),
            level=RgsLevel.TWO)
    spelled = ":".join(connector.fingerprint[i:i + 2] for i in range(0, 64, 2)).upper()
    async with serve(tmp_path / "data", shared_pki_dir, trusted_intermediaries=spelled) as served, \
            s2low_client(served) as s2low:
        served.simulator.identities.bind(bind_record(connector, SIREN, Account(
            "Connecteur Pastell", frozenset({SIREN}))), at=served.simulator.clock.now())
        pki = served.simulator.pki
        user = served.enrol(SIREN, "Élu signataire", level=RgsLevel.TWO)
        other = served.enrol(SIREN, "Autre agent", level=RgsLevel.TWO)
        async with s2low.session(connector, headers=_forward(pki, user)).get(
                "/api/info-connexion.php") as r:
            assert (await r.json())["user_info"]["name"] == "Élu signataire"
        async with s2low.session(other, headers=_forward(pki, user)).get(
                "/api/info-connexion.php") as r:
            assert (await r.read()).startswith("KO\nAccès refusé".encode("iso-8859-1"))


def test_trusted_intermediaries_setting_is_checked_at_start():
    assert parse_intermediaries("AB:" * 31 + "AB, 127.0.0.1 ::1") == (
        frozenset({"ab" * 32}), frozenset({"127.0.0.1", "::1"}))
    with pytest.raises(ConfigError, match=r"'pastell\.example' is neither"):
        load_config(environ={"OPERATOR_SIM_TRUSTED_INTERMEDIARIES": "pastell.example"})
