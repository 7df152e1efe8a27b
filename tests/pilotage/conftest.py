"""A served simulator (real TLS, real SQLite on loopback) for the pilotage API and page."""

from __future__ import annotations

import pytest

from tests.web.simkit import serve


@pytest.fixture(scope="module")
def shared_pki_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("pki") / "certs"


@pytest.fixture
async def served(tmp_path, shared_pki_dir):
    async with serve(tmp_path / "data", shared_pki_dir) as served:
        yield served
