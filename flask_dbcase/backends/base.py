"""What every kind of database server does for the tests, in one interface."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import os
import typing as t

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from ..urls import describe_url
from ..urls import reason

#: The comment on the databases flask_dbcase creates; only those are ever swept,
#: emptied or dropped.
MARK = "created by flask_dbcase"

_trusted: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "flask_dbcase_trusted", default=False
)


@contextlib.contextmanager
def trusted() -> t.Iterator[None]:
    """Let the connections opened in the block pass the process-wide guard.

    For flask_dbcase's own connections to a server's maintenance database, which
    run no statement of the app's.
    """
    token = _trusted.set(True)
    try:
        yield
    finally:
        _trusted.reset(token)


class TestDatabaseError(RuntimeError):
    """A test database cannot be prepared, or a connection is not on one.

    The message names the test class, the bind and the database, says why, and
    what to do; the driver's own words are in it, with any password hidden. No
    traceback of the driver's follows it, since its frames would show the URL.

    .. versionadded:: 0.1
    """

    __test__ = False  # not a test, whatever pytest's name matching thinks


#: Environment variable: how many seconds a connection of the tests waits for a
#: lock before it gives up (PostgreSQL's ``lock_timeout``). Defaults to 5.
LOCK_TIMEOUT_ENV = "FLASK_DBCASE_LOCK_TIMEOUT"


def lock_timeout() -> float:
    """How many seconds a connection of the tests waits for a lock."""
    value = os.environ.get(LOCK_TIMEOUT_ENV, "")
    try:
        seconds = float(value) if value else 5.0
    except ValueError:
        seconds = 0.0
    if not seconds > 0:  # PostgreSQL's 0 would wait for ever; MySQL's least is 1
        raise TestDatabaseError(
            f"{LOCK_TIMEOUT_ENV} is {value!r}, not a positive number of seconds."
        )
    return seconds


def is_trusted() -> bool:
    """Tell whether the connection being opened is one of flask_dbcase's own."""
    return _trusted.get()


class Identity(t.NamedTuple):
    """Where a connection is, as its server tells."""

    #: ``postgresql``, ``mysql`` or ``sqlite``.
    backend: str
    #: The database's name; for SQLite the file's real path, ``""`` in memory.
    database: str
    #: flask_dbcase created the database, and marked it so.
    marked: bool


