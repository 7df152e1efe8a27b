"""The web tests' served simulator (real TLS, real SQLite on loopback), for the pilotage API and page."""

from __future__ import annotations

from tests.web.conftest import served, shared_pki_dir

__all__ = ["served", "shared_pki_dir"]
