"""Outputs stay byte-identical across how they are rendered: the Atom and RSS written by
generate.py match what feedgen and lxml made (tests/feedgen_reference.py), the pages
what the Jinja2 templates made (tests/page_templates/), for any entries, hostile text
included, and the JSON Feed matches json.dumps. Identical bytes keep ETags stable, so
readers polling an unchanged output keep getting 304s."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import jinja2
import markupsafe
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedhub import PROJECT_URL, __version__
from feedhub.errors import GenerateError
from feedhub.generate import render_atom, render_json, render_rss, rfc822
from feedhub.jsonfeed import NOT_XML_CHAR, _encode, _text_extractor, html_to_text
from feedhub.models import (
    Author,
    Enclosure,
    Entry,
    OutputConfig,
    Selection,
    SourceInfo,
    StoredEntry,
)
from feedhub.pages import (
    _h,
    index_context,
    output_page_context,
    render_index,
    render_output_page,
)
from tests import feedgen_reference as reference
from tests.test_generate import BASE_URL, EMPTY, ENTRIES, FALLBACK, SELECTION

# Text that has broken XML writers: markup, entities, CDATA ends, controls, surrogates,
# noncharacters, line separators, quotes, whitespace of every kind, astral characters.
PIECES = [
    "<", ">", "&", '"', "'", "]]>", "<![CDATA[", "&amp;", "&#13;", "<p>x</p>", "\r", "\n",
    "\t", "\r\n", " ", "\x00", "\x07", "\x0b", "\x1f", "\x7f", "\x85", "\u2028", "\ud800",
    "\udfff", "\ufffe", "\uffff", "é", "日本語", "😀", "\U0010ffff", "-->", "=", "/",
    "http://", "https://e.example/a?b=1&c=2#f", "urn:uuid:", "mailto:x@y", "x@y.example",
    "audio/mpeg", "en", "de_DE", "a b",
]  # fmt: skip
text = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), max_size=5).map("".join)
maybe_text = st.none() | text
moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
) | st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([timezone(timedelta(hours=5, minutes=30)), UTC]),
)
authors = st.builds(Author, name=maybe_text, email=maybe_text, uri=maybe_text)
enclosures = st.builds(
    Enclosure,
    url=text,
    type=maybe_text,
    length=st.none() | st.integers(min_value=-5, max_value=10**12),
)
sources = st.builds(
    SourceInfo, name=text, url=text, title=maybe_text, link=maybe_text, feed_id=maybe_text
)
entries = st.builds(
    Entry,
    key=st.just("k"),
    title=text,
    link=maybe_text,
    published=st.none() | moments,
    updated=st.none() | moments,
    authors=st.lists(authors, max_size=3).map(tuple),
    categories=st.lists(text, max_size=3).map(tuple),
    summary=maybe_text,
    content=maybe_text,
    enclosures=st.lists(enclosures, max_size=2).map(tuple),
    comments=maybe_text,
    language=st.none() | st.sampled_from(["en", "en", "de_DE", "", "x y", "fr-CA"]),
    guid_is_permalink=st.booleans(),
)
stored_entries = st.builds(
    StoredEntry,
    id=st.integers(1, 1000),
    short_id=st.just("s"),
    public_id=text,
    source=sources,
    entry=entries,
    first_seen=moments,
    changed_at=moments,
)
outputs = st.builds(
    OutputConfig,
    name=st.sampled_from(["digest", "a-b", "x_1"]),
    title=text,
    description=text,
    hubs=st.lists(text, max_size=2).map(tuple),
)
selections = st.builds(
    Selection, output=outputs, entries=st.lists(stored_entries, max_size=4).map(tuple)
)


def _rendered(render: object, selection: Selection) -> bytes | str:
    """The bytes, or the GenerateError's kind: both renderers must refuse the same input."""
    try:
        return render(selection, base_url=BASE_URL, updated_fallback=FALLBACK)  # type: ignore[operator,no-any-return]
    except GenerateError:
        return "GenerateError"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(selection=selections)
