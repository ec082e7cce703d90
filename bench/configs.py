"""The feeds.toml files the bench runs feedhub with: the farm's sources and 20 outputs."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from farm import TOPICS, FarmSpec, feed_profile


@dataclass(frozen=True)
class Output:
    name: str
    tags: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    rules: tuple[dict[str, object], ...] = ()
    limit: int = 50
    order: str = "published"
    dedup: bool = True


def bench_outputs(spec: FarmSpec) -> list[Output]:
    """20 outputs of the kinds people write: by tag, by source list, filtered by words.

    Rare tags (python, databases) and narrow source lists make the store scan far
    down the date index; include rules make curate reject most candidates.
    """
    rng = random.Random(f"outputs:{spec.seed}")
    names = [feed_profile(spec, i).name for i in range(spec.feeds)]

    def pick(count: int) -> tuple[str, ...]:
        return tuple(sorted(rng.sample(names, min(count, len(names)))))

    return [
        *(Output(f"tag-{tag}", tags=(tag,)) for tag in TOPICS[:6]),
        Output("tag-python", tags=("python",), limit=100),
        Output("tag-databases", tags=("databases",), order="updated"),
        Output("civic", tags=("health", "climate", "energy", "transport", "cities")),
        Output("standards", tags=("standards", "accessibility"), limit=100),
        Output("science", tags=("research", "science"), dedup=False),
        Output("money", tags=("finance", "procurement"), order="updated"),
        Output("picked-3", sources=pick(3)),
        Output("picked-10", sources=pick(10)),
        Output("picked-40", sources=pick(40), limit=100),
        Output("picked-100", sources=pick(100), exclude=("sponsored",)),
        Output("ai-models", tags=("ai",), include=("AI", "model"), exclude=("sponsored",)),
        Output(
            "budget-watch",
            tags=("policy", "justice", "finance"),
            rules=({"field": "title", "regex": r"\b(budget|election)s?\b"},),
        ),
        Output(
            "everything",
            tags=TOPICS,
            exclude=("podcast", "outage"),
            limit=200,
            order="updated",
        ),
        Output(
            "incidents",
            tags=("security",),
            sources=pick(5),
            include=("breach", "outage", "release"),
            rules=({"field": "author", "contains": "Hopper", "action": "drop"},),
        ),
    ]


def _toml(value: object) -> str:
    # JSON strings, numbers, booleans and arrays of them are valid TOML values.
    return json.dumps(list(value) if isinstance(value, tuple) else value)


def write_config(
    path: Path,
    *,
    spec: FarmSpec,
    base_url: str,
    database_url: str,
    output_dir: Path,
    concurrency: int,
    outputs: Sequence[Output],
) -> Path:
    """A feeds.toml with every farm feed as a source (base_url: the farm server)."""
    lines = [
        "[settings]",
        f"database_url = {_toml(database_url)}",
        f"output_dir = {_toml(str(output_dir))}",
        'base_url = "http://127.0.0.1:8080/"',
        f"concurrency = {concurrency}",
        # Every farm feed lives on one host, 127.0.0.1: the per-host limit must not
        # serialize what would be many hosts in real life.
        f"per_host = {concurrency}",
        "timeout = 60",
        "total_timeout = 300",
        "",
    ]
    for index in range(spec.feeds):
        feed = feed_profile(spec, index)
        lines += [
            "[[sources]]",
            f"url = {_toml(base_url + feed.path)}",
            f"name = {_toml(feed.name)}",
            f"tags = {_toml(feed.tags)}",
            "",
        ]
    for output in outputs:
        lines += ["[[outputs]]", f"name = {_toml(output.name)}"]
        lines.append(f"title = {_toml(output.name.replace('-', ' ').title())}")
        for key in ("tags", "sources", "include", "exclude"):
            if getattr(output, key):
                lines.append(f"{key} = {_toml(getattr(output, key))}")
        lines += [f"limit = {output.limit}", f"order = {_toml(output.order)}"]
        if not output.dedup:
            lines.append("dedup = false")
        for rule in output.rules:
            lines.append("[[outputs.rules]]")
            lines += [f"{key} = {_toml(value)}" for key, value in rule.items()]
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
