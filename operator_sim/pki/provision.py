"""Making a test PKI folder ready: its authorities and services (`PkiStore.initialise`), then
the catalogue of test certificates built with them (`catalogue.build_catalogue`).

The one module that knows both: the folder (`store`) stays below the catalogue built on it.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime

from .catalogue import build_catalogue
from .profiles import EC_P256, RSA_2048, RSA_4096, KeySpec
from .store import InitReport, PkiError, PkiStore


def initialise_pki(store: PkiStore, *, now: datetime, ca_key: KeySpec = RSA_4096,
                   intermediate_key: KeySpec = RSA_2048, service_key: KeySpec = EC_P256,
                   catalogue: bool = True) -> InitReport:
    """Create root, intermediates, service certificates, CRLs and (unless told otherwise) the
    catalogue. Idempotent: an initialised folder is left as it is."""
    report = store.initialise(now=now, ca_key=ca_key, intermediate_key=intermediate_key,
                              service_key=service_key)
    if catalogue and not report.already_initialised:
        manifest = build_catalogue(store, now=now)
        report = dataclasses.replace(report, created=(*report.created, manifest))
    return report


def ensure_pki(directory: str | os.PathLike[str], *, now: datetime,
               ca_key: KeySpec = RSA_4096) -> InitReport:
    """What the service calls on start: initialise the folder if it is missing or empty (its
    root key `ca_key`), and give a folder made before the operator door its operator
    certificate."""
    store = PkiStore(directory)
    if store.directory.exists() and any(store.directory.iterdir()) and not store.initialised:
        raise PkiError(f"{store.directory} is not empty but holds no PKI index")
    report = initialise_pki(store, now=now, ca_key=ca_key)
    if report.already_initialised:
        store.ensure_operator(now=now)
    return report
