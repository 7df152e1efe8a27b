"""Async client for the simulator's REST API (/api/v1), over mutual TLS.

What `operator-sim submit/status/cancel`, the pytest plugin and users' own suites talk through.
Every refusal is raised as one `ApiError` carrying the API's stable code and its French and
English messages; successful calls return the API's JSON (or bytes for downloads) unchanged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import ssl
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeGuard, cast

import aiohttp

from .pki.tls import client_ssl_context

StrPath = str | os.PathLike[str]
FileSpec = StrPath | tuple[str, bytes]
"""A file to upload: a path, or (file name, content)."""
DEFAULT_URL = "https://localhost:8443"


class ApiError(Exception):
    """A refusal by the API (4xx/5xx), or a transport failure (`status` 0, code `CONNECTION`)."""

    def __init__(self, status: int, code: str, message_fr: str, message_en: str,
                 body: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message_en}")
        self.status = status
        self.code = code
        self.message_fr = message_fr
        self.message_en = message_en
        self.body: Mapping[str, Any] = body or {}

    @property
    def field(self) -> str | None:
        """The form field the API named as faulty, if any."""
        return self.body.get("field")


def make_ssl_context(*, ca: StrPath, cert: StrPath | None = None, key: StrPath | None = None,
                p12: StrPath | None = None, p12_password: bytes | None = None) -> ssl.SSLContext:
    """A client context trusting `ca`, presenting a PEM cert + key or a PKCS#12 file."""
    if p12 is None:
        return client_ssl_context(cafile=ca, certificate=cert, key=key)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    key_obj, certificate, chain = pkcs12.load_key_and_certificates(Path(p12).read_bytes(),
                                                                   p12_password)
    if key_obj is None or certificate is None:
        raise ValueError(f"{p12}: no certificate and key in this PKCS#12 file")
    pem = key_obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    pem += b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (certificate, *chain))
    # ssl loads client keys from files only: a private folder that lives for one call.
    with tempfile.TemporaryDirectory(prefix="operator-sim-p12-") as folder:
        path = Path(folder) / "client.pem"
        path.touch(mode=0o600)
        path.write_bytes(pem)
        return client_ssl_context(cafile=ca, certificate=path, key=path)


