"""Make an untrusted XML document safe, and cheap enough, for feedparser to read.

parse.py hands feedparser what `prepare_xml` returns, never the fetched bytes. Each step
answers a measured problem of feedparser 6.0.14 (CPython 3.11, expat 2.5):

1. Encoding: decoding.decode_xml reads the document (BOM, HTTP charset, XML
   declaration; lying labels and mixed encodings caught) and it is handed on as UTF-8.
2. Characters XML 1.0 forbids (C0 controls, U+FFFE/U+FFFF, as bytes or as character
   references) are removed, so expat reads the document instead of failing on them and
   handing it to feedparser's much weaker loose parser.
3. The DOCTYPE is rebuilt. feedparser re-declares "safe" entities (any text without
   "&") for its loose parser, which expands them without limit: a 200 KB document
   referencing a 50 KB entity 50,000 times ran out of 4 GB. Entities that expand other
   entities (billion laughs), or whose references would produce more than
   MAX_ENTITY_EXPANSION characters, make the document rejected; external entities
   (XXE: SYSTEM "file:///etc/passwd") are re-declared empty, so nothing is ever read;
   the external DTD is never named to the parser at all.
4. Elements with more than MAX_ATTRIBUTES attributes are refused: xml.sax looks each
   attribute up by a linear scan, so 100,000 attributes took 97 s.
5. Text that feeds quadratic code in feedparser is cut before parsing: author-like
   fields (its e-mail regex in _sync_author_detail took 91 s on a 96 KB author),
   comma-separated keywords and long category lists (its tag de-duplication compares
   every pair: 4,000 categories, 1.4 s), and documents past `max_entries` entries
   (feedparser spends about 0.5 ms an entry; 370,000 tiny entries took 208 s).

Every scan here is linear: regular expressions have no nested unbounded quantifiers
(or use possessive ones), and searches for a terminator use str.find once per start.

Most documents need none of this: a few whole-document scans in C (`_clean`) prove that
none of the steps would change a thing, and the document is handed on as it came.
"""

from __future__ import annotations

import bisect
import html
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from feedhub.decoding import decode_xml, plain_utf8
from feedhub.errors import ParseError
from feedhub.xmldoctype import MAX_ENTITY_EXPANSION, PREDEFINED_ENTITIES, Malformed, rebuilt_doctype

__all__ = ["MAX_ATTRIBUTES", "MAX_ELEMENTS", "MAX_ENTITY_EXPANSION", "Prepared", "prepare_xml"]

MAX_ATTRIBUTES = 256  # one element; real feeds use fewer than 20
MAX_AUTHOR_CHARS = 128  # text of <author>, <dc:creator>, <managingEditor>, ...
MAX_KEYWORDS_CHARS = 2048  # <itunes:keywords>, <media:keywords>
MAX_CATEGORY_ELEMENTS = 250  # per entry (normalize keeps 100 distinct ones)
# feedparser spends 45-90 us per element (200,000 unclosed <author> tags: 18 s), so a
# document past this is refused with a clear error instead of running into the worker's
# time bound. 5,000 entries of 30 elements each stay well below it.
MAX_ELEMENTS = 250_000

_XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'
_XML_DECLARATION_AT = re.compile(r"<\?xml\s[^>]{0,300}?\?>")
_FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CHAR_REFERENCE = re.compile(r"&#(?:[xX]([0-9A-Fa-f]{1,8})|([0-9]{1,10}));")
_ELEMENT_START = re.compile(r"<[A-Za-z_]")
_SPACES = re.compile(r"[ \t\r\n]*")  # 10 MB of spaces: 0.016 s, where a Python loop took 1.4 s
_ATTRIBUTE = r"""\s++[^\s=/<>"']++(?:\s*+=\s*+(?:"[^"<]*+"|'[^'<]*+'|[^\s"'<>=]++))?+"""
_ATTRIBUTE_FLOOD = re.compile(rf"<[A-Za-z_:][^\s/<>]*+(?:{_ATTRIBUTE}){{{MAX_ATTRIBUTES + 1}}}")
_STRUCTURED_AUTHOR = re.compile(r"<(?:[\w.-]+:)?(?:name|email|uri)\b", re.IGNORECASE)
_AUTHOR_ELEMENTS = ("author", "creator", "managingeditor", "webmaster", "publisher")
_CATEGORY_ELEMENTS = ("category", "subject", "keywords")
# For _clean (each pattern reads what the full steps' patterns of the same name read).
_XML_DECLARATION_BYTES = _XML_DECLARATION.encode()
_C0_BYTES = bytes(sorted(set(range(0x20)) - {0x9, 0xA, 0xD}))
_NONCHARACTERS = re.compile(b"\xef\xbf[\xbe\xbf]")  # U+FFFE, U+FFFF
# "&#" other than a character reference legal by its digits alone (those are checked).
_UNCERTAIN_REFERENCE = re.compile(
    rb"&#(?!(?:0*+(?:9|1[03]|3[2-9]|[4-9][0-9]|[1-9][0-9]{2,3})"
    rb"|[xX]0*+(?:[9aAdD]|[2-9a-fA-F][0-9a-fA-F]|[1-9a-cA-C][0-9a-fA-F]{2,3}));)"
)
_SKIPPED_OPENER = re.compile(r"<!\[CDATA\[|<!--|<\?")
_SKIPPED_CLOSERS = {"<![CDATA[": "]]>", "<!--": "-->", "<?": "?>"}
_TAG_NAME = re.compile(r"<([^\s/<>]++)")
_NAMES = r"(?:[\w.-]+:)?(?:{})"
_ENTRY_NAME = re.compile(_NAMES.format("item|entry"), re.IGNORECASE)
_AUTHOR_NAME = re.compile(_NAMES.format("|".join(_AUTHOR_ELEMENTS)), re.IGNORECASE)
_KEYWORDS_NAME = re.compile(_NAMES.format("keywords"), re.IGNORECASE)
_CATEGORY_NAME = re.compile(_NAMES.format("category|subject") + r"\b")
# An element _bounded leaves alone: up to `most` characters of text, CDATA sections and
# references that expand nothing (predefined or numeric: _expands passes them), then its
# end tag; or an author with structure. The look-ahead stops at the first "<" but a
# CDATA section's, so that two starts never read the same characters.
_SHORT_TEXT = (
    r">(?=(?:[^<]|<(?-i:(?=!\[CDATA\[))){{0,{most}}}+</)"
    r"(?:[^<&]++|(?-i:&(?:lt|gt|amp|apos|quot|#[0-9]++|#x[0-9a-fA-F]++);)"
    r"|(?-i:<!\[CDATA\[)[^\]<&]*+\]\]>)*+</(?-i:\1)>"
)
_SAFE_AUTHOR = re.compile(
    rf"<({_AUTHOR_NAME.pattern})(?:/>|{_SHORT_TEXT.format(most=MAX_AUTHOR_CHARS)}"
    rf"|>\s*+{_STRUCTURED_AUTHOR.pattern})",
    re.IGNORECASE,
)
_SAFE_KEYWORDS = re.compile(
    rf"<({_KEYWORDS_NAME.pattern})(?:/>|{_SHORT_TEXT.format(most=MAX_KEYWORDS_CHARS)})",
    re.IGNORECASE,
)
# Author and keyword names _clean checks, each with a scan of the document: feeds use a
# few (author, dc:creator, itunes:author...); 30,000 distinct ones took 17 s.
_MOST_CHECKED_NAMES = 16


@dataclass(frozen=True)
class Prepared:
    data: bytes  # UTF-8, starting with an XML declaration that says so
    repairs: tuple[str, ...]  # what was wrong with the document and what was done


@dataclass(frozen=True)
class _Span:
    start: int  # "<" of the start tag
    content_start: int
    content_end: int
    end: int  # after the end tag


def prepare_xml(body: bytes, *, charset: str | None, max_entries: int) -> Prepared:
    """`body` decoded, repaired and bounded as the module doc says.

    `charset` is the HTTP Content-Type charset parameter, if any. Raises ParseError
    for documents that are attacks rather than mistakes (entity expansion, attribute
    floods).
    """
    clean = _clean(body, charset, max_entries)
    if clean is not None:
        return clean
    return _prepared(body, charset, max_entries)


def _prepared(body: bytes, charset: str | None, max_entries: int) -> Prepared:
    repairs: list[str] = []
    text = decode_xml(body, charset, repairs)
    text = _without_forbidden_characters(text, repairs)
    text = _without_leading_declaration(text, repairs)
    prolog, rest = _rebuilt_prolog(text, repairs)
    masked = _masked(rest)
    if _ATTRIBUTE_FLOOD.search(masked):
        raise ParseError(f"an element has more than {MAX_ATTRIBUTES} attributes")
    rest = _bounded(rest, masked, max_entries, repairs)
    return Prepared((prolog + rest).encode("utf-8"), tuple(repairs))


