"""PostgreSQL's deferrable constraints are checked where a real COMMIT checks them:
when the application commits, and before a test is rolled back."""

from __future__ import annotations

import typing as t
import unittest

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_dbcase import ClientTestCase
from flask_dbcase import TransactionalTestCase

from .support import ENGINES
from .support import run_case

POSTGRESQL = next(e for e in ENGINES if e.name == "postgresql")

deferred_db = SQLAlchemy()


class Parent(deferred_db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "deferred_parent"
    id = deferred_db.Column(deferred_db.Integer, primary_key=True)


class Child(deferred_db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "deferred_child"
    id = deferred_db.Column(deferred_db.Integer, primary_key=True)
    parent_id = deferred_db.Column(
        deferred_db.ForeignKey(Parent.id, deferrable=True, initially="DEFERRED"),
        nullable=False,
    )


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = POSTGRESQL.url
    deferred_db.init_app(app)
    return app


@unittest.skipIf(POSTGRESQL.url is None, POSTGRESQL.skip_reason())
class DeferredConstraintTests(unittest.TestCase):
    def test_checked_at_the_apps_commit_and_before_the_rollback(self) -> None:
        seen: dict[str, t.Any] = {}

        class Case(TransactionalTestCase):
            db = deferred_db

            @classmethod
            def create_app(cls) -> Flask:
                return create_app()

            def test_1_commit_refused(self) -> None:
                deferred_db.session.add(Child(id=1, parent_id=99))
                deferred_db.session.flush()  # deferred: no error yet
                with self.assertRaises(sa.exc.IntegrityError) as raised:
                    deferred_db.session.commit()
                seen["commit"] = str(raised.exception.orig)
                deferred_db.session.rollback()
                # Refused and rolled back, as a real COMMIT would be.
                self.assertDatabaseCount(Child, 0)

            def test_2_still_deferred_and_fine_when_fixed(self) -> None:
                deferred_db.session.add(Child(id=2, parent_id=7))
                deferred_db.session.flush()
                deferred_db.session.add(Parent(id=7))
                deferred_db.session.commit()
                deferred_db.session.add(Child(id=3, parent_id=8))
                deferred_db.session.flush()
                deferred_db.session.add(Parent(id=8))
                deferred_db.session.commit()

            def test_3_left_violated(self) -> None:
                deferred_db.session.add(Child(id=4, parent_id=99))
                deferred_db.session.flush()  # never committed: checked at the end

            def test_4_next_test_is_clean(self) -> None:
                self.assertDatabaseCount(Child, 0)
                self.assertDatabaseCount(Parent, 0)

        result = run_case(Case)
        self.assertIn("deferred_child_parent_id_fkey", seen["commit"])
        ((test, trace),) = result.failures
        self.assertTrue(test.id().endswith("test_3_left_violated"))
        self.assertIn(
            "AssertionError: The test left deferred constraints violated; a real"
            ' COMMIT would have failed: insert or update on table "deferred_child"',
            trace,
        )
        self.assertEqual(result.errors, [])
        self.assertEqual(result.testsRun, 4)


@unittest.skipIf(POSTGRESQL.url is None, POSTGRESQL.skip_reason())
class RefusedRequestTests(unittest.TestCase):
    def test_a_requests_refused_commit_ends_its_own_transaction(self) -> None:
        # The request's savepoint stayed: the test's own rollback after it
        # went back to there only, keeping what the test wrote before.
        seen: dict[str, t.Any] = {}

        class Case(ClientTestCase):
            db = deferred_db

            @classmethod
            def create_app(cls) -> Flask:
                app = create_app()

                @app.post("/bad")
                def bad() -> str:
                    deferred_db.session.add(Child(id=1, parent_id=99))
                    try:
                        deferred_db.session.commit()
                    except sa.exc.IntegrityError:
                        deferred_db.session.rollback()
                    return "refused"

                return app

            def test_1(self) -> None:
                parent = Parent.__table__
                with deferred_db.engine.connect() as connection:
                    connection.execute(parent.insert().values(id=5))
                    self.assertEqual(self.client.post("/bad").text, "refused")
                    connection.execute(parent.insert().values(id=6))
                    connection.rollback()
                    seen["after"] = sorted(connection.scalars(sa.select(parent.c.id)))

        self.assertEqual(run_case(Case).problems(), "")
        self.assertEqual(seen["after"], [])
