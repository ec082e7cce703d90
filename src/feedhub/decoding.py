"""Decode an XML document whose declared encoding may be missing, wrong or mixed.

Authority follows RFC 7303 section 3: a BOM, then the HTTP charset parameter, then the
XML declaration, then UTF-8. Two common lies are caught instead of believed: a body
that is valid UTF-8 is UTF-8 whatever legacy label it carries (server defaults such as
"text/xml; charset=ISO-8859-1"), and bytes that are not UTF-8 inside a UTF-8 document
are read as windows-1252 one by one (mixed encodings), where feedparser would re-read
the whole document as windows-1252. Labels are read the WHATWG way: ISO-8859-1 and
US-ASCII mean windows-1252, GB2312 means GB18030.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["decode_xml", "plain_utf8"]

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# XML 1.0 appendix F: a document without a BOM starts with "<?xml" in its encoding.
_SNIFFED = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x4c\x6f\xa7\x94", "cp037"),
)
# Prefixes that make decode_xml read anything but UTF-8: the other BOMs, sniffed encodings.
_OTHER_PREFIXES = tuple(bom for bom, _ in _BOMS if bom != codecs.BOM_UTF8) + tuple(
    prefix for prefix, _ in _SNIFFED
)
_UNICODE_ENCODINGS = frozenset({"utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"})
# WHATWG Encoding: these labels all mean windows-1252; GB2312 is read as its superset.
_ENCODING_ALIASES = {"iso8859-1": "cp1252", "ascii": "cp1252", "latin-1": "cp1252"}
_ENCODING_ALIASES["gb2312"] = "gb18030"
_DECLARED_ENCODING = re.compile(
    r"""\A\s*<\?xml\s[^>]{0,200}?\bencoding\s*=\s*["']([A-Za-z][\w.:-]{0,39})["']"""
)


def _read_byte_as_latin1(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    return error.object[error.start : error.end].decode("latin-1"), error.end


def _read_byte_as_cp1252(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    bad = error.object[error.start : error.end]
    return bad.decode("cp1252", "feedhub-latin1"), error.end


# WHATWG maps the five bytes windows-1252 leaves unassigned to U+0081 etc.
codecs.register_error("feedhub-latin1", _read_byte_as_latin1)
codecs.register_error("feedhub-cp1252", _read_byte_as_cp1252)


def decode_xml(body: bytes, charset: str | None, repairs: list[str]) -> str:
    """`body` as text. `charset` is the HTTP charset parameter; what was wrong with the
    declared encoding is appended to `repairs`."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            text = _decoded(body[len(bom) :], encoding)
            if text is None:  # a BOM wins (RFC 7303 3.3) even over broken content
                repairs.append(f"bytes that are not {encoding} were replaced")
                text = body[len(bom) :].decode(encoding, "replace")
            return text
    sniffed = next((name for prefix, name in _SNIFFED if body.startswith(prefix)), None)
    declared_label = _declared_label(body, sniffed)
    named: dict[str, str] = {}  # encoding -> the label that named it, in authority order
    for label in (charset, declared_label):
        known = _encoding(label) if label else None
        if label and known is None:
            repairs.append(f"unknown encoding {label[:40]!r} ignored")
        elif label and known:
            named.setdefault(known, label)
    candidates = list(dict.fromkeys([*named, sniffed or "utf-8", "utf-8"]))
    first = candidates[0]
    said = named.get(first, first)
    # Text in a legacy encoding is almost never valid UTF-8 once it has non-ASCII bytes,
    # so valid UTF-8 under a legacy label is a server default or a stale declaration.
    if first not in _UNICODE_ENCODINGS and not body.isascii():
        as_utf8 = _decoded(body, "utf-8")
        if as_utf8 is not None:
            repairs.append(f"declared as {said} but is UTF-8; read as UTF-8")
            return as_utf8
    for candidate in candidates:
        text = _decoded(body, candidate)
        if text is not None:
            if candidate != first and named:
                repairs.append(f"declared as {said} but is not; read as {candidate}")
            return text
    repairs.append("bytes that are not UTF-8 were read as windows-1252 (mixed encodings)")
    return body.decode("utf-8", "feedhub-cp1252")


def plain_utf8(body: bytes, charset: str | None) -> tuple[str, int] | None:
    """(decode_xml's text, where it starts in `body`) when decode_xml would read the
    body (after a UTF-8 BOM) as UTF-8 with nothing to report; None when it might not.

    For xmlprep's clean path: the text is then body[start:] decoded, byte for byte.
    """
    start = len(codecs.BOM_UTF8) if body.startswith(codecs.BOM_UTF8) else 0
    if not start:
        if body.startswith(_OTHER_PREFIXES):
            return None
        first = None
        for label in (charset, _declared_label(body, None)):
            known = _encoding(label) if label else None
            if label and known is None:
                return None  # reported as unknown
            first = first or known
        # windows-1252 (what ISO-8859-1 and US-ASCII labels mean) reads ASCII as UTF-8 does
        if first not in (None, "utf-8") and not (first == "cp1252" and body.isascii()):
            return None
    try:
        text = body[start:].decode("utf-8") if start else body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return (text, start) if text[:64].count("\x00") < 8 else None


def _declared_label(body: bytes, sniffed: str | None) -> str | None:
    head = body[:1024]
    try:
        prefix = head.decode(sniffed, "ignore") if sniffed else head.decode("latin-1")
    except LookupError:
        return None
    match = _DECLARED_ENCODING.match(prefix)
    return match.group(1) if match else None


def _encoding(label: str) -> str | None:
    try:
        name = codecs.lookup(label.strip()).name
    except LookupError:
        return None
    name = _ENCODING_ALIASES.get(name, name)
    # "utf-16" without a BOM is sniffed or wrong; the byte order comes from the sniffing
    return {"utf-16": "utf-16-le", "utf-32": "utf-32-le"}.get(name, name)


def _decoded(body: bytes, encoding: str) -> str | None:
    try:
        if encoding == "cp1252":
            text = body.decode("cp1252", "feedhub-latin1")
        else:
            text = body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None
    # A wrong guess at a 16-bit encoding "succeeds" and yields CJK noise that no longer
    # starts with markup; an 8-bit reading of UTF-16 has a NUL every other character.
    if encoding.startswith(("utf-16", "utf-32")):
        return text if text.lstrip("\ufeff \t\r\n").startswith("<") else None
    return text if text[:64].count("\x00") < 8 else None
