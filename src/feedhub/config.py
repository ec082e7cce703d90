"""Read and check feeds.toml.

Every mistake is reported as a ConfigError naming the file, the key path and,
where it can be found, the line, so a person can fix it without guessing.
Relative paths resolve against the folder of the config file, never the
working directory, so cron jobs behave like interactive runs.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast, get_args
from urllib.parse import unquote, urlsplit

from feedhub.errors import ConfigError
from feedhub.models import (
    Config,
    Format,
    Keep,
    OutputConfig,
    Rule,
    RuleField,
    Settings,
    SourceConfig,
)
from feedhub.sources import derive_name

DEFAULT_DATABASE_URL = "sqlite:///var/feedhub.db"
DEFAULT_OUTPUT_DIR = "var/public"
DEFAULT_BASE_URL = "http://127.0.0.1:8080/"

SETTINGS_KEYS = {
    "database_url",
    "claim_lease",
    "keep",
    "database_timeout",
    "output_dir",
    "base_url",
    "interval",
    "timeout",
    "total_timeout",
    "max_body_size",
    "concurrency",
    "per_host",
    "host_delay",
    "max_redirects",
    "title",
}
SOURCE_KEYS = {"url", "name", "tags", "interval", "enabled", "title", "keep"}
KEEP_KEYS = {"days", "min", "max"}
OUTPUT_KEYS = {
    "name",
    "title",
    "description",
    "tags",
    "sources",
    "include",
    "exclude",
    "rules",
    "limit",
    "order",
    "max_age",
    "since",
    "dedup",
    "formats",
    "token",
    "hubs",
    "search",
}
RULE_KEYS = {"field", "contains", "regex", "equals", "action"}
TOP_KEYS = {"settings", "sources", "outputs"}
RULE_FIELDS: tuple[str, ...] = get_args(RuleField)
FORMATS: tuple[str, ...] = get_args(Format)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)", re.IGNORECASE)
_DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 10**6,
    "mib": 2**20,
    "gb": 10**9,
    "gib": 2**30,
}
_OUTPUT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


def parse_duration(value: object) -> timedelta:
    """ "90s", "30m", "1h30m", "2d", "1w", or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError('expected a duration such as "30m", "1h" or "2d"')
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        parts = _DURATION.findall(text)
        if not parts or _DURATION.sub("", text).strip():
            raise ValueError(f'{value!r} is not a duration such as "30m", "1h" or "2d"')
        seconds = sum(float(n) * _DURATION_UNITS[u.lower()] for n, u in parts)
    else:
        raise ValueError('expected a duration such as "30m", "1h" or "2d"')
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return timedelta(seconds=seconds)


