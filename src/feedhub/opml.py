"""OPML in and out: subscriptions from other readers into feeds.toml, and back.

Reading never touches the network or the file system beyond the bytes given:
entity declarations are refused outright (XXE, "billion laughs"), and
`type="include"` outlines are reported, not followed.

Importing edits feeds.toml as text: the new [[sources]] tables are rendered by
tomlkit (so every string is escaped right) and spliced in after the last
existing source, leaving every other byte of the file as the user wrote it.
tomlkit's own round trip is not used for the whole file because it regroups
[[sources]] tables that are interleaved with other tables.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import tomllib
import unicodedata
import xml.etree.ElementTree as ET
import xml.parsers.expat as expat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array

from feedhub.config import build_config, load_config
from feedhub.errors import ConfigError, ParseError
from feedhub.models import Config, SourceConfig, SourceInfo
from feedhub.sources import derive_name

OPML_DOCS = "http://opml.org/spec2.opml"
# XML 1.0 §2.2 Char: what may appear in a document at all.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NON_TAG = re.compile(r"[\W_]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_HEADER = re.compile(r"^[ \t]*(\[\[?)[ \t]*([A-Za-z0-9_.\- \t]+?)[ \t]*\]\]?[ \t]*(?:#.*)?$")
_COMMENT_MAX = 80


@dataclass(frozen=True)
class OpmlFeed:
    """One subscription, as read from or written to OPML."""

    url: str
    title: str | None = None
    html_url: str | None = None
    tags: tuple[str, ...] = ()
    enabled: bool = True  # OPML 2.0 isComment="true" marks a commented-out outline


@dataclass(frozen=True)
class SkippedFeed:
    url: str
    title: str | None
    reason: str


@dataclass(frozen=True)
class OpmlDocument:
    title: str | None
    feeds: tuple[OpmlFeed, ...]
    skipped: tuple[SkippedFeed, ...]  # outlines that could not become sources


@dataclass(frozen=True)
class AddedSource:
    name: str
    url: str
    tags: tuple[str, ...]
    title: str | None
    enabled: bool = True


@dataclass(frozen=True)
class ImportReport:
    added: tuple[AddedSource, ...]
    skipped: tuple[SkippedFeed, ...]
    written: bool  # False on a dry run or when there was nothing to add


# --- reading ------------------------------------------------------------------


def read_opml(data: bytes) -> list[OpmlFeed]:
    """The feeds of an OPML document, in document order; see parse_opml."""
    return list(parse_opml(data).feeds)


def parse_opml(data: bytes) -> OpmlDocument:
    """Read OPML 1.0/1.1/2.0 as exported by common readers; raise ParseError if unreadable.

    Outlines with an xmlUrl (attribute names compared case-insensitively) are
    feeds. Outlines without one are folders: each folder on the way down gives
    a tag, as does every segment of an OPML 2.0 `category` attribute. Feeds
    whose URL is not http(s) are returned in `skipped`, not raised.
    """
    root = _parse_xml(data)
    if _local(root.tag) != "opml":
        raise ParseError(f"not OPML: the root element is <{_local(root.tag)}>")
    head = _child(root, "head")
    title_element = _child(head, "title") if head is not None else None
    title = _clean(title_element.text) if title_element is not None else None
    body = _child(root, "body")
    if body is None:
        raise ParseError("not OPML: no <body>")
    feeds: list[OpmlFeed] = []
    skipped: list[SkippedFeed] = []
    # An explicit stack, not recursion: a hostile file may nest thousands deep.
    stack: list[tuple[ET.Element, tuple[str, ...], bool]] = [
        (child, (), False) for child in reversed(body) if _local(child.tag) == "outline"
    ]
    while stack:
        outline, tags, commented = stack.pop()
        attrs = _attributes(outline)
        commented = commented or attrs.get("iscomment", "").strip().lower() == "true"
        label = _clean(attrs.get("title")) or _clean(attrs.get("text"))
        own_tags = _category_tags(attrs.get("category", ""))
        raw_url = (attrs.get("xmlurl") or "").strip()
        kind = attrs.get("type", "").strip()
        if raw_url:
            url = _feed_url(raw_url)
            if url is None:
                skipped.append(SkippedFeed(raw_url, label, "not an http(s) URL"))
            elif "+" in kind:
                # FreshRSS exports its page scrapers (type="HTML+XPath",
                # "JSON+DotNotation") with the page as xmlUrl: not a feed.
                skipped.append(SkippedFeed(raw_url, label, f"a scraped page (type={kind})"))
            else:
                html = _feed_url(attrs.get("htmlurl", "").strip())
                feeds.append(OpmlFeed(url, label, html, _unique((*tags, *own_tags)), not commented))
            children_tags = tags
        elif kind.lower() == "include":
            # OPML 2.0 inclusion would make import fetch an arbitrary URL.
            skipped.append(
                SkippedFeed(attrs.get("url", ""), label, "type=include outlines are not followed")
            )
            continue
        else:
            folder = slugify_tag(_clean(attrs.get("text")) or label or "")
            children_tags = _unique((*tags, *((folder,) if folder else ()), *own_tags))
        stack.extend(
            (child, children_tags, commented)
            for child in reversed(outline)
            if _local(child.tag) == "outline"
        )
    return OpmlDocument(title, tuple(feeds), tuple(skipped))


def slugify_tag(text: str) -> str:
    """ "Tech News" -> "tech-news": lower case, accents dropped, other scripts kept."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_TAG.sub("-", unicodedata.normalize("NFC", bare).casefold()).strip("-")


