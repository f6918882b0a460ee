"""Which database the tests use: check it is a test one, derive it, create and drop it.

Whatever URL the app is configured with, the tests run on a test database on the
same server: ``shop`` becomes ``test_shop``, a SQLite file becomes a file of that name
in the temporary directory, and SQLite in memory stays in memory. The engine is
pointed there with SQLAlchemy's ``do_connect`` event before it first connects, and
the library refuses to create, empty or drop tables anywhere else.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import sys
import tempfile
import typing as t

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import NullPool

#: Environment variable: set to ``1`` to keep the test databases (and their
#: tables) after the run, and reuse them next time.
KEEPDB_ENV = "FLASK_DBCASE_KEEPDB"

#: Environment variable: comma-separated names of databases that may be used as
#: they are, without deriving a test database, although their names do not start
#: with ``test``. Everything in them is deleted.
ALLOW_ENV = "FLASK_DBCASE_WIPE_DATABASES"


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


def _in_temp_dir(path: str) -> bool:
    temp = os.path.realpath(tempfile.gettempdir())
    return os.path.commonpath([os.path.realpath(path), temp]) == temp


def is_test_database(url: sa.URL, allowed: t.Collection[str] = ()) -> bool:
    """Tell whether the library may create, empty and drop tables in this database.

    That is a database whose name starts with ``test``, an in-memory SQLite database,
    a SQLite file in the system's temporary directory, or a database named in
    ``allowed``.
    """
    if is_memory_sqlite(url):
        return True
    name = url.database or ""
    if url.get_backend_name() == "sqlite":
        if _in_temp_dir(name):
            return True
        name = os.path.basename(name)
    return name.lower().startswith("test") or name in allowed


def allowed_databases(extra: t.Iterable[str] = ()) -> frozenset[str]:
    """The databases the user allowed to be used as they are."""
    names = os.environ.get(ALLOW_ENV, "").split(",")
    return frozenset(n.strip() for n in [*names, *extra] if n.strip())


def derive_url(url: sa.URL, allowed: t.Collection[str] = ()) -> sa.URL:
    """Return the URL of the test database derived from ``url``.

    A URL that already names a test database is returned as it is, except in a
    worker of ``pytest -n`` (pytest-xdist), where each worker gets a database of
    its own: ``test_shop`` becomes ``test_shop_gw0``.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    suffix = f"_{worker}" if worker else ""
    if is_memory_sqlite(url) or (is_test_database(url, allowed) and not suffix):
        return url
    name = url.database or ""
    if url.get_backend_name() == "sqlite":
        path = os.path.realpath(name)
        stem, ext = os.path.splitext(os.path.basename(path))
        if is_test_database(url, allowed):
            return url.set(
                database=os.path.join(os.path.dirname(path), stem + suffix + ext)
            )
        # Projects that share a file name must not share a test database.
        digest = hashlib.sha256(path.encode()).hexdigest()[:8]
        name = f"test_{stem}-{digest}{suffix}{ext}"
        return url.set(database=os.path.join(tempfile.gettempdir(), name))
    if is_test_database(url, allowed):
        return url.set(database=name + suffix)
    return url.set(database=f"test_{name}{suffix}")


def check_test_database(url: sa.URL, owner: str, allowed: t.Collection[str]) -> None:
    """Refuse a database that is not a test database.

    :param owner: The test class and bind the URL belongs to, for the message.
    :raises RuntimeError: The URL is not a test database.
    """
    if not is_test_database(url, allowed):
        raise RuntimeError(
            f"{owner} points at {describe_url(url)}, which is not a test database,"
            " so flask_dbcase refuses to create, empty or drop tables in it. Use a"
            " database whose name starts with 'test', or, if everything in it may"
            f" be deleted, name it in the {ALLOW_ENV} environment variable."
        )


def check_connection(engine: sa.Engine, owner: str) -> None:
    """Connect once, turning a failure into a message that says where and why.

    :raises RuntimeError: The database cannot be reached.
    """
    try:
        engine.connect().close()
    except sa.exc.DBAPIError as error:
        raise RuntimeError(
            f"{owner} cannot connect to {describe_url(engine.url)}: {_reason(error)}."
            " Check that the server is running, that the database exists, and that"
            " the URL's host, port and user are right."
        ) from error


def _reason(error: sa.exc.DBAPIError) -> str:
    return str(error.orig).strip() or type(error.orig).__name__


@contextlib.contextmanager
def refusing_connections(owner: str, allowed: t.Collection[str]) -> t.Iterator[None]:
    """Refuse any connection to a database that is not a test database.

    Wraps the call to ``create_app``: until it returns, flask_dbcase has not
    pointed the engines at their test databases yet.
    """

    def refuse(dialect: t.Any, record: t.Any, cargs: t.Any, cparams: t.Any) -> None:
        url = _target_url(dialect, cargs, cparams)
        if url is not None and not is_test_database(url, allowed):
            raise RuntimeError(
                f"{owner} connected to {describe_url(url)} while building the app,"
                " before flask_dbcase could point it at a test database. Move"
                " database work such as 'db.create_all()' out of the app factory:"
                " flask_dbcase creates the tables itself."
            )

    event.listen(sa.Engine, "do_connect", refuse)
    try:
        yield
    finally:
        event.remove(sa.Engine, "do_connect", refuse)


