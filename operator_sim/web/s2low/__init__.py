"""The S²LOW-compatible API: S²LOW's paths, fields and `OK`/`KO` bodies over the engine.

Software written for S²LOW (Pastell, GED and parapheur connectors) is pointed at the simulator
by changing its URL and certificate. The routes live on the API port beside /api/v1, behind the
same mutual TLS and identity middleware; handlers only translate S²LOW's conventions to engine
calls. Statuses are S²LOW's numbers (-1 … 22), which the engine's lifecycle already uses.
"""

from __future__ import annotations

from aiohttp import web

from ...engine.prefecture import Prefecture
from ..keys import S2LOW_PREFECTURE
from . import actes, courriers, documents, listing
from .replies import NONCES, s2low_refusals, text

ACTES = "/modules/actes"


async def _module_root(request: web.Request) -> web.Response:
    """What older Pastell connectors GET to test the connection: any answer will do."""
    return text("OK")


def add_routes(app: web.Application, prefecture: Prefecture) -> None:
    """Register every S²LOW route on the API application."""
    app[S2LOW_PREFECTURE] = prefecture
    app[NONCES] = {}
    r = app.router
    both = ("GET", "POST")
    routes = [
        (("POST",), f"{ACTES}/actes_transac_create.php", actes.create),
        (("GET",), f"{ACTES}/actes_transac_get_status.php", actes.get_status),
        (("GET",), f"{ACTES}/actes_transac_get_ARActe.php", actes.get_aracte),
        (("POST",), f"{ACTES}/actes_transac_cancel.php", actes.cancel),
        (both, f"{ACTES}/actes_classification_request.php", actes.classification_request),
        (both, f"{ACTES}/actes_classification_fetch.php", actes.classification_fetch),
        (("POST",), f"{ACTES}/actes_transac_reponse_create.php", courriers.reponse_create),
        (("GET",), f"{ACTES}/actes_transac_get_document.php", actes.get_document),
        (("GET",), f"{ACTES}/api/list_document_prefecture.php", courriers.list_document_prefecture),
        (("GET",), f"{ACTES}/api/document_prefecture_mark_as_read.php", courriers.mark_as_read),
        (("GET",), f"{ACTES}/api/actes_status.php", listing.actes_status),
        (("GET",), f"{ACTES}/api/list_actes.php", listing.list_actes),
        (("GET",), f"{ACTES}/api/number_actes.php", listing.number_actes),
        (("POST",), f"{ACTES}/actes_transac_import.php", actes.import_archive),
        (("POST",), f"{ACTES}/actes_transac_submit.php", actes.import_archive),
        (("GET",), f"{ACTES}/actes_transac_post_confirm_api.php", actes.post_confirm),
        (("GET",), f"{ACTES}/actes_transac_post_confirm_api_multi.php", actes.post_confirm_multi),
        (("GET",), f"{ACTES}/actes_transac_get_files_list.php", documents.files_list),
        (("GET",), f"{ACTES}/actes_download_file.php", documents.download_file),
        (("GET",), f"{ACTES}/actes_transac_get_tampon.php", documents.get_tampon),
        (("GET",), f"{ACTES}/actes_create_pdf.php", documents.create_pdf),
        (("GET",), f"{ACTES}/", _module_root),
        (("GET",), "/api/test-connexion.php", listing.test_connexion),
        (("GET",), "/api/get-nounce.php", listing.get_nounce),
        (("GET",), "/api/test-rgs.php", listing.test_rgs),
        (("GET",), "/api/info-connexion.php", listing.info_connexion),
        (("*",), "/admin/users/api-list-login.php", listing.list_login),  # any method, as PHP
    ]
    for methods, path, handler in routes:
        for method in methods:
            r.add_route(method, path, handler)


__all__ = ["add_routes", "s2low_refusals"]
