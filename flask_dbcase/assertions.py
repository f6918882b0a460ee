"""Assertions about what the code under test did to the database.

The statements a test sends are seen with SQLAlchemy's ``before_cursor_execute``
event on every engine of the app. flask_dbcase's own savepoint statements go to
the DBAPI connection directly, so they are never counted.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import types
import typing as t
import unittest

import sqlalchemy as sa
from sqlalchemy import event

from . import urls
from .callers import caller as _caller
from .changes import CapturedChanges
from .changes import differences as _differences
from .changes import format_row as _shown
from .changes import Snapshot as _Snapshot

# A failure points at the test's line: unittest, and pytest, leave the frames of
# modules that set this out of its traceback.
__unittest = True

if t.TYPE_CHECKING:
    from flask_sqlalchemy import SQLAlchemy


class Query(t.NamedTuple):
    """A statement the code under test sent to the database.

    .. versionadded:: 0.1
    """

    #: The SQL, as the driver received it.
    statement: str
    #: The parameters sent with it.
    parameters: t.Any
    #: The bind key of the engine (``None`` for the default bind).
    bind: str | None
    #: Whether it was one statement run for many sets of parameters.
    executemany: bool
    #: Where the code that sent it is, ``file:line in function``, for the
    #: assertions that say so; ``None`` where it was not looked for.
    caller: str | None = None

    def __str__(self) -> str:
        where = "" if self.bind is None else f" [bind {self.bind!r}]"
        sql = _LONG_RUN.sub(_cut_placeholders, " ".join(self.statement.split()))
        return f"{sql} -- {_readable(self.parameters)}{where}"


#: Past this many items, a run of placeholders or a collection of parameters
#: (a long ``IN`` list, a large ``executemany``) is shown cut, with its size.
_MOST = 25

#: Past this many characters, a parameter's value is shown cut.
_LONGEST = 200

#: One placeholder, in each driver's style, with PostgreSQL's cast if any
#: (``%(id_1_1)s::INTEGER``, ``::VARCHAR(20)``).
_PLACEHOLDER = r"(?:\?|%s|%\(\w+\)s|:\w+|\$\d+)(?:::\w+(?:\s*\([\d,\s]*\))?)?"

#: A run of more than :data:`_MOST` placeholders.
_LONG_RUN = re.compile(rf"{_PLACEHOLDER}(?:\s*,\s*{_PLACEHOLDER}){{{_MOST},}}")


def _cut_placeholders(run: re.Match[str]) -> str:
    found = re.findall(_PLACEHOLDER, run.group(0))
    return ", ".join(found[:3]) + f", ... {len(found)} in all"


# radon C, essential: one branch per kind of value the drivers are sent
# (buffers, sequences, mappings, the rest), each cut to size.
def _readable(value: t.Any) -> str:
    """The parameters as the driver got them: the drivers' buffers (pysqlite's
    ``memoryview``) as the bytes they hold, long collections and values cut."""
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, (list, tuple, dict)):
        keyed = isinstance(value, dict)
        pairs: t.Iterable[tuple[t.Any, t.Any]] = (
            value.items() if isinstance(value, dict) else enumerate(value)
        )
        items = [
            (f"{key!r}: " if keyed else "") + _readable(item)
            for key, item in itertools.islice(pairs, _MOST)
        ]
        if len(value) > _MOST:
            items.append(f"... {len(value)} in all")
        elif isinstance(value, tuple) and len(value) == 1:
            items[0] += ","
        ends = "{}" if keyed else "[]" if isinstance(value, list) else "()"
        return ends[0] + ", ".join(items) + ends[1]
    shown = repr(value)
    return shown if len(shown) <= _LONGEST else shown[: _LONGEST - 3] + "..."


class CapturedQueries(list[Query]):
    """The statements sent while a :meth:`~DatabaseAssertions.captureQueries`
    block runs, in order.

    .. versionadded:: 0.1
    """

    def listing(self) -> str:
        """The statements, numbered, one per line.

        .. versionadded:: 0.1
        """
        if not self:
            return "No statements were sent."
        width = len(str(len(self)))
        lines = (f"{i:>{width}}. {q}" for i, q in enumerate(self, 1))
        return "\n".join(lines)


class Commit(t.NamedTuple):
    """A transaction the code under test committed.

    .. versionadded:: 0.1
    """

    #: The bind key of the engine (``None`` for the default bind).
    bind: str | None
    #: Where the commit was called from: the innermost frame outside SQLAlchemy
    #: and Flask-SQLAlchemy, as ``file:line in function``.
    caller: str


class CapturedCommits(list[Commit]):
    """The commits made while a :meth:`~DatabaseAssertions.captureCommits` block
    runs, in order. Rollbacks are counted in :attr:`rollbacks`.

    .. versionadded:: 0.1
    """

    #: How many transactions were rolled back meanwhile.
    rollbacks = 0

    def listing(self) -> str:
        """The commits, numbered, one per line.

        .. versionadded:: 0.1
        """
        if not self:
            return "No commit."
        lines = (f"{urls.describe_bind(c.bind)}, from {c.caller}" for c in self)
        return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))


if t.TYPE_CHECKING:
    _TestCase = unittest.TestCase
else:
    _TestCase = object


class DatabaseAssertions(_TestCase):
    """Assertions on the statements, rows and commits of the code under test.

    Mixed into every flask_dbcase test case; they work on every bind.

    .. versionadded:: 0.1
    """

    db: t.ClassVar[SQLAlchemy]

    def _dbcase_database(
        self,
    ) -> tuple[SQLAlchemy | None, dict[str | None, sa.Engine] | None, bool]:
        """What the assertions read of the test case: its Flask-SQLAlchemy
        extension, its engines while a test runs, and whether a test transaction
        holds their connections. The test case answers."""
        return None, None, False

    def _db(self) -> SQLAlchemy:
        """The test's Flask-SQLAlchemy extension, whatever the class calls ``db``."""
        db, _, _ = self._dbcase_database()
        return db or self.db

    def _engines(self) -> dict[str | None, sa.Engine]:
        _, engines, _ = self._dbcase_database()
        if engines is None:
            raise RuntimeError(
                f"{type(self).__qualname__!r} has no database set up: this"
                " assertion works while a test of the class runs."
            )
        return engines

    def _check_bind(self, bind: str | types.EllipsisType | None) -> None:
        engines = self._engines()
        if bind is not ... and bind not in engines:
            known = ", ".join(urls.describe_bind(key) for key in engines)
            raise ValueError(f"The app has no bind {bind!r}; it has {known}.")

    # -- statements ---------------------------------------------------------

    @contextlib.contextmanager
    def captureQueries(self) -> t.Iterator[CapturedQueries]:
        """Capture the statements sent on every bind while the block runs.

        .. code-block:: python

            with self.captureQueries() as queries:
                client.get("/books")
            self.assertIn("JOIN", queries[0].statement)

        .. versionadded:: 0.1
        """
        with self._capture(callers=False) as captured:
            yield captured

    @contextlib.contextmanager
    def _capture(self, callers: bool) -> t.Iterator[CapturedQueries]:
        """Capture the statements; with ``callers``, also where each was sent
        from, which costs a walk up the stack per statement."""
        captured = CapturedQueries()
        listeners = []
        for key, engine in self._engines().items():

            def record(
                connection: t.Any,
                cursor: t.Any,
                statement: str,
                parameters: t.Any,
                context: t.Any,
                executemany: bool,
                key: str | None = key,
            ) -> None:
                caller = _caller() if callers else None
                captured.append(Query(statement, parameters, key, executemany, caller))

            event.listen(engine, "before_cursor_execute", record)
            listeners.append((engine, record))
        try:
            yield captured
        finally:
            for engine, record in listeners:
                event.remove(engine, "before_cursor_execute", record)

    def assertNumQueries(
        self, number: int, *, bind: str | types.EllipsisType | None = ...
    ) -> t.ContextManager[CapturedQueries]:
        """Fail unless the block sends exactly ``number`` statements.

        Statements on every bind count, unless ``bind`` names one. The failure
        lists the statements, numbered. flask_dbcase's own savepoints are not
        counted.

        .. versionadded:: 0.1
        """

        self._check_bind(bind)

        def check(queries: CapturedQueries) -> None:
            found = _on_bind(queries, bind)
            if len(found) != number:
                self.fail(_queries_message(found, f"exactly {number}", bind))

        return _Checked(self.captureQueries(), check)

    def assertMaxQueries(
        self, number: int, *, bind: str | types.EllipsisType | None = ...
    ) -> t.ContextManager[CapturedQueries]:
        """Fail if the block sends more than ``number`` statements.

        Like :meth:`assertNumQueries`, for a limit rather than an exact count.

        .. versionadded:: 0.1
        """

        self._check_bind(bind)

        def check(queries: CapturedQueries) -> None:
            found = _on_bind(queries, bind)
            if len(found) > number:
                self.fail(_queries_message(found, f"at most {number}", bind))

        return _Checked(self.captureQueries(), check)

    def assertNoRepeatedQueries(
        self, limit: int = 1, *, bind: str | types.EllipsisType | None = ...
    ) -> t.ContextManager[CapturedQueries]:
        """Fail if one read runs more than ``limit`` times on one bind in the
        block, its parameters aside: the sign of N+1 queries, where a loop
        loads each item's relationship on its own. Writes are not counted.

        Statements compare with their whitespace collapsed and a list of
        parameters in ``IN (...)`` counted as one. The failure shows each
        repeated statement, the parameters it ran with, and the lines of code
        that sent it, templates' included.

        .. versionadded:: 0.1
        """
        self._check_bind(bind)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(
                f"limit must be a whole number of 1 or more, not {limit!r}."
            )

        def check(queries: CapturedQueries) -> None:
            message = _repeated(_on_bind(queries, bind), limit, "the block")
            if message:
                self.fail(message)

        return _Checked(self._capture(callers=True), check)

    def _watch_requests(self, limit: int) -> t.Callable[[t.Callable[[], t.Any]], t.Any]:
        """Run a request of the test client, then fail if one statement ran
        more than ``limit`` times in it."""

        def watch(send: t.Callable[[], t.Any]) -> t.Any:
            with self._capture(callers=True) as queries:
                response = send()
            history = getattr(response, "history", ())
            request = (history[0] if history else response).request
            within = f"the request {request.method} {request.path}"
            message = _repeated(queries, limit, within)
            if message:
                self.fail(message)
            return response

        return watch

    # -- commits --------------------------------------------------------------

    @contextlib.contextmanager
    def captureCommits(self) -> t.Iterator[CapturedCommits]:
        """Record the transactions committed, on every bind, while the block runs.

        Inside a :class:`~flask_dbcase.TransactionalTestCase`, a commit of the code
        under test only releases a savepoint, and the test's rollback undoes it;
        this tells whether the code committed at all.

        .. versionadded:: 0.1
        """
        captured = CapturedCommits()
        listeners: list[tuple[sa.Engine, str, t.Callable[..., None]]] = []
        for key, engine in self._engines().items():

            def commit(connection: t.Any, key: str | None = key) -> None:
                captured.append(Commit(key, _caller()))

            def rollback(connection: t.Any) -> None:
                captured.rollbacks += 1

            for name, listener in (("commit", commit), ("rollback", rollback)):
                event.listen(engine, name, listener)
                listeners.append((engine, name, listener))
        try:
            yield captured
        finally:
            for engine, name, listener in listeners:
                event.remove(engine, name, listener)

    def assertCommits(
        self, number: int | None = None
    ) -> t.ContextManager[CapturedCommits]:
        """Fail unless the block commits: ``number`` times, or at least once.

        ``assertCommits(0)`` fails if the block commits at all, and names where.

        .. versionadded:: 0.1
        """

        def check(commits: CapturedCommits) -> None:
            if number is None and not commits:
                rolled = f" (it rolled back {commits.rollbacks} time(s))"
                self.fail(
                    "The code did not commit"
                    + (rolled if commits.rollbacks else "")
                    + ". A view or function that saves must call"
                    " db.session.commit()."
                )
            if number is not None and len(commits) != number:
                self.fail(
                    f"The code committed {len(commits)} time(s), expected {number}:\n"
                    + commits.listing()
                )

        return _Checked(self.captureCommits(), check)

    # -- changed rows ---------------------------------------------------------

    @contextlib.contextmanager
    def captureChanges(self, *models: t.Any) -> t.Iterator[CapturedChanges]:
        """Capture the rows the block inserts, updates and deletes, table by
        table: in every table of the app, or in the ``models`` (models, tables
        or table names) given.

        .. code-block:: python

            with self.captureChanges() as changes:
                client.post("/books", data={"title": "Dune"})
            self.assertEqual(changes[Book].inserted[0]["title"], "Dune")

        The tables are read when the block begins and when it ends, through
        the test's session, as :meth:`assertDatabaseHas` reads them: objects
        added to the session and not yet flushed are not in them. If the block
        raises, nothing is captured.

        .. versionadded:: 0.1
        """
        tables = self._watched_tables(models)
        snapshot = _Snapshot(tables, self._read_table)
        captured = CapturedChanges()
        yield captured
        snapshot.compare(captured)

    def assertChanges(
        self, expected: t.Mapping[t.Any, int], msg: str | None = None
    ) -> t.ContextManager[CapturedChanges]:
        """In a ``with`` block: fail unless each table in ``expected`` (by model,
        table or name) has that many more rows after the block than before
        (``0`` for as many, ``-1`` for one fewer). The failure lists the rows
        each of those tables gained, lost and changed.

        .. code-block:: python

            with self.assertChanges({Book: +1, Author: 0}):
                client.post("/books", data={"title": "Dune"})

        .. versionadded:: 0.1
        """
        if not isinstance(expected, t.Mapping) or not expected:
            raise TypeError(
                "assertChanges() takes a dict of models and the difference in their"
                f" row counts, as {{Book: +1, Author: 0}}; got {expected!r}."
            )
        for key, difference in expected.items():
            if isinstance(difference, bool) or not isinstance(difference, int):
                raise TypeError(
                    f"assertChanges(): the difference for {key!r} must be an int,"
                    f" not {difference!r}."
                )
        wanted = dict(expected)

        def check(captured: CapturedChanges) -> None:
            problems = _differences(captured, wanted)
            if problems:
                self.fail(self._formatMessage(msg, problems + self._unflushed_hint()))

        return _Checked(self.captureChanges(*wanted), check)

    def _watched_tables(self, models: tuple[t.Any, ...]) -> list[sa.Table]:
        """The tables a change capture reads: the ``models`` given, each in its
        database, or every table of the app that is."""
        everything = self._app_tables()
        if not models:
            return self._existing(everything)
        tables: list[sa.Table] = []
        for model in models:
            table = self._named_table(model, everything)
            if table in tables:
                raise TypeError(f"{model!r} is named twice.")
            tables.append(table)
        existing = self._existing(tables)
        for table in tables:
            if table not in existing:
                where = urls.describe_bind(table.metadata.info.get("bind_key"))
                raise ValueError(
                    f"The table {table.fullname!r} is not in the test database of"
                    f" {where}: is its migration missing?"
                )
        return tables

    def _app_tables(self) -> list[sa.Table]:
        """The tables of the app's binds; of those the class declared, if any."""
        engines = self._engines()
        declared = getattr(type(self), "binds", None)
        return [
            table
            for key, metadata in self._db().metadatas.items()
            if key in engines and (declared is None or key in declared)
            for table in metadata.sorted_tables
        ]

    def _named_table(self, model: t.Any, everything: list[sa.Table]) -> sa.Table:
        """The table of a model, a table or a table's name."""
        if not isinstance(model, str):
            table = _table_of(model)
            self._engine_of(table)
            return table
        named = [t for t in everything if model in (t.name, t.fullname)]
        if len(named) != 1:
            known = ", ".join(repr(t.fullname) for t in everything)
            raise TypeError(
                f"The app has {len(named) or 'no'} table(s) named {model!r};"
                f" its tables: {known}. Pass the model instead."
            )
        return named[0]

    def _existing(self, tables: list[sa.Table]) -> list[sa.Table]:
        """The tables that are in their databases: a model without a migration
        must not make the test's transaction fail on a missing table."""
        found: dict[tuple[sa.Engine, str | None], set[str]] = {}
        kept = []
        for table in tables:
            engine = self._engine_of(table)
            where = (engine, table.schema)
            if where not in found:
                with self._db().session.no_autoflush:
                    connection = self._db().session.connection(
                        bind_arguments={"bind": engine}
                    )
                    found[where] = set(
                        sa.inspect(connection).get_table_names(schema=table.schema)
                    )
            if table.name in found[where]:
                kept.append(table)
        return kept

    def _read_table(self, table: sa.Table) -> list[sa.RowMapping]:
        engine = self._engine_of(table)
        _, _, transactional = self._dbcase_database()
        if not transactional and not urls.is_memory_sqlite(engine.url):
            # The test's commits are real, and so are the app's, on connections
            # of their own: read what was committed, not what a transaction the
            # test's session began before them still shows (REPEATABLE READ).
            # A database in memory has one connection, the session's.
            with engine.connect() as connection:
                return list(connection.execute(sa.select(table)).mappings())
        rows = _Rows(table, engine, {})
        return list(self._execute(rows, sa.select(table)).mappings())

    def _engine_of(self, table: sa.Table) -> sa.Engine:
        engines = self._engines()
        key = table.metadata.info.get("bind_key")
        if key not in engines:
            raise TypeError(
                f"{table.name!r} belongs to no database of the app (its bind key"
                f" is {key!r}). Pass a model or table of the app's Flask-SQLAlchemy."
            )
        return engines[key]

    # -- rows -----------------------------------------------------------------

    def assertDatabaseHas(
        self, model: t.Any, msg: str | None = None, /, **columns: t.Any
    ) -> None:
        """Fail unless a row of ``model`` (a model or a table) has these values.

        The database is queried as it is: objects added to the session and not
        yet flushed are not in it. When no row matches, the failure shows the
        rows that come closest.

        .. versionadded:: 0.1
        """
        rows = self._row_filter(model, columns, msg)
        if self._count(rows):
            return
        self.fail(
            self._formatMessage(
                msg,
                f"No row of {rows.table.name!r} has {_shown(columns)}."
                + self._closest(rows)
                + self._pending_hint(),
            )
        )

    def assertDatabaseMissing(
        self, model: t.Any, msg: str | None = None, /, **columns: t.Any
    ) -> None:
        """Fail if a row of ``model`` (a model or a table) has these values.

        .. versionadded:: 0.1
        """
        rows = self._row_filter(model, columns, msg)
        if not self._count(rows):
            return
        found = self._execute(rows, sa.select(rows.table).where(*rows.where).limit(5))
        self.fail(
            self._formatMessage(
                msg,
                f"{rows.table.name!r} has a row with {_shown(columns)}:\n"
                + "\n".join(f"  {_shown(dict(row))}" for row in found.mappings()),
            )
        )

    def assertDatabaseCount(
        self, model: t.Any, count: int, msg: str | None = None, /, **columns: t.Any
    ) -> None:
        """Fail unless ``model`` (a model or a table) has ``count`` rows with
        these values (all its rows, without filters).

        .. versionadded:: 0.1
        """
        rows = self._row_filter(model, columns, msg)
        found = self._count(rows)
        if found == count:
            return
        which = f" with {_shown(columns)}" if columns else ""
        self.fail(
            self._formatMessage(
                msg,
                f"{rows.table.name!r} has {found} row(s){which}, expected {count}."
                + self._pending_hint(),
            )
        )

    def _row_filter(self, model: t.Any, columns: dict[str, t.Any], msg: t.Any) -> _Rows:
        if msg is not None and not isinstance(msg, str):
            raise TypeError(
                f"The message must be a string, got {type(msg).__name__!r}. Give"
                " the values as keywords: assertDatabaseHas(Book, title='Dune')."
            )
        table = _table_of(model)
        engine = self._engine_of(table)
        conditions = {}
        for name, value in columns.items():
            column = _column(model, table, name)
            conditions[name] = column.is_(None) if value is None else column == value
        return _Rows(table, engine, conditions)

    def _execute(self, rows: _Rows, statement: t.Any) -> sa.Result[t.Any]:
        # The database as it is: an assertion must not flush the session. On
        # the table's own bind, whatever the statement names.
        with self._db().session.no_autoflush:
            return self._db().session.execute(
                statement, bind_arguments={"bind": rows.engine}
            )

    def _count(self, rows: _Rows) -> int:
        query = sa.select(sa.func.count()).select_from(rows.table).where(*rows.where)
        return int(self._execute(rows, query).scalar_one())

    def _closest(self, rows: _Rows) -> str:
        """The rows that share the most of the values asked for, as the database
        compares them (its collations, its conversions)."""
        total = int(
            self._execute(
                rows, sa.select(sa.func.count()).select_from(rows.table)
            ).scalar_one()
        )
        if not total:
            return " The table is empty."
        if not rows.conditions:
            return ""
        flags = [
            sa.case((condition, 1), else_=0).label(f"dbcase_match_{i}")
            for i, condition in enumerate(rows.conditions.values())
        ]
        score = sum(flags[1:], flags[0])
        query = sa.select(rows.table, *flags).order_by(score.desc()).limit(3)
        lines = []
        for found in self._execute(rows, query).mappings():
            matched = [
                name
                for name, flag in zip(rows.conditions, flags, strict=True)
                if found[flag.name]
            ]
            values = {column.name: found[column] for column in rows.table.columns}
            lines.append(
                f"  {_shown(values)}: {_agreement(list(rows.conditions), matched)}"
            )
        return f"\nClosest of its {total} row(s):\n" + "\n".join(lines)

    def _pending_hint(self) -> str:
        return self._unflushed_hint() + self._stale_read_hint()

    def _unflushed_hint(self) -> str:
        session = self._db().session()
        pending = len(session.new) + len(session.dirty) + len(session.deleted)
        if not pending:
            return ""
        return (
            f"\nThe session has {pending} change(s) not yet flushed; call"
            " db.session.flush() before asserting."
        )

    def _stale_read_hint(self) -> str:
        session = self._db().session()
        db, _, transactional = self._dbcase_database()
        if db is not None and not transactional and session.in_transaction():
            # Rows other threads or the live server committed meanwhile are
            # invisible to a transaction that began before, under REPEATABLE READ.
            if self._db().engine.dialect.name in ("mysql", "mariadb"):
                return (
                    "\nThe test's session is in a transaction that began before"
                    " other connections' latest commits, which REPEATABLE READ hides"
                    " from it; call db.session.rollback() before asserting."
                )
        return ""


