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
"""

from __future__ import annotations

import bisect
import html
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from feedhub.decoding import decode_xml
from feedhub.errors import ParseError

__all__ = ["MAX_ATTRIBUTES", "MAX_ELEMENTS", "MAX_ENTITY_EXPANSION", "Prepared", "prepare_xml"]

MAX_ATTRIBUTES = 256  # one element; real feeds use fewer than 20
MAX_ENTITY_EXPANSION = 1024 * 1024  # characters all entity references may add up to
MAX_ENTITY_VALUE_CHARS = 256  # one declared entity's replacement text
MAX_DOCTYPE_CHARS = 1024 * 1024
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
_NAME = re.compile(r"[A-Za-z_:][\w.:-]*")
_PUBLIC_ID = re.compile(r"[-'()+,./:=?;!*#@$_%\w \r\n]*")
_SKIP_DECLARATION = re.compile(r"""(?:[^>"']++|"[^"]*+"|'[^']*+')*+>""")
_ENTITY_REFERENCE = re.compile(r"[&%][A-Za-z_:][\w.:-]*;")
_PREDEFINED_ENTITIES = frozenset({"lt", "gt", "amp", "apos", "quot"})
_ELEMENT_START = re.compile(r"<[A-Za-z_]")
_ATTRIBUTE = r"""\s++[^\s=/<>"']++(?:\s*+=\s*+(?:"[^"<]*+"|'[^'<]*+'|[^\s"'<>=]++))?+"""
_ATTRIBUTE_FLOOD = re.compile(rf"<[A-Za-z_:][^\s/<>]*+(?:{_ATTRIBUTE}){{{MAX_ATTRIBUTES + 1}}}")
_STRUCTURED_AUTHOR = re.compile(r"<(?:[\w.-]+:)?(?:name|email|uri)\b", re.IGNORECASE)
_AUTHOR_ELEMENTS = ("author", "creator", "managingeditor", "webmaster", "publisher")
_CATEGORY_ELEMENTS = ("category", "subject", "keywords")


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


# --- 2. characters and the XML declaration ------------------------------------------


def _without_forbidden_characters(text: str, repairs: list[str]) -> str:
    text, raw = _FORBIDDEN_CHARS.subn("", text)
    removed_references = 0

    def keep_legal(match: re.Match[str]) -> str:
        nonlocal removed_references
        hex_digits, decimal = match.groups()
        code = int(hex_digits, 16) if hex_digits else int(decimal)
        # XML 1.0 production [2] Char
        if code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD:
            return match.group()
        if 0x10000 <= code <= 0x10FFFF:
            return match.group()
        removed_references += 1
        return ""

    if "&#" in text:
        text = _CHAR_REFERENCE.sub(keep_legal, text)
    if raw or removed_references:
        repairs.append(f"removed {raw + removed_references} characters XML does not allow")
    return text


def _without_leading_declaration(text: str, repairs: list[str]) -> str:
    """`text` without its XML declaration (prepare_xml writes its own) or what precedes it.

    Text before the declaration (a PHP warning, a stray newline) makes expat refuse
    the whole document.
    """
    text = text.lstrip("\ufeff \t\r\n")
    match = _XML_DECLARATION_AT.search(text, 0, 2048)
    if match is None:
        return text
    if match.start() and not text.startswith("<"):
        repairs.append(f"removed {match.start()} characters before the XML declaration")
    elif match.start():
        return text  # a declaration after markup is the parser's problem, not ours
    return text[match.end() :]


# --- 3. the DOCTYPE -----------------------------------------------------------------


@dataclass
class _Entity:
    name: str
    parameter: bool
    value: str | None  # None: external (SYSTEM or PUBLIC)


class _Malformed(Exception):
    pass


class _Cursor:
    def __init__(self, text: str, pos: int) -> None:
        self.text = text
        self.pos = pos
        self.limit = min(len(text), pos + MAX_DOCTYPE_CHARS)

    def at(self, word: str) -> bool:
        return self.text.startswith(word, self.pos)

    def skip_space(self) -> None:
        while self.pos < self.limit and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def take(self, word: str) -> None:
        if not self.at(word):
            raise _Malformed
        self.pos += len(word)

    def name(self) -> str:
        match = _NAME.match(self.text, self.pos, self.limit)
        if match is None:
            raise _Malformed
        self.pos = match.end()
        return match.group()

    def literal(self) -> str:
        quote = self.text[self.pos : self.pos + 1]
        if quote not in ('"', "'"):
            raise _Malformed
        end = self.text.find(quote, self.pos + 1, self.limit)
        if end < 0:
            raise _Malformed
        value = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return value

    def skip_until(self, terminator: str) -> None:
        end = self.text.find(terminator, self.pos, self.limit)
        if end < 0:
            raise _Malformed
        self.pos = end + len(terminator)

    def external_id(self) -> str | None:
        """An ExternalID's public identifier; None without one. The system literal,
        the only part a parser could fetch, is read and forgotten."""
        if self.at("SYSTEM"):
            self.take("SYSTEM")
            self.skip_space()
            self.literal()
            return ""
        if self.at("PUBLIC"):
            self.take("PUBLIC")
            self.skip_space()
            public = self.literal()
            self.skip_space()
            if self.at('"') or self.at("'"):
                self.literal()
            return public
        return None


def _rebuilt_prolog(text: str, repairs: list[str]) -> tuple[str, str]:
    """(a safe prolog, the rest of the document from the root element on)."""
    pos = _after_misc(text, 0)
    doctype = ""
    if text.startswith("<!DOCTYPE", pos):
        try:
            doctype, pos = _rebuilt_doctype(text, pos, repairs)
        except _Malformed:
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
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        for opener, closer in (("<!--", "-->"), ("<?", "?>")):
            if text.startswith(opener, pos):
                end = text.find(closer, pos + len(opener))
                if end < 0:
                    return pos
                pos = end + len(closer)
                break
        else:
            return pos


def _rebuilt_doctype(text: str, pos: int, repairs: list[str]) -> tuple[str, int]:
    cursor = _Cursor(text, pos)
    cursor.take("<!DOCTYPE")
    cursor.skip_space()
    root = cursor.name()
    cursor.skip_space()
    public = cursor.external_id()
    cursor.skip_space()
    entities: list[_Entity] = []
    parameter_references = 0
    if cursor.at("["):
        cursor.take("[")
        while True:
            cursor.skip_space()
            if cursor.at("]"):
                cursor.take("]")
                break
            if cursor.at("<!--"):
                cursor.skip_until("-->")
            elif cursor.at("<?"):
                cursor.skip_until("?>")
            elif cursor.at("%"):
                cursor.skip_until(";")
                parameter_references += 1
            elif cursor.at("<!ENTITY"):
                entities.append(_entity_declaration(cursor))
            elif cursor.at("<!"):  # ELEMENT, ATTLIST, NOTATION: nothing feeds need
                match = _SKIP_DECLARATION.match(text, cursor.pos + 2, cursor.limit)
                if match is None:
                    raise _Malformed
                cursor.pos = match.end()
            else:
                raise _Malformed
        cursor.skip_space()
    cursor.take(">")
    declarations = _entity_declarations(entities, text[cursor.pos :], repairs)
    if parameter_references or any(entity.parameter for entity in entities):
        repairs.append("ignored parameter entities in the DOCTYPE")
    # feedparser finds the DOCTYPE and each ENTITY only at the start of a line.
    rebuilt = f"<!DOCTYPE {root}"
    if public is not None and _PUBLIC_ID.fullmatch(public) and '"' not in public:
        # feedparser tells RSS 0.91 Netscape from Userland by the public id. The
        # system literal stays empty: there is nothing for a parser to fetch.
        rebuilt += f' PUBLIC "{public}" ""' if public else ""
    if declarations:
        rebuilt += " [\n" + "\n".join(declarations) + "\n]"
    return rebuilt + ">", cursor.pos


def _entity_declaration(cursor: _Cursor) -> _Entity:
    cursor.take("<!ENTITY")
    cursor.skip_space()
    parameter = cursor.at("%")
    if parameter:
        cursor.take("%")
        cursor.skip_space()
    name = cursor.name()
    cursor.skip_space()
    value: str | None
    if cursor.at('"') or cursor.at("'"):
        value = cursor.literal()
    else:
        if cursor.external_id() is None:
            raise _Malformed
        value = None
        cursor.skip_space()
        if cursor.at("NDATA"):
            cursor.take("NDATA")
            cursor.skip_space()
            cursor.name()
    cursor.skip_space()
    cursor.take(">")
    return _Entity(name, parameter, value)


def _entity_declarations(entities: list[_Entity], body: str, repairs: list[str]) -> list[str]:
    values: dict[str, str] = {}
    ignored: list[str] = []
    for entity in entities:
        if entity.parameter or entity.name in _PREDEFINED_ENTITIES or entity.name in values:
            continue  # XML 1.0 4.2: the first declaration of a name binds
        if entity.value is None:
            # Declared empty rather than dropped: expat then reads the document
            # instead of failing on an undefined entity, and nothing is fetched.
            repairs.append(f"ignored external entity {entity.name!r} (not fetched)")
            values[entity.name] = ""
            continue
        if any(
            reference.group()[1:-1] not in _PREDEFINED_ENTITIES or reference.group()[0] == "%"
            for reference in _ENTITY_REFERENCE.finditer(entity.value)
        ):
            raise ParseError(
                "the document declares entities that expand other entities"
                " (possible entity expansion attack)"
            )
        value = html.unescape(entity.value) if "&" in entity.value else entity.value
        if any(c in value for c in '<&%"') or len(value) > MAX_ENTITY_VALUE_CHARS:
            ignored.append(entity.name)
            value = ""
        values[entity.name] = value
    if ignored:
        repairs.append("ignored entities with markup or long text: " + ", ".join(ignored[:5]))
    expanding = [name for name, value in values.items() if value]
    if expanding:
        references = re.compile("&(" + "|".join(map(re.escape, expanding)) + ");")
        counts = Counter(references.findall(body))
        total = sum(len(values[name]) * count for name, count in counts.items())
        if total > MAX_ENTITY_EXPANSION:
            raise ParseError(
                f"entity references would expand to {total:,} characters, more than"
                f" {MAX_ENTITY_EXPANSION:,} (possible entity expansion attack)"
            )
    return [f'<!ENTITY {name} "{value}">' for name, value in values.items()]


# --- 4./5. structure ----------------------------------------------------------------


def _masked(text: str) -> str:
    """`text` with CDATA sections, comments and PIs blanked out, positions unchanged."""
    parts: list[str] = []
    pos = 0
    opener = re.compile(r"<!\[CDATA\[|<!--|<\?")
    closers = {"<![CDATA[": "]]>", "<!--": "-->", "<?": "?>"}
    while (match := opener.search(text, pos)) is not None:
        closer = closers[match.group()]
        end = text.find(closer, match.end())
        end = len(text) if end < 0 else end + len(closer)
        parts.append(text[pos : match.start()])
        parts.append(" " * (end - match.start()))
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


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
        if match.group(1) not in _PREDEFINED_ENTITIES:
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
