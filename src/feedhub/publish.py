"""Publishing: curate each output's entries and write its files (feeds, page, index).

An output is rebuilt only when it could have changed (new entries from its
sources, its configuration, a missing file), and every file is rewritten
only when its bytes changed, so readers polling unchanged outputs get 304s.
After an output's feeds change, its WebSub hubs are pinged.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from feedhub.atomicfiles import FileBatch, make_directory, write_files
from feedhub.curate import select_entries
from feedhub.generate import render_output_files
from feedhub.models import Config, OutputConfig, Selection
from feedhub.pages import (
    INDEX_FILE,
    OPML_FILE,
    feed_links,
    render_index,
    render_opml,
    render_output_page,
)
from feedhub.store import EntryFilter, SourceRow, Store

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("feedhub.publish")
STATE_FILE = ".feedhub-outputs.json"


class Publisher:
    """Builds the outputs of one configuration from one store."""

    def __init__(self, config: Config, store: Store, *, clock: Callable[[], datetime]) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.changed_outputs: list[OutputConfig] = []
        self._curations: dict[str, tuple[list[int], set[int]]] | None = None

    def build(self, *, changed_sources: set[str] | None = None) -> list[Path]:
        """Rebuild outputs; with changed_sources, only those that could have changed.

        An output is also rebuilt when its configuration changed since its last
        build or one of its files is missing, so editing feeds.toml takes effect
        on the next fetch.
        """
        settings = self.config.settings
        state_path = settings.output_dir / STATE_FILE
        previous = _read_state(state_path)
        current: dict[str, str] = {}
        written: list[Path] = []
        rows = {r.name: r for r in self.store.sources()}
        self._curations = None  # read afresh by each build
        staged = _Staged()
        with FileBatch() as batch:
            try:
                for output in self.config.outputs:
                    before = previous.get(output.name, "")
                    current[output.name] = self._stage_output(
                        batch, staged, output, before, rows, changed_sources
                    )
                # The index and OPML list the outputs' configuration only: unchanged
                # state and both files present means they are already these bytes.
                index_files = (settings.output_dir / INDEX_FILE, settings.output_dir / OPML_FILE)
                if current != previous or not all(p.exists() for p in index_files):
                    staged.add(batch, None, self.render_index())
            finally:
                # Also when an output failed to render: those before it are written, as
                # they would have been one by one.
                written += self._commit(batch, staged)
        if current != previous:
            # Last, once the files it vouches for are on disk.
            write_files([(state_path, json.dumps(current, sort_keys=True).encode())])
        return written

    def _stage_output(
        self,
        batch: FileBatch,
        staged: _Staged,
        output: OutputConfig,
        before: str,
        rows: dict[str, SourceRow],
        changed_sources: set[str] | None,
    ) -> str:
        """Stage the output's files if they could have changed; returns its new state."""
        settings = self.config.settings
        config_part = output_fingerprint(output, settings.base_url, settings.title)
        members = output_source_names(output, rows.values())
        files_there = all(p.exists() for p in output_paths(output, settings.output_dir))
        stale = (
            changed_sources is None
            or not before.startswith(config_part)
            or bool(members & changed_sources)
            or not files_there
        )
        if not stale:
            return before
        if self._curations is None:  # one query for every output, once one needs it
            self._curations = self.store.curations([o.name for o in self.config.outputs])
        selection = select_for_output(
            self.store,
            output,
            [rows[n].id for n in sorted(members)],
            now=self.clock(),
            curation=self._curations[output.name],
        )
        state = f"{config_part}:{selection_fingerprint(selection)}"
        if state != before or not files_there:  # else: the files are already these bytes
            staged.add(batch, output, self.render_output(selection))
        return state

    def build_output(self, output: OutputConfig, source_ids: Sequence[int]) -> list[Path]:
        """Select and write one output (pin/hide use this for the outputs they touch)."""
        return self.write_output(
            select_for_output(self.store, output, source_ids, now=self.clock())
        )

    def write_output(self, selection: Selection) -> list[Path]:
        """Write one output's feeds and page; remember it if its feeds changed."""
        staged = _Staged()
        with FileBatch() as batch:
            staged.add(batch, selection.output, self.render_output(selection))
            return self._commit(batch, staged)

    def render_output(self, selection: Selection) -> list[tuple[Path, bytes]]:
        """One output's feeds and page, rendered: (path, bytes) each, the page last."""
        output = selection.output
        directory = output_directory(self.config, output)
        base_url = output_base_url(self.config, output)
        make_directory(directory)
        files = render_output_files(selection, output_dir=directory, base_url=base_url)
        page = render_output_page(
            selection, base_url=base_url, site_title=self.config.settings.title
        )
        return [*files, (directory / f"{output.name}.html", page)]

    def _commit(self, batch: FileBatch, staged: _Staged) -> list[Path]:
        """Write what is staged; an output whose feeds changed is remembered for WebSub."""
        written = batch.commit()
        rewritten = set(written)
        for output, feeds in staged.feeds:
            if rewritten.intersection(feeds):
                self.changed_outputs.append(output)
        return written

    def build_index(self) -> list[Path]:
        """index.html and outputs.opml list the public outputs, for people and readers."""
        return write_files(self.render_index())

    def render_index(self) -> list[tuple[Path, bytes]]:
        settings = self.config.settings
        make_directory(settings.output_dir)  # even with no outputs yet
        return [
            (
                settings.output_dir / name,
                render(self.config.outputs, base_url=settings.base_url, site_title=settings.title),
            )
            for name, render in ((INDEX_FILE, render_index), (OPML_FILE, render_opml))
        ]

    async def ping_hubs(self) -> None:
        """WebSub: tell each hub of a public output that changed; a failing hub is logged."""
        from feedhub.websub import ping_hubs  # aiohttp: only when there are hubs to ping

        for output in self.changed_outputs:
            if not output.hubs:
                continue
            if output.private_token:
                # The topic URL carries the token: a hub must never learn it.
                log.warning("%s: private output, hubs not pinged", output.name)
                continue
            topics = [link.url for link in feed_links(output, output_base_url(self.config, output))]
            for hub, error in await ping_hubs(output.hubs, topics):
                if error:
                    log.warning("%s: WebSub hub %s: %s", output.name, hub, error)
                else:
                    log.info("%s: WebSub hub %s pinged", output.name, hub)
        self.changed_outputs.clear()


