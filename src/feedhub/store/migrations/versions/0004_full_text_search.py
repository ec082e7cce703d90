"""full-text search

Revision ID: 0004
Revises: 0003

entries.search_text (plain text of summary and content) on both backends,
filled in here for existing rows. Then, per backend, the index over title and
search_text that store/search.py queries, which schema.metadata cannot declare:

- SQLite: an FTS5 external-content table and the triggers that keep it in
  sync (https://sqlite.org/fts5.html#external_content_tables). A later
  migration that rebuilds `entries` in batch mode drops these triggers with
  the old table and must create them again (tests/test_search.py checks).
- PostgreSQL: a generated tsvector column (title weight A, text weight B) with
  a GIN index; the server keeps it current on every write.
"""

import sqlalchemy as sa
from alembic import op

from feedhub.searchtext import search_text

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BACKFILL_BATCH = 1000

# unicode61 remove_diacritics 2 folds accents (café = cafe) for every script
# version 2 knows, without stemming, which would be wrong for most languages.
SQLITE_INDEX = [
    """CREATE VIRTUAL TABLE entries_fts USING fts5(
        title, search_text,
        content='entries', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
        INSERT INTO entries_fts(rowid, title, search_text)
        VALUES (new.id, new.title, new.search_text);
    END""",
    """CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
        INSERT INTO entries_fts(entries_fts, rowid, title, search_text)
        VALUES ('delete', old.id, old.title, old.search_text);
    END""",
    # Only when indexed columns change: dedup and curation updates to entries
    # leave the index alone. 'delete' must be given the values as indexed.
    """CREATE TRIGGER entries_fts_update AFTER UPDATE OF title, search_text ON entries BEGIN
        INSERT INTO entries_fts(entries_fts, rowid, title, search_text)
        VALUES ('delete', old.id, old.title, old.search_text);
        INSERT INTO entries_fts(rowid, title, search_text)
        VALUES (new.id, new.title, new.search_text);
    END""",
    "INSERT INTO entries_fts(entries_fts) VALUES ('rebuild')",
]

# 'simple': no stemming or stop words, since feeds are multilingual (store/search.py).
# The two-argument to_tsvector with a regconfig is immutable, as GENERATED requires.
POSTGRESQL_INDEX = [
    """ALTER TABLE entries ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('simple'::regconfig, coalesce(search_text, '')), 'B')
    ) STORED""",
    "CREATE INDEX ix_entries_search_vector ON entries USING gin (search_vector)",
]


def upgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=True))
    bind = op.get_bind()
    _backfill(bind)
    dialect = bind.dialect.name
    for statement in (
        SQLITE_INDEX if dialect == "sqlite" else POSTGRESQL_INDEX if dialect == "postgresql" else []
    ):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("entries_fts_insert", "entries_fts_delete", "entries_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS entries_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_entries_search_vector")
        op.execute("ALTER TABLE entries DROP COLUMN IF EXISTS search_vector")
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_column("search_text")


def _backfill(bind: sa.engine.Connection) -> None:
    """search_text for every stored entry, in id order, a batch at a time."""
    rows_table = sa.table(
        "entries",
        sa.column("id", sa.Integer),
        sa.column("summary", sa.Text),
        sa.column("content", sa.Text),
        sa.column("search_text", sa.Text),
    )
    fill = (
        sa.update(rows_table)
        .where(rows_table.c.id == sa.bindparam("row_id"))
        .values(search_text=sa.bindparam("text"))
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(rows_table.c.id, rows_table.c.summary, rows_table.c.content)
            .where(rows_table.c.id > last)
            .order_by(rows_table.c.id)
            .limit(BACKFILL_BATCH)
        ).all()
        if not rows:
            return
        changes = [
            {"row_id": r.id, "text": text}
            for r in rows
            if (text := search_text(r.summary, r.content)) is not None
        ]
        if changes:
            bind.execute(fill, changes)
        last = rows[-1].id
