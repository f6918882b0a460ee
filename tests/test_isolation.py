"""The isolation battery: whatever a test does, nothing survives it.

Each check runs a real test class with unittest's own machinery, then looks at the
databases from connections of its own after every test. The battery written for
DatabaseTestCase runs again, inherited, for each subclass.
"""

from __future__ import annotations

import typing as t
import unittest

import sqlalchemy as sa
from flask import Flask

from flask_dbcase import ClientTestCase
from flask_dbcase import DatabaseTestCase
from flask_dbcase import TransactionalTestCase
from flask_dbcase.client import isolated_client

from .support import Author
from .support import Book
from .support import db
from .support import Engine
from .support import engine_classes
from .support import ENGINES
from .support import make_app
from .support import Mirror
from .support import Note
from .support import run_case

MODELS = (Author, Book, Note, Mirror)


def count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def client_of(case: DatabaseTestCase) -> t.Any:
    return getattr(case, "client", None) or isolated_client(case.app)


class DatabaseIsolation:
    """Checks that hold for DatabaseTestCase and for every subclass."""

    case: t.ClassVar[type[DatabaseTestCase]] = DatabaseTestCase
    engine: t.ClassVar[Engine]

    def check(
        self,
        test: t.Callable[[t.Any], None],
        baseline: dict[type, int] | None = None,
        config: dict[str, t.Any] | None = None,
        **members: t.Any,
    ) -> None:
        """Run ``test``, then a test that expects ``baseline``, in one class.

        Every test must pass, and a connection of our own must see no row after
        each of them, nor after the class.
        """
        self: unittest.TestCase  # type: ignore[no-redef]
        engine = self.engine
        expected = {model: 0 for model in MODELS}
        expected.update(baseline or {})

        def test_1_act(case: t.Any) -> None:
            test(case)

        def test_2_sees_baseline(case: t.Any) -> None:
            for model, rows in expected.items():
                case.assertEqual(count(model), rows, model.__name__)

        def create_app(cls: type) -> Flask:
            return make_app(engine, **(config or {}))

        namespace = {
            "create_app": classmethod(create_app),
            "test_1_act": test_1_act,
            "test_2_sees_baseline": test_2_sees_baseline,
            **members,
        }
        inner = type("Inner", (self.case,), namespace)
        observer = engine.observer()
        try:
            result = run_case(inner, observer)
            self.assertEqual(result.problems(), "")
            tests = 2 + sum(name.startswith("test") for name in members)
            self.assertEqual(result.testsRun, tests)
            if observer is not None:
                self.assertEqual(len(result.seen), tests)
                for test_id, counts in result.seen:
                    self.assertEqual(set(counts.values()), {0}, (test_id, counts))
                left = observer.counts()
                self.assertEqual(set(left.values()), {0}, f"rows left: {left}")
        finally:
            if observer is not None:
                observer.dispose()

    def test_commit(self) -> None:
        def test(case: t.Any) -> None:
            author = Author(name="Ada")
            db.session.add(author)
            db.session.commit()
            db.session.add(Book(title="Notes", author=author))
            db.session.commit()
            case.assertEqual((count(Author), count(Book)), (1, 1))

        self.check(test)

    def test_rollback(self) -> None:
        def test(case: t.Any) -> None:
            db.session.add(Author(name="kept"))
            db.session.commit()
            db.session.add(Author(name="dropped"))
            db.session.flush()
            db.session.rollback()
            names = db.session.scalars(sa.select(Author.name)).all()
            case.assertEqual(names, ["kept"])

        self.check(test)

    def test_rollback_before_anything_reached_the_database(self) -> None:
        def test(case: t.Any) -> None:
            db.session.add_all([Author(name="a"), Note(text="a")])
            db.session.commit()
            # A value refused before its statement was sent: Note's JSON is
            # encoded after the cursor is opened (by psycopg itself, on
            # PostgreSQL, which raises the TypeError as it is).
            db.session.add_all([Note(text="b"), Note(text="c", extra=object())])
            with case.assertRaises((sa.exc.StatementError, TypeError)):
                db.session.flush()
            db.session.rollback()
            db.session.add_all([Author(name="b"), Note(text="d")])
            db.session.commit()
            db.session.add_all([Author(name="c"), Note(text="e")])
            db.session.flush()
            db.session.rollback()
            authors = db.session.scalars(sa.select(Author.name).order_by(Author.name))
            case.assertEqual(authors.all(), ["a", "b"])
            notes = db.session.scalars(sa.select(Note.text).order_by(Note.text))
            case.assertEqual(notes.all(), ["a", "d"])

        self.check(test)

    def test_nested_savepoints(self) -> None:
        def test(case: t.Any) -> None:
            with db.session.begin_nested():
                db.session.add(Author(name="outer"))
                nested = db.session.begin_nested()
                db.session.add(Author(name="inner"))
                nested.rollback()
            db.session.commit()
            names = db.session.scalars(sa.select(Author.name)).all()
            case.assertEqual(names, ["outer"])

        self.check(test)

    def test_integrity_error_recovery(self) -> None:
        def test(case: t.Any) -> None:
            db.session.add(Author(name="twin"))
            db.session.commit()
            db.session.add(Author(name="twin"))
            with case.assertRaises(sa.exc.IntegrityError):
                db.session.commit()
            db.session.rollback()
            db.session.add(Author(name="after"))
            db.session.commit()
            case.assertEqual(count(Author), 2)

        self.check(test)

    def test_engine_begin_and_connect(self) -> None:
        def test(case: t.Any) -> None:
            table = Author.__table__
            with db.engine.begin() as connection:
                connection.execute(table.insert().values(name="begin"))
            with db.engine.connect() as connection:
                connection.execute(table.insert().values(name="connect"))
                connection.commit()
            with db.engine.connect() as connection:
                connection.execute(table.insert().values(name="never committed"))
            case.assertEqual(count(Author), 2)

        self.check(test)

    def test_core_and_bulk_inserts(self) -> None:
        def test(case: t.Any) -> None:
            db.session.execute(sa.insert(Author), [{"name": "a"}, {"name": "b"}])
            db.session.add_all([Author(name="c"), Author(name="d")])
            db.session.commit()
            case.assertEqual(count(Author), 4)

        self.check(test)

    def test_second_database(self) -> None:
        def test(case: t.Any) -> None:
            db.session.add(Author(name="here"))
            db.session.add(Note(text="there"))
            db.session.commit()
            case.assertEqual((count(Author), count(Note)), (1, 1))

        self.check(test)

    def test_two_binds_on_one_database(self) -> None:
        engine = self.engine

        def test(case: t.Any) -> None:
            db.session.add(Mirror(text="through the second bind"))
            db.session.commit()
            if not engine.memory:
                # Written through one engine, seen through the other.
                with db.engine.connect() as connection:
                    query = "SELECT COUNT(*) FROM mirror"
                    seen = connection.exec_driver_sql(query).scalar()
                case.assertEqual(seen, 1)

        self.check(test)

    def test_session_closed_and_removed(self) -> None:
        def test(case: t.Any) -> None:
            db.session.add(Author(name="first"))
            db.session.commit()
            db.session.close()
            db.session.add(Author(name="second"))
            db.session.commit()
            db.session.remove()
            case.assertEqual(count(Author), 2)

        self.check(test)

    def test_request_that_commits(self) -> None:
        def test(case: t.Any) -> None:
            response = client_of(case).post("/authors", json={"name": "web"})
            case.assertEqual(response.status_code, 201)
            case.assertEqual(count(Author), 1)

        self.check(test)

    def test_request_that_fails(self) -> None:
        def test(case: t.Any) -> None:
            case.app.config["PROPAGATE_EXCEPTIONS"] = False
            case.app.logger.disabled = True  # the traceback is expected
            client = client_of(case)
            response = client.post("/authors/broken", json={"name": "committed"})
            case.assertEqual(response.status_code, 500)
            names = db.session.scalars(sa.select(Author.name)).all()
            case.assertEqual(names, ["committed"])

        self.check(test)

    def test_request_that_forgets_to_commit(self) -> None:
        def test(case: t.Any) -> None:
            client = client_of(case)
            response = client.post("/authors/forgotten", json={"name": "lost"})
            case.assertEqual(response.status_code, 200)
            case.assertEqual(count(Author), 0)

        self.check(test)

    def test_autocommit_engine(self) -> None:
        def test(case: t.Any) -> None:
            db.session.add(Author(name="committed"))
            db.session.commit()
            db.session.close()
            db.session.add(Author(name="flushed"))
            db.session.flush()
            db.session.rollback()  # too late: autocommit kept the row
            with db.engine.connect() as connection:
                connection.execute(Author.__table__.insert().values(name="core"))
            case.assertEqual(count(Author), 3)

        options = {"isolation_level": "AUTOCOMMIT"}
        self.check(test, config={"SQLALCHEMY_ENGINE_OPTIONS": options})

    def test_failed_statement_left_unhandled(self) -> None:
        def test(case: t.Any) -> None:
            db.session.add(Author(name="twin"))
            db.session.commit()
            db.session.add(Author(name="twin"))
            with case.assertRaises(sa.exc.IntegrityError):
                db.session.flush()
            # No rollback: the test ends with the session (and, on PostgreSQL,
            # the transaction) in a failed state.

        self.check(test)


