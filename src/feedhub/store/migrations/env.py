"""Alembic environment: feedhub always hands in an open connection."""

from alembic import context

from feedhub.store.schema import include_name, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
    render_as_batch=True,
    # Full-text search objects live outside metadata (schema.is_external_object).
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
