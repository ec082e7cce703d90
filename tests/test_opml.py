"""OPML import and export: the shapes real readers write, feeds.toml edited in place, round trips."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedhub.config import load_config
from feedhub.errors import ConfigError, ParseError
from feedhub.models import SourceConfig, SourceInfo
from feedhub.opml import (
    OpmlFeed,
    add_sources_to_config,
    feeds_for_export,
    parse_opml,
    read_opml,
    slugify_tag,
    write_opml,
)

DATA = Path(__file__).parent / "data" / "opml"


def opml(body: str, head: str = "<title>t</title>") -> bytes:
    return f'<?xml version="1.0"?><opml version="2.0"><head>{head}</head><body>{body}</body></opml>'.encode()


def only_inserted(old: str, new: str) -> str:
    """The one run of text `new` adds to `old`; fails if anything of `old` changed."""
    prefix = 0
    while prefix < min(len(old), len(new)) and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while suffix < len(old) - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    assert prefix + suffix == len(old), "feeds.toml changed outside the insertion"
    return new[prefix : len(new) - suffix]


def urls_and_tags(path: Path) -> dict[str, tuple[str, ...]]:
    return {s.url: s.tags for s in load_config(path).sources}


# --- reading the shapes readers export ------------------------------------------


def test_feedly_folders_become_tags_and_a_feed_in_two_folders_is_listed_twice() -> None:
    document = parse_opml((DATA / "feedly.opml").read_bytes())
    assert document.title == "Alex subscriptions in feedly Cloud"
    assert [(f.url, f.tags) for f in document.feeds] == [
        ("https://feeds.arstechnica.com/arstechnica/index", ("tech-news",)),
        ("https://www.theverge.com/rss/index.xml", ("tech-news",)),
        ("https://feeds.arstechnica.com/arstechnica/index", ("science-space",)),
        ("https://www.nasa.gov/rss/dyn/breaking_news.rss", ("science-space",)),
    ]
    verge = document.feeds[1]
    assert verge.title == "The Verge - All Posts"
    assert verge.html_url == "https://www.theverge.com/"


def test_inoreader_top_level_feed_has_no_tags() -> None:
    feeds = read_opml((DATA / "inoreader.xml").read_bytes())
    assert [(f.title, f.tags) for f in feeds] == [
        ("Python Insider", ("dev",)),
        ("Julia Evans", ("dev",)),
        ("LWN.net", ()),
    ]


def test_netnewswire_nested_folders_give_every_ancestor_and_attribute_order_is_free() -> None:
    feeds = read_opml((DATA / "netnewswire.opml").read_bytes())
    assert [(f.url, f.html_url, f.tags) for f in feeds] == [
        ("https://daringfireball.net/feeds/main", "https://daringfireball.net/", ()),
        ("https://feedpress.me/sixcolors", "https://sixcolors.com/", ("apple",)),
        (
            "https://developer.apple.com/news/rss/news.rss",
            "https://developer.apple.com/news/",
            ("apple", "developer-news"),
        ),
    ]
    assert feeds[2].title == "News - Apple Developer"


def test_miniflux_outlines_without_type_are_feeds_and_a_hostless_url_is_skipped() -> None:
    document = parse_opml((DATA / "miniflux.opml").read_bytes())
    assert [(f.url, f.tags) for f in document.feeds] == [
        ("https://miniflux.app/feed.xml", ("all",)),
        ("https://github.blog/feed/", ("open-source",)),
    ]
    assert [(s.url, s.reason) for s in document.skipped] == [("https://", "not an http(s) URL")]


def test_freshrss_category_attribute_paths_and_tags_and_scrapers_skipped() -> None:
    document = parse_opml((DATA / "freshrss.opml").read_bytes())
    assert [(f.title, f.tags) for f in document.feeds] == [
        ("Phoronix", ("linux",)),
        ("Drew DeVault's blog", ("linux", "tech", "programming", "personal")),
        ("Standards", ("sans-categorie", "web-standards")),
    ]
    assert [(s.url, s.reason) for s in document.skipped] == [
        ("https://scraped.example/news", "a scraped page (type=HTML+XPath)")
    ]


def test_thunderbird_lowercase_attributes_and_file_urls() -> None:
    document = parse_opml((DATA / "thunderbird.opml").read_bytes())
    assert [(f.url, f.html_url, f.tags) for f in document.feeds] == [
        ("https://hacks.mozilla.org/feed/", "https://hacks.mozilla.org/", ("mozilla",)),
        ("https://planet.mozilla.org/rss20.xml", "https://planet.mozilla.org/", ()),
    ]
    assert [s.url for s in document.skipped] == ["file:///home/alex/feeds/test.xml"]


def test_entity_declarations_are_refused_and_no_file_is_read(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="entities"):
        parse_opml((DATA / "xxe.opml").read_bytes())
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42")
    attacks = [
        f'<!DOCTYPE opml [<!ENTITY s SYSTEM "{secret.as_uri()}">]><opml><body><outline text="&s;" xmlUrl="https://a.example/"/></body></opml>',
        f'<!DOCTYPE opml [<!ENTITY % p SYSTEM "{secret.as_uri()}"> %p;]><opml><body/></opml>',
        '<!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><opml><body><outline text="&c;" xmlUrl="https://a.example/"/></body></opml>',
    ]
    for attack in attacks:
        with pytest.raises(ParseError) as caught:
            parse_opml(attack.encode())
        assert "TOP-SECRET" not in str(caught.value)
    # An external DTD subset alone is allowed, but never loaded: its entities stay unknown.
    external = f'<!DOCTYPE opml SYSTEM "{secret.as_uri()}"><opml><body><outline text="x&s;" xmlUrl="https://a.example/"/></body></opml>'
    feeds = read_opml(external.encode())
    assert [f.title for f in feeds] == ["x"]


@pytest.mark.parametrize(
    "data",
    [b"", b"<opml><body>", b"<rss version='2.0'><channel/></rss>", b"<opml version='2.0'><head/></opml>",
     b'<?xml version="1.0" encoding="no-such-encoding"?><opml/>'],
)  # fmt: skip
def test_unreadable_documents_raise_parse_error(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse_opml(data)


def test_details_of_outlines() -> None:
    feeds = read_opml(opml(
        '<outline text="Old" isComment="true"><outline text="a" xmlUrl="https://a.example/rss"/></outline>'
        '<outline text="b" xmlUrl="feed://b.example/rss" category="News, /World/Europe"/>'
        '<outline text="c" xmlUrl="feed:https://c.example/rss" htmlUrl="javascript:alert(1)"/>'
        '<outline text="d" xmlUrl="  https://d.example/rss  " title=""/>'
        '<outline text="inc" type="include" url="https://elsewhere.example/list.opml"/>'
        '<outline text="Empty folder"/>'
    ))  # fmt: skip
    assert [(f.url, f.title, f.tags, f.enabled, f.html_url) for f in feeds] == [
        ("https://a.example/rss", "a", ("old",), False, None),
        ("http://b.example/rss", "b", ("news", "world", "europe"), True, None),
        ("https://c.example/rss", "c", (), True, None),
        ("https://d.example/rss", "d", (), True, None),
    ]
    skipped = parse_opml(
        opml('<outline text="inc" type="include" url="https://x.example/l.opml"/>')
    ).skipped
    assert [s.reason for s in skipped] == ["type=include outlines are not followed"]


def test_deep_nesting_does_not_recurse() -> None:
    depth = 5000
    body = (
        '<outline text="f">' * depth
        + '<outline xmlUrl="https://deep.example/"/>'
        + "</outline>" * depth
    )
    [feed] = read_opml(opml(body))
    assert feed.tags == ("f",)


@pytest.mark.parametrize(
    ("text", "tag"),
    [("Tech News", "tech-news"), ("Science & Space", "science-space"), ("Sans catégorie", "sans-categorie"),
     ("Новости", "новости"), ("  C++ / Rust ", "c-rust"), ("snake_case", "snake-case"), ("!!", "")],
)  # fmt: skip
def test_slugify_tag(text: str, tag: str) -> None:
    assert slugify_tag(text) == tag
    assert slugify_tag(tag) == tag


# --- importing into feeds.toml -----------------------------------------------------

LAYOUT = """\
# My feeds -- hand-kept, please keep the alignment.

