"""Lutèce's S2lowService (2009, commons-httpclient) against the simulator, bytes as it sends them.

Lutèce treats any status but 200 as "Echec … statut = <n>" and then reads the body split on
"\\n": `KO` on the first line is S²LOW's refusal, the rest its message. It sends no typology
(`type_acte` came to S²LOW later), so today's S²LOW refuses its acts, with that KO and HTTP 200.
"""

from __future__ import annotations

from .conftest import ACTES, PDF, latin1

BOUNDARY = "xbT1x7F4JgDcMmrHcqTvbYSjSW1ZaJRo-g"


def commons_httpclient_multipart(fields: list[tuple[str, str]],
                                 files: list[tuple[str, str, bytes]]) -> bytes:
    """`MultipartRequestEntity` of StringParts (US-ASCII, 8bit) then FileParts (binary)."""
    body = b""
    for name, value in fields:
        body += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n"
                 "Content-Type: text/plain; charset=US-ASCII\r\n"
                 "Content-Transfer-Encoding: 8bit\r\n\r\n").encode("ascii")
        body += value.encode("iso-8859-1") + b"\r\n"
    for name, filename, content in files:
        body += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                 f"filename=\"{filename}\"\r\n"
                 "Content-Type: application/octet-stream; charset=ISO-8859-1\r\n"
                 "Content-Transfer-Encoding: binary\r\n\r\n").encode("iso-8859-1")
        body += content + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode("ascii")


def lutece_reading(status: int, body: str) -> str:
    """What S2lowService.sendActe / getInfos make of an answer."""
    if status != 200:
        return f"Echec de la récupération de la connexion à la plate-forme : statut = {status}"
    lines = body.split("\n")
    if len(lines) == 1 or lines[0] == "KO":
        return "Erreur retournée par la plate-forme s2low : " + "".join(lines[1:])
    return f"id {lines[1]}"


async def test_lutece_reads_s2low_refusals_with_their_text(s2low):
    fields = [("api", "1"), ("nature_code", "1"), ("classif1", "5"), ("classif2", "2"),
              ("number", "DELIB2024_012"), ("decision_date", "2024-03-12"),
              ("subject", "Règlement intérieur")]
    body = commons_httpclient_multipart(fields, [("acte_pdf_file", "deliberation.pdf", PDF)])
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
               "User-Agent": "Jakarta Commons-HttpClient/3.1"}
    async with s2low.session().post(f"{ACTES}/actes_transac_create.php", data=body,
                                    headers=headers) as r:
        reading = lutece_reading(r.status, latin1(await r.read()))
    assert reading == ("Erreur retournée par la plate-forme s2low : Erreur lors de la "
                       "réception du fichier deliberation.pdf : typologie absente")
    assert s2low.served.simulator.store.list().total == 0
    async with s2low.session().get(f"{ACTES}/actes_transac_get_status.php",
                                   params={"transaction": "42"}) as r:
        reading = lutece_reading(r.status, latin1(await r.read()))
    assert reading == ("Erreur retournée par la plate-forme s2low : Numéro de transaction "
                       "invalide.")
