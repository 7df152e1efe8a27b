"""The intake's engine (real SQLite, PKI, TSA) for every engine test module."""

from .test_intake import engine, pki  # noqa: F401