_T = t.TypeVar("_T")


class _Rows(t.NamedTuple):
    """The rows a row assertion looks at: a table, on its own database."""

    table: sa.Table
    engine: sa.Engine
    #: The conditions, by the names the test gave.
    conditions: dict[str, t.Any]

    @property
    def where(self) -> list[t.Any]:
        return list(self.conditions.values())


class _Checked(t.Generic[_T]):
    """Capture while a block runs, then check what was captured if it ended
    without an error. The check runs in this module, whose frames unittest
    leaves out, so that a failure's traceback ends at the test's ``with``."""

    def __init__(self, capture: t.ContextManager[_T], check: t.Callable[[_T], None]):
        self._capture = capture
        self._check = check

    def __enter__(self) -> _T:
        self._captured = self._capture.__enter__()
        return self._captured

    def __exit__(self, *error: t.Any) -> None:
        self._capture.__exit__(*error)
        if error[0] is None:
            self._check(self._captured)


def _on_bind(
    queries: CapturedQueries, bind: str | types.EllipsisType | None
) -> CapturedQueries:
    if bind is ...:
        return queries
    return CapturedQueries(q for q in queries if q.bind == bind)


def _queries_message(
    found: CapturedQueries, expected: str, bind: str | types.EllipsisType | None
) -> str:
    where = "" if bind is ... else f" on {urls.describe_bind(bind)}"
    return (
        f"{len(found)} statement(s) sent{where}, expected {expected}:\n"
        + found.listing()
    )


