"""What a document really is, judged by its bytes rather than its name.

A `.pdf` that holds a PNG, or a PDF cut short, must be caught here; extensions only say what
the sender claims. The budget document's seal (Scellement) is recomputed here too.
"""

from __future__ import annotations

import hashlib
from typing import BinaryIO

from lxml import etree

_EXTENSIONS = {"pdf": "pdf", "png": "png", "jpg": "jpg", "jpeg": "jpg", "xml": "xml"}
_TAIL = 2048


def format_from_extension(name: str) -> str | None:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return _EXTENSIONS.get(ext)


def sniff_format(head: bytes) -> str | None:
    """The format the first bytes announce: pdf, png, jpg, xml, or None when unknown."""
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<?xml") or stripped.startswith(b"<"):
        return "xml"
    return None


def pdf_structure_problem(stream: BinaryIO, size: int) -> str | None:
    """Why a PDF is structurally broken (no header, no trailer), or None when it looks whole."""
    stream.seek(0)
    head = stream.read(1024)
    pos = head.find(b"%PDF-")
    if pos < 0:
        return "no %PDF- header in the first 1024 bytes"
    version = head[pos + 5:pos + 8]
    if len(version) < 3 or not (version[:1].isdigit() and version[1:2] == b"." and version[2:3].isdigit()):
        return "malformed PDF version in header"
    stream.seek(max(0, size - _TAIL))
    tail = stream.read(_TAIL)
    if b"%%EOF" not in tail:
        return "no %%EOF marker at the end (truncated file?)"
    if b"startxref" not in tail:
        return "no startxref before the end-of-file marker"
    return None


def compute_scellement(document: etree._Element) -> tuple[str, str]:
    """MD5 and SHA-1 of the budget document's canonical form (C14N 1.0) without its Scellement.

    TOTEM seals the document this way; the exact canonicalisation variant is not public, so
    the simulator uses inclusive C14N 1.0 without comments and documents the choice.
    """
    copy = etree.fromstring(etree.tostring(document))
    for seal in copy.findall("{*}Scellement"):
        copy.remove(seal)  # with its tail: the seal and its line go, the rest stays as written
    canonical = etree.tostring(copy, method="c14n", with_comments=False)
    return (hashlib.md5(canonical, usedforsecurity=False).hexdigest(),
            hashlib.sha1(canonical, usedforsecurity=False).hexdigest())
