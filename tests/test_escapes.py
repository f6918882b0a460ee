"""What application code does to get past the test transaction, and how each is
kept inside it or caught: transaction control written as SQL, the driver's own
commit, autocommit switched on, SQLAlchemy's own pysqlite recipe.

Each check runs a class whose first test tries to escape and whose second must
find the class's starting state, while connections of our own, after every test,
must find nothing committed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import typing as t
import unittest
from unittest import mock

import sqlalchemy as sa
from flask import current_app
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.pool import NullPool

from flask_dbcase import DatabaseTestCase
from flask_dbcase import LockWaitError
from flask_dbcase import skipUnlessDialect
from flask_dbcase import transaction
from flask_dbcase import TransactionalTestCase
from flask_dbcase.urls import is_memory_sqlite

from .support import Author
from .support import db
from .support import engine_classes
from .support import ENGINES
from .support import make_app
from .support import Note
from .support import run_case

if t.TYPE_CHECKING:
    _Mixin = unittest.TestCase
else:
    _Mixin = object


def authors() -> list[str]:
    return sorted(db.session.scalars(sa.select(Author.name)))


def app_of(extension: SQLAlchemy, url: str) -> Flask:
    """An app with only ``extension`` on it, configured with ``url``."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    extension.init_app(app)
    return app


def pysqlite_recipe(app: Flask) -> Flask:
    """SQLAlchemy's own recipe for SQLite transactions (its SQLite dialect's docs):
    the driver's transaction handling off, a BEGIN sent at each begin."""
    with app.app_context():
        for engine in db.engines.values():

            @sa.event.listens_for(engine, "connect")
            def do_connect(dbapi_connection: t.Any, record: t.Any) -> None:
                dbapi_connection.isolation_level = None

            @sa.event.listens_for(engine, "begin")
            def do_begin(connection: sa.Connection) -> None:
                connection.exec_driver_sql("BEGIN")

    return app


def start_late_writer(
    app: Flask,
    go: threading.Event,
    outcome: list[BaseException | None],
    name: str,
    done: threading.Event | None = None,
) -> None:
    """Start a thread that, once ``go`` is set, adds an author through ``app``
    and commits; what it raised, or ``None``, goes in ``outcome``."""

    def work() -> None:
        go.wait(10)
        try:
            with app.app_context():
                db.session.add(Author(name="too late"))
                db.session.commit()
        except BaseException as error:
            outcome.append(error)
        else:
            outcome.append(None)
        if done is not None:
            done.set()

    threading.Thread(target=work, name=name, daemon=True).start()


