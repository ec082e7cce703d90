from __future__ import annotations

import shutil
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
