"""`must_signed` on `actes_transac_create.php`, as S²LOW's code has it.

S²LOW reads `must_signed` before the RGS check and skips that check when it is set; the act is
saved at 18 "En attente d'être signé" (`setEnAttenteDeSignature`) and nothing is sent. Out of
18 there is only S²LOW's web UI (`actes_transac_sign.php`, signatures from its signing page;
`actes_transac_post_without_signature.php`, a button): no API script moves it on, post-confirm
wants 17 and cancel wants 4. Pastell's `S2low::sendActes` never posts `must_signed`; the
requests below are Pastell's captured create (CurlWrapper's body, unquoted names) with a
`must_signed` part written the same way, as a client adding the field would send it.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from operator_sim.pki.profiles import RgsLevel

from .conftest import ACTES, SIREN, latin1
from .test_multipart_clients import ANNEXES, captured

BOUNDARY = b"----------------------------1d17a211dd1a"  # create-2.http's Content-Type


def with_must_signed(body: bytes, value: bytes = b"1") -> bytes:
    """Pastell's captured body with a `must_signed` part, in CurlWrapper's own style."""
    part = (b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=must_signed\r\n\r\n"
            + value + b"\r\n")
    assert body.startswith(b"--" + BOUNDARY + b"\r\n")
    return part + body


async def create_to_sign(s2low, agent=None) -> tuple[int, str]:
    path, headers, body = captured("create-2.http")
    sent = {k: v for k, v in headers.items() if k in ("Content-Type", "Expect")}
    async with s2low.session(agent).post(path, data=with_must_signed(body), headers=sent) as r:
        return r.status, latin1(await r.read())


async def test_must_signed_leaves_the_act_at_18_untransmitted_with_its_annexes(s2low):
    status, answer = await create_to_sign(s2low)
    assert status == 200 and answer.startswith("OK\n"), answer
    transaction_id = int(answer.split("\n")[1])
    assert (await s2low.status(transaction_id))[:2] == ["OK", "18"]

    store = s2low.served.simulator.store
    row = store.get(transaction_id)
    assert row.status.libelle == "En attente d'être signé"
    assert [int(e.to_status) for e in store.journal(transaction_id)] == [18]
    assert row.id_acte is None  # never went to the ministry: no IDActe, no AR
    async with s2low.session().get(f"{ACTES}/api/actes_status.php") as r:
        assert (await r.json(content_type=None))["18"] == "En attente d'être signé"
    async with s2low.session().get(f"{ACTES}/api/list_actes.php",
                                   params={"status_id": "18"}) as r:
        listed = await r.json(content_type=None)
    assert [t["id"] for t in listed["transactions"]] == [transaction_id]

    # Stored whole, waiting: the document and both annexes, byte for byte.
    async with s2low.session().get(f"{ACTES}/actes_transac_get_files_list.php",
                                   params={"transaction": str(transaction_id)}) as r:
        files = await r.json(content_type=None)
    assert len(files) == 4
    for file, expected in zip(files[2:], ANNEXES[:2], strict=True):
        async with s2low.session().get(f"{ACTES}/actes_download_file.php",
                                       params={"file": str(file["id"])}) as r:
            assert await r.read() == expected

    # No API way out: post-confirm wants 17, cancel wants 4; the act stays at 18.
    back = "https://pastell.example/retour?error=%%ERROR%%&message=%%MESSAGE%%"
    async with s2low.session().get(f"{ACTES}/actes_transac_post_confirm_api.php",
                                   params={"id": str(transaction_id), "url_return": back},
                                   allow_redirects=False) as r:
        assert r.status == 302
        query = parse_qs(urlsplit(r.headers["Location"]).query)
    assert query["error"] == ["1"] and "En attente d'être posté" in query["message"][0]
    async with s2low.session().post(f"{ACTES}/actes_transac_cancel.php",
                                    data={"api": "1", "id": str(transaction_id)}) as r:
        refused = latin1(await r.read())
    assert refused == ("KO\nImpossible d&#039;annuler une transaction qui n&#039;est pas en état "
                       "« Acquittement reçu ».\n"), refused  # HTML-escaped, as S²LOW answers
    assert (await s2low.status(transaction_id))[:2] == ["OK", "18"]
    assert [int(e.to_status) for e in store.journal(transaction_id)] == [18]


async def test_must_signed_needs_no_rgs_certificate_as_in_s2low(s2low):
    """S²LOW: `if (! $must_signed && ! $rgsConnexion->isRgsConnexion())` refuses; an act to
    be signed is accepted from a non-RGS certificate (it is not transmitted)."""
    star = s2low.served.enrol(SIREN, "Agent une étoile", level=RgsLevel.ONE)
    path, headers, body = captured("create-2.http")
    sent = {k: v for k, v in headers.items() if k in ("Content-Type", "Expect")}
    async with s2low.session(star).post(path, data=body, headers=sent) as r:
        status, answer = r.status, latin1(await r.read())
    assert status == 200 and answer.startswith("KO\nLa télétransmission nécessite un certificat RGS")
    status, answer = await create_to_sign(s2low, star)
    assert status == 200 and answer.startswith("OK\n"), answer
    assert (await s2low.status(int(answer.split("\n")[1])))[:2] == ["OK", "18"]


async def test_must_signed_zero_is_an_ordinary_create(s2low):
    """`must_signed=0` (MegActe sends it so) is PHP-empty: the act goes on as usual (17 here,
    Pastell's `en_attente=1`)."""
    path, headers, body = captured("create-2.http")
    sent = {k: v for k, v in headers.items() if k in ("Content-Type", "Expect")}
    async with s2low.session().post(path, data=with_must_signed(body, b"0"), headers=sent) as r:
        answer = latin1(await r.read())
    assert answer.startswith("OK\n"), answer
    assert (await s2low.status(int(answer.split("\n")[1])))[:2] == ["OK", "17"]
