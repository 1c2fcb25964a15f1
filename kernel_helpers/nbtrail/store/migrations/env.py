"""Alembic environment: nbtrail runs migrations on a connection it already holds (and locks)."""

from alembic import context

from nbtrail.store._schema import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
