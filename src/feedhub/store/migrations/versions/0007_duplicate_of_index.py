"""index entries.duplicate_of

Revision ID: 0007
Revises: 0006

Recording a duplicate rewrites every copy that pointed at the losing original
(`duplicate_of IN (...)`), retention clears the pointers to removed originals,
and deleting an entry makes SQLite look for rows whose foreign key points at
it: without an index each of these scanned the whole entries table, 1.4 s per
recorded duplicate at 500,000 entries (bench/). Most rows hold NULL here, so
the index stays small and cheap to keep.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.create_index("ix_entries_duplicate_of", ["duplicate_of"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index("ix_entries_duplicate_of")
