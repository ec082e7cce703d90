"""Retention: the keep rule (pure), and `feedhub prune` on both backends."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feedhub.models import Keep
from feedhub.retention import entries_to_remove, worth_vacuuming
from feedhub.store import EntryFilter, Store
from tests.feedserver import Document, FeedServer, rss

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def days_ago(*ages: int) -> list[tuple[int, datetime]]:
    return [(i, NOW - timedelta(days=age)) for i, age in enumerate(ages)]


def test_days_with_a_floor_of_newest_entries() -> None:
    entries = days_ago(1, 10, 100, 200, 300)
    assert entries_to_remove(entries, Keep(days=90), now=NOW) == [2, 3, 4]
    assert entries_to_remove(entries, Keep(days=90, min_entries=4), now=NOW) == [4]
    assert entries_to_remove(entries, Keep(), now=NOW) == []


def test_at_most_n_per_source_and_protection() -> None:
    entries = days_ago(1, 2, 3, 4, 5)
    assert entries_to_remove(entries, Keep(max_entries=2), now=NOW) == [2, 3, 4]
    assert entries_to_remove(entries, Keep(max_entries=2), now=NOW, protected={3}) == [2, 4]


def test_vacuum_only_when_worth_it() -> None:
    assert not worth_vacuuming(0, 100) and not worth_vacuuming(5, 1000)
    assert worth_vacuuming(300, 1000) and worth_vacuuming(10_000, 10**7)


def feedhub(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "feedhub", "--config", str(config), *args], capture_output=True, text=True, timeout=120)  # fmt: skip


def test_prune_keeps_published_and_pinned_and_never_revives(tmp_path: Path, feed_server: FeedServer, db_url: str) -> None:  # fmt: skip
    # Ten entries a year old: all due for removal by age.
    items = [{"title": f"Post {i}", "guid": f"g{i}", "link": f"https://a.example/{i}", "pubDate": f"Mon, {i + 1:02d} Sep 2025 09:00:00 +0000"} for i in range(10)]  # fmt: skip
    feed_server.documents["/a.xml"] = Document(rss("A", items))
    config = tmp_path / "feeds.toml"
    config.write_text(f'[settings]\ndatabase_url = "{db_url}"\nkeep = {{ days = 90, min = 2 }}\n\n[[sources]]\nurl = "{feed_server.url("/a.xml")}"\nname = "a"\n\n[[outputs]]\nname = "o"\nsources = ["a"]\nlimit = 3\n')  # fmt: skip
    assert feedhub(config, "fetch").returncode == 0
    with Store.open(db_url) as store:
        oldest = min(store.iter_entries(EntryFilter()), key=lambda e: e.published)
    assert feedhub(config, "pin", oldest.short_id, "--output", "o").returncode == 0

    dry = feedhub(config, "prune", "--dry-run")
    # 10 entries: the output shows 3 (pin + 2 newest), the floor keeps the 2 newest.
    assert dry.returncode == 0 and "would remove 7 entries" in dry.stdout, dry.stdout + dry.stderr
    with Store.open(db_url) as store:
        assert store.count_entries() == 10
    done = feedhub(config, "prune")
    assert "removed 7 entries" in done.stdout
    with Store.open(db_url) as store:
        assert store.count_entries() == 3
    # The feed still lists all ten: the pruned ones stay pruned.
    assert "0 new" in feedhub(config, "fetch", "--all").stdout
    assert "would remove 0 entries" in feedhub(config, "prune", "--dry-run").stdout


def test_keep_in_feeds_toml(tmp_path: Path) -> None:
    import tomllib

    import pytest

    from feedhub.config import build_config
    from feedhub.errors import ConfigError

    text = '[settings]\nkeep = { days = 90, min = 50, max = 5000 }\n[[sources]]\nurl = "https://a.example/f"\nname = "a"\nkeep = { max = 100 }\n'
    config = build_config(tmp_path / "feeds.toml", tomllib.loads(text), text)
    assert config.settings.keep == Keep(days=90, min_entries=50, max_entries=5000)
    assert config.sources[0].keep == Keep(max_entries=100)
    bad = '[[sources]]\nurl = "https://a.example/f"\nkeep = { min = 10, max = 5 }\n'
    with pytest.raises(ConfigError, match=r"sources\[0\]\.keep\.min"):
        build_config(tmp_path / "feeds.toml", tomllib.loads(bad), bad)
