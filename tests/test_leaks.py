"""Rows committed outside the test transaction are found, reported and removed."""

from __future__ import annotations

import os
import threading
import typing as t
import unittest
from unittest import mock

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.pool import NullPool

from flask_dbcase import TransactionalTestCase

from .support import Author
from .support import db
from .support import engine_classes
from .support import ENGINES
from .support import make_app
from .support import run_case

if t.TYPE_CHECKING:
    _Mixin = unittest.TestCase
else:
    _Mixin = object


def commit_elsewhere(url: sa.URL, name: str) -> None:
    """What an app that makes its own engine does: commit past the test."""
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(sa.insert(Author).values(name=name))
    engine.dispose()


class LeakDetection(_Mixin):
    engine: t.ClassVar[t.Any]

    def leaking_class(self, **attrs: t.Any) -> type[TransactionalTestCase]:
        engine = self.engine

        class Leaky(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> t.Any:
                return make_app(engine)

            # First: on a SQLite file, once the test transaction has written, it
            # holds the database's write lock, and a leak fails as 'locked'.
            def test_1_own_engine(self) -> None:
                commit_elsewhere(db.engine.url, "leaked")

            def test_2_thread(self) -> None:
                arguments = (db.engine.url, "threaded")
                thread = threading.Thread(target=commit_elsewhere, args=arguments)
                thread.start()
                thread.join()

            def test_3_clean(self) -> None:
                db.session.add(Author(name="rolled back"))
                db.session.commit()

        for name, value in attrs.items():
            setattr(Leaky, name, value)
        return Leaky

    def next_class_is_clean(self) -> None:
        engine = self.engine

        class Next(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> t.Any:
                return make_app(engine)

            def test_empty(self) -> None:
                self.assertDatabaseCount(Author, 0)

        self.assertEqual(run_case(Next).problems(), "")

    def test_after_the_class(self) -> None:
        result = run_case(self.leaking_class())
        self.assertEqual(result.failures, [])
        ((holder, trace),) = result.errors
        self.assertIn("tearDownClass", str(holder))
        self.assertIn(
            "Rows were committed outside the test transaction during the class of"
            " 'Leaky': 'author': 2 in ",
            trace,
        )
        self.assertIn("an engine the app or the test made itself", trace)
        self.assertIn("The rows were deleted.", trace)
        self.next_class_is_clean()

    def test_strict_names_the_test(self) -> None:
        result = run_case(self.leaking_class(strict_isolation=True))
        failed = {
            test.id().rpartition(".")[2]: trace for test, trace in result.failures
        }
        self.assertEqual(sorted(failed), ["test_1_own_engine", "test_2_thread"])
        self.assertIn("during test 'test_1_own_engine'", failed["test_1_own_engine"])
        self.assertIn("'author': 1 in ", failed["test_1_own_engine"])
        # The second is blamed for its own row only.
        self.assertIn("'author': 1 in ", failed["test_2_thread"])
        self.assertEqual(len(result.errors), 1)  # the class's check, which cleans up
        self.next_class_is_clean()

    def test_strict_from_the_environment(self) -> None:
        with mock.patch.dict(os.environ, {"FLASK_DBCASE_STRICT": "1"}):
            result = run_case(self.leaking_class())
        failed = [test.id().rpartition(".")[2] for test, _ in result.failures]
        self.assertEqual(sorted(failed), ["test_1_own_engine", "test_2_thread"])
        self.next_class_is_clean()


MYSQL = next(e for e in ENGINES if e.name == "mysql")
myisam_db = SQLAlchemy()


class Counter(myisam_db.Model):  # type: ignore[name-defined,misc]
    """A table that ignores transactions."""

    __tablename__ = "dbcase_myisam_counter"
    __table_args__ = {"mysql_engine": "MyISAM"}
    id = myisam_db.Column(myisam_db.Integer, primary_key=True)


@unittest.skipIf(MYSQL.url is None, MYSQL.skip_reason())
class NonTransactionalTable(unittest.TestCase):
    def test_rows_of_a_myisam_table_are_reported(self) -> None:
        class UsesMyisam(TransactionalTestCase):
            db = myisam_db

            @classmethod
            def create_app(cls) -> Flask:
                app = Flask(__name__)
                app.config["SQLALCHEMY_DATABASE_URI"] = MYSQL.url
                myisam_db.init_app(app)
                return app

            def test_write(self) -> None:
                myisam_db.session.add(Counter())
                myisam_db.session.commit()  # MyISAM keeps it whatever happens next

        result = run_case(UsesMyisam)
        ((holder, trace),) = result.errors
        self.assertIn("tearDownClass", str(holder))
        self.assertIn("'dbcase_myisam_counter': 1 in 'mysql+pymysql://", trace)
        self.assertIn("The rows were deleted.", trace)


# In memory, a connection of the app's own is another database: nothing to find.
servers = [engine for engine in ENGINES if not engine.memory]
globals().update(engine_classes([LeakDetection], servers))
del LeakDetection