def _clean(body: bytes, charset: str | None, max_entries: int) -> Prepared | None:
    """What _prepared returns, when scans prove that no step would change anything but
    the XML declaration; None when one might (then _prepared does the work).

    Each condition mirrors a step, in order. On the 50 farm feeds of
    bench/fastparse_timing.py, _prepared takes ~100 ms of CPU and these scans ~25 ms.
    """
    decoded = plain_utf8(body, charset)  # 1: read as UTF-8, nothing to report
    if decoded is None:
        return None
    text, start = decoded
    # 2: in UTF-8 a C0 control is its byte, U+FFFE/U+FFFF their three bytes; strict
    # decoding let no surrogate through.
    if len(body.translate(None, _C0_BYTES)) < len(body):
        return None
    if not text.isascii() and _NONCHARACTERS.search(body):
        return None
    if _UNCERTAIN_REFERENCE.search(body) and not all(map(_legal, _CHAR_REFERENCE.finditer(text))):
        return None
    # Positions in `text` rather than the slices the steps make: two copies of it fewer.
    repairs: list[str] = []
    pos = _after_misc(text, _after_declaration(text, repairs))
    if repairs or text.startswith("<!DOCTYPE", pos):  # 3: no DOCTYPE to rebuild
        return None
    root = _ELEMENT_START.search(text, pos)
    if text.find("<!", pos, root.start() if root else len(text)) >= 0:  # _rebuilt_prolog
        return None
    if not _unbounded(text, pos, max_entries):  # 4, 5
        return None
    start += pos if text.isascii() else len(text[:pos].encode())
    if start == len(_XML_DECLARATION_BYTES) and body.startswith(_XML_DECLARATION_BYTES):
        return Prepared(body, ())
    return Prepared(b"".join((_XML_DECLARATION_BYTES, memoryview(body)[start:])), ())


def _unbounded(text: str, pos: int, max_entries: int) -> bool:
    """Whether _bounded would leave text[pos:] as it is, and no element of it has an
    attribute flood.

    _bounded and the flood check read `masked`, in which a CDATA section, comment or PI
    is spaces; here each is one space, which neither tells apart (both read any run of
    spaces as one). _bounded's spans start at a "<" of it and are named by what follows
    up to a space, "/" or ">": the names found here. An author or keyword span is left
    alone when `text` has, where it starts, a short element without references or one
    with structure; every "<name" of `text` is checked, those in CDATA sections too.
    """
    stripped = _stripped(text, pos)
    if _ATTRIBUTE_FLOOD.search(stripped):
        return False
    found = _TAG_NAME.findall(stripped)  # end tags have none: half the strings to make
    names = set(found)
    tags = stripped.count("<")  # masked.count("<")
    if tags > MAX_ELEMENTS:
        return False
    if tags > max_entries and _count(found, names, _ENTRY_NAME.fullmatch) > max_entries:
        return False
    categories = _count(found, names, _CATEGORY_NAME.match) if tags > MAX_CATEGORY_ELEMENTS else 0
    if categories > MAX_CATEGORY_ELEMENTS:
        return False
    checked = [
        (name, _SAFE_AUTHOR if _AUTHOR_NAME.fullmatch(name) else _SAFE_KEYWORDS)
        for name in names
        if _AUTHOR_NAME.fullmatch(name) or _KEYWORDS_NAME.fullmatch(name)
    ]
    if len(checked) > _MOST_CHECKED_NAMES:
        return False
    for name, safe in checked:
        # In `masked` a start may be followed by the spaces of a CDATA section: "<".
        starts = re.compile(re.escape("<" + name) + r"(?=[\s/><])").finditer(text, pos)
        if not all(safe.match(text, start.start()) for start in starts):
            return False
    return True


def _count(found: list[str], names: set[str], accepts: Callable[[str], object]) -> int:
    """How many of `found` are names `accepts`, in one pass (found.count for each name
    was quadratic: 30,000 distinct category names took 10 s)."""
    wanted = {name for name in names if accepts(name)}
    return sum(map(wanted.__contains__, found)) if wanted else 0


# --- 2. characters and the XML declaration ------------------------------------------


def _without_forbidden_characters(text: str, repairs: list[str]) -> str:
    text, raw = _FORBIDDEN_CHARS.subn("", text)
    removed_references = 0

    def keep_legal(match: re.Match[str]) -> str:
        nonlocal removed_references
        if _legal(match):
            return match.group()
        removed_references += 1
        return ""

    if "&#" in text:
        text = _CHAR_REFERENCE.sub(keep_legal, text)
    if raw or removed_references:
        repairs.append(f"removed {raw + removed_references} characters XML does not allow")
    return text