def _refuse_entity(*_args: object) -> None:
    raise ParseError("OPML declares XML entities; refused (they can read files or explode)")


def _parse_xml(data: bytes) -> ET.Element:
    builder = ET.TreeBuilder()
    # expat directly, as defusedxml does: any <!ENTITY> declaration stops the
    # parse, so nothing is expanded and no SYSTEM entity is ever resolved; expat
    # never loads an external DTD subset by itself. Names arrive as "uri}local".
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
        return builder.close()
    except expat.ExpatError as exc:
        raise ParseError(f"not well-formed XML: {exc}") from None
    except (LookupError, ValueError) as exc:  # an encoding Python does not know
        raise ParseError(f"unreadable XML: {exc}") from None


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


def _attributes(element: ET.Element) -> dict[str, str]:
    """Un-namespaced attributes by lower-case name (some readers write "xmlurl")."""
    return {k.lower(): v for k, v in element.attrib.items() if "}" not in k}


def _clean(text: str | None) -> str | None:
    cleaned = " ".join((text or "").split())
    return cleaned or None


def _category_tags(category: str) -> tuple[str, ...]:
    """OPML 2.0 `category`: comma-separated; "/a/b" is a path (two tags), "a" a tag."""
    tags = [slugify_tag(part) for item in category.split(",") for part in item.split("/")]
    return _unique(tags)


def _unique(tags: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for t in tags if t))