class Backend:
    """One database server, as the tests use it: identify, create, mark, lock, drop.

    An instance talks to one server through a connection of its own to a
    maintenance database, opened when first needed and kept for the process: the
    locks it holds last as long as it does.

    :param url: Any URL on the server.
    :param label: The test class and bind, for messages.
    """

    #: The name SQLAlchemy gives the backend.
    name: t.ClassVar[str]
    #: The database to connect to for work on the server itself.
    maintenance: t.ClassVar[str] = ""
    #: The server keeps a mark on the databases flask_dbcase creates.
    marks = True
    #: Copies of a test database can be cloned from a template.
    clones = False

    def __init__(self, url: sa.URL, label: str) -> None:
        self.url = url.set(database=self.maintenance)
        self.label = label
        self._connection: sa.Connection | None = None

    @classmethod
    def identify(cls, dbapi_connection: t.Any) -> Identity:
        """Ask the server which database ``dbapi_connection`` is on, in one
        statement, leaving no transaction open."""
        raise NotImplementedError

    #: The longest database name the server takes.
    max_name: t.ClassVar[int] = 63

    @classmethod
    def path(cls, url: sa.URL) -> str:
        """The name the server gives the database of ``url``."""
        return url.database or ""

    @classmethod
    def derive(cls, url: sa.URL) -> sa.URL:
        """Return the URL of the test database for a configured ``url``.

        ``test_`` and the name; a name too long to take a copy's or the
        template's suffix as well is cut, and ends with a hash of the whole.
        """
        name = f"test_{url.database or ''}"
        room = cls.max_name - len("_template")
        if len(name.encode()) > room:
            digest = hashlib.sha256(name.encode()).hexdigest()[:8]
            head = name.encode()[: room - 9].decode(errors="ignore")
            name = f"{head}_{digest}"
        return url.set(database=name)

    @classmethod
    def foreign_schema(cls, schema: str) -> bool:
        """Tell whether a table's ``schema`` is outside the connection's database."""
        return False

    @classmethod
    def numbered(cls, url: sa.URL, number: int) -> sa.URL:
        """Return the URL of the ``number``-th copy of the test database ``url``.

        The first is the database itself; the others get a suffix: ``test_shop_2``.
        """
        return url if number == 1 else url.set(database=f"{url.database}_{number}")

    @classmethod
    def template(cls, url: sa.URL) -> sa.URL:
        """Return the URL of the template the copies of ``url`` are cloned from."""
        return url.set(database=f"{url.database}_template")

    @property
    def connection(self) -> sa.Connection:
        """The connection to the server, in autocommit mode; a new one if the
        server ended the last (the locks it held ended with it)."""
        if self._connection is not None and self._connection.invalidated:
            self._connection.close()
            self._connection = None
        if self._connection is None:
            engine = sa.create_engine(
                self.url, poolclass=NullPool, isolation_level="AUTOCOMMIT"
            )
            try:
                with trusted():
                    self._connection = engine.connect()
            except sa.exc.DBAPIError as error:
                raise TestDatabaseError(
                    f"{self.label} cannot connect to {describe_url(self.url)} to"
                    f" prepare its test database: {reason(error, self.url)} Check"
                    " that the server is running and that the URL's host, port and"
                    " user are right."
                ) from None
        return self._connection

    @functools.cached_property
    def id(self) -> t.Hashable:
        """Name the server, the same whatever host name or address reaches it."""
        return self.server_id()

    def server_id(self) -> t.Hashable:
        raise NotImplementedError

    def exists(self, name: str) -> bool:
        raise NotImplementedError

    def marked(self) -> list[str]:
        """The databases on the server that flask_dbcase created."""
        raise NotImplementedError

    def is_marked(self, name: str) -> bool:
        """Tell whether flask_dbcase created the database ``name``."""
        return name in self.marked()

    def create(self, name: str, template: str | None = None) -> None:
        """Create the database ``name``, marked, optionally as a copy of
        ``template``."""
        raise NotImplementedError

    def drop(self, name: str) -> None:
        raise NotImplementedError

    def try_lock(self, key: str) -> bool:
        """Take the lock ``key`` if it is free; it is freed when the process ends."""
        raise NotImplementedError

    def unlock(self, key: str) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def locked(self, key: str) -> t.Iterator[None]:
        """Hold the lock ``key`` for the block, waiting for it if need be."""
        raise NotImplementedError
        yield  # pragma: no cover

    def grant(self, user: str) -> str:
        """The statement that lets ``user`` create test databases."""
        raise NotImplementedError

    def quote(self, name: str) -> str:
        return self.connection.dialect.identifier_preparer.quote_identifier(name)

    def scalars(self, sql: str, **params: t.Any) -> list[t.Any]:
        return list(self.connection.exec_driver_sql(sql, params).scalars())

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def first_row(dbapi_connection: t.Any, sql: str, autocommit: bool = False) -> t.Any:
    """Run ``sql`` on a DBAPI connection and return its first row.

    With ``autocommit``, a connection whose driver begins a transaction before
    any statement (psycopg's default) is put in autocommit mode for the query,
    which costs no round trip, so that no transaction is left open.
    """
    toggle = autocommit and getattr(dbapi_connection, "autocommit", None) is False
    if toggle:
        dbapi_connection.autocommit = True
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(sql)
            return cursor.fetchone()
        finally:
            cursor.close()
    finally:
        if toggle:
            dbapi_connection.autocommit = False
