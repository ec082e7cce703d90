"""xmlprep's step 3: a DOCTYPE rebuilt with nothing a parser could fetch or expand far.

What is kept and why is in xmlprep's module doc. `rebuilt_doctype` reads the DOCTYPE at
a position and returns a safe one in its place, or raises Malformed (xmlprep then
drops it) or ParseError (entity expansion attacks).
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass

from feedhub.errors import ParseError

__all__ = [
    "MAX_DOCTYPE_CHARS",
    "MAX_ENTITY_EXPANSION",
    "PREDEFINED_ENTITIES",
    "Malformed",
    "rebuilt_doctype",
]

MAX_ENTITY_EXPANSION = 1024 * 1024  # characters all entity references may add up to
MAX_ENTITY_VALUE_CHARS = 256  # one declared entity's replacement text
MAX_DOCTYPE_CHARS = 1024 * 1024

_NAME = re.compile(r"[A-Za-z_:][\w.:-]*")
_PUBLIC_ID = re.compile(r"[-'()+,./:=?;!*#@$_%\w \r\n]*")
_SKIP_DECLARATION = re.compile(r"""(?:[^>"']++|"[^"]*+"|'[^']*+')*+>""")
_ENTITY_REFERENCE = re.compile(r"[&%][A-Za-z_:][\w.:-]*;")
PREDEFINED_ENTITIES = frozenset({"lt", "gt", "amp", "apos", "quot"})


@dataclass
class _Entity:
    name: str
    parameter: bool
    value: str | None  # None: external (SYSTEM or PUBLIC)


class Malformed(Exception):
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
            raise Malformed
        self.pos += len(word)

    def name(self) -> str:
        match = _NAME.match(self.text, self.pos, self.limit)
        if match is None:
            raise Malformed
        self.pos = match.end()
        return match.group()

    def literal(self) -> str:
        quote = self.text[self.pos : self.pos + 1]
        if quote not in ('"', "'"):
            raise Malformed
        end = self.text.find(quote, self.pos + 1, self.limit)
        if end < 0:
            raise Malformed
        value = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return value

    def skip_until(self, terminator: str) -> None:
        end = self.text.find(terminator, self.pos, self.limit)
        if end < 0:
            raise Malformed
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


def rebuilt_doctype(text: str, pos: int, repairs: list[str]) -> tuple[str, int]:
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
                    raise Malformed
                cursor.pos = match.end()
            else:
                raise Malformed
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
            raise Malformed
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
        if entity.parameter or entity.name in PREDEFINED_ENTITIES or entity.name in values:
            continue  # XML 1.0 4.2: the first declaration of a name binds
        if entity.value is None:
            # Declared empty rather than dropped: expat then reads the document
            # instead of failing on an undefined entity, and nothing is fetched.
            repairs.append(f"ignored external entity {entity.name!r} (not fetched)")
            values[entity.name] = ""
            continue
        if any(
            reference.group()[1:-1] not in PREDEFINED_ENTITIES or reference.group()[0] == "%"
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