class TransactionalIsolation(DatabaseIsolation):
    """Everything above, plus class-wide test data."""

    case = TransactionalTestCase

    def test_rollback_as_sql_right_after_a_commit(self) -> None:
        def test(case: t.Any) -> None:
            db.session.add(Author(name="a"))
            db.session.commit()
            db.session.execute(sa.text("ROLLBACK"))  # nothing sent before it
            db.session.add(Author(name="b"))
            db.session.commit()
            db.session.add(Author(name="c"))
            db.session.flush()
            db.session.rollback()
            authors = db.session.scalars(sa.select(Author.name).order_by(Author.name))
            case.assertEqual(authors.all(), ["a", "b"])

        self.check(test)  # type: ignore[attr-defined]

    def test_an_autocommit_engines_commit_leaves_the_others(self) -> None:
        # Two engines on one database share the test's connection: the commit
        # of the one in autocommit mode must not end the other's transaction,
        # whose rollback then undoes what it flushed.
        engine = self.engine
        if engine.memory:
            raise unittest.SkipTest("in memory, each engine is a database of its own")

        def test(case: t.Any) -> None:
            db.session.add(Author(name="flushed"))
            db.session.flush()
            with db.engines["mirror"].connect() as connection:
                connection.execute(sa.insert(Mirror).values(text="autocommitted"))
                connection.commit()
            db.session.rollback()
            case.assertEqual(count(Author), 0)

        binds = {
            **engine.config()["SQLALCHEMY_BINDS"],
            "mirror": {"url": engine.url, "isolation_level": "AUTOCOMMIT"},
        }
        self.check(test, config={"SQLALCHEMY_BINDS": binds})  # type: ignore[attr-defined]

    def test_commit_of_a_failed_transaction(self) -> None:
        def test(case: t.Any) -> None:
            with db.engine.connect() as connection:
                insert = sa.insert(Author)
                connection.execute(insert.values(name="a"))
                connection.commit()
                try:
                    connection.execute(insert.values(name="a"))  # a duplicate
                    connection.execute(insert.values(name="lost"))
                except sa.exc.IntegrityError:
                    pass
                connection.commit()  # PostgreSQL rolls back a failed transaction
                connection.execute(insert.values(name="b"))
                connection.commit()
                names = connection.scalars(sa.select(Author.name).order_by(Author.name))
                case.assertEqual(names.all(), ["a", "b"])

        self.check(test)  # type: ignore[attr-defined]

    def test_test_data_changes_are_undone(self) -> None:
        def set_up_test_data(cls: t.Any) -> None:
            cls.author = Author(name="Ada")
            cls.books = [Book(title="Notes", author=cls.author)]
            db.session.add(cls.author)

        def test(case: t.Any) -> None:
            case.assertEqual(case.books[0].author, case.author)
            case.author.name = "renamed"
            case.books.append(Book(title="extra", author=case.author))
            db.session.add(case.books[-1])
            db.session.commit()
            db.session.delete(case.books[0])
            db.session.commit()
            case.assertEqual(count(Book), 1)

        def test_3_test_data_intact(case: t.Any) -> None:
            case.assertEqual(case.author.name, "Ada")
            case.assertEqual([b.title for b in case.books], ["Notes"])
            case.assertEqual(db.session.get(Author, case.author.id).name, "Ada")

        self.check(  # type: ignore[attr-defined]
            test,
            baseline={Author: 1, Book: 1},
            setUpTestData=classmethod(set_up_test_data),
            test_3_test_data_intact=test_3_test_data_intact,
        )

    def test_code_in_an_app_context_of_its_own(self) -> None:
        def job(app: Flask, author_id: int) -> None:
            # As a CLI command or a task would: its own context, its own session.
            with app.app_context():
                db.session.get(Author, author_id).name = "renamed"  # type: ignore[union-attr]
                db.session.add(Book(title="by the job", author_id=author_id))
                db.session.commit()

        def test(case: t.Any) -> None:
            author = Author(name="Ada")
            db.session.add(author)
            db.session.commit()
            case.assertEqual(author.name, "Ada")  # loaded into the test's session
            job(case.app, author.id)
            # The test's own objects show what the job committed.
            case.assertEqual(author.name, "renamed")
            case.assertEqual([b.title for b in author.books], ["by the job"])
            # Also when the job runs inside a request context of the test.
            with case.app.test_request_context():
                job(case.app, author.id)
            case.assertEqual(len(author.books), 2)

        self.check(test)  # type: ignore[attr-defined]


class ClientIsolation(TransactionalIsolation):
    """Everything above, through ClientTestCase's own client."""

    case = ClientTestCase


batteries = (DatabaseIsolation, TransactionalIsolation, ClientIsolation)
globals().update(engine_classes(batteries, ENGINES))