class _Staged:
    """Which of the files staged in a batch are each output's feeds."""

    def __init__(self) -> None:
        self.feeds: list[tuple[OutputConfig, set[Path]]] = []

    def add(
        self, batch: FileBatch, output: OutputConfig | None, files: list[tuple[Path, bytes]]
    ) -> None:
        """An output's files, its page last; None for files of no output (the index)."""
        for path, data in files:
            batch.add(path, data)
        if output is not None:
            self.feeds.append((output, {path for path, _ in files[:-1]}))


def build_outputs(
    config: Config,
    store: Store,
    *,
    clock: Callable[[], datetime],
    changed_sources: set[str] | None = None,
) -> list[Path]:
    """Rebuild outputs in one place at a time across workers, then ping their hubs.

    What `feedhub build` runs: it imports no fetching code, so it starts fast.
    """
    publisher = Publisher(config, store, clock=clock)
    with store.exclusive("build"):
        written = publisher.build(changed_sources=changed_sources)
    if any(output.hubs for output in publisher.changed_outputs):
        import asyncio

        asyncio.run(publisher.ping_hubs())
    return written


def select_for_output(
    store: Store,
    output: OutputConfig,
    source_ids: Sequence[int],
    *,
    now: datetime,
    curation: tuple[list[int], set[int]] | None = None,
) -> Selection:
    """`curation`: the output's (pinned, hidden), when read already (Store.curations)."""
    pinned_ids, hidden = curation if curation is not None else store.curation(output.name)
    flt = EntryFilter(
        source_ids=tuple(source_ids),
        order=output.order,
        hide_copies_of=tuple(source_ids) if output.dedup else (),
        search=output.search,
    )
    # The first page holds what the output shows plus a margin for hidden entries and
    # copies; outputs whose rules reject more read on in growing pages.
    candidates = store.iter_entries(flt, batch=output.limit + len(hidden) + 10)
    return select_entries(
        output, candidates, now=now, pinned=store.entries_by_ids(pinned_ids), hidden=hidden
    )


def output_source_names(output: OutputConfig, rows: Iterable[SourceRow]) -> set[str]:
    """The sources an output draws from: named or tagged, and still in feeds.toml
    and enabled (a removed source's entries stay stored but are not published)."""
    tags = set(output.tags)
    return {
        r.name
        for r in rows
        if r.enabled and (r.name in output.sources or tags.intersection(r.tags))
    }


def output_base_url(config: Config, output: OutputConfig) -> str:
    base = config.settings.base_url
    return f"{base}{output.private_token}/" if output.private_token else base


def output_directory(config: Config, output: OutputConfig) -> Path:
    """Private outputs live in a folder named by their token: served only at a URL
    that carries it, by feedhub serve or any static server."""
    root = config.settings.output_dir
    return root / output.private_token if output.private_token else root


def output_paths(output: OutputConfig, output_dir: Path) -> list[Path]:
    directory = output_dir / output.private_token if output.private_token else output_dir
    return [directory / f"{output.name}.{ext}" for ext in (*output.formats, "html")]


def selection_fingerprint(selection: Selection) -> str:
    """Everything of a selection that reaches the files: which entries, in which
    order, their content and their sources' provenance. Equal fingerprints mean
    byte-identical files, so rendering can be skipped (most builds)."""
    digest = hashlib.sha256()
    for stored in selection.entries:
        source = stored.source
        digest.update(
            repr((stored.public_id, stored.entry.content_hash, stored.changed_at, stored.first_seen,
                  source.name, source.url, source.title, source.link, source.feed_id)).encode()
        )  # fmt: skip
    return digest.hexdigest()[:16]


def output_fingerprint(output: OutputConfig, base_url: str, site_title: str = "") -> str:
    """What of the configuration shapes an output's files; the version too, so an
    upgrade that renders differently rewrites them."""
    from feedhub import __version__

    key = repr((output, base_url, site_title, __version__))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _read_state(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def cache_max_ages(config: Config) -> dict[str, int]:
    """Cache-Control max-age per served file: the shortest polling interval among
    an output's sources, since the file cannot change more often than that."""
    ages: dict[str, int] = {}
    for output in config.outputs:
        members = [
            s for s in config.sources if s.name in output.sources or set(s.tags) & set(output.tags)
        ]
        intervals = [(s.interval or config.settings.interval).total_seconds() for s in members]
        seconds = int(min(intervals, default=config.settings.interval.total_seconds()))
        prefix = f"{output.private_token}/" if output.private_token else ""
        for extension in (*output.formats, "html"):
            ages[f"{prefix}{output.name}.{extension}"] = seconds
    return ages
