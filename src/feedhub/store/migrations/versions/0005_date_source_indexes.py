"""date-then-source indexes for outputs ordered by publication or update

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index("ix_entries_sort_published")
        batch_op.create_index("ix_entries_sort_published", ["sort_published", "source_id"])
        batch_op.create_index("ix_entries_sort_updated", ["sort_updated", "source_id"])


def downgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index("ix_entries_sort_updated")
        batch_op.drop_index("ix_entries_sort_published")
        batch_op.create_index("ix_entries_sort_published", ["sort_published"])
