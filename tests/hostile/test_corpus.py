"""Every class of the hostile corpus against a served simulator (real mutual TLS, real SQLite).

Each case asserts the precise refusal (HTTP status + JSON code) or AnomalieActe (1-3 Nature and
finding code), never a 500 nor a traceback in the answer, and that a refused input leaves every
table row and every file of the data folder exactly as it was; an input answered by 1-3 adds
exactly one transaction, its messages, journal and documents, and the blobs they name.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import re
import time
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import aiohttp
import pytest

from operator_sim.protocol.archive import read_archive
from operator_sim.protocol.messages import AnomalieActe, AnomalieEnveloppe, parse_message

from .conftest import Snapshot, Target
from .corpus import (
    CASES,
    S2LOW,
    Anomalie,
    Call,
    Dropped,
    EnveloppeRefusee,
    HostileCase,
    ParserRefused,
    Refused,
    Request,
    S2lowKO,
    Trickle,
    Upload,
)

INTERNALS = re.compile(r"Traceback|File \"|\.py\b|\b[A-Z]\w*(?:Error|Exception)\b|object at 0x")
LEAKED_FILE = b"root:x:0:0"
# Tables whose rows carry running values (counters, AUTOINCREMENT high-water marks, the
# transaction counts the list totals are summed from).
COUNTER_TABLES = {"counters", "sqlite_sequence", "transaction_counts", "transaction_totals",
                  "pilotage_actes", "pilotage_delais"}
JOURNAL = "requests"
MACHINERY = "simulator_state"


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: the server closed the connection without answering
    content_type: str
    body: bytes
    elapsed: float

    def json(self) -> dict:
        return json.loads(self.body)


def test_the_corpus_has_at_least_forty_classes() -> None:
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
async def test_hostile_input(case: HostileCase, targets, canary) -> None:
    target = await targets(case.config)
    material = replace(target.material, numero=f"HOSTILE_{CASES.index(case):03d}")
    request = await asyncio.to_thread(case.make, material)
    before = target.snapshot()
    answer = await _send(target, request)
    after = target.snapshot()
    assert answer.status != 500, answer.body[:500]
    text = answer.body.decode("utf-8", "replace")
    assert not INTERNALS.search(text), text[:1000]
    assert LEAKED_FILE not in answer.body
    journal = _journaled(before, after)
    before, after = _without_journal(before), _without_journal(after)
    expect = case.expect
    if isinstance(expect, Anomalie | EnveloppeRefusee):
        transaction_id = await _check_anomalie(target.http, expect, answer, before, after, request)
        assert [(e["status"], e["transaction_id"]) for e in journal] == [(201, transaction_id)]
    else:
        _check_refusal(expect, answer)
        assert after == before, _difference(before, after)
        if isinstance(request, Call) and request.port == "admin":
            assert journal == []  # the journal records the API port only
        elif isinstance(expect, Refused | S2lowKO):
            code = expect.code if isinstance(expect, Refused) else None
            assert [(e["status"], e["error_code"]) for e in journal] == [(expect.status, code)]
        else:  # no HTTP request ever reached the application
            assert journal == []
    assert canary.hits == []


def _journaled(before: Snapshot, after: Snapshot) -> list[dict]:
    """The request-journal entries the request added (the journal records every request)."""
    new = after.rows.get(JOURNAL, frozenset()) - before.rows.get(JOURNAL, frozenset())
    return [dict(row) for row in new]


def _without_journal(state: Snapshot) -> Snapshot:
    """The stored data: without the request journal nor the machinery's own marks (background
    tasks set and move those whatever a request does)."""
    rows = {table: rows for table, rows in state.rows.items() if table != JOURNAL}
    if "sqlite_sequence" in rows:
        rows["sqlite_sequence"] = frozenset(row for row in rows["sqlite_sequence"]
                                            if dict(row)["name"] != JOURNAL)
    rows.pop(MACHINERY, None)
    return Snapshot(rows, state.files)


# -- expectations -------------------------------------------------------------------------------

def _check_refusal(expect: Refused | S2lowKO | Dropped | ParserRefused, answer: Answer) -> None:
    if isinstance(expect, Dropped):
        assert answer.status is None, answer
        assert answer.elapsed < expect.within, answer.elapsed
        return
    assert answer.status == expect.status, answer.body[:500]
    if isinstance(expect, S2lowKO):
        if expect.status == 302:  # S²LOW redirects; the message rides in the body here
            assert answer.content_type == "text/plain" and answer.body, answer
            return
        assert answer.content_type == "text/plain" and answer.body.startswith(b"KO\n"), answer
        return
    if isinstance(expect, ParserRefused):
        assert answer.content_type == "text/plain"
        assert len(answer.body) < 1000
        return
    body = answer.json()
    assert body["code"] == expect.code, body
    assert body["message_fr"] and body["message_en"]


async def _check_anomalie(http: aiohttp.ClientSession, expect: Anomalie | EnveloppeRefusee,
                          answer: Answer, before: Snapshot, after: Snapshot,
                          request: Request) -> int:
    """Check the 1-3 (or AnomalieEnveloppe) answer and what it stored; return the new
    transaction's id."""
    assert answer.status == 201, answer.body[:500]
    body = answer.json()
    envelope = isinstance(expect, EnveloppeRefusee)
    code = "ANO" if envelope else "1-3"
    nature = expect.nature if envelope else expect.nature.value
    assert body["outcome"] == code, body
    assert body["anomalie"]["nature"] == nature, body["anomalie"]
    if envelope:
        assert f" -> {expect.code} : " in body["anomalie"]["detail"], body["anomalie"]
    else:
        assert body["anomalie"]["detail"].startswith(f"{expect.code} :"), body["anomalie"]
    transaction = body["transaction"]
    assert transaction["status"] == -1
    assert "/" not in transaction["archive_name"] and "\\" not in transaction["archive_name"]
    async with http.get(f"/api/v1/transactions/{transaction['id']}/messages/{code}") as r:
        assert r.status == 200
        xml = await r.read()
    anomalie = parse_message(xml)
    assert isinstance(anomalie, AnomalieEnveloppe if envelope else AnomalieActe)
    assert (anomalie.nature if envelope else anomalie.nature.value) == nature
    assert LEAKED_FILE not in xml
    assert isinstance(request, Upload)
    _check_one_transaction_added(before, after, transaction["id"], request.body, code)
    return transaction["id"]


