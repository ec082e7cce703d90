"""feedhub migrate and feedhub copy-db, through the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from feedhub.store import EntryFilter, Store
from tests.feedserver import Document, FeedServer, rss


def feedhub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "feedhub", *args], capture_output=True, text=True, timeout=120)  # fmt: skip


def test_migrate_reports_the_schema_and_is_repeatable(tmp_path: Path) -> None:
    config = tmp_path / "feeds.toml"
    config.write_text("")
    first = feedhub("--config", str(config), "migrate")
    assert first.returncode == 0 and "was empty" in first.stdout
    again = feedhub("--config", str(config), "migrate")
    assert again.returncode == 0 and "was" not in again.stdout


def test_copy_db_moves_entries_curation_and_state(tmp_path: Path, feed_server: FeedServer, db_url: str) -> None:  # fmt: skip
    feed_server.documents["/a.xml"] = Document(rss("A", [{"title": f"Post {i} about things", "guid": f"g{i}", "link": f"https://a.example/{i}"} for i in range(5)]))  # fmt: skip
    config = tmp_path / "feeds.toml"
    config.write_text(f'[[sources]]\nurl = "{feed_server.url("/a.xml")}"\nname = "a"\n\n[[outputs]]\nname = "o"\nsources = ["a"]\n')  # fmt: skip
    assert feedhub("--config", str(config), "fetch").returncode == 0
    sqlite_url = f"sqlite:///{tmp_path / 'var/feedhub.db'}"
    with Store.open(sqlite_url) as before:
        first = next(before.iter_entries(EntryFilter()))
    assert feedhub("--config", str(config), "pin", first.short_id, "--output", "o").returncode == 0
    target = db_url if "postgresql" in db_url else f"sqlite:///{tmp_path / 'copy.db'}"
    copied = feedhub("copy-db", sqlite_url, target)
    assert copied.returncode == 0, copied.stderr
    assert "5 entries" in copied.stdout
    with Store.open(sqlite_url) as old, Store.open(target) as new:
        assert [e.public_id for e in new.iter_entries(EntryFilter())] == [e.public_id for e in old.iter_entries(EntryFilter())]  # fmt: skip
        assert new.curation("o") == old.curation("o")
        (a_old,), (a_new,) = old.sources(), new.sources()
        assert (a_new.etag, a_new.next_fetch_at, a_new.status) == (a_old.etag, a_old.next_fetch_at, a_old.status)  # fmt: skip
        # New rows get fresh ids after the copy (PostgreSQL sequences were moved on).
        from datetime import UTC, datetime

        from feedhub.models import SourceConfig

        new.sync_sources([SourceConfig("a", a_old.url), SourceConfig("b", "https://b.example/f")], datetime.now(UTC))  # fmt: skip
        assert {s.name for s in new.sources()} == {"a", "b"}
    # Copying into a database that already has sources is refused.
    again = feedhub("copy-db", sqlite_url, target)
    assert again.returncode == 1 and "empty database" in again.stderr
