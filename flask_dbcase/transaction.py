"""Keep every connection a test opens inside one transaction that is rolled back.

This module knows SQLAlchemy and nothing of :mod:`unittest`. For each database the
app's engines point at, :class:`TestTransaction` checks out one real connection,
begins a transaction on it, and hands the engines a pool whose only connection is a
stand-in for that one. The stand-in turns the DBAPI ``commit()`` and ``rollback()``
calls that SQLAlchemy makes into savepoint operations, so sessions, ``engine.begin()``
and ``engine.connect()`` in application code behave as usual while nothing they do
outlives the test.
"""

from __future__ import annotations

import contextvars
import itertools
import re
import sys
import threading
import typing as t
import weakref

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import StaticPool

from .database import at_exit
from .database import same_database_key
from .session_state import SessionState
from .urls import describe_url

_T = t.TypeVar("_T")

TEST_SAVEPOINT = "dbcase_test"
APP_SAVEPOINT = "dbcase_app"
CHECK_SAVEPOINT = "dbcase_check"

#: Whose application transaction a statement belongs to: ``None`` for the
#: test's own code (and the threads it starts), a number of its own for each
#: request of the test client (see :func:`run_as_request`).
_request: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "flask_dbcase_request", default=None
)
_requests = itertools.count(1)

#: The savepoints SQLAlchemy names itself (``begin_nested()``), numbered per
#: connection: a request's first is ``sa_savepoint_1`` like the test's.
_SQLALCHEMY_SAVEPOINT = re.compile(r"\b(sa_savepoint_\d+)\b")


def run_as_request(run: t.Callable[..., _T], *args: t.Any) -> _T:
    """Run ``run(*args)`` as a request would run on a server: in a new, empty
    :mod:`contextvars` context, so with no application context pushed, and in a
    transaction of its own.

    The test's uncommitted writes are visible to the request, which shares the
    test's connection, but the request's rollback does not undo them: it rolls
    back to a savepoint set for the request.
    """

    def as_request() -> _T:
        _request.set(next(_requests))
        return run(*args)

    return contextvars.Context().run(as_request)


class ImplicitCommitError(RuntimeError):
    """The test transaction ended before the test did.

    MySQL and MariaDB commit implicitly before DDL, ``TRUNCATE``, ``LOCK TABLES`` and
    similar statements, and a ``COMMIT`` hidden in a string of several statements
    commits on any database. Whatever the test wrote before that point was
    committed. The test case then brings back the class's starting state for
    its next tests: rows, schema, data and a new connection.

    .. versionadded:: 0.1
    """


class ConnectionLostError(RuntimeError):
    """The connection of a test transaction was lost while a test ran.

    The server ended it (it was killed, or restarted), and the class's transaction
    went with it. The class's later tests fail with this error; later classes get
    new connections.

    .. versionadded:: 0.1
    """


class LockWaitError(sa.exc.OperationalError):
    """A connection gave up waiting for rows or a table that the test's
    transaction holds.

    In a transactional test, everything the test writes stays locked in its
    transaction until the test ends. Another connection (an engine of its own, a
    thread's) that writes the same rows waits for them: PostgreSQL's
    ``lock_timeout`` and MySQL's ``innodb_lock_wait_timeout`` and
    ``lock_wait_timeout``, which flask_dbcase sets to
    ``FLASK_DBCASE_LOCK_TIMEOUT`` seconds (5), or SQLite's busy timeout (5)
    then ends the wait with this error. It is an
    :class:`~sqlalchemy.exc.OperationalError`, not the error the statement
    would have met without the wait.

    .. versionadded:: 0.1
    """

    def __str__(self) -> str:
        return (
            "A connection waited for rows or a table that the test's transaction"
            f" holds, and gave up ({str(self.orig).strip()}). In a transactional"
            " test what the test wrote stays locked until the test ends: another"
            " connection (an engine of its own, a thread's) cannot write the same"
            " rows. Test such code in a DatabaseTestCase, whose tests commit."
        )


def _is_lock_wait(error: BaseException) -> bool:
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if code == "55P03":  # PostgreSQL: lock_not_available
        return True
    if type(error).__module__.startswith(("sqlite3", "pysqlite2")):
        return "database is locked" in str(error)
    args: tuple[t.Any, ...] = getattr(error, "args", ())
    return bool(args) and args[0] == 1205  # MySQL: lock wait timeout exceeded


class LockWaits:
    """While transactional classes run, turn a lock wait's timeout into a
    :class:`LockWaitError` that says why."""

    def __init__(self) -> None:
        self._users = 0

    def start(self) -> None:
        if self._users == 0:
            event.listen(sa.Engine, "handle_error", self._translate)
        self._users += 1

    def stop(self) -> None:
        self._users -= 1
        if self._users == 0:
            event.remove(sa.Engine, "handle_error", self._translate)

    @staticmethod
    def _translate(context: t.Any) -> BaseException | None:
        original = context.original_exception
        if not _is_lock_wait(original):
            return None
        return LockWaitError(context.statement, context.parameters, original)


