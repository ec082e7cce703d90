"""Tests for feedhub.config: reading feeds.toml, its defaults, and errors a person can act on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedhub.config import (
    STARTER,
    _Reader,
    load_config,
    parse_duration,
    parse_size,
    resolve_database_url,
    write_starter,
)
from feedhub.errors import ConfigError
from feedhub.models import Rule

FEED_URL = "https://example.org/feed.xml"


def write(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "feeds.toml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based number of the nth line that contains `needle` (tests name lines by content)."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) >= nth, f"{needle!r} occurs {len(hits)} times"
    return hits[nth - 1]


def config_error(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value


def assert_error(tmp_path: Path, text: str, key: str, line: int | None, *words: str) -> ConfigError:
    """The error names the file, the key path and the line, as `file:line: key: message`."""
    error = config_error(tmp_path, text)
    path = str((tmp_path / "feeds.toml").absolute())
    assert error.path == path
    assert error.key == key
    assert error.line == line
    where = f"{path}:{line}" if line else path
    assert str(error).startswith(f"{where}: {key}: "), str(error)
    for word in words:
        assert word.lower() in str(error).lower(), (word, str(error))
    return error


# --- a complete file ------------------------------------------------------------

FULL = f"""\
[settings]
database_url = "sqlite:///var/feedhub.db"
output_dir = "var/public"
base_url = "https://news.example.net/feeds"
interval = "1h"
max_body_size = "5MiB"
concurrency = 8
title = "My feeds"

[[sources]]
url = "{FEED_URL}"
name = "example"
tags = ["policy", "japan"]
interval = "30m"
enabled = true
title = "Example Org"

[[sources]]
url = "https://other.example.com/atom"
enabled = false

[[outputs]]
name = "ai-policy"
title = "AI policy"
description = "What governments do about AI"
tags = ["policy"]
sources = ["example"]
include = ["AI", "artificial intelligence"]
exclude = ["sponsored"]
limit = 20
order = "updated"
max_age = "2w"
since = 2024-01-31
dedup = false
formats = ["atom", "json", "atom"]
token = "abcdefghijklmnop1234"
hubs = ["https://hub.example/"]

[[outputs.rules]]
field = ["category", "author"]
regex = "^(ads?|promo)$"
action = "drop"

