"""The archive the operator door builds (actes_transac_create.php): a small one is stored as a
small-blob row without ever being a file, a large one as a file blob; either downloads the
same through both doors, and an act left at 17 is posted from its stored archive."""

from __future__ import annotations

import io
import tarfile

from bench import _service
from operator_sim.store.small_blobs import SMALL_BLOB

from .conftest import ACTES, create_form


async def _downloads(s2low, transaction_id: int) -> tuple[bytes, bytes]:
    """The archive through the API's download and through the S²LOW door's (`env=`)."""
    http = s2low.session()
    async with http.get(f"/api/v1/transactions/{transaction_id}/archive") as r:
        assert r.status == 200
        api = await r.read()
    async with http.get(f"{ACTES}/actes_download_file.php",
                        params={"env": str(transaction_id)}) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "application/gzip"
        door = await r.read()
    return api, door


def _members(archive: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return tar.getnames()


async def test_a_small_built_archive_is_a_row_and_a_waiting_act_is_posted_from_it(s2low):
    simulator = s2low.served.simulator
    transaction_id = await s2low.created(create_form(en_attente="1", number="MEMOIRE1"))
    assert (await s2low.status(transaction_id))[:2] == ["OK", "17"]
    row = simulator.store.get(transaction_id)
    assert row.archive_sha256 is not None
    archive = simulator.store.blobs.read(row.archive_sha256)
    assert len(archive) <= SMALL_BLOB
    assert not simulator.store.blobs.files.exists(row.archive_sha256)  # a row, never a file
    async with s2low.session().get(f"{ACTES}/actes_transac_post_confirm_api.php",
                                   params={"id": str(transaction_id),
                                           "url_return": "/r?error=%%ERROR%%&m=%%MESSAGE%%"},
                                   allow_redirects=False) as r:
        assert (r.status, r.headers["Location"]) == (302, "/r?error=0&m=")
    assert (await s2low.status(transaction_id))[1] == "4"
    api, door = await _downloads(s2low, transaction_id)
    assert api == door == archive and len(_members(archive)) == 4


async def test_a_large_built_archive_is_a_file_blob(s2low):
    simulator = s2low.served.simulator
    big = _service.big_pdf(2 * SMALL_BLOB)
    form = create_form(number="GRAND1", files=[("acte_pdf_file", "grand.pdf", big)])
    transaction_id = await s2low.created(form)
    assert (await s2low.status(transaction_id))[1] == "4"
    row = simulator.store.get(transaction_id)
    assert row.archive_sha256 is not None
    assert simulator.store.blobs.files.exists(row.archive_sha256)
    api, door = await _downloads(s2low, transaction_id)
    assert api == door and len(api) > SMALL_BLOB
    with tarfile.open(fileobj=io.BytesIO(api)) as tar:
        pdfs = [tar.extractfile(m).read() for m in tar.getmembers() if m.name.endswith(".pdf")]
    assert big in pdfs