[settings]
base_url    = "http://127.0.0.1:8080/"   # served here
interval    = "2h"

# ~~~ reading list ~~~
[[sources]]
url  = "https://ARSTECHNICA.example/feed"     # a duplicate by host case
name = "ars"
tags = [ "tech" ]

[[outputs]]   # an output between sources: TOML allows it
name = "tech"
tags = ["tech"]

[[sources]]
url  = "https://feeds.arstechnica.com/arstechnica/index"
name = "feeds.arstechnica.com-arstechnica-index"  # the name import would derive
# interval = "30m"   (commented out on purpose)

# ~~~ outputs ~~~

[[outputs]]
name = "all"
"""


def test_import_appends_after_the_last_source_and_keeps_every_other_byte(tmp_path: Path) -> None:
    config = tmp_path / "feeds.toml"
    config.write_text(LAYOUT)
    feeds = [
        OpmlFeed("https://feeds.arstechnica.com/arstechnica/index", "Ars", None, ("science",)),
        OpmlFeed("https://arstechnica.example/feed", "Ars again"),
        OpmlFeed("https://new.example/rss", 'The "New" one', None, ("tech-news",)),
        OpmlFeed("https://New.Example/rss", "Same, host case", None, ("science-space",)),
        OpmlFeed("https://feeds.arstechnica.com/arstechnica/index/", "Slash differs: another feed"),
    ]
    report = add_sources_to_config(config, feeds)
    assert report.written
    assert [(a.name, a.url, a.tags) for a in report.added] == [
        ("new.example-rss", "https://new.example/rss", ("tech-news", "science-space")),
        (
            "feeds.arstechnica.com-arstechnica-index-2",
            "https://feeds.arstechnica.com/arstechnica/index/",
            (),
        ),
    ]
    assert [(s.url, s.reason) for s in report.skipped] == [
        (
            "https://feeds.arstechnica.com/arstechnica/index",
            "already configured as 'feeds.arstechnica.com-arstechnica-index'",
        ),
        ("https://arstechnica.example/feed", "already configured as 'ars'"),
        ("https://New.Example/rss", "listed twice in the OPML"),
    ]
    block = (
        '[[sources]] # The "New" one\n'
        'url = "https://new.example/rss"\n'
        'name = "new.example-rss"\n'
        'tags = ["tech-news", "science-space"]\n'
        "\n"
        "[[sources]] # Slash differs: another feed\n"
        'url = "https://feeds.arstechnica.com/arstechnica/index/"\n'
        'name = "feeds.arstechnica.com-arstechnica-index-2"\n'
    )
    # Under the last source's keys and its hugging comment, before the comment
    # that heads the outputs; every other byte as it was.
    last_key = '# interval = "30m"   (commented out on purpose)\n'
    assert config.read_text() == LAYOUT.replace(last_key, last_key + "\n" + block)
    loaded = load_config(config)
    assert [s.name for s in loaded.sources] == [
        "ars", "feeds.arstechnica.com-arstechnica-index", "new.example-rss",
        "feeds.arstechnica.com-arstechnica-index-2",
    ]  # fmt: skip
    assert loaded.outputs[0].name == "tech"


def test_feedly_export_into_a_config_merges_the_two_folders(tmp_path: Path) -> None:
    config = tmp_path / "feeds.toml"
    config.write_text("")
    report = add_sources_to_config(config, read_opml((DATA / "feedly.opml").read_bytes()))
    assert [s.reason for s in report.skipped] == ["listed twice in the OPML"]
    assert urls_and_tags(config) == {
        "https://feeds.arstechnica.com/arstechnica/index": ("tech-news", "science-space"),
        "https://www.theverge.com/rss/index.xml": ("tech-news",),
        "https://www.nasa.gov/rss/dyn/breaking_news.rss": ("science-space",),
    }


def test_dry_run_and_nothing_new_leave_the_file_alone(tmp_path: Path) -> None:
    config = tmp_path / "feeds.toml"
    config.write_text(LAYOUT)
    before = config.stat().st_mtime_ns
    report = add_sources_to_config(config, [OpmlFeed("https://x.example/")], dry_run=True)
    assert [a.name for a in report.added] == ["x.example"] and not report.written
    report = add_sources_to_config(config, [OpmlFeed("https://arstechnica.example/feed")])
    assert not report.added and not report.written
    assert config.read_text() == LAYOUT and config.stat().st_mtime_ns == before


NEW_BLOCK = '[[sources]] # New\nurl = "https://new.example/"\nname = "new.example"\ntags = ["t"]\n'


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        # No sources yet: before the outputs and the comment heading them.
        ('[settings]\ntitle = "x"\n\n# outputs below\n[[outputs]]\nname = "a"\n',
         f'[settings]\ntitle = "x"\n\n{NEW_BLOCK}\n# outputs below\n[[outputs]]\nname = "a"\n'),
        # No newline at the end of the file.
        ('[[sources]]\nurl = "https://a.example/"',
         f'[[sources]]\nurl = "https://a.example/"\n\n{NEW_BLOCK}'),
        # A comment hugging the last source (no blank line) stays with it.
        ('[[sources]]\nurl = "https://a.example/"\n# note on a\n[[outputs]]\nname = "o"\n',
         f'[[sources]]\nurl = "https://a.example/"\n# note on a\n\n{NEW_BLOCK}\n[[outputs]]\nname = "o"\n'),
        ("", NEW_BLOCK),
    ],
)  # fmt: skip
def test_import_layouts(tmp_path: Path, original: str, expected: str) -> None:
    config = tmp_path / "feeds.toml"
    config.write_text(original)
    add_sources_to_config(config, [OpmlFeed("https://new.example/", "New", None, ("t",))])
    assert config.read_text() == expected
    assert urls_and_tags(config)["https://new.example/"] == ("t",)


def test_crlf_files_get_crlf_lines(tmp_path: Path) -> None:
    original = '# windows\r\n[[sources]]\r\nurl = "https://a.example/"\r\n\r\n[[outputs]]\r\nname = "o"\r\n'
    config = tmp_path / "feeds.toml"
    config.write_bytes(original.encode())
    add_sources_to_config(config, [OpmlFeed("https://b.example/", "B", None, ("x",))])
    new = config.read_bytes().decode()
    inserted = only_inserted(original, new)
    assert "\n" not in inserted.replace("\r\n", "")
    assert list(urls_and_tags(config)) == ["https://a.example/", "https://b.example/"]


def test_inline_sources_array_is_extended_inline(tmp_path: Path) -> None:
    original = (
        'sources = [\n  { url = "https://a.example/" },  # first\n]\n\n[settings]\ntitle = "t"\n'
    )
    config = tmp_path / "feeds.toml"
    config.write_text(original)
    add_sources_to_config(config, [OpmlFeed("https://b.example/", None, None, ("x",))])
    new = config.read_text()
    assert "# first" in new and "[[sources]]" not in new
    assert urls_and_tags(config) == {"https://a.example/": (), "https://b.example/": ("x",)}


def test_a_header_inside_a_multiline_string_does_not_fool_the_splice(tmp_path: Path) -> None:
    original = '[[sources]]\nurl = "https://a.example/"\n\n[[outputs]]\nname = "o"\ndescription = """\n[[sources]]\n"""\n'
    config = tmp_path / "feeds.toml"
    config.write_text(original)
    add_sources_to_config(config, [OpmlFeed("https://b.example/")])
    assert config.read_text().startswith(original)  # fell back to appending at the end
    loaded = load_config(config)
    assert loaded.outputs[0].description == "[[sources]]\n"
    assert [s.url for s in loaded.sources] == ["https://a.example/", "https://b.example/"]


def test_an_invalid_config_is_left_untouched(tmp_path: Path) -> None:
    config = tmp_path / "feeds.toml"
    broken = (
        '[[sources]]\nurl = "https://a.example/"\n\n[[outputs]]\nname = "o"\nsources = ["nope"]\n'
    )
    config.write_text(broken)
    with pytest.raises(ConfigError, match="no source named 'nope'"):
        add_sources_to_config(config, [OpmlFeed("https://b.example/")])
    assert config.read_text() == broken
    assert os.listdir(tmp_path) == ["feeds.toml"]


def test_a_result_that_fails_validation_is_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fault injection: no real OPML makes a valid config invalid, so the checker refuses here.
    import feedhub.opml

    def refuse(path: Path, data: object, text: str = "") -> None:
        raise ConfigError(str(path), "sources[1].url", "refused by the test")

    monkeypatch.setattr(feedhub.opml, "build_config", refuse)
    config = tmp_path / "feeds.toml"
    config.write_text(LAYOUT)
    with pytest.raises(ConfigError, match="refused by the test"):
        add_sources_to_config(config, [OpmlFeed("https://b.example/")])
    assert config.read_text() == LAYOUT
    assert os.listdir(tmp_path) == ["feeds.toml"]


def test_permissions_and_symlinks_survive(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    target = real / "feeds.toml"
    target.write_text(LAYOUT)
    target.chmod(0o640)
    link = tmp_path / "feeds.toml"
    link.symlink_to(target)
    add_sources_to_config(link, [OpmlFeed("https://b.example/")])
    assert link.is_symlink()
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert "https://b.example/" in target.read_text()
    assert sorted(os.listdir(real)) == ["feeds.toml"]


# --- exporting ---------------------------------------------------------------------


def test_write_opml_is_opml_2_with_folders_and_categories() -> None:
    feeds = [
        OpmlFeed("https://a.example/rss", "A & co", "https://a.example/", ("tech", "news")),
        OpmlFeed("https://b.example/rss", "B\x00\x1b", None, ()),
        OpmlFeed("https://c.example/rss", None, None, ("news",), enabled=False),
        OpmlFeed("https://d.example/rss", "D", None, ("tech",)),
    ]
    data = write_opml(feeds, title="My feeds", created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert data == write_opml(
        feeds, title="My feeds", created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    )
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    root = ET.fromstring(data)
    assert root.findtext("head/title") == "My feeds"
    assert root.findtext("head/docs") == "http://opml.org/spec2.opml"
    assert root.findtext("head/dateCreated") == "Fri, 02 Jan 2026 03:04:05 GMT"
    body = root.find("body")
    assert body is not None
    assert [(o.get("text"), o.get("xmlUrl")) for o in body] == [
        ("tech", None), ("B", "https://b.example/rss"), ("news", None),
    ]  # fmt: skip
    tech = body[0]
    assert [o.attrib for o in tech] == [
        {"type": "rss", "text": "A & co", "title": "A & co", "xmlUrl": "https://a.example/rss",
         "htmlUrl": "https://a.example/", "category": "tech,news"},
        {"type": "rss", "text": "D", "title": "D", "xmlUrl": "https://d.example/rss", "category": "tech"},
    ]  # fmt: skip
    assert (
        body[2][0].get("isComment") == "true" and body[2][0].get("text") == "https://c.example/rss"
    )
    assert b"dateCreated" not in write_opml(feeds, title="t")
    back = read_opml(data)
    assert [(f.url, f.tags, f.enabled) for f in back] == [
        (f.url, f.tags, f.enabled) for f in [feeds[0], feeds[3], feeds[1], feeds[2]]
    ]


def test_feeds_for_export_prefers_configured_then_stored_titles_and_skips_files() -> None:
    sources = [
        SourceConfig("a", "https://a.example/rss", ("x",), title="Mine"),
        SourceConfig("b", "https://b.example/rss"),
        SourceConfig("c", "https://c.example/rss"),
        SourceConfig("local", "/srv/feeds/local.xml"),
    ]
    stored = {
        "a": SourceInfo("a", "https://a.example/rss", "Theirs", "https://a.example/"),
        "b": SourceInfo("b", "https://b.example/rss", "B's feed", "https://b.example/"),
    }
    feeds, local = feeds_for_export(sources, stored)
    assert [(f.title, f.html_url) for f in feeds] == [
        ("Mine", "https://a.example/"), ("B's feed", "https://b.example/"), ("c", None),
    ]  # fmt: skip
    assert [s.name for s in local] == ["local"]


def test_round_trip_through_every_reader_shape(tmp_path: Path) -> None:
    for name in (
        "feedly.opml",
        "inoreader.xml",
        "netnewswire.opml",
        "miniflux.opml",
        "freshrss.opml",
        "thunderbird.opml",
    ):
        first = tmp_path / f"{name}.toml"
        first.write_text("")
        add_sources_to_config(first, read_opml((DATA / name).read_bytes()))
        exported = write_opml(feeds_for_export(load_config(first).sources)[0], title=name)
        second = tmp_path / f"{name}.again.toml"
        second.write_text("")
        add_sources_to_config(second, read_opml(exported))
        assert urls_and_tags(second) == urls_and_tags(first), name
        assert [s.name for s in load_config(second).sources] == [
            s.name for s in load_config(first).sources
        ]


# --- through the command line, as a user runs it ---------------------------------


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedhub", "--config", str(config), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_cli_import_then_export_then_import_elsewhere(tmp_path: Path) -> None:
    config = tmp_path / "feeds.toml"
    config.write_text(LAYOUT)
    dry = run(config, "import", str(DATA / "feedly.opml"), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would add" in dry.stdout and config.read_text() == LAYOUT
    result = run(config, "import", str(DATA / "feedly.opml"))
    assert result.returncode == 0, result.stderr
    assert "2 added, 2 skipped" in result.stdout
    assert "already configured as 'feeds.arstechnica.com-arstechnica-index'" in result.stdout
    only_inserted(LAYOUT, config.read_text())
    assert not (tmp_path / "var").exists()  # import never creates the database

    exported = run(config, "export")
    assert exported.returncode == 0, exported.stderr
    assert not (tmp_path / "var").exists()  # nor does export
    opml_file = tmp_path / "out.opml"
    assert run(config, "export", "-o", str(opml_file)).returncode == 0
    assert opml_file.read_text() == exported.stdout

    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text('[settings]\ntitle = "fresh"\n')
    again = run(elsewhere, "import", str(opml_file))
    assert again.returncode == 0, again.stderr
    assert urls_and_tags(elsewhere) == urls_and_tags(config)


def test_cli_errors_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "feeds.toml"
    config.write_text(LAYOUT)
    bad = tmp_path / "bad.opml"
    bad.write_bytes((DATA / "xxe.opml").read_bytes())
    result = run(config, "import", str(bad))
    assert result.returncode == 2 and "entities" in result.stderr
    assert config.read_text() == LAYOUT
    broken = tmp_path / "broken.toml"
    broken.write_text("[[sources]]\nurl = 1\n")
    result = run(broken, "import", str(DATA / "feedly.opml"))
    assert result.returncode == 2 and "expected a string" in result.stderr
    assert run(config, "import", str(tmp_path / "missing.opml")).returncode == 2


def test_cli_export_uses_titles_and_links_from_the_database(tmp_path: Path) -> None:
    from feedhub.store import Store

    config = tmp_path / "feeds.toml"
    config.write_text(
        '[[sources]]\nurl = "https://ministry.example/news.xml"\nname = "ministry"\ntags = ["gov"]\n'
    )
    before = ET.fromstring(run(config, "export").stdout.encode()).find("body/outline/outline")
    assert before is not None and before.get("text") == "ministry"  # no database yet: the name
    assert not (tmp_path / "var").exists()
    # What a fetch records about the feed, written the way the fetch stage writes it.
    loaded = load_config(config)
    with Store.open(loaded.settings.database_url) as store:
        store.sync_sources(loaded.sources, datetime.now(UTC))
        store.set_source_state("ministry", title="Ministry News", link="https://ministry.example/")
    result = run(config, "export")
    assert result.returncode == 0, result.stderr
    outline = ET.fromstring(result.stdout.encode()).find("body/outline/outline")
    assert outline is not None
    assert outline.get("text") == "Ministry News"
    assert outline.get("htmlUrl") == "https://ministry.example/"
    assert outline.get("xmlUrl") == "https://ministry.example/news.xml"
