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
import multiprocessing
import multiprocessing.util
import os
import re
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


def on_exit(callback: t.Callable[[], None]) -> None:
    """Run ``callback`` when the process ends normally, pool workers included.

    A worker of a process pool ends without running :mod:`atexit` handlers, but
    runs :mod:`multiprocessing`'s finalizers when the pool closes normally. A worker
    ended with ``SIGTERM`` (``Pool.terminate()``, as ``unittest-parallel`` does)
    runs neither; what it leaves is dropped by the next run (see
    :meth:`_Claim.drop_stale_copies`). No ``SIGTERM`` handler is installed: a pool
    worker waits for work on a semaphore that the signal does not interrupt, so a
    handler would keep it from ending at all.
    """
    atexit.register(callback)
    if multiprocessing.parent_process() is not None:
        multiprocessing.util.Finalize(None, callback, exitpriority=100)


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

    A URL that already names a test database is returned as it is.
    """
    if is_test_database(url, allowed):
        return url
    name = url.database or ""
    if url.get_backend_name() == "sqlite":
        path = os.path.realpath(name)
        # Projects that share a file name must not share a test database.
        digest = hashlib.sha256(path.encode()).hexdigest()[:8]
        stem, ext = os.path.splitext(os.path.basename(path))
        name = os.path.join(tempfile.gettempdir(), f"test_{stem}-{digest}{ext}")
        return url.set(database=name)
    return url.set(database=f"test_{name}")


def numbered_url(url: sa.URL, number: int) -> sa.URL:
    """Return the URL of the ``number``-th copy of a test database.

    The first is the database itself; the others get a suffix: ``test_shop_2``.
    """
    if number == 1 or is_memory_sqlite(url):
        return url
    name = url.database or ""
    if url.get_backend_name() == "sqlite":
        stem, ext = os.path.splitext(name)
        return url.set(database=f"{stem}_{number}{ext}")
    return url.set(database=f"{name}_{number}")


def template_url(url: sa.URL) -> sa.URL:
    """Return the URL of the template the copies of a test database are cloned
    from, on PostgreSQL: ``test_shop_template``."""
    return url.set(database=f"{url.database}_template")


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


class Template(t.Protocol):
    """What fills a template database with the schema, and tells if it holds it."""

    def matches(self, engine: sa.Engine) -> bool:
        """Tell whether the database of ``engine`` holds the schema, empty."""

    def build(self, engine: sa.Engine) -> None:
        """Build the schema in the (empty or outdated) database of ``engine``."""


class TestDatabases:
    """The test databases of this process: which were created, which to keep."""

    __test__ = False  # not a test, whatever pytest's name matching thinks

    def __init__(self) -> None:
        self.created: dict[str, sa.URL] = {}
        self.created_files: set[str] = set()
        self.keep = False
        #: Template databases this process used, dropped with its databases.
        self.templates: dict[str, sa.URL] = {}
        #: The databases cloned from a template: their schema is already there.
        self.cloned: set[str] = set()
        self._claims: dict[str, _Claim] = {}
        self._exit_registered = False

    def use(
        self,
        engine: sa.Engine,
        owner: str,
        allowed: t.Collection[str],
        template: Template | None = None,
    ) -> None:
        """Point ``engine`` at its test database, creating the database if missing.

        The engine's ``url`` is changed to the test database's, and its
        connections are redirected there with the ``do_connect`` event. Test
        processes that run at the same time each claim a database of their own.
        On PostgreSQL, the copies of the second and later processes are cloned from
        a template database that ``template`` builds once, instead of each process
        building the schema again (see :meth:`was_cloned`).
        """
        original = engine.url
        if is_memory_sqlite(original):
            return
        target = derive_url(original, allowed)
        number = self._claim(target, owner).number
        if number > 1 and target is original and not is_test_database(original):
            raise RuntimeError(
                f"{owner} uses {describe_url(original)} as it is (it is named in"
                f" {ALLOW_ENV}), and another test process is using it. Run the tests"
                " in one process, or let flask_dbcase derive a test database."
            )
        numbered = numbered_url(target, number)
        if numbered is original:
            return
        if numbered.get_backend_name() != "sqlite":
            source = None
            if number > 1 and template and numbered.get_backend_name() == "postgresql":
                source = (template_url(target), template)
            self._create(numbered, owner, source)
        elif numbered.database and not os.path.exists(numbered.database):
            self.created_files.add(numbered.database)
        _redirect(engine, original, numbered)

    def was_cloned(self, url: sa.URL) -> bool:
        """Tell whether this process made the database of ``url`` from a template."""
        return url.render_as_string(hide_password=False) in self.cloned

    def _create(
        self, url: sa.URL, owner: str, source: tuple[sa.URL, Template] | None = None
    ) -> None:
        key = url.render_as_string(hide_password=False)
        if key in self.created:
            return
        with _server(url, owner) as connection:
            if _exists(connection, url):
                return
            try:
                if source is None or not self._clone(connection, url, *source):
                    _create_marked(connection, url)
            except sa.exc.DBAPIError as error:
                if _exists(connection, url):  # another process was quicker
                    return
                raise RuntimeError(_cannot_create(url, owner, error)) from error
        self.created[key] = url

    def _clone(
        self, connection: sa.Connection, url: sa.URL, source: sa.URL, template: Template
    ) -> bool:
        """Create ``url`` as a copy of ``source``, building ``source`` if need be.

        Processes take turns under a lock: a database cannot be cloned while
        another connection is open to it. ``False`` if ``source`` exists but is
        not one of flask_dbcase's, which is then left alone.
        """
        with _server_lock(connection, source):
            name = source.database
            if _exists(connection, source):
                if name not in _marked_databases(connection):
                    return False
                fresh = False
            else:
                _create_marked(connection, source)
                fresh = True
            self.templates[source.render_as_string(hide_password=False)] = source
            engine = sa.create_engine(source, poolclass=NullPool)
            try:
                if fresh or not template.matches(engine):
                    template.build(engine)
            finally:
                engine.dispose()
            _create_marked(connection, url, template=source)
        self.cloned.add(url.render_as_string(hide_password=False))
        return True

    def _claim(self, url: sa.URL, owner: str) -> _Claim:
        key = url.render_as_string(hide_password=False)
        claim = self._claims.get(key)
        if claim is None:
            if not self._exit_registered:
                on_exit(self.drop_created)
                self._exit_registered = True
            claim = self._claims[key] = _Claim(url, owner)
            if not self.kept():
                claim.drop_stale_copies()
        return claim

    def kept(self) -> bool:
        """Tell whether the test databases outlive the run."""
        return self.keep or os.environ.get(KEEPDB_ENV) == "1"

    def drop_created(self) -> None:
        """Drop the databases this process created, unless they are kept."""
        if self.kept():
            return
        for url in self.created.values():
            with _at_exit("test database", url):
                with _server(url, "flask_dbcase") as connection:
                    _drop(connection, url)
        self.created.clear()
        for url in self.templates.values():
            _drop_template(url)
        self.templates.clear()
        for path in self.created_files:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        self.created_files.clear()
        for claim in self._claims.values():
            claim.release()
        self._claims.clear()


class _Claim:
    """Hold the lowest free number for a test database while this process lives.

    Test processes running at the same time (``unittest-parallel``, ``stestr``,
    ``pytest -n``, two terminals) each get a number, and so a database of their
    own. The claim is a lock the database server (or, for SQLite, the file system)
    releases when the process ends, however it ends.
    """

    #: More processes than this at once is taken for a leak, not parallelism.
    LIMIT = 64

    def __init__(self, url: sa.URL, owner: str) -> None:
        self.url = url
        self.sqlite = url.get_backend_name() == "sqlite"
        self._connection = None if self.sqlite else _server(url, owner)
        self._files: dict[int, t.IO[str]] = {}
        self.number = next((n for n in range(1, self.LIMIT + 1) if self._lock(n)), 0)
        if not self.number:
            self.release()
            raise RuntimeError(
                f"{self.LIMIT} test processes already use {url.database!r}."
            )

    def _key(self, number: int) -> str:
        name = f"{self.url.database}:{number}"
        return "flask_dbcase:" + hashlib.sha256(name.encode()).hexdigest()[:40]

    def _lock(self, number: int) -> bool:
        if self._connection is None:
            return self._lock_file(number)
        if self.url.get_backend_name() == "postgresql":
            sql = "SELECT pg_try_advisory_lock(hashtext(%(key)s))"
        else:
            sql = "SELECT GET_LOCK(%(key)s, 0)"
        found = self._connection.exec_driver_sql(sql, {"key": self._key(number)})
        return found.scalar() in (True, 1)

    def _lock_file(self, number: int) -> bool:
        import fcntl

        # In the temporary directory, not beside the database; never removed, or
        # two processes could hold the same number.
        path = os.path.join(tempfile.gettempdir(), f"{self._key(number)[13:]}.lock")
        lock = open(path, "w")  # noqa: SIM115 kept open while the lock is held
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            return False
        self._files[number] = lock
        return True

    def _unlock(self, number: int) -> None:
        if self._connection is None:
            self._files.pop(number).close()
            return
        if self.url.get_backend_name() == "postgresql":
            sql = "SELECT pg_advisory_unlock(hashtext(%(key)s))"
        else:
            sql = "SELECT RELEASE_LOCK(%(key)s)"
        self._connection.exec_driver_sql(sql, {"key": self._key(number)})

    def drop_stale_copies(self) -> None:
        """Drop numbered copies that no process holds, left by a killed run.

        The first process also drops a template a killed run left: at worst, a
        process that starts at the same moment builds it again.
        """
        if self.number == 1 and self.url.get_backend_name() == "postgresql":
            template = template_url(self.url)
            assert self._connection is not None
            if template.database in _marked_databases(self._connection):
                with _server_lock(self._connection, template):
                    _drop(self._connection, template)
        for number, name in self._copies():
            if number == self.number or not self._lock(number):
                continue
            try:
                if self._connection is None:
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(name)
                else:
                    quoted = _quoted(self._connection, self.url.set(database=name))
                    self._connection.exec_driver_sql(
                        f"DROP DATABASE IF EXISTS {quoted}"
                    )
            finally:
                self._unlock(number)

    def _copies(self) -> list[tuple[int, str]]:
        base = self.url.database or ""
        if self._connection is None:
            if not _in_temp_dir(base):  # a file of the user's, perhaps
                return []
            stem, ext = os.path.splitext(base)
            pattern = re.compile(re.escape(stem) + r"_(\d+)" + re.escape(ext) + "$")
            folder = os.path.dirname(base) or "."
            names = [os.path.join(folder, n) for n in os.listdir(folder)]
        else:
            pattern = re.compile(re.escape(base) + r"_(\d+)$")
            names = _marked_databases(self._connection)
        matches = [(pattern.match(name), name) for name in names]
        found = [(int(m.group(1)), name) for m, name in matches if m]
        return [(number, name) for number, name in found if number <= self.LIMIT]

    def release(self) -> None:
        for lock in self._files.values():
            lock.close()
        self._files.clear()
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _server(url: sa.URL, owner: str) -> sa.Connection:
    """Connect to the server of ``url`` outside any database of the tests."""
    maintenance = "postgres" if url.get_backend_name() == "postgresql" else ""
    server = url.set(database=maintenance)
    engine = sa.create_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        return engine.connect()
    except sa.exc.DBAPIError as error:
        raise RuntimeError(
            f"{owner} cannot connect to {describe_url(server)} to create the test"
            f" database {url.database!r}: {_reason(error)}. Check that the server"
            " is running and that the URL's host, port and user are right."
        ) from error


#: The comment on the databases flask_dbcase creates; only those are ever swept.
MARK = "created by flask_dbcase"


def _create_marked(
    connection: sa.Connection, url: sa.URL, template: sa.URL | None = None
) -> None:
    name = _quoted(connection, url)
    if url.get_backend_name() == "postgresql":
        clone = f" TEMPLATE {_quoted(connection, template)}" if template else ""
        connection.exec_driver_sql(f"CREATE DATABASE {name}{clone}")
        connection.exec_driver_sql(f"COMMENT ON DATABASE {name} IS '{MARK}'")
    elif getattr(connection.dialect, "is_mariadb", False):
        connection.exec_driver_sql(f"CREATE DATABASE {name} COMMENT '{MARK}'")
    else:  # MySQL keeps no comment on a database: its copies are not swept
        connection.exec_driver_sql(f"CREATE DATABASE {name}")


def _marked_databases(connection: sa.Connection) -> list[str]:
    if connection.dialect.name == "postgresql":
        sql = (
            "SELECT datname FROM pg_database"
            " WHERE shobj_description(oid, 'pg_database') = %(mark)s"
        )
    elif getattr(connection.dialect, "is_mariadb", False):
        sql = (
            "SELECT schema_name FROM information_schema.schemata"
            " WHERE schema_comment = %(mark)s"
        )
    else:
        return []
    return list(connection.exec_driver_sql(sql, {"mark": MARK}).scalars())


def _exists(connection: sa.Connection, url: sa.URL) -> bool:
    if url.get_backend_name() == "postgresql":
        sql = "SELECT 1 FROM pg_database WHERE datname = %(name)s"
    else:
        sql = "SELECT 1 FROM information_schema.schemata WHERE schema_name = %(name)s"
    return connection.exec_driver_sql(sql, {"name": url.database}).first() is not None


def _drop(connection: sa.Connection, url: sa.URL) -> None:
    """Drop a test database this process created, or a stale copy nobody holds."""
    sql = f"DROP DATABASE IF EXISTS {_quoted(connection, url)}"
    info = connection.dialect.server_version_info or (0,)
    if connection.dialect.name == "postgresql" and info >= (13,):
        # A connection of the ending process may linger (one that SIGTERM cut
        # short while it was being opened): it must not keep the database alive.
        sql += " WITH (FORCE)"
    connection.exec_driver_sql(sql)


@contextlib.contextmanager
def _server_lock(connection: sa.Connection, url: sa.URL) -> t.Iterator[None]:
    """Hold a PostgreSQL advisory lock named after the database of ``url``."""
    key = {"key": f"flask_dbcase:template:{url.database}"}
    connection.exec_driver_sql("SELECT pg_advisory_lock(hashtext(%(key)s))", key)
    try:
        yield
    finally:
        connection.exec_driver_sql("SELECT pg_advisory_unlock(hashtext(%(key)s))", key)


def _drop_template(url: sa.URL) -> None:
    """Drop a template database, waiting for a process that is cloning it."""
    with _at_exit("template database", url):
        with _server(url, "flask_dbcase") as connection, _server_lock(connection, url):
            if url.database in _marked_databases(connection):
                _drop(connection, url)


@contextlib.contextmanager
def _at_exit(what: str, url: sa.URL) -> t.Iterator[None]:
    """Report a failure to drop a database: at exit, nobody is left to raise to."""
    try:
        yield
    except (sa.exc.DBAPIError, RuntimeError) as error:
        print(
            f"flask_dbcase: could not drop the {what} {url.database!r}"
            f" on {describe_url(url.set(database=''))}: {error}",
            file=sys.stderr,
        )


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