def parse_size(value: object) -> int:
    """ "10MiB", "500KB", or a number of bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and (m := _SIZE.match(value)):
        size = int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()])
        if size > 0:
            return size
    raise ValueError(f'{value!r} is not a size such as "10MiB" or a number of bytes')


class _Reader:
    """Checks values while knowing where they came from, for error messages."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.warnings: list[str] = []

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(str(self.path), key, message, self.locate(key))

    def locate(self, key: str) -> int | None:
        """The line of `key` ("outputs[1].rules[0].regex"), found by walking table headers.

        tomllib gives no positions for values, so we find the header of the
        n-th array-of-tables element and the key inside it. A key written inline
        (`rules = [{...}]`) has no header of its own: then the nearest enclosing
        key that can be found is given instead.
        """
        while key:
            line = self._locate_exact(key)
            if line is not None:
                return line
            parent = re.sub(r"(?:\.[^.\[]+|\[\d+\])$", "", key)
            key = "" if parent == key else parent
        return None

    def _locate_exact(self, key: str) -> int | None:
        steps = re.findall(r"([A-Za-z_][\w-]*)(?:\[(\d+)\])?", key)
        if not steps:
            return None
        table_parts = [name for name, _ in steps[:-1]]
        indexes = [int(i) if i else None for _, i in steps[:-1]]
        leaf, leaf_index = steps[-1]
        if leaf_index:  # the key names a whole table element: point at its header
            table_parts.append(leaf)
            indexes.append(int(leaf_index))
            leaf = ""
        header = ".".join(table_parts)
        counters: dict[str, int] = {}
        inside = not table_parts
        for number, raw in enumerate(self.lines, start=1):
            line = raw.strip()
            m = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", line)
            if m:
                name = re.sub(r"\s*\.\s*", ".", m.group(1))
                counters[name] = counters.get(name, 0) + 1 if line.startswith("[[") else 0
                # A new [[outputs]] element starts its own [[outputs.rules]] array
                # (TOML 1.0, array of tables), so nested counts restart from zero.
                for nested in [n for n in counters if n.startswith(name + ".")]:
                    del counters[nested]
                # The key is a table written as a header ([settings], [[sources]]):
                # its first header within the right parent element is its line.
                if (
                    leaf
                    and name == ".".join([*table_parts, leaf])
                    and self._parent_ok([*table_parts, leaf], [*indexes, None], counters)
                ):
                    return number
                if name == header:
                    want = indexes[-1] if indexes else None
                    parent_ok = self._parent_ok(table_parts, indexes, counters)
                    inside = parent_ok and (want is None or counters[name] - 1 == want)
                    if inside and not leaf:
                        return number
                else:
                    inside = False
                continue
            if inside and leaf and re.match(rf"^{re.escape(leaf)}\s*=", line):
                return number
        return None

    @staticmethod
    def _parent_ok(parts: list[str], indexes: list[int | None], counters: dict[str, int]) -> bool:
        for depth in range(1, len(parts)):
            name = ".".join(parts[:depth])
            want = indexes[depth - 1]
            if want is not None and counters.get(name, 0) - 1 != want:
                return False
        return True

    def check_keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                near = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                line = self.locate(f"{where}.{key}" if where else key)
                at = f":{line}" if line else ""
                dotted = f"{where}.{key}" if where else key
                self.warnings.append(f"{self.path}{at}: {dotted}: unknown key, ignored{hint}")

    def table(self, value: object, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, "expected a table")
        return value

    def string(
        self, table: Mapping[str, Any], key: str, where: str, default: str | None = None
    ) -> str:
        value = table.get(key, default)
        if value is None:
            raise self.error(f"{where}.{key}", "is required")
        if not isinstance(value, str):
            raise self.error(f"{where}.{key}", f"expected a string, got {_type_name(value)}")
        return value

    def strings(self, table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(f"{where}.{key}", "expected a list of strings")
        return tuple(v.strip() for v in value if v.strip())

    def integer(
        self, table: Mapping[str, Any], key: str, where: str, default: int, minimum: int = 1
    ) -> int:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"{where}.{key}", f"expected a whole number, got {_type_name(value)}")
        if value < minimum:
            raise self.error(f"{where}.{key}", f"must be at least {minimum}")
        return value

    def number(self, table: Mapping[str, Any], key: str, where: str, default: float) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self.error(f"{where}.{key}", "expected a non-negative number of seconds")
        return float(value)

    def positive(self, table: Mapping[str, Any], key: str, where: str, default: float) -> float:
        """A bound that must exist: 0 would mean "fail at once", never what anyone wants."""
        value = self.number(table, key, where, default)
        if value <= 0:
            raise self.error(f"{where}.{key}", "must be more than 0 seconds")
        return value

    def boolean(self, table: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.error(f"{where}.{key}", f"expected true or false, got {_type_name(value)}")
        return value

    def duration(self, table: Mapping[str, Any], key: str, where: str) -> timedelta | None:
        if key not in table:
            return None
        try:
            return parse_duration(table[key])
        except ValueError as exc:
            raise self.error(f"{where}.{key}", str(exc)) from None


def _type_name(value: object) -> str:
    return {
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def load_config(path: str | Path) -> Config:
    """Read feeds.toml; raise ConfigError on anything wrong. Nothing is created or fetched."""
    path = Path(path).absolute()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), None, "no such file (feedhub init creates one)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), None, f"cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(
            str(path), None, f"not valid TOML: {exc}", int(m.group(1)) if m else None
        ) from None
    return build_config(path, data, text)


def build_config(path: Path, data: Mapping[str, Any], text: str = "") -> Config:
    reader = _Reader(path, text)
    reader.check_keys(data, TOP_KEYS, "")
    settings = _settings(reader, path.parent, data.get("settings", {}))
    sources = _sources(reader, path.parent, data.get("sources", []))
    outputs = _outputs(reader, data.get("outputs", []), {s.name for s in sources})
    return Config(path, settings, sources, outputs, tuple(reader.warnings))


def _settings(reader: _Reader, root: Path, raw: object) -> Settings:
    table = reader.table(raw, "settings")
    reader.check_keys(table, SETTINGS_KEYS, "settings")
    database_url = reader.string(table, "database_url", "settings", DEFAULT_DATABASE_URL)
    # expanduser, as for source paths: "~/public" must not become <root>/~/public.
    output_dir = Path(
        reader.string(table, "output_dir", "settings", DEFAULT_OUTPUT_DIR)
    ).expanduser()
    base_url = reader.string(table, "base_url", "settings", DEFAULT_BASE_URL)
    if not _is_http_url(base_url):
        raise reader.error("settings.base_url", f"{base_url!r} is not an http(s) URL with a host")
    if not base_url.endswith("/"):
        base_url += "/"
    try:
        max_body = parse_size(table.get("max_body_size", 10 * 2**20))
    except ValueError as exc:
        raise reader.error("settings.max_body_size", str(exc)) from None
    return Settings(
        database_url=resolve_database_url(database_url, root),
        output_dir=output_dir if output_dir.is_absolute() else root / output_dir,
        base_url=base_url,
        interval=reader.duration(table, "interval", "settings") or timedelta(hours=1),
        timeout=reader.positive(table, "timeout", "settings", 30.0),
        total_timeout=reader.positive(table, "total_timeout", "settings", 120.0),
        max_body_bytes=max_body,
        concurrency=reader.integer(table, "concurrency", "settings", 32),
        per_host=reader.integer(table, "per_host", "settings", 2),
        host_delay=reader.number(table, "host_delay", "settings", 0.0),
        max_redirects=reader.integer(table, "max_redirects", "settings", 5, minimum=0),
        title=reader.string(table, "title", "settings", "feedhub"),
        claim_lease=reader.duration(table, "claim_lease", "settings") or timedelta(minutes=10),
        keep=_keep(reader, table.get("keep"), "settings.keep") or Keep(),
        database_timeout=reader.positive(table, "database_timeout", "settings", 30.0),
    )


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a malformed port
    except ValueError:  # e.g. an unclosed "[" of an IPv6 literal
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def resolve_database_url(url: str, root: Path) -> str:
    """Make a relative SQLite path relative to the config folder (sqlite:///rel/path)."""
    prefix = next((p for p in ("sqlite:///", "sqlite+pysqlite:///") if url.startswith(p)), None)
    if prefix is None:
        return url
    rest = url[len(prefix) :]
    if not rest or rest.startswith("/") or rest.startswith(":memory:"):
        return url
    return prefix + str(root / rest)


def _sources(reader: _Reader, root: Path, raw: object) -> tuple[SourceConfig, ...]:
    if not isinstance(raw, list):
        raise reader.error("sources", "expected [[sources]] tables")
    result: list[SourceConfig] = []
    names: set[str] = set()
    urls: dict[str, str] = {}
    # Names the user wrote are reserved up front, so an unnamed source listed
    # earlier derives around them instead of making the user's name a "duplicate".
    written = {
        item["name"].strip()
        for item in raw
        if isinstance(item, dict) and isinstance(item.get("name"), str)
    }
    for index, item in enumerate(raw):
        where = f"sources[{index}]"
        table = reader.table(item, where)
        reader.check_keys(table, SOURCE_KEYS, where)
        url = _source_url(reader, root, reader.string(table, "url", where), f"{where}.url")
        if url in urls:
            raise reader.error(f"{where}.url", f"{url} is listed twice (also as {urls[url]!r})")
        if "name" in table:
            name = reader.string(table, "name", where).strip()
            if not name:
                raise reader.error(f"{where}.name", "must not be empty")
            if name in names:
                raise reader.error(f"{where}.name", f"{name!r} is used by two sources")
        else:
            base = derive_name(url)
            name, n = base, 2
            while name in names or name in written:
                name, n = f"{base}-{n}", n + 1
        names.add(name)
        urls[url] = name
        interval = reader.duration(table, "interval", where)
        result.append(
            SourceConfig(
                name=name,
                url=url,
                tags=reader.strings(table, "tags", where),
                interval=interval,
                interval_explicit=interval is not None,
                enabled=reader.boolean(table, "enabled", where, True),
                title=reader.string(table, "title", where) if "title" in table else None,
                keep=_keep(reader, table.get("keep"), f"{where}.keep"),
            )
        )
    return tuple(result)


def _search(reader: _Reader, table: Mapping[str, Any], where: str) -> str | None:
    if "search" not in table:
        return None
    from feedhub.store.search import parse_query

    query = reader.string(table, "search", where).strip()
    if not parse_query(query):
        raise reader.error(f"{where}.search", f"{query!r} has no word to search for")
    return query


def _keep(reader: _Reader, raw: object, where: str) -> Keep | None:
    """keep = { days = 90, min = 50, max = 5000 }: what `feedhub prune` leaves."""
    if raw is None:
        return None
    table = reader.table(raw, where)
    reader.check_keys(table, KEEP_KEYS, where)
    days = reader.integer(table, "days", where, 0, minimum=1) if "days" in table else None
    most = reader.integer(table, "max", where, 0, minimum=1) if "max" in table else None
    least = reader.integer(table, "min", where, 0, minimum=0)
    if most is not None and least > most:
        raise reader.error(f"{where}.min", f"min ({least}) is more than max ({most})")
    return Keep(days=days, min_entries=least, max_entries=most)


def _source_url(reader: _Reader, root: Path, url: str, key: str) -> str:
    url = url.strip()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as exc:  # an unclosed "[" of an IPv6 host
        raise reader.error(key, f"{url!r} has no valid host: {exc}") from None
    if scheme in ("http", "https"):
        if not _is_http_url(url):
            raise reader.error(key, f"{url!r} has no valid host")
        return url
    if scheme == "file":
        url = unquote(urlsplit(url).path)  # RFC 8089: the path is percent-encoded
    elif scheme and len(scheme) > 1:  # a one-letter "scheme" is a Windows drive
        raise reader.error(key, f"{url!r}: only http(s) URLs and local files can be sources")
    path = Path(url).expanduser()
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        raise reader.error(key, f"{path} is not a readable file (nor an http(s) URL)")
    return str(path)


def _outputs(reader: _Reader, raw: object, source_names: set[str]) -> tuple[OutputConfig, ...]:
    if not isinstance(raw, list):
        raise reader.error("outputs", "expected [[outputs]] tables")
    result: list[OutputConfig] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where = f"outputs[{index}]"
        table = reader.table(item, where)
        reader.check_keys(table, OUTPUT_KEYS, where)
        name = reader.string(table, "name", where)
        if not _OUTPUT_NAME.match(name):
            raise reader.error(f"{where}.name", f"{name!r}: use letters, digits, '.', '_' or '-'")
        if name in seen:
            raise reader.error(f"{where}.name", f"{name!r} is used by two outputs")
        seen.add(name)
        where = f"outputs[{index}]"
        sources = reader.strings(table, "sources", where)
        for source in sources:
            if source not in source_names:
                near = difflib.get_close_matches(source, sorted(source_names), n=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise reader.error(f"{where}.sources", f"no source named {source!r}{hint}")
        order = reader.string(table, "order", where, "published")
        if order not in ("published", "updated"):
            raise reader.error(f"{where}.order", 'must be "published" or "updated"')
        formats = reader.strings(table, "formats", where) if "formats" in table else FORMATS
        if not formats:
            raise reader.error(f"{where}.formats", f"name at least one of {', '.join(FORMATS)}")
        for fmt in formats:
            if fmt not in FORMATS:
                raise reader.error(f"{where}.formats", f"{fmt!r}: choose from {', '.join(FORMATS)}")
        token = table.get("token")
        if token is not None and (not isinstance(token, str) or not _TOKEN.match(token)):
            raise reader.error(f"{where}.token", "use 16 to 128 letters, digits, '-' or '_'")
        since = table.get("since")
        if since is not None:
            since = _since(reader, since, f"{where}.since")
        hubs = reader.strings(table, "hubs", where)
        for hub in hubs:
            if not _is_http_url(hub):
                raise reader.error(f"{where}.hubs", f"{hub!r} is not an http(s) URL")
        result.append(
            OutputConfig(
                name=name,
                title=reader.string(table, "title", where, name),
                description=reader.string(table, "description", where, ""),
                tags=reader.strings(table, "tags", where),
                sources=sources,
                rules=_rules(reader, table, where),
                limit=reader.integer(table, "limit", where, 50),
                order=cast(Any, order),
                max_age=reader.duration(table, "max_age", where),
                since=since,
                dedup=reader.boolean(table, "dedup", where, True),
                formats=cast(tuple[Format, ...], tuple(dict.fromkeys(formats))),
                private_token=token,
                hubs=hubs,
                search=_search(reader, table, where),
            )
        )
    return tuple(result)


def _since(reader: _Reader, value: object, key: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise reader.error(key, f"{value!r} is not a date such as 2026-01-31") from None
    elif isinstance(value, date):  # a TOML local date; a local time is no date
        moment = datetime(value.year, value.month, value.day)
    else:
        raise reader.error(key, "expected a date such as 2026-01-31")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _rules(reader: _Reader, table: Mapping[str, Any], where: str) -> tuple[Rule, ...]:
    """include/exclude are shorthands for rules over title and content.

    Drops come first so an excluded word always wins over an included one.
    """
    rules: list[Rule] = []
    exclude = reader.strings(table, "exclude", where)
    if exclude:
        rules.append(Rule(("title", "content"), "contains", exclude, "drop"))
    raw_rules = table.get("rules", [])
    if not isinstance(raw_rules, list):
        raise reader.error(f"{where}.rules", "expected [[outputs.rules]] tables")
    for index, item in enumerate(raw_rules):
        key = f"{where}.rules[{index}]"
        rule = reader.table(item, key)
        reader.check_keys(rule, RULE_KEYS, key)
        fields = reader.strings(rule, "field", key)
        if not fields:
            raise reader.error(f"{key}.field", f"is required: one of {', '.join(RULE_FIELDS)}")
        for name in fields:
            if name not in RULE_FIELDS:
                near = difflib.get_close_matches(name, RULE_FIELDS, n=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise reader.error(f"{key}.field", f"unknown field {name!r}{hint}")
        matches = [m for m in ("contains", "regex", "equals") if m in rule]
        if len(matches) != 1:
            raise reader.error(key, "give exactly one of contains, regex or equals")
        match = matches[0]
        patterns = reader.strings(rule, match, key)
        if not patterns:
            raise reader.error(f"{key}.{match}", "must not be empty")
        if match == "regex":
            for pattern in patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise reader.error(
                        f"{key}.regex", f"invalid regex {pattern!r}: {exc}"
                    ) from None
        action = reader.string(rule, "action", key, "keep")
        if action not in ("keep", "drop"):
            raise reader.error(f"{key}.action", 'must be "keep" or "drop"')
        rules.append(Rule(cast(Any, fields), cast(Any, match), patterns, cast(Any, action)))
    include = reader.strings(table, "include", where)
    if include:
        rules.append(Rule(("title", "content"), "contains", include, "keep"))
    return tuple(rules)


STARTER = """\
# feedhub configuration. Reference: docs/configuration.md
[settings]
database_url = "sqlite:///var/feedhub.db"
output_dir = "var/public"
base_url = "http://127.0.0.1:8080/"   # where the outputs are served (for self links)
interval = "1h"                       # default polling interval

[[sources]]
url = "https://www.w3.org/blog/feed/"
name = "w3c-blog"
tags = ["web"]

[[outputs]]
name = "web"
title = "Web standards news"
description = "Curated by feedhub"
tags = ["web"]
limit = 50
"""


def write_starter(directory: Path) -> Path:
    """`feedhub init`: a starter feeds.toml and var/; never overwrites a config."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "feeds.toml"
    if path.exists():
        raise ConfigError(str(path), None, "already exists; not overwritten")
    path.write_text(STARTER, encoding="utf-8")
    (directory / "var").mkdir(exist_ok=True)
    return path
