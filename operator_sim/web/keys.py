"""Every `AppKey` and `RequestKey` the web modules share, typed with what they hold.

The lowest web module: it imports the parts it names (the simulator, the engine, the PKI's
identities…) and no other web module, so any route module can read any key without an import
cycle. A key whose value is a web module's own class stays beside that class
(`journal.JOURNAL`, `auth.TRUSTED_INTERMEDIARIES`, `s2low.replies.NONCES` and `CONNEXION`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import jinja2
from aiohttp import web
from cryptography import x509

from ..engine.callbacks import Callbacks
from ..engine.intake import Engine
from ..engine.prefecture import Prefecture
from ..engine.scenarios import Decision
from ..pki.identity import Identity, IdentityDirectory
from ..pki.trust import TrustPolicy, TrustStore, Verdict
from ..simulator import Simulator
from ..timestamp import TimeStampAuthority

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# -- the API port ------------------------------------------------------------------------------

ENGINE = web.AppKey("engine", Engine)
PREFECTURE = web.AppKey("prefecture", Prefecture)
"""The préfecture the courrier routes of /api/v1 answer with."""
S2LOW_PREFECTURE = web.AppKey("s2low_prefecture", Prefecture)
"""The préfecture the S²LOW door's courrier routes answer with."""
CALLBACKS = web.AppKey("callbacks", Callbacks)
SCENARIO = web.RequestKey("scenario_decision", Decision)
"""The scenario decision a submission drew: its faults are shown by `scenarios.show_faults`."""
DROPPED = web.RequestKey("connection_dropped", bool)
"""The connection was dropped unanswered, as a scenario asked (for the request journal)."""

# -- client-certificate authentication ----------------------------------------------------------

TRUST_SOURCE: web.AppKey[Callable[[], TrustStore]] = web.AppKey("pki_trust_source")
TRUST_POLICY = web.AppKey("pki_trust_policy", TrustPolicy)
IDENTITY_DIRECTORY = web.AppKey("pki_identity_directory", IdentityDirectory)
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
IDENTITY = web.RequestKey("identity", Identity)
VERDICT = web.RequestKey("certificate_verdict", Verdict)
PEER_CERTIFICATE = web.RequestKey("peer_certificate",
                                  tuple[x509.Certificate | None, str | None])
"""The client's leaf and its fingerprint, read once per request (`auth.peer_certificate`)."""

# -- reading bodies -----------------------------------------------------------------------------

UPLOAD_DIR = web.AppKey("upload_dir", Path)
MAX_ARCHIVE_BYTES = web.AppKey("max_archive_bytes", int)
READ_TIMEOUT = web.AppKey("read_timeout", float)
INTEGRITY_FAULT = web.RequestKey("integrity_fault", tuple[str, str])
"""An altered or missing blob met while answering: (code, note), for the request journal."""

# -- the admin port -----------------------------------------------------------------------------

SIMULATOR = web.AppKey("simulator", Simulator)
ADMIN_TOKEN = web.AppKey("admin_token", str)
TSA_KEY = web.AppKey("tsa", TimeStampAuthority)
CREDENTIAL = web.RequestKey("admin_credential", str)
"""How the token came: "bearer", "query" or "cookie" (only the cookie can be forged across sites)."""
FORM_ROUTES = web.AppKey("form_routes", frozenset[Handler])
"""Set by the dashboard: the handlers of its HTML forms, which check the form token themselves
(and answer a French page) instead of requiring a JSON body."""
TOKEN_PAGE: web.AppKey[Callable[[web.Request], web.Response | None]] = web.AppKey("token_page")
"""Set by the dashboard: its page explaining the token to a browser refused here, or None
when the request is not a browser's for one of its pages (then the JSON 401 answers)."""
TEMPLATES = web.AppKey("dashboard_templates", jinja2.Environment)