def _legal(reference: re.Match[str]) -> bool:
    hex_digits, decimal = reference.groups()
    code = int(hex_digits, 16) if hex_digits else int(decimal)
    # XML 1.0 production [2] Char
    if code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD:
        return True
    return 0x10000 <= code <= 0x10FFFF


def _without_leading_declaration(text: str, repairs: list[str]) -> str:
    """`text` without its XML declaration (prepare_xml writes its own) or what precedes it.

    Text before the declaration (a PHP warning, a stray newline) makes expat refuse
    the whole document.
    """
    return text[_after_declaration(text, repairs) :]


def _after_declaration(text: str, repairs: list[str]) -> int:
    """Where _without_leading_declaration's result starts in `text`."""
    start = len(text) - len(text.lstrip("\ufeff \t\r\n"))
    match = _XML_DECLARATION_AT.search(text, start, start + 2048)
    if match is None:
        return start
    if match.start() > start and not text.startswith("<", start):
        repairs.append(f"removed {match.start() - start} characters before the XML declaration")
    elif match.start() > start:
        return start  # a declaration after markup is the parser's problem, not ours
    return match.end()


# --- 3. the DOCTYPE (xmldoctype) ----------------------------------------------------


def _rebuilt_prolog(text: str, repairs: list[str]) -> tuple[str, str]:
    """(a safe prolog, the rest of the document from the root element on)."""
    pos = _after_misc(text, 0)
    doctype = ""
    if text.startswith("<!DOCTYPE", pos):
        try:
            doctype, pos = rebuilt_doctype(text, pos, repairs)
        except Malformed:
            root = _ELEMENT_START.search(text, pos + 2)
            pos = root.start() if root else len(text)
            repairs.append("removed a malformed DOCTYPE")
        pos = _after_misc(text, pos)
    rest = text[pos:]
    # Up to the first element, feedparser reads <!ENTITY and <!DOCTYPE by regex and
    # re-declares them, wherever they sit; before junk, or past a second DOCTYPE,
    # they are text here, which is what they are to expat.
    head_end = _ELEMENT_START.search(rest)
    head = rest[: head_end.start()] if head_end else rest
    if "<!" in head:
        rest = head.replace("<!", "&lt;!") + rest[len(head) :]
    return _XML_DECLARATION + (doctype + "\n" if doctype else ""), rest


def _after_misc(text: str, pos: int) -> int:
    """Past whitespace, comments and processing instructions (XML 1.0 [27] Misc)."""
    while True:
        pos = _SPACES.match(text, pos).end()  # type: ignore[union-attr]  # "*" matches
        for opener, closer in (("<!--", "-->"), ("<?", "?>")):
            if text.startswith(opener, pos):
                end = text.find(closer, pos + len(opener))
                if end < 0:
                    return pos
                pos = end + len(closer)
                break
        else:
            return pos


# --- 4./5. structure ----------------------------------------------------------------


def _masked(text: str) -> str:
    """`text` with CDATA sections, comments and PIs blanked out, positions unchanged."""
    parts: list[str] = []
    pos = 0
    for start, end in _skipped_regions(text):
        parts += (text[pos:start], " " * (end - start))
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def _stripped(text: str, pos: int) -> str:
    """text[pos:] with each CDATA section, comment and PI made one space."""
    parts: list[str] = []
    for start, end in _skipped_regions(text, pos):
        parts.append(text[pos:start])
        pos = end
    parts.append(text[pos:])
    return " ".join(parts)


def _skipped_regions(text: str, pos: int = 0) -> Iterator[tuple[int, int]]:
    """(start, end) of each CDATA section, comment and PI from `pos` on, in order; one
    not closed runs to the end."""
    while (match := _SKIPPED_OPENER.search(text, pos)) is not None:
        closer = _SKIPPED_CLOSERS[match.group()]
        end = text.find(closer, match.end())
        pos = len(text) if end < 0 else end + len(closer)
        yield match.start(), pos


