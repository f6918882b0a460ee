"""What the library sends to the database per test, counted on the connection.

SQLite's trace callback sees every statement the connection runs, the library's
own included, so these counts are exact and deterministic.
"""

from __future__ import annotations

import collections
import contextlib
import re
import shutil
import sqlite3
import tempfile
import typing as t
import unittest
from unittest import mock

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.pool import NullPool

from flask_dbcase import ClientTestCase
from flask_dbcase import DatabaseTestCase
from flask_dbcase import transaction
from flask_dbcase import TransactionalTestCase

from .support import Author
from .support import db
from .support import engine_classes
from .support import ENGINES
from .support import make_app
from .support import run_case

MEMORY = ENGINES[0]


def traced(case: type[TransactionalTestCase]) -> dict[str, list[str]]:
    """Run ``case``; return the statements each of its tests caused, in order."""
    seen: list[str] = []

    def set_up_test_data(cls: t.Any) -> None:
        raw = db.session.connection().connection.dbapi_connection
        raw.set_trace_callback(seen.append)

    def set_up(self: t.Any) -> None:
        super(case, self).setUp()
        seen.append(f"-- {self._testMethodName}")

    case.setUpTestData = classmethod(set_up_test_data)  # type: ignore[assignment]
    case.setUp = set_up  # type: ignore[method-assign]
    result = run_case(case)
    assert result.wasSuccessful(), result.problems()
    by_test: dict[str, list[str]] = {}
    current: list[str] = []
    for statement in seen:
        if statement.startswith("-- "):
            current = by_test.setdefault(statement[3:], [])
        else:
            current.append(" ".join(statement.split()))
    # The class's own statements (committing setUpTestData, the test savepoint)
    # come before the first marker.
    return by_test


def library(statements: list[str]) -> list[str]:
    words = ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT")
    return [s for s in statements if s.upper().startswith(words)]


#: Savepoint statements by what they do, whatever the savepoints are called.
_KINDS = {
    "set": re.compile(r"SAVEPOINT\s+(\S+)$", re.I),
    "release": re.compile(r"RELEASE\s+(?:SAVEPOINT\s+)?(\S+)$", re.I),
    "rollback": re.compile(
        r"ROLLBACK\s+(?:WORK\s+|TRANSACTION\s+)?TO\s+(?:SAVEPOINT\s+)?(\S+)$", re.I
    ),
}


def kind(statement: str) -> tuple[str, str]:
    """What a savepoint statement does, and to which savepoint; ``("other",
    statement)`` for any other statement."""
    statement = " ".join(statement.split())
    for name, pattern in _KINDS.items():
        found = pattern.match(statement)
        if found:
            return name, found.group(1).strip('"`').lower()
    return "other", statement


def deepest(kinds: list[tuple[str, str]], replaces: bool) -> int:
    """How many of the savepoints set by ``kinds`` were ever set at once, as
    the server keeps them: a release ends its savepoint and the later ones, a
    rollback the later ones; where ``replaces`` (MySQL), a savepoint ends the
    one of its name. A savepoint set earlier, if named, ends all of them."""
    live: list[str] = []
    most = 0
    for what, name in kinds:
        if what == "set":
            if replaces and name in live:
                live.remove(name)
            live.append(name)
            most = max(most, len(live))
        elif what in ("release", "rollback"):
            if name not in live:
                live.clear()
                continue
            at = len(live) - 1 - live[::-1].index(name)
            del live[at + (what == "rollback") :]
    return most


