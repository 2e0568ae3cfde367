"""Alembic's environment: how migrations connect, for `python -m app.migrate`
and for the `alembic` command alike.

The connection comes from the service's own settings, through psycopg with
the same connection string the pool uses, so the service and its migrations
can never point at different databases.
"""

import psycopg
from alembic import context
from psycopg.rows import TupleRow
from sqlalchemy import create_engine, pool, text

from app.config import get_settings
from app.migrate import MIGRATION_LOCK


def connect() -> psycopg.Connection[TupleRow]:
    return psycopg.connect(get_settings().database_url)


def run_migrations_offline() -> None:
    """`alembic upgrade head --sql`: print the SQL instead of running it."""
    context.configure(dialect_name="postgresql", literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Apply the migrations in one transaction: all of them, or none."""
    engine = create_engine("postgresql+psycopg://", creator=connect, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=False)
        with context.begin_transaction():
            # Held until the commit: a second copy (another pod's init
            # container) waits here, then finds nothing left to do.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
