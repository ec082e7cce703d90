from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.feedserver import FeedServer

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO.parent / "shared" / "schemas"


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer().running() as server:
        yield server


def require_atom_validators() -> tuple[Path, Path]:
    """The RFC 4287 schema and its Schematron rules, with jing and xmllint.

    CI always has them (.ci/run installs jing and lays shared/ beside the
    checkout); a fresh machine may not, so there the check skips, saying why.
    """
    rnc, sch = SCHEMAS / "atom.rnc", SCHEMAS / "atom.sch"
    if not rnc.exists() or not sch.exists():
        pytest.skip(f"Atom schemas not found at {SCHEMAS} (shared/ is beside the checkout in CI)")
    if shutil.which("jing") is None or shutil.which("xmllint") is None:
        pytest.skip("jing and xmllint are not installed (apt-get install jing libxml2-utils)")
    return rnc, sch


def postgres_url() -> str | None:
    """The PostgreSQL server for tests, or None (then those tests skip, saying why).

    .ci/run sets FEEDHUB_REQUIRE_POSTGRES, so in CI a missing server fails loudly.
    """
    url = os.environ.get("FEEDHUB_TEST_DATABASE_URL")
    if not url and os.environ.get("FEEDHUB_REQUIRE_POSTGRES"):
        raise RuntimeError("FEEDHUB_REQUIRE_POSTGRES is set but FEEDHUB_TEST_DATABASE_URL is not")
    return url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    base = postgres_url()
    if not base:
        pytest.skip("no PostgreSQL: set FEEDHUB_TEST_DATABASE_URL=postgresql+psycopg://...")
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        if os.environ.get("FEEDHUB_REQUIRE_POSTGRES"):
            raise
        pytest.skip(f"PostgreSQL at {base} not usable: {exc}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on a real SQLite file and on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'feedhub.db'}"
    return str(request.getfixturevalue("pg_url"))
