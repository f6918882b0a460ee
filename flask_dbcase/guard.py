"""Ask the server where each new connection is, and refuse the wrong ones.

An engine's URL can lie: a ``creator`` in the engine options, connect arguments,
a proxy or a pooled connection made earlier decide where statements really go.
So flask_dbcase does not trust the URL. Every new connection of an engine it
pointed at a test database is asked, in one statement, which database it is on
(:meth:`.Backend.identify`), and is closed with an error unless it is that test
database. While test classes run, new connections anywhere in the process that
reach a database the app is configured with are refused too.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import os
import re
import threading
import typing as t
import weakref

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import Pool

from . import backends
from .backends import Identity
from .backends import TestDatabaseError
from .backends.base import lock_timeout
from .backends.sqlite import folder
from .backends.sqlite import is_marked
from .backends.sqlite import SQLiteBackend
from .urls import describe_bind
from .urls import describe_url
from .urls import is_memory_sqlite

if t.TYPE_CHECKING:
    from .database import Target

#: Where a connection record keeps what its server said.
_INFO_KEY = "flask_dbcase_identity"

#: Set while flask_dbcase checks a switched engine's first connection, which its
#: own guard judges, with the more precise message.
_checking: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "flask_dbcase_checking", default=False
)


@contextlib.contextmanager
def checking_engine() -> t.Iterator[None]:
    """Leave the connections opened in the block to the engine's own guard."""
    token = _checking.set(True)
    try:
        yield
    finally:
        _checking.reset(token)


#: From 2.0.53 on, SQLAlchemy closes a new connection that a connect event
#: refused; before, the event must.
_SA_VERSION = tuple(int(n) for n in re.findall(r"\d+", sa.__version__)[:3])
_SA_CLOSES = _SA_VERSION >= (2, 0, 53)


def identity_of(
    dbapi_connection: t.Any,
    record: t.Any,
    backend: type[backends.Backend] | None = None,
) -> Identity | None:
    """What the server says of a new connection; asked once per connection.

    ``backend`` is the engine's when known; otherwise the driver tells it, and
    ``None`` is returned for a driver flask_dbcase does not know.
    """
    cached = record.info.get(_INFO_KEY)
    if cached is not None and cached[0] is dbapi_connection:
        return t.cast(Identity, cached[1])
    if backend is not None:
        found: Identity | None = backend.identify(dbapi_connection)
    else:
        found = backends.identify(dbapi_connection)
    if found is not None:
        record.info[_INFO_KEY] = (dbapi_connection, found)
    return found


def describe(found: Identity) -> str:
    if found.backend == "sqlite":
        return f"the file {found.database!r}" if found.database else "memory"
    return f"the {found.backend} database {found.database!r}"


def refuse(dbapi_connection: t.Any, message: str) -> t.NoReturn:
    """Close a new connection before anything runs on it, and say why."""
    if not _SA_CLOSES:
        with contextlib.suppress(Exception):
            dbapi_connection.close()
    raise TestDatabaseError(message)


class _Guard:
    """Check connections as a pool makes them and hands them out."""

    def refusal(self, dbapi_connection: t.Any, record: t.Any) -> str | None:
        """Why the connection must not be used; ``None`` if it may."""
        raise NotImplementedError

    def check(self, dbapi_connection: t.Any, record: t.Any) -> None:
        message = self.refusal(dbapi_connection, record)
        if message:
            refuse(dbapi_connection, message)

    def check_checkout(
        self, dbapi_connection: t.Any, record: t.Any, proxy: t.Any
    ) -> None:
        message = self.refusal(dbapi_connection, record)
        if message:  # the pool closes it, and the next connection is refused
            raise sa.exc.DisconnectionError(message)


class EngineGuard(_Guard):
    """Refuse the connections of one engine that are not on its test database.

    :param reason: Says why the connection can be elsewhere, when something
        other than the URL decides it (a ``creator``).
    """

    def __init__(
        self, engine: sa.Engine, target: Target, label: str, reason: str = ""
    ) -> None:
        self.engine = engine
        self.target = target
        self.label = label
        self.reason = reason
        self.backend = backends.BACKENDS[engine.dialect.name]
        #: What the last connection's server said.
        self.found: Identity | None = None
        self.active = False

    def install(self) -> None:
        # First, before the dialect's own first queries.
        event.listen(self.engine, "connect", self.check, insert=True)
        # A connection the pool held before: an in-memory database's.
        event.listen(self.engine, "checkout", self.check_checkout)
        self.active = True

    def remove(self) -> None:
        self.active = False
        event.remove(self.engine, "connect", self.check)
        event.remove(self.engine, "checkout", self.check_checkout)

    def refusal(self, dbapi_connection: t.Any, record: t.Any) -> str | None:
        if not self.active:
            return None
        found = identity_of(dbapi_connection, record, self.backend)
        assert found is not None
        self.found = found
        if self.target.accepts(found):
            return None
        return (
            f"{self.label} should connect to {self.target.describe()}, but the"
            f" server says its connection is on {describe(found)}."
            f" {self.reason or _URL_LIES} flask_dbcase closed the connection before"
            " running anything on it."
        )