def _check_one_transaction_added(before: Snapshot, after: Snapshot, transaction_id: int,
                                 archive: bytes, answer: str = "1-3") -> None:
    """Exactly one transaction, its rows and its blobs were added; nothing else moved."""
    assert set(after.rows) == set(before.rows)
    added = {t: [dict(row) for row in after.rows[t] - before.rows[t]] for t in after.rows}
    for table, rows in before.rows.items():
        if table not in COUNTER_TABLES:
            assert rows <= after.rows[table], f"{table}: rows changed or removed"
    assert [row["id"] for row in added.pop("transactions")] == [transaction_id]
    messages = added.pop("messages")
    assert sorted(row["code"] for row in messages) == sorted(["1-1", answer])
    journal, documents = added.pop("journal"), added.pop("documents")
    # Small stored files are rows (content-addressed, like the blob files): checked below.
    new_rows = {row["sha256"] for row in added.pop("small_blobs", [])}
    assert journal and documents
    for table, rows in (("messages", messages), ("journal", journal), ("documents", documents)):
        assert {row["transaction_id"] for row in rows} == {transaction_id}, table
    for table, rows in added.items():
        assert table in COUNTER_TABLES or not rows, f"{table} gained {rows}"
    assert before.files <= after.files
    new_files = after.files - before.files
    assert all(f.startswith("blobs/") and "/.tmp/" not in f for f in new_files), new_files
    row = dict(next(r for r in after.rows["transactions"] if dict(r)["id"] == transaction_id))
    referenced = {row["archive_sha256"]} | {document["sha256"] for document in documents}
    for message in messages:
        referenced |= {message[k] for k in ("xml_sha256", "signature_sha256",
                                            "timestamp_token_sha256") if message[k]}
    with read_archive(io.BytesIO(archive)) as members:
        sent = {m.sha256 for m in members} | {hashlib.sha256(archive).hexdigest()}
    stored = {f.rsplit("/", 1)[1] for f in after.files if f.startswith("blobs/")}
    stored |= {dict(row)["sha256"] for row in after.rows.get("small_blobs", ())}
    assert referenced <= stored, referenced - stored
    assert {f.rsplit("/", 1)[1] for f in new_files} | new_rows <= referenced | sent


