"""One class per kind of database server, as Django's ``backends/*/creation.py``.

Each answers "which database is this connection on", and creates, clones, marks,
locks and drops test databases on its server.
"""

from __future__ import annotations

import typing as t

import sqlalchemy as sa

from .base import Backend as Backend
from .base import Identity as Identity
from .base import is_trusted as is_trusted
from .base import MARK as MARK
from .base import TestDatabaseError as TestDatabaseError
from .base import trusted as trusted
from .mysql import MySQLBackend
from .postgresql import PostgreSQLBackend
from .sqlite import SQLiteBackend

BACKENDS: dict[str, type[Backend]] = {
    "postgresql": PostgreSQLBackend,
    "mysql": MySQLBackend,
    "mariadb": MySQLBackend,
    "sqlite": SQLiteBackend,
}

#: The backend of a DBAPI connection, by the top-level module of its driver.
_DRIVERS = {
    "sqlite3": "sqlite",
    "pysqlite2": "sqlite",
    "sqlean": "sqlite",
    "psycopg": "postgresql",
    "psycopg2": "postgresql",
    "pg8000": "postgresql",
    "pymysql": "mysql",
    "MySQLdb": "mysql",
    "mysql": "mysql",
    "mariadb": "mysql",
}


def backend_class(url: sa.URL, label: str) -> type[Backend]:
    """The backend for ``url``.

    :raises TestDatabaseError: flask_dbcase does not know the kind of server.
    """
    found = BACKENDS.get(url.get_backend_name())
    if found is None:
        known = ", ".join(sorted(set(BACKENDS) - {"mariadb"}))
        raise TestDatabaseError(
            f"{label} uses {url.get_backend_name()!r}, which flask_dbcase does not"
            f" support. It runs tests on {known}."
        )
    return found


def identify(dbapi_connection: t.Any) -> Identity | None:
    """Ask the server which database a DBAPI connection is on.

    ``None`` for a driver flask_dbcase does not know.
    """
    module = type(dbapi_connection).__module__
    if module.startswith("sqlalchemy.dialects."):  # an adapter of an async driver
        name: str | None = module.split(".")[2]
    else:
        name = _DRIVERS.get(module.partition(".")[0])
    found = BACKENDS.get(name or "")
    return found.identify(dbapi_connection) if found else None