#: A parenthesised list of placeholders, as an expanding ``IN`` renders it.
_PLACEHOLDERS = re.compile(rf"\(\s*{_PLACEHOLDER}(?:\s*,\s*{_PLACEHOLDER})*\s*\)")


def statement_shape(statement: str) -> str:
    """``statement`` with its whitespace collapsed and each list of
    placeholders written ``(...)``: what two runs of the same query share,
    whatever their parameters.

    .. versionadded:: 0.1
    """
    return _PLACEHOLDERS.sub("(...)", " ".join(statement.split()))


#: How a statement that reads begins.
_READS = ("SELECT", "WITH")


# radon C, essential: group the statements by shape and bind, then list the
# repeated ones with their callers.
def _repeated(queries: t.Sequence[Query], limit: int, within: str) -> str:
    """Describe the reads of ``queries`` that ran more than ``limit`` times on
    one bind ``within`` a block or request; ``""`` if none did. Writes are left
    out: the unit of work sends them one by one or in batches, as the driver
    allows, and no loading option changes that."""
    groups: dict[tuple[str | None, str], list[Query]] = {}
    for query in queries:
        shape = statement_shape(query.statement)
        if shape.upper().startswith(_READS):
            groups.setdefault((query.bind, shape), []).append(query)
    found = [(key, runs) for key, runs in groups.items() if len(runs) > limit]
    if not found:
        return ""
    parts = []
    for (bind, shape), runs in found:
        shown = ", ".join(_brief(query.parameters) for query in runs[:5])
        if len(runs) > 5:
            shown += f", ... ({len(runs) - 5} more)"
        callers: dict[str | None, int] = {}
        for query in runs:
            callers[query.caller] = callers.get(query.caller, 0) + 1
        lines = "".join(
            f"\n  from {caller} ({count} time(s))" for caller, count in callers.items()
        )
        parts.append(
            f"{shape}\n  ran {len(runs)} times on {urls.describe_bind(bind)},"
            f" parameters: {shown}{lines}"
        )
    return (
        f"{len(found)} statement(s) ran more than {limit} time(s) in {within},"
        " its parameters aside (N+1 queries? Load the relationship with the"
        " first query: selectinload() or joinedload()):\n" + "\n".join(parts)
    )


