"""What the library may do to a database: check it is a test one, build its schema,
empty its tables."""

from __future__ import annotations

import os
import tempfile
import typing as t

import sqlalchemy as sa

if t.TYPE_CHECKING:
    from flask_sqlalchemy import SQLAlchemy


def describe_url(url: sa.URL) -> str:
    """Render a URL for a message, with the password hidden."""
    return repr(url.render_as_string(hide_password=True))


def is_memory_sqlite(url: sa.URL) -> bool:
    """Tell whether the URL names an in-memory SQLite database."""
    if url.get_backend_name() != "sqlite":
        return False
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def same_database_key(engine: sa.Engine) -> t.Hashable:
    """Return a key equal for engines that reach the same database.

    Each in-memory SQLite engine owns its database, so its key is the engine itself.
    """
    url = engine.url
    if is_memory_sqlite(url):
        return engine
    if url.get_backend_name() == "sqlite":
        return ("sqlite", os.path.realpath(url.database or ""))
    return url.render_as_string(hide_password=False)


def is_test_database(url: sa.URL) -> bool:
    """Tell whether the library may create, empty and drop tables in this database.

    That is a database whose name starts with ``test``, an in-memory SQLite database,
    or a SQLite file in the system's temporary directory.
    """
    if is_memory_sqlite(url):
        return True
    name = url.database or ""
    if url.get_backend_name() == "sqlite":
        path = os.path.realpath(name)
        temp = os.path.realpath(tempfile.gettempdir())
        if os.path.commonpath([path, temp]) == temp:
            return True
        name = os.path.basename(path)
    return name.lower().startswith("test")


def check_test_database(url: sa.URL, owner: str) -> None:
    """Refuse a database that is not a test database.

    :param owner: The test class and bind the URL belongs to, for the message.
    :raises RuntimeError: The URL is not a test database.
    """
    if not is_test_database(url):
        raise RuntimeError(
            f"{owner} points at {describe_url(url)}, which does not look like a test"
            " database, so flask_dbcase refuses to create, empty or drop tables in it."
            " Point the test configuration at a database whose name starts with"
            " 'test' (a SQLite file may also live in the temporary directory), or"
            " use SQLite in memory ('sqlite://')."
        )


def check_connection(engine: sa.Engine, owner: str) -> None:
    """Connect once, turning a failure into a message that says where and why.

    :raises RuntimeError: The database cannot be reached.
    """
    try:
        engine.connect().close()
    except sa.exc.DBAPIError as error:
        reason = str(error.orig).strip() or type(error.orig).__name__
        raise RuntimeError(
            f"{owner} cannot connect to {describe_url(engine.url)}: {reason}. Check"
            " that the server is running, that the database exists, and that the"
            " URL's host, port and user are right."
        ) from error


def create_schema(db: SQLAlchemy, engines: dict[str | None, sa.Engine]) -> None:
    """Create every table of every bind, dropping stale ones first."""
    for key, engine in engines.items():
        metadata = db.metadatas.get(key)
        if metadata is None:
            continue
        if not is_memory_sqlite(engine.url):
            metadata.drop_all(engine)
        metadata.create_all(engine)


def drop_schema(db: SQLAlchemy, engines: dict[str | None, sa.Engine]) -> None:
    """Drop every table of every bind; an in-memory database is simply discarded."""
    for key, engine in engines.items():
        metadata = db.metadatas.get(key)
        if metadata is not None and not is_memory_sqlite(engine.url):
            metadata.drop_all(engine)


def empty_tables(db: SQLAlchemy, engines: dict[str | None, sa.Engine]) -> None:
    """Delete every row of every table of every bind, children first."""
    for key, engine in engines.items():
        metadata = db.metadatas.get(key)
        if metadata is None:
            continue
        mysql = engine.url.get_backend_name() in ("mysql", "mariadb")
        with engine.begin() as connection:
            if mysql:
                # InnoDB checks foreign keys row by row, which fails on
                # self-referencing rows whatever the order of the statements.
                connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
            try:
                for table in reversed(metadata.sorted_tables):
                    connection.execute(table.delete())
            finally:
                if mysql:
                    connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")
