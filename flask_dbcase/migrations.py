"""Build the test schema with the app's Alembic migrations, and compare it with the
models."""

from __future__ import annotations

import contextlib
import logging
import os
import typing as t

import sqlalchemy as sa

from .urls import describe_bind

if t.TYPE_CHECKING:
    from flask import Flask
    from flask_sqlalchemy import SQLAlchemy


def directory(app: Flask, setting: str | bool, label: str) -> str:
    """Resolve a ``migrations`` setting to the migrations directory.

    ``True`` means Flask-Migrate's own directory for the app.

    :raises RuntimeError: Flask-Migrate is not set up on the app, or the directory
        has no ``alembic.ini``.
    """
    migrate = app.extensions.get("migrate")
    if migrate is None:
        raise RuntimeError(
            f"{label} builds its schema from migrations, but the app has no"
            " Flask-Migrate. Call 'Migrate(app, db)' in the app factory."
        )
    path = str(migrate.directory if setting is True else setting)
    candidates = [path]
    if not os.path.isabs(path):
        # Relative to where the tests run, to the app's package, or to its parent.
        root = app.root_path
        candidates = [path, os.path.join(root, path), os.path.join(root, "..", path)]
    for candidate in candidates:
        if os.path.exists(os.path.join(candidate, "alembic.ini")):
            return os.path.normpath(os.path.abspath(candidate))
    searched = ", ".join(repr(os.path.normpath(os.path.abspath(c))) for c in candidates)
    raise RuntimeError(
        f"{label} builds its schema from migrations, but found no 'alembic.ini' in"
        f" {searched}. Set 'migrations' to the folder that 'flask db init' created."
    )


def upgrade(app: Flask, path: str) -> None:
    """Run every migration up to the head, inside an application context."""
    from alembic import command

    migrate = app.extensions["migrate"]
    with app.app_context(), _logging_kept():
        config = migrate.migrate.get_config(path)
        command.upgrade(config, "head")


@contextlib.contextmanager
def _logging_kept() -> t.Iterator[None]:
    # A generated env.py calls logging.config.fileConfig(), which disables every
    # logger that exists, the app's included, and replaces the root's handlers.
    manager = logging.Logger.manager
    loggers = [x for x in manager.loggerDict.values() if isinstance(x, logging.Logger)]
    disabled = {logger: logger.disabled for logger in loggers}
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    # alembic.ini has Alembic's own loggers print each migration at INFO, which
    # would interleave with the test runner's output: warnings still show.
    threshold = manager.disable
    logging.disable(max(threshold, logging.INFO))
    try:
        yield
    finally:
        logging.disable(threshold)
        for logger, state in disabled.items():
            logger.disabled = state
        root.handlers[:] = handlers
        root.setLevel(level)


def differences(db: SQLAlchemy, engines: dict[str | None, sa.Engine]) -> list[str]:
    """Compare each bind's tables with its models, as autogenerate would."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    found: list[str] = []
    for key, engine in engines.items():
        metadata = db.metadatas.get(key)
        if metadata is None:
            continue
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            for diff in compare_metadata(context, metadata):
                found.append(_describe(key, diff))
    return found


def _describe(key: str | None, diff: t.Any) -> str:
    where = "" if key is None else f" ({describe_bind(key)})"
    if isinstance(diff, list):  # column changes come as a list of modifications
        return "; ".join(_describe(key, item) for item in diff)
    operation, *rest = diff
    names = [_name(part) for part in rest if _name(part)]
    return f"{operation} {' '.join(names)}{where}".strip()


def _name(part: t.Any) -> str:
    if isinstance(part, sa.Table):
        return part.name
    if isinstance(part, sa.Column):
        return part.name
    if isinstance(part, sa.types.TypeEngine):
        return str(part)
    if isinstance(part, sa.Index | sa.UniqueConstraint | sa.ForeignKeyConstraint):
        return str(part.name or type(part).__name__)
    if isinstance(part, str):
        return part
    return ""