[[outputs.rules]]
field = "language"
equals = "ja"
"""


def test_full_file_is_read_into_typed_config(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    config = load_config(path)
    assert config.path == path.absolute()
    assert config.warnings == ()

    settings = config.settings
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'feedhub.db'}"
    assert settings.output_dir == tmp_path / "var" / "public"
    assert settings.base_url == "https://news.example.net/feeds/"  # a slash is added
    assert settings.interval == timedelta(hours=1)
    assert settings.max_body_bytes == 5 * 2**20
    assert settings.concurrency == 8
    assert settings.title == "My feeds"

    first, second = config.sources
    assert first.name == "example"
    assert first.url == FEED_URL
    assert first.tags == ("policy", "japan")
    assert first.interval == timedelta(minutes=30)
    assert first.interval_explicit
    assert first.enabled
    assert first.title == "Example Org"
    assert second.name == "other.example.com-atom"
    assert second.interval is None and not second.interval_explicit
    assert not second.enabled
    assert second.title is None

    (output,) = config.outputs
    assert output.name == "ai-policy"
    assert output.title == "AI policy"
    assert output.description == "What governments do about AI"
    assert output.tags == ("policy",)
    assert output.sources == ("example",)
    assert output.limit == 20
    assert output.order == "updated"
    assert output.max_age == timedelta(weeks=2)
    assert output.since == datetime(2024, 1, 31, tzinfo=UTC)
    assert output.dedup is False
    assert output.formats == ("atom", "json")  # duplicates dropped, order kept
    assert output.private_token == "abcdefghijklmnop1234"
    assert output.hubs == ("https://hub.example/",)


def test_include_exclude_become_rules_drop_first_then_explicit_then_keep(tmp_path: Path) -> None:
    (output,) = load_config(write(tmp_path, FULL)).outputs
    assert output.rules == (
        Rule(("title", "content"), "contains", ("sponsored",), "drop"),
        Rule(("category", "author"), "regex", ("^(ads?|promo)$",), "drop"),
        Rule(("language",), "equals", ("ja",), "keep"),  # action defaults to keep
        Rule(("title", "content"), "contains", ("AI", "artificial intelligence"), "keep"),
    )


def test_minimal_file_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, f'[[sources]]\nurl = "{FEED_URL}"\n'))
    settings = config.settings
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'feedhub.db'}"
    assert settings.output_dir == tmp_path / "var" / "public"
    assert settings.base_url == "http://127.0.0.1:8080/"
    assert settings.interval == timedelta(hours=1)
    assert settings.max_body_bytes == 10 * 2**20
    assert config.outputs == ()
    (source,) = config.sources
    assert source.name == "example.org-feed"
    assert source.tags == () and source.enabled


def test_output_defaults(tmp_path: Path) -> None:
    (output,) = load_config(write(tmp_path, '[[outputs]]\nname = "all"\n')).outputs
    assert output.title == "all"
    assert output.rules == ()
    assert output.limit == 50
    assert output.order == "published"
    assert output.max_age is None and output.since is None
    assert output.dedup is True
    assert output.formats == ("atom", "rss", "json")
    assert output.private_token is None


def test_inline_rules_are_read(tmp_path: Path) -> None:
    text = (
        '[[outputs]]\nname = "x"\n'
        'rules = [{field = "title", contains = "AI", action = "drop"},'
        ' {field = "source", equals = ["a", "b"]}]\n'
    )
    (output,) = load_config(write(tmp_path, text)).outputs
    assert output.rules == (
        Rule(("title",), "contains", ("AI",), "drop"),
        Rule(("source",), "equals", ("a", "b"), "keep"),
    )


# --- relative paths resolve against the config's folder ---------------------------


def test_relative_paths_resolve_against_config_folder_not_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "conf"
    (folder / "feeds").mkdir(parents=True)
    (folder / "feeds" / "local.xml").write_text("<rss/>", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The same file exists relative to the cwd too: it must not be the one picked.
    (elsewhere / "conf").mkdir()
    write(
        folder,
        '[settings]\ndatabase_url = "sqlite:///data/feedhub.db"\noutput_dir = "out"\n'
        '[[sources]]\nurl = "feeds/local.xml"\n'
        '[[sources]]\nurl = "file://' + str(folder / "feeds" / "local%20copy.xml") + '"\n',
    )
    (folder / "feeds" / "local copy.xml").write_text("<rss/>", encoding="utf-8")
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("..") / "conf" / "feeds.toml")
    root = config.root
    assert root.is_absolute()
    assert root.resolve() == folder.resolve()
    assert config.settings.database_url == f"sqlite:///{root / 'data' / 'feedhub.db'}"
    assert config.settings.output_dir == root / "out"
    assert Path(config.sources[0].url) == root / "feeds" / "local.xml"
    assert Path(config.sources[0].url).is_file()
    # file: URLs are percent-decoded (RFC 8089), so a space in the name works.
    assert Path(config.sources[1].url) == folder / "feeds" / "local copy.xml"
    assert config.sources[0].name == "local"
    assert config.sources[1].name == "local-copy"


def test_absolute_and_non_file_database_urls_are_left_alone(tmp_path: Path) -> None:
    assert resolve_database_url("sqlite:////abs/x.db", tmp_path) == "sqlite:////abs/x.db"
    assert resolve_database_url("sqlite:///:memory:", tmp_path) == "sqlite:///:memory:"
    assert resolve_database_url("sqlite://", tmp_path) == "sqlite://"
    pg = "postgresql://u@localhost/feedhub"
    assert resolve_database_url(pg, tmp_path) == pg
    assert resolve_database_url("sqlite+pysqlite:///a.db", tmp_path) == (
        f"sqlite+pysqlite:///{tmp_path / 'a.db'}"
    )


# --- durations and sizes -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("1h", 3600),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("2d", 172800),
        ("1w", 604800),
        ("1.5h", 5400),
        ("2H", 7200),
        (5, 5),
        (2.5, 2.5),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", [True, False, "", "soon", "1h30", "30 minutes", "-5m", 0, -1, "0s"])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "size"),
    [("10MiB", 10 * 2**20), ("500KB", 500_000), ("1kib", 1024), ("2 GB", 2 * 10**9), (4096, 4096)],
)
def test_parse_size(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["ten", "10 MiBs", 0, -1, True, 1.5, "0"])
def test_parse_size_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_size(bad)


def test_numeric_interval_is_seconds(tmp_path: Path) -> None:
    text = f'[[sources]]\nurl = "{FEED_URL}"\ninterval = 5\n'
    assert load_config(write(tmp_path, text)).sources[0].interval == timedelta(seconds=5)


def test_a_single_string_tag_is_one_tag(tmp_path: Path) -> None:
    text = f'[[sources]]\nurl = "{FEED_URL}"\ntags = "x"\n'
    assert load_config(write(tmp_path, text)).sources[0].tags == ("x",)


# --- derived names -------------------------------------------------------------


def test_derived_names_are_made_unique(tmp_path: Path) -> None:
    text = (
        '[[sources]]\nurl = "https://example.org/feed"\n'
        '[[sources]]\nurl = "https://www.example.org/feed"\n'
        '[[sources]]\nurl = "http://example.org/feed.xml"\n'
    )
    names = [s.name for s in load_config(write(tmp_path, text)).sources]
    assert names == ["example.org-feed", "example.org-feed-2", "example.org-feed-3"]


def test_derived_name_never_takes_a_name_written_later(tmp_path: Path) -> None:
    # The user wrote "example.org-feed" once; it must not be reported as used twice.
    text = (
        '[[sources]]\nurl = "https://example.org/feed"\n'
        '[[sources]]\nurl = "https://example.org/other"\nname = "example.org-feed"\n'
    )
    names = [s.name for s in load_config(write(tmp_path, text)).sources]
    assert names == ["example.org-feed-2", "example.org-feed"]


# --- warnings for unknown keys ---------------------------------------------------


def test_unknown_keys_warn_with_nearest_key_and_line(tmp_path: Path) -> None:
    text = (
        "[settings]\n"
        'intervall = "1h"\n'
        "[[sources]]\n"
        f'url = "{FEED_URL}"\n'
        "[[sources]]\n"
        'url = "https://b.example/feed"\n'
        'intreval = "2h"\n'
        "[[outputs]]\n"
        'name = "o"\n'
        "[[outputs]]\n"
        'name = "p"\n'
        "[[outputs.rules]]\n"
        'field = "title"\n'
        'contains = "x"\n'
        'actoin = "drop"\n'
        "[extra]\n"
    )
    path = write(tmp_path, text)
    config = load_config(path)
    prefix = str(path.absolute())
    assert config.warnings == (
        f"{prefix}:{line_of(text, 'extra')}: extra: unknown key, ignored",
        f"{prefix}:2: settings.intervall: unknown key, ignored; did you mean 'interval'?",
        f"{prefix}:7: sources[1].intreval: unknown key, ignored; did you mean 'interval'?",
        f"{prefix}:15: outputs[1].rules[0].actoin: unknown key, ignored; did you mean 'action'?",
    )
    # Ignored keys really are ignored.
    assert config.settings.interval == timedelta(hours=1)
    assert config.outputs[1].rules[0].action == "keep"


# --- locate: which line a key is on ----------------------------------------------

LOCATE_DOC = """\
title = "top"   # line 1, before any table
[settings]
interval = "1h"