class Client:
    """One agent's connection to the API. Use `async with Client(...) as client:`.

    Give either a ready `ssl_context` or the `ca` file with `cert` + `key` (PEM) or `p12`.
    """

    def __init__(self, base_url: str = DEFAULT_URL, ssl_context: ssl.SSLContext | None = None, *,
                 cert: StrPath | None = None, key: StrPath | None = None,
                 ca: StrPath | None = None, p12: StrPath | None = None,
                 p12_password: bytes | None = None, timeout: float = 120) -> None:
        if ssl_context is None:
            if ca is None:
                raise ValueError("give ssl_context, or ca with cert/key or p12")
            ssl_context = make_ssl_context(ca=ca, cert=cert, key=key, p12=p12,
                                           p12_password=p12_password)
        self.base_url = base_url.rstrip("/")
        self._ssl = ssl_context
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The keep-alive HTTP session (opened on first use, inside the running loop)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                self.base_url, connector=aiohttp.TCPConnector(ssl=self._ssl, limit=32),
                timeout=self._timeout)
        return self._session

    async def _call(self, method: str, path: str, *, raw: bool = False, **options: Any) -> Any:
        try:
            async with self.session.request(method, path, **options) as response:
                if response.status >= 400:
                    raise await _api_error(response)
                return await response.read() if raw else await response.json()
        except aiohttp.ClientError as exc:
            raise ApiError(0, "CONNECTION", f"connexion impossible à {self.base_url} : {exc}",
                           f"cannot reach {self.base_url}: {exc}") from exc

    # -- submissions ------------------------------------------------------------------------

    async def submit_archive(self, path: StrPath, *, name: str | None = None) -> dict[str, Any]:
        """Platform door: send a ready `.tar.gz` envelope (named after its file by default)."""
        path = Path(path)
        with path.open("rb") as stream:
            return await self._call("POST", "/api/v1/archives", params={"name": name or path.name},
                                    data=stream, headers={"Content-Type": "application/gzip"})

    async def submit_acte(self, fields: Mapping[str, str | Iterable[str]],
                          files: Mapping[str, FileSpec | Iterable[FileSpec]]) -> dict[str, Any]:
        """Operator door: the act's fields (`nature`, `matiere`, `objet`…) and files under
        `acte` and `annexes`; the simulator builds and signs the archive."""
        form = aiohttp.FormData()
        for name, value in fields.items():
            for item in [value] if isinstance(value, str) else value:
                form.add_field(name, str(item))
        opened = []
        try:
            for name, spec in files.items():
                for one in _each_file(spec):
                    if isinstance(one, str | os.PathLike):
                        stream = Path(one).open("rb")  # noqa: SIM115 (closed below)
                        opened.append(stream)
                        form.add_field(name, stream, filename=Path(one).name,
                                       content_type="application/octet-stream")
                    elif _inline(one):
                        filename, content = one
                        form.add_field(name, content, filename=filename,
                                       content_type="application/octet-stream")
                    else:
                        raise TypeError(f"{name}: not a file path nor (name, bytes): {one!r}")
            return await self._call("POST", "/api/v1/actes", data=form)
        finally:
            for stream in opened:
                stream.close()

    # -- reading ----------------------------------------------------------------------------

    async def get(self, transaction_id: int) -> dict[str, Any]:
        """The transaction, its history (one entry per status change) and its messages."""
        return await self._call("GET", f"/api/v1/transactions/{int(transaction_id)}")

    async def list(self, *, siren: str | None = None, status: int | None = None,
                   type: int | None = None, date_from: dt.date | None = None,
                   date_to: dt.date | None = None, limit: int = 50,
                   offset: int = 0) -> dict[str, Any]:
        """One page of the transactions this agent may see, newest first."""
        params = {"siren": siren, "status": status, "type": type,
                  "from": date_from and date_from.isoformat(),
                  "to": date_to and date_to.isoformat(), "limit": limit, "offset": offset}
        return await self._call("GET", "/api/v1/transactions",
                                params={k: str(int(v) if isinstance(v, int) else v)
                                        for k, v in params.items() if v is not None})

    async def download(self, transaction_id: int, message: str | int | None = None,
                       kind: str = "xml") -> bytes:
        """The envelope archive (no `message`), or a message by code ("1-2") or id: its XML,
        its detached CMS (`kind="signature"`) or its RFC 3161 token (`kind="timestamp"`)."""
        base = f"/api/v1/transactions/{int(transaction_id)}"
        if message is None:
            return await self._call("GET", f"{base}/archive", raw=True)
        if kind not in ("xml", "signature", "timestamp"):
            raise ValueError(f"kind must be xml, signature or timestamp, not {kind!r}")
        suffix = "" if kind == "xml" else f"/{kind}"
        return await self._call("GET", f"{base}/messages/{message}{suffix}", raw=True)

    # -- requests ---------------------------------------------------------------------------

    async def cancel(self, transaction_id: int) -> dict[str, Any]:
        """Annulation (6-1) of an acknowledged act; answered by ARAnnulation (6-2)."""
        return await self._call("POST", f"/api/v1/transactions/{int(transaction_id)}/annulation")

    async def request_classification(self, siren: str,
                                     held: dt.date | None = None) -> dict[str, Any]:
        """DemandeClassification (7-1): 7-2 with the tree, or 7-3 when `held` is current."""
        body: dict[str, str] = {"siren": siren}
        if held is not None:
            body["date_classification"] = held.isoformat()
        return await self._call("POST", "/api/v1/classification", json=body)

    async def classification(self) -> bytes:
        """The classification in force, as RetourClassification XML."""
        return await self._call("GET", "/api/v1/classification", raw=True)

    async def wait_for_status(self, transaction_id: int, statuses: int | Iterable[int], *,
                              timeout: float = 30, interval: float = 0.2) -> dict[str, Any]:
        """Poll until the transaction reaches one of `statuses`; TimeoutError otherwise."""
        wanted = {int(statuses)} if isinstance(statuses, int) else {int(s) for s in statuses}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            detail = await self.get(transaction_id)
            if detail["transaction"]["status"] in wanted:
                return detail
            if loop.time() >= deadline:
                raise TimeoutError(f"transaction {transaction_id} still at status "
                                   f"{detail['transaction']['status']} after {timeout} s")
            await asyncio.sleep(interval)


def _inline(spec: object) -> TypeGuard[tuple[str, bytes]]:
    """(file name, content) rather than a sequence of files."""
    return isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], bytes | bytearray)


def _each_file(spec: FileSpec | Iterable[FileSpec]) -> list[FileSpec]:
    """One file given alone, or each of a sequence of them."""
    if isinstance(spec, str | os.PathLike) or _inline(spec):
        return [spec]
    return list(cast("Iterable[FileSpec]", spec))  # not one file, so a sequence of them


async def _api_error(response: aiohttp.ClientResponse) -> ApiError:
    try:
        body = await response.json(content_type=None)
    except ValueError:
        body = None
    if not isinstance(body, dict) or "code" not in body:
        text = (await response.text(errors="replace"))[:500] or response.reason or ""
        return ApiError(response.status, f"HTTP_{response.status}", text, text)
    return ApiError(response.status, str(body["code"]), str(body.get("message_fr", "")),
                    str(body.get("message_en", "")), body)


__all__ = ["DEFAULT_URL", "ApiError", "Client", "make_ssl_context"]
