"""The one XML parser factory: every XML byte that enters the simulator goes through here.

No DTD, no entity expansion, no network, no XInclude, bounded tree size. A document that
declares a DTD is refused outright rather than parsed with the DTD ignored, so billion-laughs
and XXE variants all fail the same, explainable way.
"""

from __future__ import annotations

import threading

from lxml import etree

from .errors import UnsafeXML

MAX_XML_BYTES = 20 * 1024 * 1024


def make_parser() -> etree.XMLParser:
    """A fresh lxml parser with the safe settings (parsers are not thread-safe; make one each)."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        dtd_validation=False,
        load_dtd=False,
        huge_tree=False,
        remove_blank_text=False,
        collect_ids=False,
    )


_local = threading.local()


def _parser() -> etree.XMLParser:
    """This thread's safe parser, built once (an lxml parser may be reused, not shared by threads)."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = make_parser()
    return parser


def parse_xml(data: bytes, *, name: str = "<xml>", max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """Parse untrusted XML bytes into an element, or raise UnsafeXML with a precise reason."""
    if len(data) > max_bytes:
        raise UnsafeXML(
            f"{name}: XML document larger than {max_bytes} bytes",
            f"{name} : document XML de plus de {max_bytes} octets",
            code="XML_TOO_LARGE",
        )
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser=_parser()))
    except etree.XMLSyntaxError as exc:
        if _declares_dtd(data):
            raise _dtd_forbidden(name) from None
        line = exc.lineno if exc.lineno else "?"
        raise UnsafeXML(
            f"{name}: not well-formed XML (line {line}): {exc.msg}",
            f"{name} : XML mal formé (ligne {line}) : {exc.msg}",
            code="XML_MALFORMED",
        ) from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise _dtd_forbidden(name)
    return tree.getroot()


def _declares_dtd(data: bytes) -> bool:
    """A DOCTYPE in the prolog (8- or 16-bit encodings), for documents that fail to parse."""
    head = data[:4096]
    return b"<!DOCTYPE" in head or "<!DOCTYPE".encode("utf-16-le") in head \
        or "<!DOCTYPE".encode("utf-16-be") in head


def _dtd_forbidden(name: str) -> UnsafeXML:
    return UnsafeXML(
        f"{name}: DTDs and entity declarations are not allowed",
        f"{name} : les DTD et déclarations d'entités sont interdites",
        code="XML_DTD_FORBIDDEN",
    )