def _target_url(dialect: t.Any, cargs: t.Any, cparams: t.Any) -> sa.URL | None:
    """Rebuild enough of a URL, from connect arguments, to name its database."""
    name = dialect.name
    if name == "sqlite":
        database = cargs[0] if cargs else cparams.get("database")
        return sa.URL.create("sqlite", database=database)
    for key in ("dbname", "database", "db"):
        if cparams.get(key):
            return sa.URL.create(name, database=cparams[key], host=cparams.get("host"))
    return None


class TestDatabases:
    """The test databases of this process: which were created, which to keep."""

    __test__ = False  # not a test, whatever pytest's name matching thinks

    def __init__(self) -> None:
        self.created: dict[str, sa.URL] = {}
        self.created_files: set[str] = set()
        self.keep = False
        atexit.register(self.drop_created)

    def use(self, engine: sa.Engine, owner: str, allowed: t.Collection[str]) -> None:
        """Point ``engine`` at its test database, creating the database if missing.

        The engine's ``url`` is changed to the test database's, and its
        connections are redirected there with the ``do_connect`` event.
        """
        original = engine.url
        target = derive_url(original, allowed)
        if target is original:
            return
        if target.get_backend_name() != "sqlite":
            self._create(target, owner)
        elif target.database and not os.path.exists(target.database):
            self.created_files.add(target.database)
        _redirect(engine, original, target)

    def _create(self, url: sa.URL, owner: str) -> None:
        key = url.render_as_string(hide_password=False)
        if key in self.created:
            return
        with _server(url, owner) as connection:
            if _exists(connection, url):
                return
            try:
                connection.exec_driver_sql(
                    f"CREATE DATABASE {_quoted(connection, url)}"
                )
            except sa.exc.DBAPIError as error:
                if _exists(connection, url):  # another process was quicker
                    return
                raise RuntimeError(_cannot_create(url, owner, error)) from error
        self.created[key] = url

    def kept(self) -> bool:
        """Tell whether the test databases outlive the run."""
        return self.keep or os.environ.get(KEEPDB_ENV) == "1"

    def drop_created(self) -> None:
        """Drop the databases this process created, unless they are kept."""
        if self.kept():
            return
        for url in self.created.values():
            try:
                with _server(url, "flask_dbcase") as connection:
                    name = _quoted(connection, url)
                    connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
            except (sa.exc.DBAPIError, RuntimeError) as error:
                # At exit, nobody is left to raise to.
                print(
                    f"flask_dbcase: could not drop the test database {url.database!r}"
                    f" on {describe_url(url.set(database=''))}: {error}",
                    file=sys.stderr,
                )
        self.created.clear()
        for path in self.created_files:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        self.created_files.clear()


@contextlib.contextmanager
def _server(url: sa.URL, owner: str) -> t.Iterator[sa.Connection]:
    """Connect to the server of ``url`` outside any database of the tests."""
    maintenance = "postgres" if url.get_backend_name() == "postgresql" else ""
    server = url.set(database=maintenance)
    engine = sa.create_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        try:
            connection = engine.connect()
        except sa.exc.DBAPIError as error:
            raise RuntimeError(
                f"{owner} cannot connect to {describe_url(server)} to create the test"
                f" database {url.database!r}: {_reason(error)}. Check that the server"
                " is running and that the URL's host, port and user are right."
            ) from error
        with connection:
            yield connection
    finally:
        engine.dispose()


def _exists(connection: sa.Connection, url: sa.URL) -> bool:
    if url.get_backend_name() == "postgresql":
        sql = "SELECT 1 FROM pg_database WHERE datname = %(name)s"
    else:
        sql = "SELECT 1 FROM information_schema.schemata WHERE schema_name = %(name)s"
    return connection.exec_driver_sql(sql, {"name": url.database}).first() is not None


def _quoted(connection: sa.Connection, url: sa.URL) -> str:
    preparer = connection.dialect.identifier_preparer
    return preparer.quote_identifier(url.database or "")


def _cannot_create(url: sa.URL, owner: str, error: sa.exc.DBAPIError) -> str:
    user = url.username or "the user"
    if url.get_backend_name() == "postgresql":
        grant = f"'ALTER ROLE {user} CREATEDB;'"
    else:
        grant = f"\"GRANT ALL PRIVILEGES ON `test\\_%`.* TO '{user}'@'%';\""
    return (
        f"{owner} needs the test database {url.database!r} on"
        f" {describe_url(url.set(database=''))}, and cannot create it:"
        f" {_reason(error)}. Let {user!r} create databases ({grant}), or create"
        f" {url.database!r} yourself and give {user!r} all rights on it."
    )


def _redirect(engine: sa.Engine, original: sa.URL, target: sa.URL) -> None:
    dialect = engine.dialect
    old_args, old_params = dialect.create_connect_args(original)
    new_args, new_params = dialect.create_connect_args(target)
    args = {
        i: new
        for i, (old, new) in enumerate(zip(old_args, new_args, strict=True))
        if old != new
    }
    params = {k: v for k, v in new_params.items() if old_params.get(k) != v}

    def connect(dialect: t.Any, record: t.Any, cargs: t.Any, cparams: t.Any) -> None:
        for index, value in args.items():
            cargs[index] = value
        cparams.update(params)

    event.listen(engine, "do_connect", connect)
    engine.url = target


databases = TestDatabases()