[[sources]]
url = "https://a.example/feed"

[[ sources ]]   # spaced header
url = "https://b.example/feed"
interval = "2h"

[[outputs]]
name = "first"
limit = 1
[[outputs.rules]]
field = "title"
regex = "r00"
[[outputs.rules]]
field = "title"
regex = "r01"

[[outputs]]
name = "second"
[[outputs.rules]]
field = "title"
regex = "r10"
[[outputs.rules]]
field = "title"
regex = "r11"
[[outputs.rules]]
field = "title"
regex = "r12"

[[outputs]]
name = "third"
rules = [{field = "title", regex = "inline"}]
limit = 3

[[sources]]   # sources may come back after outputs
url = "https://c.example/feed"
name = "c"
"""


@pytest.mark.parametrize(
    ("key", "needle", "nth"),
    [
        ("title", 'title = "top"', 1),
        ("settings", "[settings]", 1),
        ("sources", "[[sources]]", 1),
        ("outputs", "[[outputs]]", 1),
        ("outputs[1].rules", "[[outputs.rules]]", 3),
        ("settings.interval", 'interval = "1h"', 1),
        ("sources[0]", "[[sources]]", 1),
        ("sources[0].url", "a.example", 1),
        ("sources[1]", "[[ sources ]]", 1),
        ("sources[1].url", "b.example", 1),
        ("sources[1].interval", 'interval = "2h"', 1),
        ("sources[2].url", "c.example", 1),
        ("sources[2].name", 'name = "c"', 1),
        ("outputs[0].name", 'name = "first"', 1),
        ("outputs[0].limit", "limit = 1", 1),
        ("outputs[1]", "[[outputs]]", 2),
        ("outputs[1].name", 'name = "second"', 1),
        ("outputs[0].rules[0].regex", "r00", 1),
        ("outputs[0].rules[1].regex", "r01", 1),
        ("outputs[0].rules[1]", "[[outputs.rules]]", 2),
        ("outputs[1].rules[0].regex", "r10", 1),
        ("outputs[1].rules[1].regex", "r11", 1),
        ("outputs[1].rules[2].regex", "r12", 1),
        ("outputs[1].rules[2]", "[[outputs.rules]]", 5),
        ("outputs[1].rules[0].field", 'field = "title"', 3),
        ("outputs[2].limit", "limit = 3", 1),
        # Inline tables have no header: the enclosing `rules =` line is the best answer.
        ("outputs[2].rules[0].regex", "rules = [", 1),
        ("outputs[2].rules[0]", "rules = [", 1),
        # A key that is absent points at the table it belongs in.
        ("sources[0].interval", "[[sources]]", 1),
        ("outputs[1].limit", "[[outputs]]", 2),
    ],
)
def test_locate(key: str, needle: str, nth: int) -> None:
    reader = _Reader(Path("feeds.toml"), LOCATE_DOC)
    assert reader.locate(key) == line_of(LOCATE_DOC, needle, nth)


@pytest.mark.parametrize("key", ["nowhere.key", "nowhere", ""])
def test_locate_unknown_keys(key: str) -> None:
    assert _Reader(Path("feeds.toml"), LOCATE_DOC).locate(key) is None


# --- errors --------------------------------------------------------------------

ONE_SOURCE = f'[[sources]]\nurl = "{FEED_URL}"\nname = "example"\n'


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="feedhub init"):
        load_config(tmp_path / "nope.toml")


def test_malformed_toml_gives_tomllib_line(tmp_path: Path) -> None:
    text = ONE_SOURCE + "\n[[outputs]]\nname = ai-policy\n"
    error = config_error(tmp_path, text)
    assert error.line == line_of(text, "ai-policy")
    assert str(error).startswith(f"{tmp_path / 'feeds.toml'}:{error.line}: not valid TOML")


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "feeds.toml").write_bytes(b'title = "\xff"\n')
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "feeds.toml")


H = "  # <- here"  # marks the line an error must point at
SRC2 = ONE_SOURCE + '[[sources]]\nurl = "https://b.example/"\n'
OUT = '[[outputs]]\nname = "x"\n'
RULE = OUT + '[[outputs.rules]]\nfield = "title"\n'

# (id, feeds.toml, key path, words the message must contain, "|"-separated)
ERRORS = [
    ("interval-true", SRC2 + f"interval = true{H}", "sources[1].interval", "duration"),
    ("bad-duration", f'[settings]\ninterval = "hourly"{H}', "settings.interval", "'hourly'"),
    ("limit-ten", OUT + f'limit = "ten"{H}', "outputs[0].limit", "whole number|a string"),
    ("limit-zero", OUT + f"limit = 0{H}", "outputs[0].limit", "at least 1"),
    ("tags-numbers", ONE_SOURCE + f"tags = [1, 2]{H}", "sources[0].tags", "list of strings"),
    ("enabled-string", ONE_SOURCE + f'enabled = "yes"{H}', "sources[0].enabled", "true or"),
    ("title-number", ONE_SOURCE + f"title = 0{H}", "sources[0].title", "a string"),
    ("settings-number", f"settings = 5{H}", "settings", "table"),
    ("sources-table", f'[sources]{H}\nurl = "{FEED_URL}"', "sources", "[[sources]]"),
    ("no-url", ONE_SOURCE + f'[[sources]]{H}\nname = "u"', "sources[1].url", "required"),
    ("same-name", SRC2 + f'name = "example"{H}', "sources[1].name", "used by two sources"),
    ("same-url", ONE_SOURCE + f'[[sources]]\nurl = "{FEED_URL}"{H}', "sources[1].url",
     "listed twice|(also as 'example')"),
    ("same-output", OUT + OUT.rstrip() + H, "outputs[1].name", "used by two outputs"),
    ("output-name", f'[[outputs]]\nname = "a/b"{H}', "outputs[0].name", "letters"),
    ("unknown-source", ONE_SOURCE + OUT + f'sources = ["exmaple"]{H}', "outputs[0].sources",
     "no source named 'exmaple'; did you mean 'example'?"),
    ("regex-of-2nd-output", RULE + 'regex = "fine"\n' + RULE.replace("x", "y") + 'regex = "a"\n'
     + RULE[len(OUT):] + 'regex = "b"\n' + RULE[len(OUT):] + f'regex = "(unclosed"{H}',
     "outputs[1].rules[2].regex", "invalid regex '(unclosed'"),
    ("regex-inline", OUT + f'rules = [{{field = "title", regex = "[z-a]"}}]{H}',
     "outputs[0].rules[0].regex", "invalid regex"),
    ("rule-field", OUT + f'[[outputs.rules]]\nfield = "titel"{H}\ncontains = "x"',
     "outputs[0].rules[0].field", "unknown field 'titel'; did you mean 'title'?"),
    ("rule-no-field", OUT + f'[[outputs.rules]]{H}\ncontains = "x"',
     "outputs[0].rules[0].field", "required"),
    ("rule-two-kinds", OUT + f'[[outputs.rules]]{H}\nfield = "title"\ncontains = "x"\nregex = "y"',
     "outputs[0].rules[0]", "exactly one"),
    ("rule-no-kind", OUT + f'[[outputs.rules]]{H}\nfield = "title"', "outputs[0].rules[0]",
     "exactly one"),
    ("rule-action", RULE + f'contains = "x"\naction = "hide"{H}', "outputs[0].rules[0].action",
     '"keep" or "drop"'),
    ("missing-file", f'[[sources]]\nurl = "feeds/missing.xml"{H}', "sources[0].url",
     "feeds/missing.xml is not a readable file"),
    ("formats", OUT + f'formats = ["atom", "xml"]{H}', "outputs[0].formats", "'xml'|atom, rss"),
    ("formats-number", OUT + f"formats = 3{H}", "outputs[0].formats", "list of strings"),
    ("order", OUT + f'order = "newest"{H}', "outputs[0].order", '"published" or "updated"'),
    ("hub", OUT + f'hubs = ["mailto:a@b"]{H}', "outputs[0].hubs", "http(s)"),
    ("body-size", f'[settings]\nmax_body_size = "lots"{H}', "settings.max_body_size", "size"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "key", "words"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_errors_name_file_key_and_line(tmp_path: Path, text: str, key: str, words: str) -> None:
    text += "\n"
    assert_error(tmp_path, text, key, line_of(text, H), *words.split("|"))


@pytest.mark.parametrize(
    "base_url", ["localhost:8080", "ftp://example.org/", "http://", "/feeds/", "http://[::1/"]
)
def test_bad_base_url(tmp_path: Path, base_url: str) -> None:
    text = f'[settings]\nbase_url = "{base_url}"\n'
    assert_error(tmp_path, text, "settings.base_url", 2, "http(s)")


@pytest.mark.parametrize("url", ["ftp://example.org/feed.xml", "gopher://x/"])
def test_non_http_url_is_an_error(tmp_path: Path, url: str) -> None:
    text = ONE_SOURCE + f'[[sources]]\nurl = "{url}"\n'
    assert_error(tmp_path, text, "sources[1].url", line_of(text, url), "http(s)")


@pytest.mark.parametrize("url", ["https:///feed.xml", "http://[::1/feed"])
def test_http_url_without_valid_host(tmp_path: Path, url: str) -> None:
    text = f'[[sources]]\nurl = "{url}"\n'
    assert_error(tmp_path, text, "sources[0].url", 2, "host")


@pytest.mark.parametrize("token", ["short", "has spaces in it here!!", 12345678901234567])
def test_bad_token(tmp_path: Path, token: object) -> None:
    value = f'"{token}"' if isinstance(token, str) else str(token)
    text = f'[[outputs]]\nname = "x"\ntoken = {value}\n'
    assert_error(tmp_path, text, "outputs[0].token", 3, "16 to 128")


@pytest.mark.parametrize("since", ['"yesterday"', "12:00:00", "5"])
def test_bad_since(tmp_path: Path, since: str) -> None:
    text = f'[[outputs]]\nname = "x"\nsince = {since}\n'
    assert_error(tmp_path, text, "outputs[0].since", 3, "date")


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ('"2024-03-01"', datetime(2024, 3, 1, tzinfo=UTC)),
        ("2024-03-01T12:00:00", datetime(2024, 3, 1, 12, tzinfo=UTC)),
        ("2024-03-01T12:00:00+02:00", datetime(2024, 3, 1, 10, tzinfo=UTC)),
    ],
)
def test_since_forms(tmp_path: Path, since: str, expected: datetime) -> None:
    text = f'[[outputs]]\nname = "x"\nsince = {since}\n'
    assert load_config(write(tmp_path, text)).outputs[0].since == expected


def test_max_redirects_is_read(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[settings]\nmax_redirects = 0\n"))
    assert config.settings.max_redirects == 0
    assert config.warnings == ()


# --- starter -------------------------------------------------------------------


def test_write_starter_is_loadable_and_never_overwritten(tmp_path: Path) -> None:
    folder = tmp_path / "new"
    path = write_starter(folder)
    assert path == folder / "feeds.toml"
    assert (folder / "var").is_dir()
    config = load_config(path)
    assert config.warnings == ()
    assert [s.name for s in config.sources] == ["w3c-blog"]
    assert [o.name for o in config.outputs] == ["web"]
    assert config.settings.database_url == f"sqlite:///{folder / 'var' / 'feedhub.db'}"

    path.write_text(STARTER + "# edited\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="already exists"):
        write_starter(folder)
    assert path.read_text(encoding="utf-8").endswith("# edited\n")