lock_waits = LockWaits()


class _Savepoints:
    """The state of one database's test transaction, shared by its engines."""

    def __init__(self, dbapi_connection: t.Any, family: str) -> None:
        self.dbapi = dbapi_connection
        self.family = family
        #: What tests change in the session that a rollback keeps.
        self.session = SessionState(self.query, family, self.query_all)
        #: What the class's own setup changed so, put back when it ends.
        self.class_session = SessionState(self.query, family, self.query_all)
        #: Asks the driver whether the real transaction is open; ``None`` where
        #: it cannot tell.
        self.still_open = _still_open(dbapi_connection)
        #: Asks the driver whether a statement failed the transaction
        #: (PostgreSQL's), which a COMMIT then rolls back.
        self.failed = _failed(dbapi_connection)

        #: Savepoint at which the application's current transaction began, or
        #: ``None`` when the next statement must set a new one.
        self.base: str | None = None
        #: A statement ran since ``base`` was set.
        self.dirty = False
        #: A statement other than a ``SELECT`` ran since ``base`` was set.
        self.wrote = False
        #: Whose transaction it is (see :data:`_request`).
        self.owner: int | None = None
        #: The transactions a request's own set aside, innermost last, as
        #: ``(base, dirty, wrote, owner)``: the test's uncommitted writes, which
        #: the request's rollback must not undo.
        self.suspended: list[tuple[str | None, bool, bool, int | None]] = []
        #: Set while the test's own context is torn down: the whole test is about
        #: to be rolled back, so the rollbacks done on the way are skipped.
        self.closing = False
        #: The database has deferrable constraints (PostgreSQL): they are checked
        #: where a real COMMIT would check them.
        self.deferrable = False
        #: A savepoint was found gone: MySQL ended the transaction (DDL,
        #: TRUNCATE, LOCK TABLES), which the end of the test reports.
        self.ended = False
        #: Statements that set the application's savepoint, sent with the next
        #: statement that reaches the database: a transaction that sends none
        #: needs none.
        self.pending: tuple[str, ...] = ()
        #: A committed transaction's savepoint is still set; the next one
        #: releases it first. MySQL needs no release: a savepoint replaces the
        #: one of the same name. Elsewhere they would nest ever deeper, which
        #: slows every statement down.
        self.kept = False
        #: Whether the driver takes several statements in one call.
        self.batches = family == "postgresql"
        #: The driver's pipeline (psycopg 3's), in which the savepoint and the
        #: statement that needs it travel together: one round trip, not two.
        self.pipeline, self.pipelined = _pipeline(dbapi_connection)
        self._cursor: t.Any = None

    def run(self, sql: str) -> None:
        self.cursor().execute(sql)

    def cursor(self) -> t.Any:
        """The cursor for the library's own statements, kept: a new one for each
        costs psycopg as much as a round trip."""
        if self._cursor is None:
            self._cursor = self.dbapi.cursor()
        return self._cursor

    def query(self, sql: str, parameters: tuple[t.Any, ...] = ()) -> t.Any:
        """Run ``sql``; return its first row, ``None`` if it has no rows."""
        cursor = self.cursor()
        if parameters:
            cursor.execute(sql, parameters)
        else:
            cursor.execute(sql)
        return cursor.fetchone() if cursor.description else None

    def query_all(self, sql: str, parameters: tuple[t.Any, ...] = ()) -> t.Any:
        """Run ``sql``; return all its rows."""
        cursor = self.cursor()
        cursor.execute(sql, parameters)
        return cursor.fetchall()

    def begin_app(self) -> None:
        """Begin an application transaction: ask for its savepoint."""
        release = (f"RELEASE SAVEPOINT {APP_SAVEPOINT}",) if self.kept else ()
        self.pending = (*release, f"SAVEPOINT {APP_SAVEPOINT}")
        self.kept = False
        self.base = APP_SAVEPOINT

    def send_pending(self) -> None:
        """Send the savepoint statements the next statement needs: at once, where
        the driver takes them in one call."""
        pending, self.pending = self.pending, ()
        if self.pipeline is not None and len(pending) > 1:
            # One round trip, also inside a pipeline the application opened,
            # which would refuse several statements in one string.
            own = self.cursor()
            with self.pipeline():
                for sql in pending:
                    own.execute(sql)
            return
        if self.batches and len(pending) > 1:
            pending = ("; ".join(pending),)
        for sql in pending:
            self.run_on_savepoint(sql)

    def commit_app(self) -> None:
        """The application committed: what it did is kept."""
        if self.suspended:
            if not self._unsent():
                self.run_on_savepoint(f"RELEASE SAVEPOINT {self.base}")
            self._resume()
            return
        if not self._unsent() and self.base == APP_SAVEPOINT:
            self.kept = self.family != "mysql"
        self.base = None
        self.dirty = False
        self.wrote = False

    def rollback_app(self) -> None:
        """The application rolled back: undo what it did since it began."""
        if self._unsent():
            self.base = None  # the next transaction asks for its own
        elif self.suspended:
            # Released too, or each request would set one more level.
            self.run_on_savepoint(
                f"ROLLBACK TO SAVEPOINT {self.base}", f"RELEASE SAVEPOINT {self.base}"
            )
        else:
            self.run_on_savepoint(f"ROLLBACK TO SAVEPOINT {self.base}")
        if self.ended:
            self.base = None  # nothing to roll back to: the next begins anew
            self.suspended.clear()
        elif self.suspended:
            self._resume()
            return
        self.dirty = False
        self.wrote = False

    def own(self, owner: int | None) -> None:
        """A statement of ``owner`` is about to run in the current transaction,
        which is another's: a request's, or the test's. If that one wrote, a
        request gets a savepoint of its own, so that its rollback keeps what the
        test wrote and has not committed."""
        if self.wrote and owner is not None:
            if self.pending:
                self.send_pending()
            self.suspended.append((self.base, self.dirty, self.wrote, self.owner))
            self.base = f"{APP_SAVEPOINT}_{len(self.suspended)}"
            self.pending = (f"SAVEPOINT {self.base}",)
            self.dirty = self.wrote = False
        self.owner = owner

    def _resume(self) -> None:
        """Go back to the transaction a request's own was set inside."""
        self.base, self.dirty, self.wrote, self.owner = self.suspended.pop()

    def _unsent(self) -> bool:
        """Forget the savepoint asked for if nothing reached the database since;
        tell whether it was."""
        if not self.pending:
            return False
        self.kept = len(self.pending) > 1  # the last one's release is still owed
        self.pending = ()
        return True

    def begin_tests(self) -> None:
        """Mark the state every test starts from and rolls back to."""
        self.run(f"SAVEPOINT {TEST_SAVEPOINT}")
        self.ended = False
        # What setUpTestData changed is where the tests start; it is put back
        # when the class ends (the connection may serve the next class).
        self.class_session = self.session.detach()
        self.reset()

    def run_on_savepoint(self, *sql: str) -> None:
        """Run ``sql``, which names a savepoint (in one call where the driver
        takes several statements); if MySQL says the savepoint is gone, note
        that the transaction ended instead of raising.

        The application's statements then run in the transaction MySQL began
        after ending the test's; the test fails when it ends.
        """
        statements = ("; ".join(sql),) if self.batches else sql
        try:
            for statement in statements:
                self.run(statement)
        except Exception as error:  # raised by the driver, not by SQLAlchemy
            if not _is_lost_savepoint(error):
                raise
            self.lost()

    def lost(self) -> None:
        """The test's transaction ended under it: note it, and go on in a new
        one, so that the test's later statements work and are rolled back.

        What was committed is undone when the test ends (see
        :meth:`TestTransaction.end_test`).
        """
        self.ended = True
        self.pending = ()
        self.kept = False
        self.suspended.clear()
        self.owner = None
        if self.family == "postgresql":
            # The failed statement failed the transaction: what ran since the
            # ending goes. MySQL and SQLite go on with it.
            self.dbapi.rollback()
        self.run(f"SAVEPOINT {TEST_SAVEPOINT}")
        self.base = TEST_SAVEPOINT
        self.dirty = True

    def check_ended(self) -> None:
        """After a statement, ask the driver, without a round trip, whether the
        transaction is still open (not MySQL's: see :meth:`_Database.ended`)."""
        # Again after an earlier ending: a second one must be noticed too.
        if self.still_open is not None and not self.still_open():
            self.lost()

    def end_test(self) -> None:
        """Undo everything done since :meth:`begin_tests`.

        :raises AssertionError: The test left deferred constraints violated, which
            a real COMMIT would have refused. It is rolled back all the same.
        """
        self.closing = False
        violated: Exception | None = None
        # Nothing ran since the state the test started from: nothing to undo.
        if self.dirty or self.base != TEST_SAVEPOINT:
            if self.deferrable:
                violated = self.check_deferred()
            self.run(f"ROLLBACK TO SAVEPOINT {TEST_SAVEPOINT}")
        # Even when rolled back already: a rollback keeps these.
        self.session.reset()
        self.reset()
        if violated is not None:
            raise AssertionError(
                "The test left deferred constraints violated; a real COMMIT would"
                f" have failed: {violated}"
            ) from violated

    def check_deferred(self) -> Exception | None:
        """Check the deferred constraints now, as COMMIT would; return the error.

        Inside a savepoint that is rolled back afterwards, which keeps the
        constraints deferred for what follows.
        """
        self.run(f"SAVEPOINT {CHECK_SAVEPOINT}")
        try:
            self.run("SET CONSTRAINTS ALL IMMEDIATE")
        except Exception as error:  # the driver's IntegrityError
            return error
        finally:
            self.run(f"ROLLBACK TO SAVEPOINT {CHECK_SAVEPOINT}")
        return None

    def reset(self) -> None:
        self.base = TEST_SAVEPOINT
        self.dirty = False
        self.wrote = False
        self.owner = None
        self.suspended.clear()
        self.pending = ()
        self.kept = False