class StatementCountTests(unittest.TestCase):
    def test_transactional(self) -> None:
        left: list[int | None] = []

        class Case(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(MEMORY)

            def test_1_empty(self) -> None:
                pass

            def test_2_reads(self) -> None:
                db.session.scalar(sa.select(sa.func.count(Author.id)))

            def test_3_commits_twice(self) -> None:
                db.session.add(Author(name="a"))
                db.session.commit()
                db.session.add(Author(name="b"))
                db.session.commit()

            def test_4_rolls_back(self) -> None:
                db.session.add(Author(name="a"))
                db.session.flush()
                db.session.rollback()

            def test_5_reads_what_is_left(self) -> None:
                left.append(db.session.scalar(sa.select(sa.func.count(Author.id))))

            def test_9_last(self) -> None:
                pass

        statements = {name: library(s) for name, s in traced(Case).items()}
        # What the tests before wrote, and committed, is gone.
        self.assertEqual(left, [0])
        # A test that touched the database ends with a rollback to a savepoint.
        for name in (
            "test_2_reads",
            "test_3_commits_twice",
            "test_5_reads_what_is_left",
        ):
            self.assertEqual(kind(statements[name][-1])[0], "rollback", statements)
        found = {name: len(s) for name, s in statements.items()}
        self.assertEqual(
            found,
            {
                "test_1_empty": 0,
                "test_2_reads": 1,  # the rollback to the test's savepoint
                # The first transaction starts at the test's savepoint; the
                # second sets one of its own; then the test's rollback.
                "test_3_commits_twice": 2,
                # The app's rollback went back to the test's savepoint: nothing
                # left to do but that.
                "test_4_rolls_back": 1,
                "test_5_reads_what_is_left": 1,
                "test_9_last": 1,  # the class's transaction rolled back
            },
        )

    def test_client_request(self) -> None:
        class Case(ClientTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(MEMORY)

            def test_request(self) -> None:
                self.client.get("/authors")

            def test_z_last(self) -> None:
                pass

        found = {name: library(s) for name, s in traced(Case).items()}
        # The request's teardown rolls its transaction back; the test's end then
        # has nothing left to undo but that.
        self.assertEqual(len(found["test_request"]), 1, found)

    def test_database_test_case(self) -> None:
        seen: list[str] = []
        left: list[int | None] = []

        class Case(DatabaseTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(MEMORY)

            def setUp(self) -> None:
                super().setUp()
                raw = db.engine.raw_connection()  # the in-memory database's only one
                raw.dbapi_connection.set_trace_callback(seen.append)  # type: ignore[union-attr]
                raw.close()
                seen.append(f"-- {self._testMethodName}")
                # Runs before the library's cleanup, which setUp registered first.
                self.addCleanup(seen.append, "-- end")

            def test_1_reads(self) -> None:
                db.session.scalar(sa.select(sa.func.count(Author.id)))

            def test_2_writes(self) -> None:
                db.session.add(Author(name="a"))
                db.session.commit()

            def test_3_reads_what_is_left(self) -> None:
                left.append(db.session.scalar(sa.select(sa.func.count(Author.id))))

        result = run_case(Case)
        self.assertTrue(result.wasSuccessful(), result.problems())
        # What the library sent after each test, transaction control aside.
        cleanup: dict[str, list[str]] = {}
        name, ended = "", False
        for statement in seen:
            if statement.startswith("-- "):
                ended = statement == "-- end"
                name = name if ended else statement[3:]
            elif ended and not library([statement]):
                cleanup.setdefault(name, []).append(" ".join(statement.split()))
        # The row test_2 committed is gone.
        self.assertEqual(left, [0])
        # One probe for the tables with rows, then only those are emptied: one
        # read after a test that wrote nothing, and one write more per table
        # written to.
        self.assertEqual(len(cleanup["test_1_reads"]), 1, cleanup)
        self.assertTrue(cleanup["test_1_reads"][0].upper().startswith("SELECT"))
        probe, *writes = cleanup["test_2_writes"]
        self.assertTrue(probe.upper().startswith("SELECT"), cleanup)
        self.assertEqual(len(writes), 1, cleanup)
        emptied = {t for t in ("author", "book") if re.search(rf"\b{t}\b", writes[0])}
        self.assertEqual(emptied, {"author"}, cleanup)


class TracedConnection(sqlite3.Connection):
    """A pysqlite connection that records every statement from its first one."""

    log: t.ClassVar[list[list[str]]] = []

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        statements: list[str] = []
        self.log.append(statements)
        self.set_trace_callback(statements.append)


class ConnectionCostTests(unittest.TestCase):
    """Where each new connection is, asked of the server, costs one statement."""

    def test_one_statement_per_new_connection(self) -> None:
        folder = tempfile.mkdtemp(prefix="dbcase-cost-")
        self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        url = f"sqlite:///{folder}/shop.db"
        TracedConnection.log = log = []

        for base in (TransactionalTestCase, DatabaseTestCase):

            class Case(base):  # type: ignore[valid-type,misc]
                @classmethod
                def create_app(cls) -> Flask:
                    options = {"connect_args": {"factory": TracedConnection}}
                    return make_app(
                        MEMORY,
                        SQLALCHEMY_DATABASE_URI=url,
                        SQLALCHEMY_BINDS={},
                        SQLALCHEMY_ENGINE_OPTIONS=options,
                    )

                def test_write(self) -> None:
                    db.session.add(Author(name="a"))
                    db.session.commit()

            result = run_case(Case)
            self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertGreater(len(log), 1)
        for statements in log:
            asked = [s for s in statements if "pragma_database_list" in s]
            # Once, and first: nothing ran on the connection before it.
            self.assertEqual(len(asked), 1, statements)
            self.assertEqual(statements.index(asked[0]), 0, statements)


class CommitCost:
    """A commit of the code under test costs the server at most one round trip:
    the savepoint the next transaction needs. psycopg sends it in one pipeline
    with the statement that needs it, so it costs none; PostgreSQL releases the
    last one with it; MySQL needs no release, as a savepoint replaces one of the
    same name. SQLite, in the process, takes both as statements."""

    engine: t.ClassVar[t.Any]

    def test_thirty_commits_then_a_rollback(self) -> None:
        # What the library sent, by round trip: its own, or shared with the
        # application's statement in a pipeline.
        trips: list[tuple[str, list[str]]] = []
        in_pipeline: list[bool] = []
        original_cursor = transaction._Savepoints.cursor
        original_pipeline = transaction._pipeline

        class Recorded:
            def __init__(self, cursor: t.Any) -> None:
                self.cursor = cursor

            def execute(self, sql: str, *args: t.Any) -> t.Any:
                if in_pipeline:
                    trips[-1][1].append(sql)
                else:
                    trips.append(("own", [sql]))
                return self.cursor.execute(sql, *args)

            def __getattr__(self, name: str) -> t.Any:
                return getattr(self.cursor, name)

        def cursor(state: t.Any) -> Recorded:
            return Recorded(original_cursor(state))

        def pipeline(dbapi_connection: t.Any) -> tuple[t.Any, t.Any]:
            enter, kind = original_pipeline(dbapi_connection)
            if enter is None:
                return enter, kind

            @contextlib.contextmanager
            def recorded() -> t.Iterator[None]:
                trips.append(("shared", []))
                in_pipeline.append(True)
                try:
                    with enter():
                        yield
                finally:
                    in_pipeline.pop()

            return recorded, kind

        seen: list[tuple[str, list[str]]] = []
        # Rows committed for real, counted from a connection of our own.
        committed: list[int | None] = []
        observer = None
        if not self.engine.memory:
            observer = sa.create_engine(self.engine.test_url, poolclass=NullPool)
            self.addCleanup(observer.dispose)

        def authors_committed() -> int | None:
            if observer is None:
                return None
            with observer.connect() as connection:
                return connection.scalar(sa.select(sa.func.count(Author.id)))

        class Case(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(self.engine)

            def test_commits(self) -> None:
                committed.append(authors_committed())
                trips.clear()
                for i in range(30):
                    db.session.add(Author(name=f"a{i}"))
                    db.session.commit()
                db.session.add(Author(name="rolled back"))
                db.session.flush()
                db.session.rollback()
                # Back to the last commit, not to an earlier one.
                names = set(db.session.scalars(sa.select(Author.name)))
                self.assertEqual(names, {f"a{i}" for i in range(30)})
                seen.extend(trips)
                committed.append(authors_committed())

        with (
            mock.patch.object(transaction._Savepoints, "cursor", cursor),
            mock.patch.object(transaction, "_pipeline", pipeline),
        ):
            result = run_case(Case)
        self.assertTrue(result.wasSuccessful(), result.problems())
        committed.append(authors_committed())
        # The commits reached no other connection, and the test's end left
        # nothing behind.
        self.assertEqual(committed, [committed[0]] * 3)
        sent = [sql for _, trip in seen for sql in trip]
        kinds = [kind(part) for sql in sent for part in re.split(r";\s*", sql) if part]
        count = collections.Counter(what for what, _ in kinds)
        # Only savepoints: 30 transactions after the first, each with its own;
        # the app's rollback went back to the last one.
        self.assertEqual(count["other"], 0, seen)
        self.assertEqual(count["set"], 30, seen)
        self.assertEqual(count["rollback"], 1, seen)
        # At most one release per commit, and never two savepoints of the
        # app's at once: nested ever deeper, they slow every statement down.
        self.assertLessEqual(count["release"], 29, seen)
        self.assertEqual(deepest(kinds, replaces=self.engine.mysql), 1, seen)
        own = [trip for way, trip in seen if way == "own"]
        if self.engine.url.startswith("postgresql+psycopg:"):
            self.assertEqual(len(own), 1, seen)  # the rollback's
        elif not self.engine.url.startswith("sqlite"):
            self.assertEqual(len(own), 31, seen)  # one round trip each


globals().update(engine_classes([CommitCost], ENGINES))
del CommitCost