_URL_LIES = (
    "Something other than the engine's URL decides where it connects: connect"
    " arguments, a proxy, or a 'creator' in the engine options. Make the engine"
    " connect where its URL says."
)


class DatabaseNotAllowedError(AssertionError):
    """A test of a :class:`~flask_dbcase.AppTestCase` tried to connect to a
    database, which its tests may not.

    An :class:`AssertionError`, so that the test counts as failed, as under
    Django's ``SimpleTestCase``.

    .. versionadded:: 0.1
    """


class NoDatabase:
    """While a test that may not use a database runs: who it is, and the
    connections it tried, which fail it even if the app caught the error."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.attempts: list[str] = []

    def refuse(self, what: str) -> str:
        message = (
            f"{self.label} tried to connect to {what}, which flask_dbcase refused"
            " before it was opened: queries are not allowed in"
            " an AppTestCase, whose tests run without a database. Derive the class"
            " from TransactionalTestCase (or ClientTestCase) to test code that"
            " uses the database."
        )
        self.attempts.append(message)
        return message


class LateThreads(NoDatabase):
    """The threads a test left running: refused for as long as they run,
    whatever database they reach, the next class's test database too."""

    def refuse(self, what: str) -> str:
        thread = threading.current_thread().name
        message = (
            f"flask_dbcase refused a connection to {what} from thread {thread!r},"
            f" which {self.label} left running after it ended: what it writes"
            " would reach a later test. Wait for the thread in the test"
            " (thread.join())."
        )
        self.attempts.append(message)
        return message


class BindFence:
    """While a test runs, refuse the connections of the binds its class did not
    declare (:attr:`~flask_dbcase.DatabaseTestCase.binds`)."""

    def __init__(self, label: str) -> None:
        #: The class, as the message names it.
        self.label = label
        #: The running test, while it runs; ``None`` lets everything through
        #: (the class's own setup, and the library's work after each test).
        self.test: str | None = None
        #: What was refused during the test, as the refusals said it.
        self.attempts: list[str] = []
        self._listeners: list[tuple[sa.Engine, t.Callable[..., None]]] = []

    def install(self, engines: t.Mapping[str | None, sa.Engine]) -> None:
        for key, engine in engines.items():
            # Before the statement, not at the pool's checkout: a connection
            # refused there would be discarded, with a database in memory.
            def refuse(*args: t.Any, key: t.Any = key) -> None:
                if self.test is not None:
                    message = (
                        f"'{self.test}' used {describe_bind(key)}, which"
                        f" '{self.label}.binds' does not list. Add {key!r} to"
                        f" '{self.label}.binds' if the class needs it."
                    )
                    self.attempts.append(message)
                    raise DatabaseNotAllowedError(message)

            event.listen(engine, "before_cursor_execute", refuse)
            self._listeners.append((engine, refuse))

    def remove(self) -> None:
        for engine, refuse in self._listeners:
            event.remove(engine, "before_cursor_execute", refuse)
        self._listeners.clear()