#: Transaction control written as SQL: what it does to the application's
#: transaction, and, for ``SET autocommit``, the value.
_CHAIN = r"(?:\s+AND\s+(?:NO\s+)?CHAIN)?(?:\s+(?:NO\s+)?RELEASE)?"
_CONTROL = re.compile(
    r"\s*(?:(?P<begin>BEGIN|START\s+TRANSACTION)(?:\s+\w+)*"
    rf"|(?P<commit>COMMIT|END)(?:\s+(?:WORK|TRANSACTION))?{_CHAIN}"
    rf"|(?P<rollback>ROLLBACK|ABORT)(?:\s+(?:WORK|TRANSACTION))?{_CHAIN}"
    r"|SET\s+(?:SESSION\s+|@@(?:SESSION\.)?)?AUTOCOMMIT\s*=\s*(?P<autocommit>\w+))"
    r"\s*;?\s*$",
    re.IGNORECASE,
)


class SharedConnection:
    """Stand in for the DBAPI connection of a test transaction, for one engine.

    SQLAlchemy believes it owns a connection with an implicit transaction. Where it
    would begin, commit or roll back that transaction, the stand-in moves a savepoint
    instead, so that the real transaction stays open until the test ends. So do
    ``COMMIT``, ``ROLLBACK`` and ``BEGIN`` written as SQL, a commit through a
    cursor's connection, and turning autocommit on (PyMySQL's ``autocommit()``,
    MySQL's ``SET autocommit``): each acts on the application's transaction, as
    ``db.session.commit()`` would.
    """

    _savepoints: _Savepoints
    _dbapi: t.Any
    _autocommit: bool

    def __init__(self, savepoints: _Savepoints, autocommit: bool) -> None:
        set_ = object.__setattr__
        set_(self, "_savepoints", savepoints)
        set_(self, "_dbapi", savepoints.dbapi)
        #: The engine is in autocommit mode: every statement counts as committed
        #: at once, so there is nothing to roll back before the test ends.
        set_(self, "_autocommit", autocommit)

    def cursor(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        if _banned:
            _refuse_banned()
        return _Cursor(self, self._dbapi.cursor(*args, **kwargs))

    def begin(self, write: bool = True) -> _Savepoints:
        """A statement is about to run: in the application's transaction, begun
        if the last one ended, even through a cursor made before it did.
        ``write`` is false for a ``SELECT``."""
        state = self._savepoints
        if not self._autocommit:
            owner = _request.get()
            if state.base is None:
                state.begin_app()
                state.owner = owner
            elif owner != state.owner:
                state.own(owner)
        state.dirty = True
        if write:
            state.wrote = True
        return state

    def execute(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        # Some drivers (sqlite3, psycopg) offer execute() on the connection itself.
        return self.cursor().execute(*args, **kwargs)

    def executescript(self, script: str) -> t.Any:
        """Run a script's statements one by one: pysqlite's own ``executescript``
        commits first."""
        return self.cursor().executescript(script)

    def commit(self) -> None:
        state = self._savepoints
        if not state.dirty or self._autocommit or _request.get() != state.owner:
            # Nothing ran, or it is another's transaction: a request's whose
            # own has ended, say, resetting its connection as it goes.
            return
        if state.failed is not None and state.failed():
            # PostgreSQL answers the COMMIT of a failed transaction with a
            # rollback, and so does this.
            self.rollback()
            return
        if state.deferrable and not state.pending:
            violated = state.check_deferred()
            if violated is not None:
                # As a real COMMIT: refused, and the transaction rolled back;
                # a request's, to the transaction it was set inside.
                state.rollback_app()
                raise violated
        # What was done is now kept; the next transaction needs its own savepoint.
        state.commit_app()

    def rollback(self) -> None:
        state = self._savepoints
        if (
            not state.dirty
            or state.closing
            or self._autocommit
            or _request.get() != state.owner
        ):
            return
        state.rollback_app()

    def control(self, statement: str) -> bool:
        """Act on transaction control written as SQL; ``True`` if it was.

        ``BEGIN`` needs nothing: the application's transaction begins with its
        first statement.
        """
        found = _CONTROL.match(statement)
        if found is None:
            return False
        if found["commit"]:
            self.commit()
        elif found["rollback"]:
            self.rollback()
        elif found["autocommit"]:
            self._set_autocommit(found["autocommit"].upper() in ("1", "ON", "TRUE"))
        return True

    def _set_autocommit(self, value: bool) -> None:
        """Act as the driver's autocommit switch, which would end the real
        transaction: what the application did so far counts as committed."""
        if value == self._autocommit:
            return
        state = self._savepoints
        if value:
            self.commit()
        elif state.dirty:  # statements ran in autocommit mode: they are kept
            state.base = None
            state.dirty = False
        self._autocommit = value

    def close(self) -> None:
        """Do nothing: the real connection belongs to :class:`TestTransaction`."""

    def __getattr__(self, name: str) -> t.Any:
        found = getattr(self._dbapi, name)
        if name == "autocommit":
            if callable(found):  # PyMySQL's and mysqlclient's switch, a method
                return self._set_autocommit
            return self._autocommit
        if name == "isolation_level" and self._autocommit and _is_sqlite(self._dbapi):
            return None
        return found

    def __setattr__(self, name: str, value: t.Any) -> None:
        # psycopg's switch is an attribute, and so is pysqlite's isolation_level,
        # None for autocommit: the real connection must not see either.
        if name == "autocommit":
            self._set_autocommit(bool(value))
        elif name == "isolation_level" and _is_sqlite(self._dbapi):
            self._set_autocommit(value is None)
        else:
            object.__setattr__(self, name, value)


def _statements(script: str) -> t.Iterator[str]:
    """Split a SQLite script into its statements, triggers' bodies kept whole."""
    import sqlite3

    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                yield pending.strip()
            pending = ""


def _is_sqlite(dbapi_connection: t.Any) -> bool:
    return type(dbapi_connection).__module__.startswith(("sqlite3", "pysqlite2"))


#: How the statements :meth:`SharedConnection.control` acts on begin.
_CONTROL_HEADS = ("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SET")


class _Cursor:
    """A cursor of the test transaction's connection that keeps its statements
    inside it."""

    __slots__ = ("_shared", "_cursor", "_skipped")

    def __init__(self, shared: SharedConnection, cursor: t.Any) -> None:
        self._shared = shared
        self._cursor = cursor
        #: The last statement was transaction control, not sent: no result.
        self._skipped = False

    @property
    def connection(self) -> SharedConnection:
        return self._shared

    def execute(self, statement: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
        self._skipped = False
        state = self._shared._savepoints
        text = statement
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        database = None
        write = True
        if isinstance(text, str):
            text, head = _readable(text)
            if head.startswith(_CONTROL_HEADS) and self._shared.control(text):
                self._skipped = True
                return self
            database = state.session.before(text, head)
            write = not head.startswith("SELECT")
            if state.family == "mysql" and "sa_savepoint_" in text:
                statement = _request_savepoint(statement)
        method = self._cursor.execute
        return self._send(method, database, statement, args, kwargs, write)

    def executescript(self, script: str) -> _Cursor:
        for statement in _statements(script):
            self.execute(statement)
        return self

    def executemany(self, statement: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
        self._skipped = False
        database = None
        if isinstance(statement, str):
            database = self._shared._savepoints.session.before(*_readable(statement))
        method = self._cursor.executemany
        return self._send(method, database, statement, args, kwargs)

    def _send(
        self,
        method: t.Callable[..., t.Any],
        database: t.Any,
        statement: t.Any,
        args: tuple[t.Any, ...],
        kwargs: dict[str, t.Any],
        write: bool = True,
    ) -> t.Any:
        """Send a statement the test may send, in its transaction."""
        if _banned:
            _refuse_banned()
        state = self._shared.begin(write)
        if state.pending:
            # Only a statement with parameters: without, psycopg sends it in
            # the simple protocol, which takes several statements in one
            # string, and a pipeline would refuse them.
            if type(self._cursor) is state.pipelined and (args[0] if args else None):
                found = self._pipelined(state, method, statement, args, kwargs)
                return self._after(state, database, found)
            state.send_pending()
        found = method(statement, *args, **kwargs)
        return self._after(state, database, found)

    def _pipelined(
        self,
        state: _Savepoints,
        method: t.Callable[..., t.Any],
        statement: t.Any,
        args: tuple[t.Any, ...],
        kwargs: dict[str, t.Any],
    ) -> t.Any:
        """Send the pending savepoint and the statement in one pipeline: the
        server answers both in one round trip."""
        pending, state.pending = state.pending, ()
        own = state.cursor()
        with state.pipeline():
            for sql in pending:
                own.execute(sql)
            return method(statement, *args, **kwargs)

    def _after(self, state: _Savepoints, database: t.Any, found: t.Any) -> t.Any:
        state.check_ended()
        if database is not None:
            state.session.after(database)
        return self if found is self._cursor else found

    def __iter__(self) -> t.Iterator[t.Any]:
        return iter(() if self._skipped else self._cursor)

    # What SQLAlchemy reads after each statement, spelled out: faster than
    # __getattr__.
    @property
    def description(self) -> t.Any:
        return None if self._skipped else self._cursor.description

    @property
    def rowcount(self) -> int:
        return -1 if self._skipped else int(self._cursor.rowcount)

    @property
    def lastrowid(self) -> t.Any:
        return None if self._skipped else self._cursor.lastrowid

    def fetchone(self) -> t.Any:
        return None if self._skipped else self._cursor.fetchone()

    def fetchall(self) -> t.Any:
        return [] if self._skipped else self._cursor.fetchall()

    def fetchmany(self, *args: t.Any) -> t.Any:
        return [] if self._skipped else self._cursor.fetchmany(*args)

    def close(self) -> None:
        self._cursor.close()

    def __enter__(self) -> _Cursor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> t.Any:
        found = getattr(self._cursor, name)
        if callable(found):
            # What else the cursor does (psycopg's copy() and stream(),
            # callproc()) may change rows too: in the application's
            # transaction, its savepoint set first.
            state = self._shared.begin()
            if state.pending:
                state.send_pending()
        return found


class _Database:
    """One real connection and its open transaction, shared by some engines."""

    def __init__(self, engine: sa.Engine) -> None:
        self.url = engine.url
        self.engines: list[sa.Engine] = []
        self.connection = connection = engine.connect()
        if _autocommit_engine(engine):
            # Autocommit would leave nothing to roll back; the test connection
            # gets the server's transactional level instead.
            level = engine.dialect.default_isolation_level
            connection.execution_options(isolation_level=level)
        self.transaction = connection.begin()
        self.dbapi_connection: t.Any = connection.connection.dbapi_connection
        family = "mysql" if engine.dialect.name == "mariadb" else engine.dialect.name
        self.savepoints = _Savepoints(self.dbapi_connection, family)
        self.begin()
        if engine.dialect.name == "postgresql":
            found = connection.exec_driver_sql(
                "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE condeferrable)"
            )
            self.savepoints.deferrable = bool(found.scalar())
        self.saved_pools: list[t.Any] = []

    def begin(self) -> None:
        """Make sure the real connection is in a transaction.

        pysqlite's legacy transaction control sends no BEGIN of its own: without
        one, the first SAVEPOINT would start the transaction and its RELEASE
        would commit it.
        """
        if getattr(self.dbapi_connection, "in_transaction", True) is False:
            self.savepoints.run("BEGIN")

    def ended(self) -> bool:
        """Tell whether the driver says the real transaction ended.

        Asked of what the driver knows already, without a round trip; ``False``
        for a driver that does not say.
        """
        dbapi = self.dbapi_connection
        state = self.savepoints
        if state.ended:
            return True
        if not state.dirty and state.base == TEST_SAVEPOINT:
            return False  # nothing ran since the test began
        status = getattr(dbapi, "in_transaction", None)  # sqlite3
        if isinstance(status, bool):
            return not status
        info = getattr(dbapi, "info", None)  # psycopg: 0 is IDLE
        if info is not None and hasattr(info, "transaction_status"):
            return int(info.transaction_status) == 0
        # MySQL's own flag stays off until a transactional table is read, so
        # there a lost savepoint tells instead (error 1305: above, or in
        # end_test).
        return False

    def adopt(self, engine: sa.Engine) -> None:
        """Make ``engine`` hand out the shared connection.

        The real transaction level is the test connection's; whether the engine is
        in autocommit mode decides what its commits and rollbacks do.
        """
        shared = SharedConnection(self.savepoints, _autocommit_engine(engine))
        self.engines.append(engine)
        self.saved_pools.append(engine.pool)
        engine.pool = StaticPool(lambda: shared, dialect=engine.dialect)

    def is_disconnect(self, error: Exception) -> bool:
        """Tell whether ``error`` means the real connection is gone."""
        if isinstance(error, sa.exc.DBAPIError):
            if error.connection_invalidated:
                return True
            error = t.cast(Exception, error.orig)
        dialect = self.connection.dialect
        found = dialect.is_disconnect(t.cast(t.Any, error), self.dbapi_connection, None)
        return bool(found)

    def close(self, discard: bool = False) -> None:
        for engine, pool in zip(self.engines, self.saved_pools, strict=True):
            engine.pool = pool
        if not discard:
            try:
                self.savepoints.session.reset()
                self.savepoints.class_session.reset()
            except Exception:  # whatever is left goes with the connection
                discard = True
        try:
            self.transaction.rollback()
        except Exception as error:
            if not self.is_disconnect(error):
                raise
            # The server ended the connection, and the transaction with it.
            discard = True
        finally:
            if discard:
                # Closed rather than pooled: what the session holds (MySQL's
                # table locks, temporary tables, settings) goes with it.
                self.connection.invalidate()
            self.connection.close()


def _autocommit_engine(engine: sa.Engine) -> bool:
    level = engine.get_execution_options().get("isolation_level")
    if level is None:
        level = getattr(engine.dialect, "_on_connect_isolation_level", None)
    return level == "AUTOCOMMIT"


class TestTransaction:
    """Run everything the given engines do inside transactions rolled back later.

    Engines that point at the same database share one connection, so that rows
    written through one are visible through the others, as they would be after a
    commit. Each in-memory SQLite engine is its own database.

    :param engines: The engines to take over, usually ``db.engines.values()``.

    .. versionadded:: 0.1
    """

    __test__ = False  # not a test, whatever pytest's name matching thinks

    def __init__(self, engines: t.Iterable[sa.Engine]) -> None:
        self._databases: dict[t.Hashable, _Database] = {}
        #: The database whose connection was lost, described, if one was.
        self.lost: str | None = None
        _open.add(self)
        # A run stopped mid-class (Ctrl-C) skips the class's cleanups: the
        # transaction must still end before its database is dropped, which
        # would otherwise wait for it (MySQL's metadata lock) forever.
        at_exit(_close_open, first=True)
        try:
            for engine in engines:
                key = same_database_key(engine)
                database = self._databases.get(key)
                if database is None:
                    database = self._databases[key] = _Database(engine)
                database.adopt(engine)
        except BaseException:
            self.close()
            raise

    def begin_tests(self) -> None:
        """Set the savepoint that each test rolls back to."""
        for database in self._databases.values():
            database.savepoints.begin_tests()

    def ban(self, threads: t.Iterable[threading.Thread]) -> None:
        """Refuse the statements of ``threads`` from now on: the test that
        started them has ended."""
        _banned.update(threads)

    def start_closing(self) -> None:
        """Skip the rollbacks a test does while its context is torn down."""
        for database in self._databases.values():
            database.savepoints.closing = True

    # radon C, essential: per database, each way a test can end its
    # transaction (kept, ended by DDL, deferred constraints, connection lost).
    def end_test(self) -> None:
        """Roll back everything done since :meth:`begin_tests`.

        :raises ImplicitCommitError: The database committed the transaction on its
            own. The transaction is begun again, so later tests stay isolated.
        """
        if self.lost:
            return  # nothing left to roll back; reported when it happened
        failed: list[str] = []
        violated: AssertionError | None = None
        for database in self._databases.values():
            if database.ended():
                # Past everything the stand-in catches: a COMMIT inside a
                # string of several statements, say.
                failed.append(describe_url(database.url))
                self._restart(database)
                continue
            try:
                database.savepoints.end_test()
            except AssertionError as error:  # rolled back; the others must be too
                violated = error
            except Exception as error:  # raised by the driver, not by SQLAlchemy
                if database.is_disconnect(error):
                    self.lost = describe_url(database.url)
                    raise ConnectionLostError(
                        f"The connection to {self.lost} was lost during the test"
                        f" ({error}). The class's transaction, with the data its"
                        " setUpTestData created, went with it; its other tests"
                        " cannot run isolated and will fail. The next class starts"
                        " with a new connection."
                    ) from error
                if not _lost_savepoint(database, error):
                    raise
                failed.append(describe_url(database.url))
                self._restart(database)
        if violated is not None and not failed:
            raise violated
        if failed:
            raise ImplicitCommitError(
                f"The test transaction on {', '.join(failed)} ended before the test"
                " did, so rows the test wrote before that point were really"
                " committed. MySQL and MariaDB commit implicitly on DDL (CREATE,"
                " ALTER, DROP), TRUNCATE and LOCK TABLES; a COMMIT inside a string"
                " of several statements commits too. Move such code to a"
                " DatabaseTestCase, which commits for real and empties the tables"
                " after each test."
            )

    def _restart(self, database: _Database) -> None:
        database.dbapi_connection.rollback()
        database.savepoints.session.reset()
        database.begin()
        database.savepoints.begin_tests()

    def close(self, discard: bool = False) -> None:
        """Roll back the transactions and give the engines their pools back.

        :param discard: Close the real connections instead of returning them to
            their pools, with whatever their sessions hold.
        """
        _open.discard(self)
        errors: list[BaseException] = []
        for database in self._databases.values():
            try:
                database.close(discard)
            except Exception as error:  # close the others all the same
                errors.append(error)
        self._databases.clear()
        if errors:
            raise errors[0]


#: The test transactions not closed yet.
_open: weakref.WeakSet[TestTransaction] = weakref.WeakSet()


def _close_open() -> None:
    for transaction in list(_open):
        try:
            transaction.close(discard=True)
        except Exception:  # at exit, nobody is left to raise to
            pass


def _lost_savepoint(database: _Database, error: Exception) -> bool:
    return _is_lost_savepoint(error)


def _is_lost_savepoint(error: Exception) -> bool:
    """Tell whether the driver says a savepoint does not exist: the transaction
    that held it ended."""
    # MySQL error 1305: "SAVEPOINT dbcase_test does not exist".
    if getattr(error, "args", (None,))[:1] == (1305,):
        return True
    # PostgreSQL: invalid_savepoint_specification.
    if (getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)) == "3B001":
        return True
    return _is_sqlite_error(error) and "no such savepoint" in str(error)


def _is_sqlite_error(error: Exception) -> bool:
    return type(error).__module__.startswith(("sqlite3", "pysqlite2"))


def _still_open(dbapi_connection: t.Any) -> t.Callable[[], bool] | None:
    """A function that tells, from what the driver knows, whether the
    connection is in a transaction; ``None`` where the driver cannot tell."""
    if isinstance(getattr(dbapi_connection, "in_transaction", None), bool):
        return lambda: bool(dbapi_connection.in_transaction)  # sqlite3
    status = _pg_status(dbapi_connection)
    return None if status is None else lambda: status() != 0  # 0: idle


def _failed(dbapi_connection: t.Any) -> t.Callable[[], bool] | None:
    """A function that tells, from what the driver knows, whether a failed
    statement aborted the transaction (PostgreSQL); ``None`` elsewhere."""
    status = _pg_status(dbapi_connection)
    return None if status is None else lambda: status() == 3  # in error


def _pipeline(dbapi_connection: t.Any) -> tuple[t.Any, type | None]:
    """psycopg 3's ``pipeline()`` of the connection, and the cursor class that
    may run in it (not the server-side cursors); ``None`` for other drivers,
    which send the savepoint on its own."""
    psycopg = sys.modules.get("psycopg")  # imported if the connection is its
    if psycopg is None or type(dbapi_connection) is not psycopg.Connection:
        return None, None
    return dbapi_connection.pipeline, psycopg.Cursor


def _pg_status(dbapi_connection: t.Any) -> t.Callable[[], int] | None:
    """libpq's transaction status of a psycopg or psycopg2 connection, read
    without a round trip; ``None`` for other drivers."""
    info = getattr(dbapi_connection, "info", None)
    if info is not None and hasattr(info, "transaction_status"):  # psycopg
        return lambda: int(info.transaction_status)
    status = getattr(dbapi_connection, "get_transaction_status", None)
    if callable(status):  # psycopg2
        return lambda: int(status())
    return None


#: SQL comments; MySQL's and MariaDB's executable ones keep their content.
_COMMENT = re.compile(r"/\*(?:M?!\d*)?(.*?)\*/|--[^\n]*|#[^\n]*", re.DOTALL)


def _without_comments(text: str) -> str:
    """``text`` without its comments, for reading it; MySQL's executable
    comments (``/*!40101 SET NAMES utf8 */``) give their content."""

    def replace(found: re.Match[str]) -> str:
        executable = found[0].startswith(("/*!", "/*M!"))
        return f" {found[1]} " if executable else " "

    return _COMMENT.sub(replace, text).strip()


def _readable(text: str) -> tuple[str, str]:
    """``text`` without comments, and its head upper-cased, for reading it."""
    if "/*" in text or "--" in text or "#" in text:
        text = _without_comments(text)
    return text, text.lstrip()[:8].upper()


def _request_savepoint(statement: t.Any) -> t.Any:
    """Name a request's ``begin_nested()`` savepoint apart from the test's: a
    request's connection numbers them from 1 again, and MySQL would replace the
    test's savepoint of the same name, which the test then could not end."""
    number = _request.get()
    if number is None or not isinstance(statement, str):
        return statement
    return _SQLALCHEMY_SAVEPOINT.sub(rf"\1_request_{number}", statement)


def _refuse_banned() -> None:
    if threading.current_thread() in _banned:
        raise RuntimeError(
            f"flask_dbcase refused a statement from thread"
            f" {threading.current_thread().name!r}: the test that started it"
            " ended while it ran (see thread_timeout), and what it writes"
            " would land in the next test. Wait for it in the test."
        )


#: Threads whose statements are refused: a test that started them ended while
#: they ran. For the process: with ``reuse_app``, the next class's
#: transaction is another. A plain set: read before every statement, and
#: only threads that ran too long are ever in it.
_banned: set[threading.Thread] = set()