def _difference(before: Snapshot, after: Snapshot) -> str:
    changed = {t: (len(before.rows.get(t, ())), len(after.rows.get(t, ())))
               for t in set(before.rows) | set(after.rows)
               if before.rows.get(t) != after.rows.get(t)}
    return (f"tables changed (rows before, after): {changed}; files added "
            f"{sorted(after.files - before.files)}, removed {sorted(before.files - after.files)}")


# -- sending ------------------------------------------------------------------------------------

async def _send(target: Target, request: Request) -> Answer:
    if isinstance(request, Trickle):
        return await _trickle(target, request)
    http = target.http
    if isinstance(request, Upload):
        path = S2LOW + "/actes_transac_import.php" if request.via == "s2low" else "/api/v1/archives"
        method, options = "POST", _upload_options(request)
    else:
        assert isinstance(request, Call)
        method, path = request.method, request.path
        options = {"params": request.params, "headers": request.headers, "data": request.body}
        if request.port == "admin":
            http = target.admin
    start = time.monotonic()
    # a redirection is an answer to check (S²LOW's door redirects), not a page to fetch
    async with http.request(method, path, allow_redirects=False, **options) as response:
        body = await response.read()
        return Answer(response.status, response.content_type, body, time.monotonic() - start)


def _upload_options(upload: Upload) -> dict[str, object]:
    if upload.via.startswith("multipart") or upload.via == "s2low":
        form = aiohttp.MultipartWriter("form-data")
        if upload.via in ("multipart", "s2low"):
            part = form.append(io.BytesIO(upload.body), {"Content-Type": upload.content_type})
            part.set_content_disposition("form-data", filename=upload.name or "",
                                         name="enveloppe" if upload.via == "s2low" else "archive")
        else:
            form.append("pas de fichier").set_content_disposition("form-data", name="commentaire")
        return {"data": form}
    headers = {"Content-Type": upload.content_type}
    params = {}
    if upload.name is not None and upload.via == "header":
        headers["X-Archive-Name"] = upload.name
    elif upload.name is not None:
        params["name"] = upload.name
    return {"data": io.BytesIO(upload.body), "headers": headers, "params": params}


async def _trickle(target: Target, trickle: Trickle) -> Answer:
    """Send the head, drip the tail; return the first response, or None if the server hangs up."""
    url = urlsplit(target.served.api_url)
    reader, writer = await asyncio.open_connection(
        url.hostname, url.port, ssl=target.served.agent_ssl_context(target.agent),
        server_hostname="localhost")

    sent = 0

    async def drip() -> None:
        nonlocal sent
        with contextlib.suppress(OSError):
            for byte in trickle.tail:
                await asyncio.sleep(trickle.pause)
                writer.write(bytes([byte]))
                await writer.drain()
                sent += 1

    start = time.monotonic()
    writer.write(trickle.head)
    await writer.drain()
    dripping = asyncio.create_task(drip())
    try:
        async with asyncio.timeout(30):
            status, content_type, body = await _read_response(reader)
    finally:
        dripping.cancel()
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(2):
                await writer.wait_closed()
    assert sent < len(trickle.tail), "the server waited for the whole request"
    return Answer(status, content_type, body, time.monotonic() - start)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int | None, str, bytes]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        assert exc.partial == b"", exc.partial
        return None, "", b""
    except (ConnectionResetError, OSError):
        return None, "", b""
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    headers = {k.lower(): v for k, v in headers.items()}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers.get("content-type", "").split(";")[0], body