def _bounded(text: str, masked: str, max_entries: int, repairs: list[str]) -> str:
    edits: list[tuple[int, int, str]] = []
    entries = _spans(masked, ("item", "entry"))
    kept_until = cut_until = len(text)
    if len(entries) > max_entries:
        kept_until, cut_until = entries[max_entries].start, entries[-1].end
        edits.append((kept_until, cut_until, ""))
        repairs.append(f"the document has {len(entries)} entries; read the first {max_entries}")
        entries = entries[:max_entries]
    tags = masked.count("<", 0, kept_until) + masked.count("<", cut_until)
    if tags > MAX_ELEMENTS:
        raise ParseError(f"the document has more than {MAX_ELEMENTS:,} elements")
    cut = 0
    for span in _spans(masked, _AUTHOR_ELEMENTS):
        content = text[span.content_start : span.content_end]
        if span.start >= kept_until or _STRUCTURED_AUTHOR.search(content):
            continue  # feedparser reads <name>/<email> children without the regex
        if len(content) > MAX_AUTHOR_CHARS or _expands(content):
            edits.append(_replaced_content(span, _plain(content)[:MAX_AUTHOR_CHARS]))
            cut += 1
    for span in _spans(masked, ("keywords",)):
        content = text[span.content_start : span.content_end]
        if span.start < kept_until and (len(content) > MAX_KEYWORDS_CHARS or _expands(content)):
            terms = _plain(content).split(",")[:MAX_CATEGORY_ELEMENTS]
            edits.append(_replaced_content(span, ",".join(terms)[:MAX_KEYWORDS_CHARS]))
            cut += 1
    if cut:
        repairs.append(f"cut {cut} over-long author or keyword fields")
    edits += _category_edits(masked, entries, kept_until, repairs)
    return _edited(text, edits)


def _category_edits(
    masked: str, entries: list[_Span], kept_until: int, repairs: list[str]
) -> list[tuple[int, int, str]]:
    if len(re.findall(r"<(?:[\w.-]+:)?(?:category|subject)\b", masked)) <= MAX_CATEGORY_ELEMENTS:
        return []
    starts = [entry.start for entry in entries]
    per_owner: Counter[int] = Counter()  # entry index, -1 for the feed itself
    edits: list[tuple[int, int, str]] = []
    for span in _spans(masked, _CATEGORY_ELEMENTS):
        if span.start >= kept_until:
            break
        index = bisect.bisect_right(starts, span.start) - 1
        owner = index if index >= 0 and span.start < entries[index].end else -1
        per_owner[owner] += 1
        if per_owner[owner] > MAX_CATEGORY_ELEMENTS:
            edits.append((span.start, span.end, ""))
    if edits:
        repairs.append(f"dropped {len(edits)} categories past {MAX_CATEGORY_ELEMENTS} in an entry")
    return edits


def _spans(masked: str, local_names: Iterable[str]) -> list[_Span]:
    """Outermost elements with one of these local names (any prefix), in order.

    An element without its end tag is skipped; one nested in another is part of it.
    """
    names = "|".join(local_names)
    starts = re.compile(
        rf"""<((?:[\w.-]+:)?(?:{names}))(?=[\s/>])(?:[^<>"'/]++|/(?!>)|"[^"<]*+"|'[^'<]*+')*+(/?)>""",
        re.IGNORECASE,
    )
    ends: dict[str, list[tuple[int, int]]] = {}
    for match in re.finditer(rf"</((?:[\w.-]+:)?(?:{names}))\s*>", masked, re.IGNORECASE):
        ends.setdefault(match.group(1), []).append((match.start(), match.end()))
    spans: list[_Span] = []
    covered = 0
    for match in starts.finditer(masked):
        if match.start() < covered:
            continue
        if match.group(2):
            spans.append(_Span(match.start(), match.end(), match.end(), match.end()))
            continue
        candidates = ends.get(match.group(1), [])
        index = bisect.bisect_left(candidates, (match.end(), 0))
        if index == len(candidates):
            continue
        end_start, end = candidates[index]
        spans.append(_Span(match.start(), match.end(), end_start, end))
        covered = end
    return spans


def _expands(content: str) -> bool:
    """Whether `content` refers to a declared entity (one that may expand)."""
    for match in re.finditer(r"&([A-Za-z_:][\w.:-]*);", content):
        if match.group(1) not in PREDEFINED_ENTITIES:
            return True
    return False


def _plain(content: str) -> str:
    """The text of an XML fragment, whitespace collapsed; unknown entities stay literal."""
    pieces: list[str] = []
    for index, part in enumerate(re.split(r"<!\[CDATA\[(.*?)\]\]>", content, flags=re.DOTALL)):
        if index % 2:
            pieces.append(part)
        else:
            pieces.append(html.unescape(re.sub(r"<[^>]*+>", " ", part)))
    return " ".join(" ".join(pieces).split())


def _replaced_content(span: _Span, text: str) -> tuple[int, int, str]:
    return span.content_start, span.content_end, html.escape(text, quote=False)


def _edited(text: str, edits: list[tuple[int, int, str]]) -> str:
    if not edits:
        return text
    pieces: list[str] = []
    pos = 0
    for start, end, replacement in sorted(edits):
        if start < pos:
            continue  # inside a region already replaced
        pieces += (text[pos:start], replacement)
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)