class Escapes(_Mixin):
    engine: t.ClassVar[t.Any]

    def check(
        self,
        escape: t.Callable[[t.Any], None],
        factory: t.Callable[[Flask], Flask] = lambda app: app,
    ) -> None:
        """Run ``escape`` in a test, then expect the starting state in the next."""
        engine = self.engine

        class EscapeTests(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return factory(make_app(engine))

            @classmethod
            def setUpTestData(cls) -> None:
                db.session.add(Author(name="base"))

            def test_1_escape(self) -> None:
                escape(self)

            def test_2_starting_state(self) -> None:
                self.assertEqual(authors(), ["base"])

            def test_3_starting_state_again(self) -> None:
                db.session.add(Author(name="third"))
                db.session.commit()
                self.assertEqual(authors(), ["base", "third"])

        observer = engine.observer()
        if observer is not None:
            self.addCleanup(observer.dispose)
        result = run_case(EscapeTests, observer)
        self.assertEqual(result.problems(), "")
        self.assertEqual(result.testsRun, 3)
        for test, counts in result.seen:
            self.assertEqual(set(counts.values()), {0}, f"after {test}: {counts}")

    def test_commit_written_as_sql(self) -> None:
        def escape(case: t.Any) -> None:
            db.session.add(Author(name="escaped"))
            db.session.flush()
            db.session.execute(sa.text("COMMIT"))
            case.assertEqual(authors(), ["base", "escaped"])

        self.check(escape)

    def test_commit_written_as_sql_behind_a_comment_or_blank_lines(self) -> None:
        def escape(case: t.Any) -> None:
            db.session.add(Author(name="escaped"))
            db.session.flush()
            db.session.execute(sa.text("-- written by hand\nCOMMIT"))
            db.session.add(Author(name="indented"))
            db.session.flush()
            db.session.execute(sa.text("\n    COMMIT\n"))
            case.assertEqual(authors(), ["base", "escaped", "indented"])

        self.check(escape)

    def test_commit_written_as_bytes(self) -> None:
        if not self.engine.url.startswith("postgresql+psycopg:"):
            self.skipTest("psycopg takes a statement as bytes")

        def escape(case: t.Any) -> None:
            raw = db.session.connection().connection.dbapi_connection
            with raw.cursor() as cursor:
                cursor.execute(b"INSERT INTO author (name) VALUES ('escaped')")
                cursor.execute(b"COMMIT")
            case.assertEqual(authors(), ["base", "escaped"])

        self.check(escape)

    def test_rollback_and_begin_written_as_sql(self) -> None:
        def escape(case: t.Any) -> None:
            db.session.add(Author(name="kept"))
            db.session.commit()
            db.session.execute(sa.text("BEGIN"))
            db.session.add(Author(name="undone"))
            db.session.flush()
            db.session.execute(sa.text("ROLLBACK"))
            case.assertEqual(authors(), ["base", "kept"])

        self.check(escape)

    def test_commit_through_the_cursors_connection(self) -> None:
        def escape(case: t.Any) -> None:
            raw = db.session.connection().connection.dbapi_connection
            cursor = raw.cursor()
            cursor.execute("INSERT INTO author (name) VALUES ('escaped')")
            cursor.connection.commit()
            cursor.close()

        self.check(escape)

    def test_commit_through_the_connection_execute_returns(self) -> None:
        # sqlite3 and psycopg return the cursor from execute(): the stand-in's,
        # whose connection is the stand-in too. PyMySQL returns the row count.
        mysql = self.engine.mysql

        def escape(case: t.Any) -> None:
            raw = db.session.connection().connection.dbapi_connection
            cursor = raw.cursor()
            found = cursor.execute("INSERT INTO author (name) VALUES ('escaped')")
            if mysql:
                case.assertEqual(found, 1)
            else:
                found.connection.commit()
            cursor.close()
            case.assertEqual(authors(), ["base", "escaped"])

        self.check(escape)

    def test_autocommit_on_a_connection(self) -> None:
        def escape(case: t.Any) -> None:
            with db.engine.connect() as connection:
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                connection.execute(sa.insert(Author).values(name="autocommitted"))
            case.assertEqual(authors(), ["autocommitted", "base"])

        self.check(escape)

    def test_autocommit_on_an_engine(self) -> None:
        def escape(case: t.Any) -> None:
            engine = db.engine.execution_options(isolation_level="AUTOCOMMIT")
            with engine.connect() as connection:
                connection.execute(sa.insert(Author).values(name="autocommitted"))

        self.check(escape)

    def test_autocommit_written_as_sql(self) -> None:
        if not self.engine.mysql:
            self.skipTest("MySQL's statement")

        def escape(case: t.Any) -> None:
            db.session.add(Author(name="escaped"))
            db.session.flush()
            db.session.execute(sa.text("SET autocommit = 1"))
            db.session.execute(sa.insert(Author).values(name="at once"))
            db.session.execute(sa.text("SET autocommit = 0"))

        self.check(escape)

    def test_statement_failing_after_a_commit(self) -> None:
        # On PostgreSQL the savepoint travels in one pipeline with the statement
        # that fails: it must be set all the same.
        def escape(case: t.Any) -> None:
            db.session.add(Author(name="kept"))
            db.session.commit()
            db.session.add(Author(name="kept"))
            with case.assertRaises(sa.exc.IntegrityError):
                db.session.flush()
            db.session.rollback()
            case.assertEqual(authors(), ["base", "kept"])
            db.session.add(Author(name="after"))
            db.session.commit()
            db.session.add(Author(name="undone"))
            db.session.flush()
            db.session.rollback()
            case.assertEqual(authors(), ["after", "base", "kept"])

        self.check(escape)

    def test_server_side_cursor_after_a_commit(self) -> None:
        def escape(case: t.Any) -> None:
            db.session.add(Author(name="kept"))
            db.session.commit()
            query = sa.select(Author.name).order_by(Author.name)
            found = db.session.execute(query.execution_options(stream_results=True))
            case.assertEqual(list(found.scalars()), ["base", "kept"])
            db.session.add(Author(name="undone"))
            db.session.flush()
            db.session.rollback()
            case.assertEqual(authors(), ["base", "kept"])

        self.check(escape)

    def test_copy_after_a_commit(self) -> None:
        if not self.engine.url.startswith("postgresql+psycopg:"):
            self.skipTest("psycopg's copy()")

        def escape(case: t.Any) -> None:
            db.session.add(Author(name="kept"))
            db.session.commit()
            raw = db.session.connection().connection.dbapi_connection
            with raw.cursor() as cursor:
                with cursor.copy("COPY author (name) FROM STDIN") as copy:
                    copy.write_row(("copied",))
            case.assertEqual(authors(), ["base", "copied", "kept"])
            db.session.rollback()
            case.assertEqual(authors(), ["base", "kept"])

        self.check(escape)

    def test_cursor_kept_across_a_commit(self) -> None:
        def escape(case: t.Any) -> None:
            raw = db.session.connection().connection.dbapi_connection
            cursor = raw.cursor()
            cursor.execute("INSERT INTO author (name) VALUES ('kept')")
            raw.commit()
            # In production this begins a new transaction, which the rollback
            # undoes.
            cursor.execute("INSERT INTO author (name) VALUES ('undone')")
            raw.rollback()
            case.assertEqual(authors(), ["base", "kept"])
            db.session.add(Author(name="session"))
            db.session.commit()
            cursor.execute("INSERT INTO author (name) VALUES ('undone too')")
            raw.rollback()
            cursor.close()
            case.assertEqual(authors(), ["base", "kept", "session"])

        self.check(escape)

    def test_own_pipeline_after_commits(self) -> None:
        if not self.engine.url.startswith("postgresql+psycopg:"):
            self.skipTest("psycopg's pipeline()")

        def escape(case: t.Any) -> None:
            for name in ("one", "two"):
                db.session.add(Author(name=name))
                db.session.commit()
            raw = db.session.connection().connection.dbapi_connection
            with raw.pipeline():
                cursor = raw.cursor()
                cursor.execute("SELECT 1")
                cursor.execute("INSERT INTO author (name) VALUES (%s)", ("piped",))
            case.assertEqual(authors(), ["base", "one", "piped", "two"])
            raw.rollback()
            case.assertEqual(authors(), ["base", "one", "two"])

        self.check(escape)

    def test_pysqlite_executescript(self) -> None:
        if not self.engine.url.startswith("sqlite"):
            self.skipTest("pysqlite's method")

        def escape(case: t.Any) -> None:
            raw = db.session.connection().connection.dbapi_connection
            raw.executescript(
                "INSERT INTO author (name) VALUES ('one; two');"
                " INSERT INTO author (name) VALUES ('three'); COMMIT"
            )
            case.assertEqual(authors(), ["base", "one; two", "three"])

        self.check(escape)

    def test_sqlalchemys_pysqlite_recipe(self) -> None:
        if not self.engine.url.startswith("sqlite"):
            self.skipTest("SQLite's recipe")

        def escape(case: t.Any) -> None:
            db.session.add(Author(name="committed"))
            db.session.commit()
            with db.session.begin_nested():
                db.session.add(Author(name="nested"))
            db.session.add(Author(name="rolled back"))
            db.session.flush()
            db.session.rollback()  # the whole transaction, its savepoint's work too
            case.assertEqual(authors(), ["base", "committed"])

        self.check(escape, pysqlite_recipe)

    def test_the_drivers_autocommit_switched_on_and_off(self) -> None:
        engine = self.engine

        def switch(raw: t.Any, on: bool) -> None:
            if engine.mysql:
                raw.autocommit(on)  # PyMySQL's switch is a method
            elif engine.postgresql:
                raw.autocommit = on
            else:
                raw.isolation_level = None if on else ""

        def escape(case: t.Any) -> None:
            raw = db.session.connection().connection.dbapi_connection
            switch(raw, True)
            if not (engine.mysql or engine.postgresql):
                case.assertIsNone(raw.isolation_level)
                # The rest of the driver's connection is still there.
                raw.create_function("twice", 1, lambda x: 2 * x)
            cursor = raw.cursor()
            cursor.execute("INSERT INTO author (name) VALUES ('at once')")
            switch(raw, False)
            if not (engine.mysql or engine.postgresql):
                case.assertEqual(raw.isolation_level, "")
                cursor.execute("SELECT twice(21)")
                case.assertEqual(cursor.fetchone()[0], 42)
            raw.rollback()  # nothing ran since: nothing to roll back
            cursor.execute("INSERT INTO author (name) VALUES ('undone')")
            raw.rollback()
            cursor.close()
            case.assertEqual(authors(), ["at once", "base"])

        self.check(escape)

    def test_a_cursor_read_after_transaction_control(self) -> None:
        # The control statement is not sent: the cursor answers as after a
        # statement with no rows, not as a cursor that never ran one.
        marker = "?" if self.engine.url.startswith("sqlite") else "%s"

        def escape(case: t.Any) -> None:
            raw = db.session.connection().connection.dbapi_connection
            cursor = raw.cursor()
            cursor.execute("COMMIT")
            case.assertEqual(list(cursor.fetchall()), [])
            case.assertEqual(list(cursor.fetchmany(5)), [])
            case.assertEqual(list(cursor), [])
            cursor.executemany(
                f"INSERT INTO author (name) VALUES ({marker})", [("one",), ("two",)]
            )
            case.assertEqual(cursor.rowcount, 2)
            query = "SELECT name FROM author ORDER BY name"
            cursor.execute(query)
            case.assertEqual([row[0] for row in cursor.fetchmany(2)], ["base", "one"])
            cursor.execute(query)
            case.assertEqual([row[0] for row in cursor], ["base", "one", "two"])
            cursor.close()

        self.check(escape)

    def test_psycopgs_composed_statements(self) -> None:
        if not self.engine.url.startswith("postgresql+psycopg:"):
            self.skipTest("psycopg's sql module")
        from psycopg import sql

        def escape(case: t.Any) -> None:
            raw = db.session.connection().connection.dbapi_connection
            insert = sql.SQL("INSERT INTO {} (name) VALUES (%s)").format(
                sql.Identifier("author")
            )
            with raw.cursor() as cursor:
                cursor.execute(insert, ("one",))
                cursor.executemany(insert, [("two",), ("three",)])
            raw.commit()
            case.assertEqual(authors(), ["base", "one", "three", "two"])

        self.check(escape)

    def test_the_drivers_own_connection_execute(self) -> None:
        # sqlite3's and psycopg's connections run statements themselves.
        if self.engine.mysql:
            self.skipTest("PyMySQL's connection has no execute()")
        postgresql = self.engine.postgresql

        def escape(case: t.Any) -> None:
            raw = db.session.connection().connection.dbapi_connection
            if postgresql:
                insert = "INSERT INTO author (name) VALUES (%s)"
                raw.execute(insert, params=("executed",))
            else:
                raw.execute("INSERT INTO author (name) VALUES (?)", ("executed",))
            raw.commit()
            case.assertEqual(authors(), ["base", "executed"])

        self.check(escape)


class EndedTransaction(_Mixin):
    """What ends the test transaction past the stand-in fails the test that did
    it, and the class's next tests find its starting state: rows, schema,
    data, and no lock left."""

    engine: t.ClassVar[t.Any]

    def check(
        self, escape: t.Callable[[t.Any], None], rebuilt: bool, strict: bool = False
    ) -> None:
        engine = self.engine
        start = time.monotonic()

        class EndingTests(TransactionalTestCase):
            fixtures = ["authors.json"]
            strict_isolation = strict

            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            @classmethod
            def setUpTestData(cls) -> None:
                cls.base = Author(name="base")
                db.session.add_all([cls.base, Note(text="base note")])

            def test_1_ends_the_transaction(self) -> None:
                db.session.add(Author(name="escaped"))
                db.session.flush()
                escape(self)

            def test_2_starting_state(self) -> None:
                self.assertEqual(authors(), STARTING_AUTHORS)
                self.assertEqual(
                    db.session.scalars(sa.select(Note.text)).all(), ["base note"]
                )
                self.assertEqual(db.session.get(Author, self.base.id).name, "base")
                # Other suites' tables may share the database: only ours count.
                tables = set(sa.inspect(db.engine).get_table_names())
                self.assertLessEqual({"author", "book"}, tables)
                self.assertNotIn("dbcase_scratch", tables)
                self.assertNotIn("dbcase_view", sa.inspect(db.engine).get_view_names())
                columns = sa.inspect(db.engine).get_columns("author")
                self.assertEqual([c["name"] for c in columns], ["id", "name"])

            def test_3_starting_state_again(self) -> None:
                db.session.add(Author(name="third"))
                db.session.commit()
                self.assertEqual(authors(), sorted([*STARTING_AUTHORS, "third"]))

        observer = engine.observer()
        if observer is not None:
            self.addCleanup(observer.dispose)
        result = run_case(EndingTests, observer)
        self.assertLess(time.monotonic() - start, 30)
        self.assertEqual(result.failures, [])
        self.assertEqual(len(result.errors), 1, result.problems())
        ((test, error),) = result.errors
        self.assertTrue(test.id().endswith("test_1_ends_the_transaction"), error)
        self.assertIn("ImplicitCommitError: The test transaction on ", error)
        self.assertIn("ended before the test did", error)
        self.assertIn("For the next tests of 'EndingTests', ", error)
        self.assertEqual("were built again (their DDL changed)" in error, rebuilt)
        self.assertEqual(result.testsRun, 3)
        # Nothing committed after any test: the rows the ending made real were
        # deleted before the next test began.
        for name, counts in result.seen:
            self.assertEqual(set(counts.values()), {0}, f"after {name}: {counts}")

    def test_the_drivers_own_commit(self) -> None:
        def escape(case: t.Any) -> None:
            shared = db.session.connection().connection.dbapi_connection
            shared._dbapi.commit()  # the real connection, behind the stand-in

        self.check(escape, rebuilt=False)

    def test_commit_inside_a_string_of_statements(self) -> None:
        if not self.engine.postgresql:
            self.skipTest("psycopg runs several statements given as one string")

        def escape(case: t.Any) -> None:
            db.session.connection().exec_driver_sql("COMMIT; SELECT 1")

        self.check(escape, rebuilt=False)

    def test_writes_after_the_transaction_ended(self) -> None:
        # Noticed at the statement that ended it: what follows runs in a new
        # transaction, without the driver's "savepoint does not exist".
        if self.engine.postgresql:
            sql = "COMMIT; SELECT 1"
        elif self.engine.mysql:
            sql = "TRUNCATE TABLE mirror"
        else:
            sql = ""

        def escape(case: t.Any) -> None:
            if sql:
                db.session.connection().exec_driver_sql(sql)
            else:
                db.session.connection().connection.dbapi_connection._dbapi.commit()
            db.session.add(Author(name="after"))
            db.session.commit()
            db.session.add(Author(name="after, rolled back"))
            db.session.flush()
            db.session.rollback()
            with db.session.begin_nested():
                db.session.add(Author(name="nested"))
            db.session.commit()
            # The test goes on as if nothing had ended: its commits are kept
            # until it ends.
            case.assertLessEqual({"after", "nested"}, set(authors()))
            case.assertNotIn("after, rolled back", authors())

        self.check(escape, rebuilt=False)

    def test_schema_changes_a_hostile_probe_found(self) -> None:
        if self.engine.postgresql:
            # After a COMMIT in such a string, psycopg's statements commit
            # one by one.
            statements = [
                "COMMIT; CREATE TABLE dbcase_child (extra int) INHERITS (author);"
                " CREATE RULE dbcase_rule AS ON INSERT TO mirror DO INSTEAD NOTHING;"
                " CREATE TYPE dbcase_mood AS ENUM ('calm');"
                " ALTER TABLE mirror ALTER COLUMN text SET DEFAULT 'x'"
            ]
            left = (
                "SELECT (SELECT count(*) FROM pg_rules WHERE rulename = 'dbcase_rule')"
                " + (SELECT count(*) FROM pg_type WHERE typname = 'dbcase_mood')"
                " + (SELECT count(*) FROM pg_class WHERE relname = 'dbcase_child')"
                " + (SELECT count(*) FROM pg_attrdef d JOIN pg_attribute a"
                "    ON a.attrelid = d.adrelid AND a.attnum = d.adnum"
                "    WHERE d.adrelid = 'mirror'::regclass AND a.attname = 'text')"
            )
        elif self.engine.mysql:
            # A table that ignores transactions would keep the reloaded rows.
            statements = ["ALTER TABLE mirror ENGINE = MyISAM"]
            left = (
                "SELECT COUNT(*) FROM information_schema.tables"
                " WHERE table_schema = DATABASE() AND table_name = 'mirror'"
                " AND engine <> 'InnoDB'"
            )
        else:
            self.skipTest("DDL commits on MySQL; psycopg runs several statements")

        def escape(case: t.Any) -> None:
            for statement in statements:
                db.session.connection().exec_driver_sql(statement)

        self.check(escape, rebuilt=True)
        observer = sa.create_engine(self.engine.test_url, poolclass=sa.pool.NullPool)
        self.addCleanup(observer.dispose)
        with observer.connect() as connection:
            self.assertEqual(connection.exec_driver_sql(left).scalar(), 0)

    def test_ended_twice(self) -> None:
        if not self.engine.postgresql:
            self.skipTest("psycopg runs several statements given as one string")

        def escape(case: t.Any) -> None:
            for name in ("between", "after"):
                db.session.connection().exec_driver_sql("SELECT 1; COMMIT")
                db.session.add(Author(name=name))
                db.session.commit()
            case.assertLessEqual({"between", "after"}, set(authors()))

        self.check(escape, rebuilt=False)

    def test_a_view_a_sequence_and_a_function(self) -> None:
        if self.engine.postgresql:
            statements = [
                "COMMIT; CREATE VIEW dbcase_view AS SELECT 1 AS one",
                "CREATE SEQUENCE dbcase_sequence",
                "CREATE FUNCTION dbcase_function() RETURNS int"
                " AS 'SELECT 1' LANGUAGE sql",
            ]
        elif self.engine.mysql:
            statements = [
                "CREATE VIEW dbcase_view AS SELECT 1 AS one",
                "CREATE SEQUENCE dbcase_sequence",
                "CREATE FUNCTION dbcase_function() RETURNS INT RETURN 1",
            ]
        else:
            self.skipTest("DDL commits on MySQL; psycopg runs several statements")

        def escape(case: t.Any) -> None:
            for statement in statements:
                db.session.connection().exec_driver_sql(statement)

        self.check(escape, rebuilt=True)
        if self.engine.postgresql:
            sql = (
                "SELECT (SELECT count(*) FROM pg_class WHERE relname IN"
                " ('dbcase_view', 'dbcase_sequence'))"
                " + (SELECT count(*) FROM pg_proc WHERE proname = 'dbcase_function')"
            )
        else:
            sql = (
                "SELECT (SELECT COUNT(*) FROM information_schema.tables WHERE"
                " table_schema = DATABASE() AND table_name LIKE 'dbcase%%')"
                " + (SELECT COUNT(*) FROM information_schema.routines"
                " WHERE routine_schema = DATABASE())"
            )
        observer = sa.create_engine(self.engine.test_url, poolclass=sa.pool.NullPool)
        self.addCleanup(observer.dispose)
        with observer.connect() as connection:
            self.assertEqual(connection.exec_driver_sql(sql).scalar(), 0)

    def test_a_table_created_and_committed(self) -> None:
        if self.engine.memory:
            self.skipTest("a new database in memory is built anyway")
        sql = "CREATE TABLE dbcase_scratch (id INT)"
        if self.engine.postgresql:
            sql = "COMMIT; " + sql
        elif not self.engine.mysql:
            self.skipTest("DDL commits on MySQL; psycopg runs several statements")

        def escape(case: t.Any) -> None:
            db.session.execute(sa.text(sql))

        self.check(escape, rebuilt=True)

    def test_a_column_added(self) -> None:
        sql = "ALTER TABLE author ADD COLUMN extra INT"
        if self.engine.postgresql:
            sql = "COMMIT; " + sql
        elif not self.engine.mysql:
            self.skipTest("DDL commits on MySQL; psycopg runs several statements")

        def escape(case: t.Any) -> None:
            db.session.execute(sa.text(sql))

        self.check(escape, rebuilt=True)

    def test_a_table_dropped(self) -> None:
        if not self.engine.mysql:
            self.skipTest("DDL commits on MySQL")

        def escape(case: t.Any) -> None:
            db.session.execute(sa.text("DROP TABLE book"))

        self.check(escape, rebuilt=True)

    def test_truncate_on_another_bind(self) -> None:
        if not self.engine.mysql:
            self.skipTest("TRUNCATE commits on MySQL")

        def escape(case: t.Any) -> None:
            bind = db.engines["other"]
            with bind.connect() as connection:
                connection.exec_driver_sql("TRUNCATE TABLE note")

        self.check(escape, rebuilt=False)

    def test_lock_tables_with_strict_isolation(self) -> None:
        if not self.engine.mysql:
            self.skipTest("MySQL's LOCK TABLES")

        def escape(case: t.Any) -> None:
            db.session.execute(sa.text("LOCK TABLES author WRITE"))
            db.session.execute(sa.insert(Author).values(name="locked"))

        # The strict check after the test reads the locked table from a
        # connection of its own: it must not wait for the lock.
        self.check(escape, rebuilt=False, strict=True)


class SessionSettings(_Mixin):
    """What a test changes in its connection's session that a rollback keeps is
    put back before the next test."""

    engine: t.ClassVar[t.Any]

    def check(self, change: str, read: str, *, needs: str, many: t.Any = None) -> None:
        """Run ``change`` in a test; ``read`` must give the same before it, in
        the class's data, and after it, in the next test. With ``many``, the
        parameters' rows, ``change`` is sent with the driver's executemany()."""
        if not self.engine.url or not self.engine.url.startswith(needs):
            self.skipTest(f"{needs} only")
        engine = self.engine
        seen: list[t.Any] = []

        def read_it() -> None:
            try:
                seen.append(db.session.execute(sa.text(read)).all())
            except sa.exc.DBAPIError as error:  # a table that is not there
                seen.append(type(error.orig).__name__)
                db.session.rollback()

        def change_it() -> None:
            if many is None:
                db.session.execute(sa.text(change))
                return
            raw = db.session.connection().connection.dbapi_connection
            with raw.cursor() as cursor:
                cursor.executemany(change, many)

        class SettingTests(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            @classmethod
            def setUpTestData(cls) -> None:
                read_it()

            def test_1_changes_then_rolls_back(self) -> None:
                change_it()
                read_it()
                db.session.rollback()  # the change survives it

            def test_2_finds_it_as_it_was(self) -> None:
                read_it()
                change_it()  # again, as if the first

            def test_3_finds_it_as_it_was(self) -> None:
                read_it()

        result = run_case(SettingTests)
        self.assertEqual(result.problems(), "")
        before, during, after, after_again = seen
        self.assertNotEqual(during, before, "the change changed nothing")
        self.assertEqual(after, before)
        self.assertEqual(after_again, before)

    def test_mysql_time_zone(self) -> None:
        self.check(
            "SET time_zone = '+05:00'", "SELECT @@SESSION.time_zone", needs="mysql"
        )

    def test_mysql_sql_mode_and_a_user_variable(self) -> None:
        self.check(
            "SET SESSION sql_mode = 'ANSI_QUOTES', @dbcase_user = 'a, b = c'",
            "SELECT @@SESSION.sql_mode, @dbcase_user",
            needs="mysql",
        )

    def test_mysql_character_set(self) -> None:
        self.check(
            "SET NAMES latin1",
            "SELECT @@SESSION.character_set_client, @@SESSION.collation_connection",
            needs="mysql",
        )

    def test_mysql_temporary_table(self) -> None:
        # MariaDB's catalog does not list temporary tables: a second CREATE
        # tells instead, failing with "already exists" if the first is left.
        create = "CREATE TEMPORARY TABLE dbcase_temporary (id INT)"
        self.check(create, "SELECT COUNT(*) FROM dbcase_temporary", needs="mysql")

    def test_mysql_named_lock(self) -> None:
        self.check(
            "SELECT GET_LOCK('dbcase_lock', 0)",
            "SELECT IS_USED_LOCK('dbcase_lock') IS NOT NULL",
            needs="mysql",
        )

    def test_postgresql_session_advisory_lock(self) -> None:
        self.check(
            "SELECT pg_advisory_lock(4242)",
            "SELECT count(*) FROM pg_locks"
            " WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
            needs="postgresql",
        )

    def test_mysql_user_variable_set_with_executemany(self) -> None:
        self.check(
            "SET @dbcase_many = %s", "SELECT @dbcase_many", needs="mysql", many=[(7,)]
        )

    def test_postgresql_advisory_lock_taken_with_executemany(self) -> None:
        self.check(
            "SELECT pg_advisory_lock(%s)",
            "SELECT count(*) FROM pg_locks"
            " WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
            needs="postgresql",
            many=[(4243,)],
        )

    def test_postgresql_set(self) -> None:
        # Rolled back by PostgreSQL itself, with the savepoint.
        self.check("SET timezone = 'Asia/Tokyo'", "SHOW timezone", needs="postgresql")

    def test_mysql_spellings_behind_comments(self) -> None:
        self.check(
            "/* why */ -- and why\n SET time_zone = '+01:00'",
            "SELECT @@SESSION.time_zone",
            needs="mysql",
        )
        self.check(
            "/*!40101 SET NAMES latin1 */",
            "SELECT @@SESSION.character_set_client",
            needs="mysql",
        )

    def test_mysql_user_variables_set_by_select(self) -> None:
        self.check(
            "SELECT @dbcase_a := 5 INTO @dbcase_b",
            "SELECT @dbcase_a, @dbcase_b",
            needs="mysql",
        )

    def test_mysql_session_transaction(self) -> None:
        self.check(
            "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "SELECT @@SESSION.tx_isolation",
            needs="mysql",
        )

    def test_postgresql_prepared_statement(self) -> None:
        self.check(
            "PREPARE dbcase_prepared AS SELECT 1",
            "SELECT count(*) FROM pg_prepared_statements"
            " WHERE name = 'dbcase_prepared'",
            needs="postgresql",
        )

    def test_sqlite_pragma_as_a_call_behind_a_comment(self) -> None:
        self.check("/* x */ PRAGMA cache_size(55)", "PRAGMA cache_size", needs="sqlite")

    def test_mysql_spellings_a_hostile_probe_found(self) -> None:
        self.check(
            "# why\nSET time_zone = '+02:00'",
            "SELECT @@SESSION.time_zone",
            needs="mysql",
        )
        self.check(
            "/*M!100000 SET time_zone = '+03:00' */",
            "SELECT @@SESSION.time_zone",
            needs="mysql",
        )
        self.check("SET @`dbcase q` = 42", "SELECT @`dbcase q`", needs="mysql")
        self.check(
            "SELECT GET_LOCK/**/('dbcase_lock', 0)",
            "SELECT IS_USED_LOCK('dbcase_lock') IS NOT NULL",
            needs="mysql",
        )
        self.check(
            "CREATE /*!32302 TEMPORARY */ TABLE `dbcase temp` (id INT)",
            "SELECT COUNT(*) FROM `dbcase temp`",
            needs="mysql",
        )

    def test_postgresql_spellings_a_hostile_probe_found(self) -> None:
        self.check(
            'SELECT "pg_advisory_lock"(4243)',
            "SELECT count(*) FROM pg_locks"
            " WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
            needs="postgresql",
        )
        self.check(
            'SELECT 1; PREPARE "DbcaseStatement" AS SELECT 1',
            "SELECT count(*) FROM pg_prepared_statements"
            " WHERE name = 'DbcaseStatement'",
            needs="postgresql",
        )

    def test_sqlite_spellings_a_hostile_probe_found(self) -> None:
        self.check('PRAGMA "cache_size" = 123', "PRAGMA cache_size", needs="sqlite")
        self.check(
            "PRAGMA [recursive_triggers] = 1",
            "PRAGMA recursive_triggers",
            needs="sqlite",
        )

    def test_what_set_up_test_data_changes_ends_with_its_class(self) -> None:
        engine = self.engine
        if engine.mysql:
            change, read = "SET time_zone = '+04:00'", "SELECT @@SESSION.time_zone"
        elif engine.postgresql:
            change = "SELECT pg_advisory_lock(4244)"
            read = (
                "SELECT count(*) FROM pg_locks"
                " WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            )
        else:
            change, read = "PRAGMA cache_size = 99", "PRAGMA cache_size"
        seen: list[t.Any] = []

        def create_app(cls: type) -> Flask:
            return make_app(engine)

        class First(TransactionalTestCase):
            reuse_app = True

            @classmethod
            def setUpTestData(cls) -> None:
                seen.append(db.session.execute(sa.text(read)).all())
                db.session.execute(sa.text(change))

            def test_a(self) -> None:
                seen.append(db.session.execute(sa.text(read)).all())

            def test_b(self) -> None:  # kept after the first test too
                seen.append(db.session.execute(sa.text(read)).all())

        class Second(TransactionalTestCase):
            reuse_app = True

            def test_a(self) -> None:
                seen.append(db.session.execute(sa.text(read)).all())

        First.create_app = classmethod(create_app)  # type: ignore[attr-defined]
        Second.create_app = classmethod(create_app)  # type: ignore[attr-defined]
        for case in (First, Second):
            result = run_case(case)
            self.assertEqual(result.problems(), "")
        before, during, during_the_next, after = seen
        self.assertNotEqual(during, before)
        self.assertEqual(during_the_next, during)
        self.assertEqual(after, before)

    def test_mysql_use_of_another_database_is_refused(self) -> None:
        if not self.engine.mysql:
            self.skipTest("MySQL's USE")
        engine = self.engine
        configured = sa.make_url(engine.url).database

        class UseTests(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            def test_1_use(self) -> None:
                db.session.execute(sa.text(f"USE /* hidden */ {configured}"))

            def test_1_use_with_executemany(self) -> None:
                raw = db.session.connection().connection.dbapi_connection
                with raw.cursor() as cursor:
                    cursor.executemany(f"USE {configured}", [()])

            def test_2_still_on_the_test_database(self) -> None:
                name = db.session.execute(sa.text("SELECT DATABASE()")).scalar()
                self.assertEqual(name, sa.make_url(engine.test_url).database)

        result = run_case(UseTests)
        self.assertEqual(len(result.errors), 2)
        for (test, trace), name in zip(
            result.errors, ["test_1_use", "test_1_use_with_executemany"], strict=True
        ):
            self.assertTrue(test.id().endswith(name))
            self.assertIn(f"flask_dbcase refused 'USE {configured}'", trace)
            self.assertIn("stays on its test database", trace)
        self.assertEqual(result.failures, [])

    def test_sqlite_pragma(self) -> None:
        self.check(
            "PRAGMA recursive_triggers = ON",
            "PRAGMA recursive_triggers",
            needs="sqlite",
        )

    def test_sqlite_pragma_with_a_schema(self) -> None:
        self.check("PRAGMA main.cache_size = 77", "PRAGMA cache_size", needs="sqlite")


#: The authors every test of EndedTransaction starts with: authors.json's and
#: setUpTestData's.
STARTING_AUTHORS = sorted(["Octavia E. Butler", "Ursula K. Le Guin", "base"])


class IdTests(_Mixin):
    """What the guarantees page says of ids, on each engine."""

    engine: t.ClassVar[t.Any]

    def test_ids_after_a_rollback(self) -> None:
        engine = self.engine
        ids: list[int] = []

        class IdCase(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            def test_1(self) -> None:
                self.add()

            def test_2(self) -> None:
                self.add()

            def add(self) -> None:
                author = Author(name="a")
                db.session.add(author)
                db.session.commit()
                ids.append(author.id)

        result = run_case(IdCase)
        self.assertTrue(result.wasSuccessful(), result.problems())
        if engine.url.startswith("sqlite"):
            self.assertEqual(ids[1], ids[0])  # the rolled-back id is given again
        else:
            self.assertGreater(ids[1], ids[0])  # sequences are not rolled back


json_db = SQLAlchemy()


class Profile(json_db.Model):  # type: ignore[name-defined,misc]
    id = json_db.Column(json_db.Integer, primary_key=True)
    settings = json_db.Column(json_db.JSON, nullable=False)
    badges = json_db.relationship("Badge", back_populates="profile")


class Badge(json_db.Model):  # type: ignore[name-defined,misc]
    id = json_db.Column(json_db.Integer, primary_key=True)
    profile_id = json_db.Column(json_db.ForeignKey(Profile.id), nullable=False)
    data = json_db.Column(json_db.JSON, nullable=False)
    profile = json_db.relationship(Profile, back_populates="badges")


class DataCopies(_Mixin):
    """What a test changes in place on setUpTestData's objects is its own."""

    engine: t.ClassVar[t.Any]

    def test_mutable_values_are_copied(self) -> None:
        url = self.engine.url

        class ProfileTests(TransactionalTestCase):
            db = json_db

            @classmethod
            def create_app(cls) -> Flask:
                return app_of(json_db, url)

            @classmethod
            def setUpTestData(cls) -> None:
                cls.profile = Profile(settings={"theme": "dark", "tags": ["a"]})
                cls.badge = Badge(profile=cls.profile, data=["gold"])
                json_db.session.add(cls.badge)

            def test_1_changes_in_place(self) -> None:
                self.profile.settings["theme"] = "light"
                self.profile.settings["tags"].append("b")
                self.badge.data.append("silver")
                self.badge.profile.settings["extra"] = True

            def test_2_sees_them_as_they_were(self) -> None:
                self.assertEqual(
                    self.profile.settings, {"theme": "dark", "tags": ["a"]}
                )
                self.assertEqual(self.badge.data, ["gold"])
                row = json_db.session.execute(sa.select(Profile.settings)).scalar()
                self.assertEqual(row, self.profile.settings)  # as in the database

            def test_3_again(self) -> None:
                self.test_2_sees_them_as_they_were()

        result = run_case(ProfileTests)
        self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertEqual(result.testsRun, 3)


trigger_db = SQLAlchemy()


class Entry(trigger_db.Model):  # type: ignore[name-defined,misc]
    id = trigger_db.Column(trigger_db.Integer, primary_key=True)


class Audit(trigger_db.Model):  # type: ignore[name-defined,misc]
    """Emptied before ``entry``, whose deletes then write into it again."""

    __tablename__ = "zz_audit"
    id = trigger_db.Column(trigger_db.Integer, primary_key=True)
    note = trigger_db.Column(trigger_db.String(20), nullable=False)


_AUDIT = "INSERT INTO zz_audit (note) VALUES ('deleted')"
for _dialect, _statements in {
    "sqlite": [f"CREATE TRIGGER entry_audit AFTER DELETE ON entry BEGIN {_AUDIT}; END"],
    "mysql": [
        f"CREATE TRIGGER entry_audit AFTER DELETE ON entry FOR EACH ROW {_AUDIT}"
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION entry_audit() RETURNS trigger AS"
        f" $$ BEGIN {_AUDIT}; RETURN OLD; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER entry_audit AFTER DELETE ON entry"
        " FOR EACH ROW EXECUTE FUNCTION entry_audit()",
    ],
}.items():
    for _statement in _statements:
        sa.event.listen(
            Entry.__table__,
            "after_create",
            sa.DDL(_statement).execute_if(dialect=_dialect),
        )


class Triggers(_Mixin):
    engine: t.ClassVar[t.Any]

    def test_rows_a_trigger_writes_while_emptying_are_emptied(self) -> None:
        url = self.engine.url

        class AuditTests(DatabaseTestCase):
            db = trigger_db

            @classmethod
            def create_app(cls) -> Flask:
                return app_of(trigger_db, url)

            def test_1_writes(self) -> None:
                trigger_db.session.add(Entry())
                trigger_db.session.commit()

            def test_2_starts_empty(self) -> None:
                self.assertDatabaseCount(Entry, 0)
                self.assertDatabaseCount(Audit, 0)

        result = run_case(AuditTests)
        self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertEqual(result.testsRun, 2)


class Threads(_Mixin):
    engine: t.ClassVar[t.Any]

    def test_threads_the_test_started_are_waited_for(self) -> None:
        engine = self.engine

        class ThreadTests(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            @classmethod
            def setUpTestData(cls) -> None:
                db.session.add(Author(name="base"))

            def test_1_fire_and_forget(self) -> None:
                app = self.app

                def work() -> None:
                    time.sleep(0.3)
                    with app.app_context():
                        db.session.add(Author(name="from a thread"))
                        db.session.commit()

                threading.Thread(target=work, name="mailer").start()

            def test_2_starting_state(self) -> None:
                time.sleep(0.5)  # long enough for a thread left running
                self.assertEqual(authors(), ["base"])

        observer = engine.observer()
        if observer is not None:
            self.addCleanup(observer.dispose)
        result = run_case(ThreadTests, observer)
        self.assertEqual(result.problems(), "")
        for test, counts in result.seen:
            self.assertEqual(set(counts.values()), {0}, f"after {test}: {counts}")

    def test_a_thread_still_running_fails_the_test(self) -> None:
        engine = self.engine
        release = threading.Event()
        self.addCleanup(release.set)

        class SlowThreadTests(TransactionalTestCase):
            thread_timeout = 0.2

            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            def test_slow(self) -> None:
                threading.Thread(target=release.wait, name="slow worker").start()

        start = time.monotonic()
        result = run_case(SlowThreadTests)
        self.assertLess(time.monotonic() - start, 5)
        ((_, trace),) = result.failures
        self.assertIn(
            "1 thread(s) the test started still run after 0.2 s ('slow worker'):"
            " flask_dbcase refuses their statements from now on",
            trace,
        )
        self.assertIn("increase 'SlowThreadTests.thread_timeout'", trace)
        # The failure shows no frames of the library's, nor of contextlib's.
        self.assertNotIn("File ", trace)

    def test_a_late_threads_writes_reach_neither_the_next_test(self) -> None:
        engine = self.engine
        go = threading.Event()
        done = threading.Event()
        outcome: list[BaseException | None] = []

        class LateTests(TransactionalTestCase):
            thread_timeout = 0.1

            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            @classmethod
            def setUpTestData(cls) -> None:
                db.session.add(Author(name="base"))

            def test_1_starts_a_slow_thread(self) -> None:
                start_late_writer(self.app, go, outcome, "late", done)

            def test_2_starting_state(self) -> None:
                go.set()
                done.wait(10)
                self.assertEqual(authors(), ["base"])

        result = run_case(LateTests)
        ((test, trace),) = result.failures
        self.assertTrue(test.id().endswith("test_1_starts_a_slow_thread"))
        self.assertEqual(result.errors, [])
        (error,) = outcome
        # Refused whatever the connection: the class's, or a new one.
        self.assertRegex(
            str(error),
            "flask_dbcase refused a (statement|connection to .*) from thread 'late'",
        )

    def test_a_late_threads_statement_on_a_connection_it_holds_is_refused(
        self,
    ) -> None:
        # Checked out before the test ended, the connection is the test
        # transaction's: its next statement is refused, not only new ones.
        engine = self.engine
        connected, go, done = threading.Event(), threading.Event(), threading.Event()
        self.addCleanup(go.set)
        outcome: list[str] = []

        class HoldingTests(TransactionalTestCase):
            thread_timeout = 0.1

            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            @classmethod
            def setUpTestData(cls) -> None:
                db.session.add(Author(name="base"))

            def test_1_starts_a_slow_thread(self) -> None:
                app = self.app

                def work() -> None:
                    with app.app_context(), db.engine.connect() as connection:
                        connected.set()
                        go.wait(10)
                        insert = sa.insert(Author).values(name="too late")
                        try:
                            connection.execute(insert)
                        except sa.exc.StatementError as error:
                            outcome.append(repr(error.orig))
                    done.set()

                threading.Thread(target=work, name="late", daemon=True).start()
                connected.wait(10)

            def test_2_starting_state(self) -> None:
                go.set()
                done.wait(10)
                self.assertEqual(authors(), ["base"])

        result = run_case(HoldingTests)
        ((test, _),) = result.failures
        self.assertTrue(test.id().endswith("test_1_starts_a_slow_thread"))
        self.assertEqual(result.errors, [])
        message = (
            "flask_dbcase refused a statement from thread 'late': the test that"
            " started it ended while it ran (see thread_timeout), and what it"
            " writes would land in the next test. Wait for it in the test."
        )
        self.assertEqual(outcome, [repr(RuntimeError(message))])

    def test_a_late_thread_of_a_shared_app_cannot_reach_the_next_class(
        self,
    ) -> None:
        engine = self.engine
        if engine.memory:
            self.skipTest("two factories of one app in memory: the tables go")
        go, done = threading.Event(), threading.Event()
        self.addCleanup(go.set)
        outcome: list[str] = []
        app = make_app(engine)

        class Leaving(TransactionalTestCase):
            reuse_app = True  # the engines stay on the test database after it
            thread_timeout = 0.1

            def create_app(self) -> Flask:
                return app

            def test_starts_a_slow_thread(self) -> None:
                def work() -> None:
                    go.wait(10)
                    try:
                        with app.app_context():
                            db.session.add(Author(name="from the last class"))
                            db.session.commit()
                    except Exception as error:
                        outcome.append(str(error))
                    done.set()

                threading.Thread(target=work, name="late", daemon=True).start()

        seen: list[list[str]] = []

        class Next(DatabaseTestCase):
            reuse_app = True

            def create_app(self) -> Flask:
                return app

            def test_finds_its_tables_empty(self) -> None:
                go.set()
                done.wait(10)
                seen.append(authors())

        self.assertEqual(len(run_case(Leaving).failures), 1)
        self.assertEqual(run_case(Next).problems(), "")
        self.assertEqual(seen, [[]])
        (refused,) = outcome
        self.assertIn("from thread 'late', which", refused)
        self.assertIn("left running after it ended", refused)

    def test_after_the_class_only_a_late_threads_connections_are_refused(
        self,
    ) -> None:
        engine = self.engine
        if is_memory_sqlite(sa.make_url(engine.url)):
            self.skipTest("a database in memory is no configured database")
        go, done = threading.Event(), threading.Event()
        self.addCleanup(go.set)
        outcome: list[str] = []

        class LateTests(TransactionalTestCase):
            thread_timeout = 0.1

            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            def test_starts_a_slow_thread(self) -> None:
                app = self.app

                def work() -> None:
                    go.wait(10)
                    try:
                        with app.app_context():
                            db.session.execute(sa.select(sa.literal(1)))
                    except Exception as error:
                        outcome.append(str(error))
                    done.set()

                threading.Thread(target=work, name="late", daemon=True).start()

        self.assertEqual(len(run_case(LateTests).failures), 1)
        # The class has ended; its thread still runs. The configured database
        # is the rest of the process's again, from any other thread.
        other = sa.create_engine(engine.url, poolclass=NullPool)
        self.addCleanup(other.dispose)
        if other.dialect.name == "sqlite":  # the file connecting makes
            path = other.url.database or ""
            self.addCleanup(lambda: os.path.exists(path) and os.remove(path))
        with other.connect() as connection:
            self.assertEqual(connection.scalar(sa.select(sa.literal(2))), 2)
        go.set()
        self.assertTrue(done.wait(10))
        (refused,) = outcome
        self.assertIn("flask_dbcase refused", refused)

    def test_a_threads_exception_fails_the_test_that_started_it(self) -> None:
        engine = self.engine
        for base in (TransactionalTestCase, DatabaseTestCase):

            class FailingThreadTests(base):  # type: ignore[valid-type,misc]
                @classmethod
                def create_app(cls) -> Flask:
                    return make_app(engine)

                def test_1_thread_raises(self) -> None:
                    def work() -> None:
                        raise LookupError("lost in a thread")

                    thread = threading.Thread(target=work, name="doomed")
                    thread.start()
                    thread.join()

                def test_2_unaffected(self) -> None:
                    pass

            with self.subTest(base=base.__name__):
                result = run_case(FailingThreadTests)
                ((test, trace),) = result.failures
                self.assertTrue(test.id().endswith("test_1_thread_raises"))
                self.assertIn(
                    "1 thread(s) the test started ended with an exception", trace
                )
                self.assertIn("'doomed':", trace)
                self.assertIn("LookupError: lost in a thread", trace)
                self.assertEqual(result.errors, [])

    def test_a_thread_that_outlives_its_class_cannot_reach_the_real_database(
        self,
    ) -> None:
        self.check_outliving(TransactionalTestCase)

    def test_the_same_from_a_database_test_case(self) -> None:
        self.check_outliving(DatabaseTestCase)

    def test_the_same_from_set_up_class(self) -> None:
        self.check_outliving(DatabaseTestCase, "setUpClass")

    def test_the_same_from_set_up_test_data(self) -> None:
        self.check_outliving(TransactionalTestCase, "setUpTestData")

    def test_the_same_from_create_app(self) -> None:
        self.check_outliving(TransactionalTestCase, "create_app")

    def test_the_same_from_set_up_class_before_super(self) -> None:
        # Its own app: the class has none yet; after the class, its engine is
        # one of many that reach the configured database.
        self.check_outliving(DatabaseTestCase, "before super")

    def test_the_same_from_a_class_skipped_after_create_app(self) -> None:
        self.check_outliving(TransactionalTestCase, "skipped")

    def check_outliving(self, base: type[DatabaseTestCase], where: str = "") -> None:
        engine = self.engine
        if engine.memory:
            self.skipTest("after the class, a new database in memory")
        release = threading.Event()
        self.addCleanup(release.set)
        outcome: list[BaseException | None] = []

        def start(app: Flask) -> None:  # it writes once the class has ended
            start_late_writer(app, release, outcome, "late writer")

        class OutlivingTests(base):  # type: ignore[valid-type,misc]
            thread_timeout = 0.1

            @classmethod
            def create_app(cls) -> Flask:
                app = make_app(engine)
                if where in ("create_app", "skipped"):
                    start(app)
                return app

            @classmethod
            def setUpClass(cls) -> None:
                if where == "before super":
                    start(make_app(engine))
                super().setUpClass()
                if where == "setUpClass":
                    start(cls.app)

            def test_starts_a_thread(self) -> None:
                if not where:
                    start(self.app)

        if where == "skipped":  # after create_app: the dialect is known then
            other = "postgresql" if engine.url.startswith("sqlite") else "sqlite"
            OutlivingTests = skipUnlessDialect(other)(OutlivingTests)
        if where == "setUpTestData":  # which a DatabaseTestCase refuses
            OutlivingTests.setUpTestData = classmethod(  # type: ignore[attr-defined]
                lambda cls: start(cls.app)
            )

        configured = sa.make_url(engine.url).database or ""
        if engine.url.startswith("sqlite"):
            # What the check at the end can tell: no other test made the file.
            self.assertFalse(os.path.exists(configured), "made by an earlier test")
        run_case(OutlivingTests)
        self.assertFalse(hasattr(OutlivingTests, "app"), "the class has not ended")
        release.set()
        deadline = time.monotonic() + 10
        while not outcome and time.monotonic() < deadline:
            time.sleep(0.01)
        (error,) = outcome
        self.assertIsInstance(error, Exception)
        self.assertIn("flask_dbcase refused", str(error))
        self.assertRegex(
            str(error).lower(),
            "a thread a test left running|from thread 'late writer', which .*"
            " left running after it ended",
        )
        if engine.url.startswith("sqlite"):  # not even created empty
            self.assertFalse(os.path.exists(configured))


class LockWaits(_Mixin):
    engine: t.ClassVar[t.Any]

    def test_a_connection_waiting_on_the_tests_rows_gives_up(self) -> None:
        engine = self.engine
        if engine.memory:
            self.skipTest("another connection is another database")

        class LockTests(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            @classmethod
            def setUpTestData(cls) -> None:
                db.session.add(Author(name="base"))

            def test_1_waits(self) -> None:
                db.session.add(Author(name="held"))
                db.session.flush()  # the unique name is now locked
                url = current_app.config["SQLALCHEMY_DATABASE_URI"]
                args = {}
                if engine.url.startswith("sqlite"):
                    args = {"timeout": 1}  # a driver's setting: not the library's
                other = sa.create_engine(url, connect_args=args)
                try:
                    with self.assertRaises(LockWaitError) as caught:
                        with other.begin() as connection:
                            insert = sa.insert(Author).values(name="held")
                            connection.execute(insert)
                finally:
                    other.dispose()
                error = caught.exception
                self.assertIsInstance(error, sa.exc.OperationalError)
                # What SQLAlchemy's own error would have said: the statement,
                # its parameters and the driver's error.
                self.assertIn("INSERT INTO author", error.statement)
                self.assertIn("held", repr(error.params))
                self.assertIsInstance(error.orig, other.dialect.dbapi.Error)
                self.assertEqual(
                    str(caught.exception),
                    "A connection waited for rows or a table that the test's"
                    " transaction holds, and gave up"
                    f" ({str(caught.exception.orig).strip()}). In a transactional"
                    " test what the test wrote stays locked until the test ends:"
                    " another connection (an engine of its own, a thread's) cannot"
                    " write the same rows. Test such code in a DatabaseTestCase,"
                    " whose tests commit.",
                )

            def test_2_starting_state(self) -> None:
                self.assertEqual(authors(), ["base"])

        start = time.monotonic()
        with mock.patch.dict(os.environ, {"FLASK_DBCASE_LOCK_TIMEOUT": "1"}):
            result = run_case(LockTests)
        self.assertLess(time.monotonic() - start, 30)
        self.assertEqual(result.problems(), "")
        self.assertEqual(result.testsRun, 2)

    def test_ddl_waiting_on_the_tests_table_gives_up(self) -> None:
        # MariaDB waits for a table's metadata lock lock_wait_timeout seconds:
        # a day by default.
        engine = self.engine
        if not (engine.mysql or engine.postgresql):
            self.skipTest("a server's table locks")

        class DdlWaitTests(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            def test_waits(self) -> None:
                db.session.add(Author(name="held"))
                db.session.flush()
                url = current_app.config["SQLALCHEMY_DATABASE_URI"]
                other = sa.create_engine(url)
                try:
                    with self.assertRaises(LockWaitError):
                        with other.begin() as connection:
                            connection.exec_driver_sql(
                                "ALTER TABLE author ADD COLUMN extra INT"
                            )
                finally:
                    other.dispose()

        start = time.monotonic()
        with mock.patch.dict(os.environ, {"FLASK_DBCASE_LOCK_TIMEOUT": "1"}):
            result = run_case(DdlWaitTests)
        self.assertLess(time.monotonic() - start, 30)
        self.assertEqual(result.problems(), "")


globals().update(
    engine_classes(
        [
            Escapes,
            EndedTransaction,
            SessionSettings,
            IdTests,
            DataCopies,
            Triggers,
            Threads,
            LockWaits,
        ],
        ENGINES,
    )
)
del Escapes, EndedTransaction, SessionSettings, IdTests, DataCopies, Triggers
del Threads, LockWaits


class Machinery(unittest.TestCase):
    """The process-wide parts: the lock-wait translation, and the transactions
    left open by a run stopped mid-class."""

    def test_the_lock_wait_translation_is_on_while_a_class_uses_it(self) -> None:
        waits = transaction.LockWaits()

        def listening() -> bool:
            return sa.event.contains(sa.Engine, "handle_error", waits._translate)

        self.assertFalse(listening())
        waits.start()
        waits.start()  # a second class, nested (run_case)
        self.assertTrue(listening())
        waits.stop()
        self.assertTrue(listening())
        waits.stop()
        self.assertFalse(listening())

    def test_a_transaction_left_open_is_discarded_at_exit(self) -> None:
        # A run stopped mid-class (Ctrl-C) skips the class's cleanups: at exit,
        # the connection is closed, not put back in the pool with its session.
        folder = tempfile.mkdtemp(prefix="dbcase-exit-")
        self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        engine = sa.create_engine(f"sqlite:///{folder}/left.db")
        self.addCleanup(engine.dispose)
        pool = engine.pool
        discarded: list[object] = []
        sa.event.listen(pool, "invalidate", lambda *args: discarded.append(args))
        left = transaction.TestTransaction([engine])
        self.addCleanup(left.close)
        self.assertIsNot(engine.pool, pool)
        transaction._close_open()
        self.assertIs(engine.pool, pool)
        self.assertEqual(pool.checkedout(), 0)
        self.assertEqual(len(discarded), 1)
