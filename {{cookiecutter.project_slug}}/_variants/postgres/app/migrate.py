"""`python -m app.migrate`: bring the database schema to the newest migration.

A one-shot command run before the service starts: by compose.yaml's `migrate`
service and by the Kubernetes Deployment's init container. It reads the same
settings as the service (`{{ cookiecutter.__env_prefix }}DATABASE_URL`,
or `..._DATABASE_URL_FILE`), needs no shell and no alembic.ini, and exits 0
once the schema is current, also when there was nothing to do. Several copies
may start at once (one per pod): they take turns (see app/migrations/env.py).

Write a new migration with Alembic's own command (alembic.ini points to the
migrations): `.venv/bin/alembic revision -m "add a table"`, then edit the file.
"""

import logging
import logging.config
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from app.config import get_settings
from app.logging_config import logging_config

MIGRATIONS = Path(__file__).with_name("migrations")
# The PostgreSQL advisory lock that copies of this command take turns on
# (app/migrations/env.py): any fixed number, the same in every copy.
MIGRATION_LOCK = 7_420_613_001
# Not __name__, which is "__main__" under `python -m app.migrate`: a logger
# outside "app", which the logging configuration does not route.
logger = logging.getLogger("app.migrate")


def alembic_config() -> Config:
    """Alembic's configuration, built in code: the image has no alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def main() -> int:
    """Apply every migration that the database does not have yet."""
    try:
        settings = get_settings()
    except ValidationError as error:
        print(f"ERROR: invalid settings: {error}. Try: fix the ones named.", file=sys.stderr)
        return 1
    logging.config.dictConfig(logging_config(settings.log_level))
    # Alembic reports each revision it applies on its own logger: route it like
    # the app's logger, so its lines look like every other log line.
    app_logger, alembic_logger = logging.getLogger("app"), logging.getLogger("alembic")
    alembic_logger.handlers = app_logger.handlers
    alembic_logger.propagate = app_logger.propagate
    alembic_logger.setLevel(logging.INFO)
    try:
        command.upgrade(alembic_config(), "head")
    except OperationalError as error:
        variable = "{{ cookiecutter.__env_prefix }}DATABASE_URL"
        print(
            f"ERROR: cannot reach the database: {error.orig}. "
            f"Try: check {variable} and that PostgreSQL is up.",
            file=sys.stderr,
        )
        return 1
    logger.info("database schema is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