def test_atom_and_rss_are_what_feedgen_wrote(selection: Selection) -> None:
    assert _rendered(render_atom, selection) == _rendered(reference.render_atom, selection)
    assert _rendered(render_rss, selection) == _rendered(reference.render_rss, selection)


@pytest.mark.parametrize("selection", [SELECTION, EMPTY], ids=["entries", "empty"])
def test_fixtures_are_what_feedgen_wrote(selection: Selection) -> None:
    for new, old in ((render_atom, reference.render_atom), (render_rss, reference.render_rss)):
        assert new(selection, base_url=BASE_URL, updated_fallback=FALLBACK) == old(
            selection, base_url=BASE_URL, updated_fallback=FALLBACK
        )
    assert len(ENTRIES) == 4


@settings(max_examples=200, deadline=None)
@given(selection=selections)
def test_json_feed_is_what_json_dumps_wrote(selection: Selection) -> None:
    data = render_json(selection, base_url=BASE_URL, updated_fallback=FALLBACK)
    parsed = json.loads(data)
    assert data == (json.dumps(parsed, ensure_ascii=False, indent=2) + "\n").encode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | text.filter(lambda s: "\ud800" not in s),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(text.filter(lambda s: "\ud800" not in s), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_the_json_encoder_is_json_dumps(value: object) -> None:
    out: list[str] = []
    _encode(value, "\n", out)
    assert "".join(out) == json.dumps(value, ensure_ascii=False, indent=2)


@given(moment=moments)
def test_rfc822_dates_are_strftime_in_the_c_locale(moment: datetime) -> None:
    utc = moment.astimezone(UTC).replace(microsecond=0)
    assert rfc822(moment) == utc.strftime("%a, %d %b %Y %H:%M:%S %z")


def test_not_xml_char_is_what_xml_1_0_leaves_out() -> None:
    xml_char = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
    for code in range(0x110000):
        assert bool(NOT_XML_CHAR.match(chr(code))) != bool(xml_char.match(chr(code))), code


@given(html=text)
def test_html_to_text_without_markup_is_the_parsers_text(html: str) -> None:
    extractor = _text_extractor()()
    extractor.feed(html)
    extractor.close()
    assert html_to_text(html) == " ".join("".join(extractor.parts).split())


# --- HTML pages: what the Jinja2 templates (tests/page_templates/) rendered -----------

TEMPLATES = Path(__file__).with_name("page_templates")


def _jinja(template: str, context: dict[str, object]) -> bytes:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    page = environment.get_template(template)
    return page.render(version=__version__, project_url=PROJECT_URL, **context).encode()


page_outputs = st.builds(
    OutputConfig,
    name=st.sampled_from(["digest", "a-b"]),
    title=text,
    description=text,
    formats=st.lists(st.sampled_from(["atom", "rss", "json"]), max_size=3).map(tuple),
    private_token=st.none() | st.just("tok_" + "x" * 20),
)
page_selections = st.builds(
    Selection, output=page_outputs, entries=st.lists(stored_entries, max_size=4).map(tuple)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(selection=page_selections, site_title=text)
def test_output_pages_are_what_the_templates_rendered(
    selection: Selection, site_title: str
) -> None:
    context = output_page_context(selection, base_url=BASE_URL, site_title=site_title)
    assert render_output_page(selection, base_url=BASE_URL, site_title=site_title) == _jinja(
        "output.html", context
    )


@settings(max_examples=200, deadline=None)
@given(
    outputs=st.lists(page_outputs, max_size=4).map(tuple),
    site_title=text,
    counts=st.none() | st.dictionaries(st.sampled_from(["digest", "a-b"]), st.integers(0, 3)),
)
def test_index_pages_are_what_the_templates_rendered(
    outputs: tuple[OutputConfig, ...], site_title: str, counts: dict[str, int] | None
) -> None:
    context = index_context(outputs, base_url=BASE_URL, site_title=site_title, counts=counts)
    rendered = render_index(outputs, base_url=BASE_URL, site_title=site_title, counts=counts)
    assert rendered == _jinja("index.html", {"private": False, **context})


@given(value=text)
def test_html_escaping_is_markupsafes(value: str) -> None:
    assert _h(value) == str(markupsafe.escape(value))