def _brief(parameters: t.Any, limit: int = 80) -> str:
    shown = repr(parameters)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _table_of(model: t.Any) -> sa.Table:
    if isinstance(model, sa.Table):
        return model
    table = getattr(model, "__table__", None)
    if isinstance(table, sa.Table):
        return table
    raise TypeError(
        f"Expected a model or a Table, got {model!r}. Pass the model class (Book),"
        " or its table (Book.__table__)."
    )


def _column(model: t.Any, table: sa.Table, name: str) -> t.Any:
    if model is not None and not isinstance(model, sa.Table):
        mapper = sa.inspect(model, raiseerr=False)
        relationship = mapper.relationships.get(name) if mapper else None
        if relationship is not None:
            keys = ", ".join(f"{c.key}=..." for c in relationship.local_columns)
            raise TypeError(
                f"{name!r} is a relationship of {model.__name__!r}, not a column."
                f" Compare its column instead: {keys}."
            )
        attribute = getattr(model, name, None)
        expression = getattr(attribute, "expression", None)
        if isinstance(expression, sa.ColumnElement):
            return expression
    if name in table.c:
        return table.c[name]
    known = ", ".join(sorted(table.c.keys()))
    raise TypeError(f"{table.name!r} has no column {name!r}. Its columns: {known}.")


def _agreement(names: list[str], matched: list[str]) -> str:
    """Say in words which of the values asked for a row has: ``title matches,
    author_id differs``."""
    other = [name for name in names if name not in matched]
    parts = [
        f"{_listed(keys)} {verb if len(keys) == 1 else plural}"
        for keys, verb, plural in (
            (matched, "matches", "match"),
            (other, "differs", "differ"),
        )
        if keys
    ]
    return ", ".join(parts)


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"
