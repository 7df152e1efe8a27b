"""A simulator served on ephemeral loopback ports (real TLS, real SQLite) for web tests."""

from __future__ import annotations

import pytest

from .simkit import serve


@pytest.fixture(scope="module")
def shared_pki_dir(tmp_path_factory):
    """One PKI per test module: creating it is the slow part, and tests do not alter the CAs."""
    return tmp_path_factory.mktemp("pki") / "certs"


@pytest.fixture
async def served(tmp_path, shared_pki_dir):
    """A running simulator with a fresh database; `.enrol(siren)` issues agents."""
    async with serve(tmp_path / "data", shared_pki_dir) as served:
        yield served
