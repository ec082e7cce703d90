"""SQLite: new entries enter the full-text index in bulk, not through a per-row trigger

Revision ID: 0006
Revises: 0005

FTS5 fed one row at a time by the AFTER INSERT trigger cost a cold fetch of the
bench farm ~175 us per entry, 85% of storing it; one INSERT ... SELECT of the
rows a transaction added costs a quarter of that (bench/). Store.save_fetches
indexes what it inserted before it commits, so the index is never behind a
committed entry. The update and delete triggers stay: they fire rarely.
PostgreSQL's generated tsvector column is unaffected.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS entries_fts_insert")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            """CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
                INSERT INTO entries_fts(rowid, title, search_text)
                VALUES (new.id, new.title, new.search_text);
            END"""
        )