class ProcessGuard(_Guard):
    """While test classes run, refuse new connections, from anywhere in the
    process, to the databases the apps are configured with.

    While a ``create_app`` runs, every connection is refused but to a test
    database: the engines are not pointed at their test databases yet.
    """

    def __init__(self) -> None:
        self._users = 0
        self._lock = threading.Lock()
        self._building: list[tuple[str, frozenset[str]]] = []
        #: The configured databases, by backend and name, and who configured
        #: each, for the message.
        self.real: dict[tuple[str, str], str] = {}
        #: The dialects of the engines whose connections go to a test
        #: database whatever their arguments say (a listener of their own
        #: rewrites them after :meth:`check_file` has seen them).
        self.redirected: weakref.WeakSet[t.Any] = weakref.WeakSet()
        #: The tests running that may use no database at all.
        self._no_database: list[NoDatabase] = []
        #: Threads such a test left running, and who they belong to: refused
        #: for as long as they run.
        self._refused_threads: dict[int, NoDatabase] = {}
        self._watching_statements = 0
        #: Threads a test left running, after their class: while no class
        #: runs, theirs are the only connections refused.
        self._outliving: collections.Counter[int] = collections.Counter()
        self._outlivers = 0

    def start(self) -> None:
        """A test class starts: guard until every class that started has ended."""
        with self._lock:
            if self._users == 0:
                event.listen(Pool, "connect", self.check, insert=True)
                event.listen(Pool, "checkout", self.check_checkout)
                event.listen(sa.Engine, "do_connect", self.check_file)
            self._users += 1

    def stop(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                event.remove(Pool, "connect", self.check)
                event.remove(Pool, "checkout", self.check_checkout)
                event.remove(sa.Engine, "do_connect", self.check_file)

    def outlive(self, threads: t.Iterable[threading.Thread]) -> None:
        """Keep guarding until ``threads``, which a test started and left
        running, have ended: after their class, the engines point at the
        configured databases again."""
        waiting = list(threads)
        idents = [thread.ident for thread in waiting if thread.ident is not None]
        with self._lock:
            self._outliving.update(idents)
            self._outlivers += 1
        self.start()

        def wait() -> None:
            try:
                for thread in waiting:
                    thread.join()
            finally:
                with self._lock:
                    self._outliving.subtract(idents)
                    self._outliving += collections.Counter()  # drop the zeros
                    self._outlivers -= 1
                self.stop()

        threading.Thread(target=wait, name="flask_dbcase guard", daemon=True).start()

    @contextlib.contextmanager
    def building(self, label: str, allowed: frozenset[str]) -> t.Iterator[None]:
        """Refuse every connection but to a test database during the block."""
        self._building.append((label, allowed))
        try:
            yield
        finally:
            self._building.pop()

    def _guards_here(self) -> bool:
        """Tell whether this thread's connections are guarded: any, while a
        class runs; only those of a thread a test left running, after."""
        if self._users > self._outlivers:
            return True
        return threading.get_ident() in self._outliving

    def _refuser(self) -> NoDatabase | None:
        """Who refuses a connection now: the running test that may use no
        database, or the one that left the current thread running."""
        if self._refused_threads:
            found = self._refused_threads.get(threading.get_ident())
            if found is not None:
                return found
        return self._no_database[-1] if self._no_database else None

    def refuse_threads(
        self, threads: t.Iterable[threading.Thread], state: NoDatabase
    ) -> None:
        """Refuse every connection of ``threads`` for as long as they run."""
        for thread in threads:
            if thread.ident is not None:
                self._refused_threads[thread.ident] = state

        def forget() -> None:
            for thread in threads:
                thread.join()
                self._refused_threads.pop(thread.ident or 0, None)

        threading.Thread(target=forget, name="flask_dbcase guard", daemon=True).start()

    def watch_statements(self) -> None:
        """Also refuse statements on connections opened before the refusal,
        which neither the pool nor the driver see again."""
        with self._lock:
            if self._watching_statements == 0:
                event.listen(sa.Engine, "before_cursor_execute", self.check_statement)
            self._watching_statements += 1

    def unwatch_statements(self) -> None:
        with self._lock:
            self._watching_statements -= 1
            if self._watching_statements == 0:
                event.remove(sa.Engine, "before_cursor_execute", self.check_statement)

    def check_statement(self, *args: t.Any) -> None:
        refuser = self._refuser()
        if refuser is not None:
            where = "a database, on a connection opened before it"
            raise DatabaseNotAllowedError(refuser.refuse(where))

    @contextlib.contextmanager
    def refusing_all(self, label: str) -> t.Iterator[NoDatabase]:
        """Refuse every connection, new or pooled, during the block, in any
        thread; ``label`` names who may use none."""
        state = NoDatabase(label)
        self._no_database.append(state)
        try:
            yield state
        finally:
            self._no_database.remove(state)

    def add_real(self, found: Identity, label: str) -> None:
        """Refuse connections to the configured database ``found`` from now on."""
        self.real[(found.backend, found.database)] = label

    # radon C, essential: one branch per moment and kind of connection it
    # decides on: a refused thread, the library's own, while an app is built,
    # a configured database.
    def refusal(self, dbapi_connection: t.Any, record: t.Any) -> str | None:
        refuser = self._refuser()
        if refuser is not None:  # a connection the pool held: closed, not used
            return refuser.refuse("a database its pool held")
        if backends.is_trusted() or _checking.get() or not self._guards_here():
            return None
        found = identity_of(dbapi_connection, record)
        if found is None:
            return None
        if self._users == self._outlivers and not (found.marked or _private(found)):
            # No class runs: a thread a class left running, whatever engine it
            # took, reaches test databases only.
            return _refused_late(describe(found))
        if self._building:
            label, allowed = self._building[-1]
            named = allows(allowed, found.backend, found.database)
            if not (found.marked or _private(found) or named):
                return _while_building(label, describe(found))
        label = self.real.get((found.backend, found.database), "")
        if not label:
            return None
        return _refused_real(describe(found), label)

    # radon C, essential: one branch per driver and per moment (building the
    # app, or running its tests) that decides what may be opened.
    def check_file(
        self, dialect: t.Any, record: t.Any, cargs: t.Any, cparams: t.Any
    ) -> None:
        """Refuse to open a configured SQLite file, or any but a test
        database's while building, before opening it creates it.

        Bound MySQL's lock waits on the connection, as PostgreSQL's are in
        the statement that identifies it: the driver runs the setting as it
        connects. A connection that has its own ``init_command`` keeps it.
        """
        refuser = self._refuser()
        if refuser is not None:  # before the driver connects
            where = describe_new(dialect, cargs, cparams)
            raise DatabaseNotAllowedError(refuser.refuse(where))
        if dialect.driver in ("pymysql", "mysqldb") and "init_command" not in cparams:
            seconds = max(1, round(lock_timeout()))
            cparams["init_command"] = (
                f"SET SESSION innodb_lock_wait_timeout = {seconds},"
                f" lock_wait_timeout = {seconds}"
            )
        if dialect.name != "sqlite":
            return
        path = cargs[0] if cargs else cparams.get("database", "")
        url = sa.URL.create("sqlite", database=path)
        if is_memory_sqlite(url) or "mode=memory" in path:
            return
        if not self._building:
            if dialect in self.redirected:
                return
            real = SQLiteBackend.path(url)
            if backends.is_trusted() or _checking.get() or not self._guards_here():
                return
            where = describe(Identity("sqlite", real, False))
            if self._users == self._outlivers and not is_marked(real):
                raise TestDatabaseError(_refused_late(where))  # as in refusal()
            label = self.real.get(("sqlite", real), "")
            if label:
                raise TestDatabaseError(_refused_real(where, label))
            return
        label, allowed = self._building[-1]
        real = SQLiteBackend.path(url)
        if os.path.dirname(real) == folder() or allows(allowed, "sqlite", real):
            return
        raise TestDatabaseError(_while_building(label, describe_url(url)))


def describe_new(dialect: t.Any, cargs: t.Any, cparams: t.Any) -> str:
    """Say where a new connection's arguments say it goes, no password shown."""
    if dialect.name == "sqlite":
        path = str(cargs[0] if cargs else cparams.get("database", ""))
        if path in ("", ":memory:") or "mode=memory" in path:
            return "an SQLite database in memory"
        return f"the SQLite file {path!r}"
    name = cparams.get("dbname") or cparams.get("database") or cparams.get("db")
    host = cparams.get("host") or "its default host"
    return f"the {dialect.name} database {name!r} on {host}"


def _refused_real(where: str, label: str) -> str:
    return (
        f"flask_dbcase refused a connection to {where}, which {label}"
        " is configured with: tests never touch it. While a class runs, the"
        " app's engines point at the test database; this connection came from"
        " an engine built from a URL of its own (one made at import from an"
        " environment variable, say), or from a thread a test left running"
        " after its class ended. Build such engines from"
        " current_app.config['SQLALCHEMY_DATABASE_URI'], which names the test"
        " database while tests run, or use db.engine; wait for such threads"
        " in the test."
    )


def _refused_late(where: str) -> str:
    name = threading.current_thread().name
    return (
        f"flask_dbcase refused a connection to {where} from thread {name!r},"
        " which its test class left running after it ended (started in"
        " create_app, setUpClass, setUpTestData or a test): after the class,"
        " the app's engines point at the configured databases again. Wait for"
        " the thread before the class ends."
    )


def allows(allowed: t.Collection[str], backend: str, name: str) -> bool:
    """Tell whether the user named a database in ``allowed`` (a file by its path
    or its name)."""
    if backend == "sqlite":
        return name in allowed or os.path.basename(name) in allowed
    return name in allowed


def _private(found: Identity) -> bool:
    return found.backend == "sqlite" and not found.database


def _while_building(label: str, where: str) -> str:
    return (
        f"{label} connected to {where} while building the app, before flask_dbcase"
        " could point it at a test database. Move database work such as"
        " 'db.create_all()' out of the app factory: flask_dbcase creates the tables"
        " itself."
    )


process_guard = ProcessGuard()
