"""What the library sends to the database per test, counted on the connection.

SQLite's trace callback sees every statement the connection runs, the library's
own included, so these counts are exact and deterministic.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
import typing as t
import unittest
from unittest import mock

import sqlalchemy as sa
from flask import Flask

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


class StatementCountTests(unittest.TestCase):
    def test_transactional(self) -> None:
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

            def test_9_last(self) -> None:
                pass

        found = {name: len(library(s)) for name, s in traced(Case).items()}
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

            def test_1_reads(self) -> None:
                db.session.scalar(sa.select(sa.func.count(Author.id)))

            def test_2_writes(self) -> None:
                db.session.add(Author(name="a"))
                db.session.commit()

        result = run_case(Case)
        self.assertTrue(result.wasSuccessful(), result.problems())
        cleanup: dict[str, list[str]] = {}
        for statement in seen:
            if statement.startswith("-- "):
                current = cleanup.setdefault(statement[3:], [])
            elif statement.startswith(("SELECT EXISTS", "DELETE")):
                current.append(statement.split("(")[0].split(" WHERE")[0].strip())
        # One probe for the tables with rows, then only those are emptied.
        self.assertEqual(cleanup["test_1_reads"], ["SELECT EXISTS"])
        self.assertEqual(
            cleanup["test_2_writes"], ["SELECT EXISTS", "DELETE FROM author"]
        )


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

        class Case(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(self.engine)

            def test_commits(self) -> None:
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

        with (
            mock.patch.object(transaction._Savepoints, "cursor", cursor),
            mock.patch.object(transaction, "_pipeline", pipeline),
        ):
            result = run_case(Case)
        self.assertTrue(result.wasSuccessful(), result.problems())
        sent = [sql for _, trip in seen for sql in trip]
        statements = [part for sql in sent for part in sql.split("; ")]
        # 30 transactions after the first, each with its savepoint; the app's
        # rollback went back to the last one.
        self.assertEqual(statements.count(f"SAVEPOINT {APP}"), 30, seen)
        self.assertEqual(statements.count(f"ROLLBACK TO SAVEPOINT {APP}"), 1, seen)
        releases = statements.count(f"RELEASE SAVEPOINT {APP}")
        # Each released before the next is set, so that they never nest; on
        # MySQL the next replaces it.
        self.assertEqual(releases, 0 if self.engine.mysql else 29, seen)
        self.assertEqual(len(statements), 31 + releases, seen)
        own = [trip for kind, trip in seen if kind == "own"]
        if self.engine.url.startswith("postgresql+psycopg:"):
            self.assertEqual(len(own), 1, seen)  # the rollback's
        elif not self.engine.url.startswith("sqlite"):
            self.assertEqual(len(own), 31, seen)  # one round trip each


APP = transaction.APP_SAVEPOINT
globals().update(engine_classes([CommitCost], ENGINES))
del CommitCost