def _feed_url(url: str) -> str | None:
    """An http(s) URL with a host, or None. feed:// and feed:https:// are unwrapped."""
    lowered = url.lower()
    if lowered.startswith("feed:"):
        rest = url[5:]
        url = rest if rest.lower().startswith(("http://", "https://")) else "http:" + rest
    if not url or any(c.isspace() for c in url) or _CONTROL.search(url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


# --- importing into feeds.toml ------------------------------------------------


def url_key(url: str) -> str:
    """What makes two feed URLs one: scheme and host ignore case (RFC 3986 6.2.2.1)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    return urlunsplit(parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()))


def plan_import(
    config: Config, feeds: Sequence[OpmlFeed]
) -> tuple[list[AddedSource], list[SkippedFeed]]:
    """Which feeds become sources, under which unique names; no I/O.

    A feed listed twice in the OPML (a reader's way to put one feed in two
    folders) is added once, with the tags of every listing.
    """
    configured = {url_key(s.url): s.name for s in config.sources}
    names = {s.name for s in config.sources}
    added: dict[str, AddedSource] = {}
    skipped: list[SkippedFeed] = []
    for feed in feeds:
        key = url_key(feed.url)
        if key in configured:
            skipped.append(
                SkippedFeed(feed.url, feed.title, f"already configured as {configured[key]!r}")
            )
            continue
        if key in added:
            first = added[key]
            merged = _unique((*first.tags, *feed.tags))
            enabled = first.enabled or feed.enabled
            added[key] = AddedSource(first.name, first.url, merged, first.title, enabled)
            skipped.append(SkippedFeed(feed.url, feed.title, "listed twice in the OPML"))
            continue
        base = derive_name(feed.url)
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.add(name)
        added[key] = AddedSource(name, feed.url, feed.tags, feed.title, feed.enabled)
    return list(added.values()), skipped


def add_sources_to_config(
    path: Path, feeds: Sequence[OpmlFeed], *, dry_run: bool = False
) -> ImportReport:
    """Append the new feeds to feeds.toml as [[sources]] tables; report what was skipped.

    Untouched parts of the file keep every byte, comments included. The new
    text is checked exactly as load_config checks a file before it replaces
    the old one (atomically, with the old file's permissions); on any error
    the file is left as it was and ConfigError is raised.
    """
    path = Path(path).absolute()
    config = load_config(path)
    original = _read_bytes(path)
    text = original.decode("utf-8")
    added, skipped = plan_import(config, feeds)
    if not added:
        return ImportReport((), tuple(skipped), written=False)
    old_data = tomllib.loads(text)
    new_text = _with_sources(path, text, old_data, added)
    new_config = build_config(path, tomllib.loads(new_text), new_text)
    kept = [s.name for s in new_config.sources[: len(config.sources)]]
    if kept != [s.name for s in config.sources]:  # the store keys history by name
        raise ConfigError(str(path), "sources", "adding sources would rename existing ones")
    if not dry_run:
        _replace(path, original, new_text.encode("utf-8"))
    return ImportReport(tuple(added), tuple(skipped), written=not dry_run)


def _with_sources(
    path: Path, text: str, old_data: Mapping[str, Any], added: Sequence[AddedSource]
) -> str:
    """feeds.toml's text with the sources added.

    Each candidate is parsed back and must equal the old data plus the new
    tables, so a wrong guess about the layout can never change what the rest
    of the file means: splicing comes first (the file reads as if written by
    hand), then appending at the end, then tomlkit's own edit, which handles
    `sources = [...]` written inline but may regroup tables.
    """
    tables = [_source_table(a) for a in added]
    expected = {**old_data, "sources": [*old_data.get("sources", []), *tables]}
    newline = "\r\n" if "\r\n" in text else "\n"
    block = _render_tables(added).replace("\n", newline)
    makers: list[Callable[[], str | None]] = [
        lambda: _splice(text, block, newline),
        lambda: _append(text, block, newline),
        lambda: _tomlkit_edit(text, added),
    ]
    for make in makers:
        candidate = make()
        if candidate is None:
            continue
        try:
            if tomllib.loads(candidate) == expected:
                return candidate
        except tomllib.TOMLDecodeError:
            continue
    raise ConfigError(str(path), "sources", "cannot add sources to this layout; add them by hand")


def _source_table(added: AddedSource) -> dict[str, Any]:
    table: dict[str, Any] = {"url": added.url, "name": added.name}
    if added.tags:
        table["tags"] = list(added.tags)
    if not added.enabled:
        table["enabled"] = False
    return table


def _render_tables(added: Sequence[AddedSource]) -> str:
    """[[sources]] tables. The OPML title becomes a comment, not `title`: that key
    would override the feed's own title in every output, and a reader's copy of
    it is usually just a stale snapshot."""
    aot = tomlkit.aot()
    for source in added:
        table = tomlkit.table()
        comment = _comment(source.title)
        if comment:
            table.comment(comment)
        for key, value in _source_table(source).items():
            table.add(key, value)
        aot.append(table)
    document = tomlkit.document()
    document.append("sources", aot)
    return tomlkit.dumps(document).rstrip("\n") + "\n"


def _comment(title: str | None) -> str:
    # TOML 1.0 forbids control characters in comments.
    text = " ".join(_CONTROL.sub(" ", title or "").split())
    return text if len(text) <= _COMMENT_MAX else text[: _COMMENT_MAX - 1] + "…"


def _headers(lines: Sequence[str]) -> list[tuple[int, str, bool]]:
    found = []
    for index, line in enumerate(lines):
        m = _HEADER.match(line.rstrip("\r\n"))
        if m:
            name = re.sub(r"\s*\.\s*", ".", m.group(2))
            found.append((index, name, m.group(1) == "[["))
    return found


def _lines(text: str) -> list[str]:
    """Lines with their endings; unlike str.splitlines, only "\n" ends a TOML line."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _is_trivia(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _splice(text: str, block: str, newline: str) -> str | None:
    """Insert after the last [[sources]] table, before the comments that open what follows.

    Comments directly under the table's last key stay with it; from the first
    blank line on, trailing comments are taken to head the next section
    ("# --- outputs ---"), so the new tables go before them. Without sources,
    the tables go before the first [[outputs]] and the comments directly above it.
    The line scan can be fooled by a multi-line string; the caller's parse-back
    check catches that and falls back to appending.
    """
    lines = _lines(text)
    headers = _headers(lines)
    sources = [i for i, name, aot in headers if name == "sources" and aot]
    if sources:
        last = sources[-1]
        end = next((i for i, _, _ in headers if i > last), len(lines))
        start = end
        while start > last + 1 and _is_trivia(lines[start - 1]):
            start -= 1
        at = next((i for i in range(start, end) if not lines[i].strip()), end)
    else:
        outputs = next((i for i, name, _ in headers if name.split(".")[0] == "outputs"), None)
        if outputs is None:
            return None
        at = outputs
        while at > 0 and lines[at - 1].strip().startswith("#"):
            at -= 1
    before, after = "".join(lines[:at]), "".join(lines[at:])
    if before and not before.endswith("\n"):
        before += newline
    if before.strip() and not before.endswith(newline * 2):
        before += newline
    if after and _lines(after)[0].strip():
        block += newline
    return before + block + after


def _append(text: str, block: str, newline: str) -> str:
    if text and not text.endswith("\n"):
        text += newline
    return text + (newline if text.strip() else "") + block


def _tomlkit_edit(text: str, added: Sequence[AddedSource]) -> str | None:
    try:
        document = tomlkit.parse(text)
        existing = document.get("sources")
        if existing is None:
            document.append("sources", tomlkit.parse(_render_tables(added))["sources"])
        elif isinstance(existing, AoT):
            for table in tomlkit.parse(_render_tables(added))["sources"]:
                existing.append(table)
        elif isinstance(existing, Array):
            for source in added:
                inline = tomlkit.inline_table()
                inline.update(_source_table(source))
                existing.append(inline)
        else:
            return None
        return document.as_string()
    except TOMLKitError:
        return None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot read: {exc}") from None


def _replace(path: Path, original: bytes, data: bytes) -> None:
    """Write next to the real file (through a symlink), then rename over it (POSIX atomic)."""
    target = path.resolve()
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
        fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot write: {exc}") from None
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        if target.read_bytes() != original:
            raise ConfigError(
                str(path), None, "changed while importing; nothing written, run again"
            )
        os.replace(temp, target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise ConfigError(str(path), None, f"cannot write: {exc}") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# --- exporting ----------------------------------------------------------------


def feeds_for_export(
    sources: Sequence[SourceConfig], stored: Mapping[str, SourceInfo] | None = None
) -> tuple[list[OpmlFeed], list[SourceConfig]]:
    """Config sources as OPML feeds, and the local-file sources no reader could use.

    The title is the configured one, else the feed's own (from the store),
    else the source name; the site link comes from the store when known.
    """
    stored = stored or {}
    feeds: list[OpmlFeed] = []
    local: list[SourceConfig] = []
    for source in sources:
        if _feed_url(source.url) is None:
            local.append(source)
            continue
        info = stored.get(source.name)
        title = source.title or (info.title if info else None) or source.name
        link = info.link if info and info.link and _feed_url(info.link) else None
        feeds.append(OpmlFeed(source.url, title, link, source.tags, source.enabled))
    return feeds, local


def write_opml(feeds: Sequence[OpmlFeed], *, title: str, created: datetime | None = None) -> bytes:
    """OPML 2.0, the same bytes for the same input (no clock is read).

    Each feed sits in a folder outline named after its first tag, because
    folders are all that most readers (Feedly, Inoreader, Miniflux,
    NetNewsWire) import; the full tag list is also given in the OPML 2.0
    `category` attribute as plain tags (no slashes, as the spec says for
    tags), so parse_opml gives back exactly the tags, in order.
    """
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _xml_text(title)
    if created is not None:
        # OPML 2.0 dates are RFC 822 dates.
        ET.SubElement(head, "dateCreated").text = format_datetime(
            created.astimezone(UTC), usegmt=True
        )
    ET.SubElement(head, "docs").text = OPML_DOCS
    body = ET.SubElement(root, "body")
    folders: dict[str, ET.Element] = {}
    for feed in feeds:
        parent = body
        if feed.tags:
            tag = feed.tags[0]
            if tag not in folders:
                name = _xml_text(tag)
                folders[tag] = ET.SubElement(body, "outline", text=name, title=name)
            parent = folders[tag]
        label = _xml_text(feed.title or feed.url)
        attrs = {"type": "rss", "text": label, "title": label, "xmlUrl": _xml_text(feed.url)}
        if feed.html_url:
            attrs["htmlUrl"] = _xml_text(feed.html_url)
        if feed.tags:
            attrs["category"] = _xml_text(",".join(feed.tags))
        if not feed.enabled:
            attrs["isComment"] = "true"
        ET.SubElement(parent, "outline", attrs)
    ET.indent(root, space="  ")
    declaration = b'<?xml version="1.0" encoding="UTF-8"?>\n'
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return declaration + document + b"\n"


def _xml_text(text: str) -> str:
    return _NOT_XML_CHAR.sub("", text)
