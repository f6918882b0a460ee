"""``binds``: a class declares the binds its tests use; others are refused."""

from __future__ import annotations

import typing as t
import unittest

import sqlalchemy as sa
from flask import Flask

from flask_dbcase import ClientTestCase
from flask_dbcase import DatabaseNotAllowedError
from flask_dbcase import DatabaseTestCase
from flask_dbcase import TransactionalTestCase

from .support import Author
from .support import db
from .support import engine_classes
from .support import ENGINES
from .support import make_app
from .support import Note
from .support import only_error
from .support import run_case

if t.TYPE_CHECKING:
    _Mixin = unittest.TestCase
else:
    _Mixin = object


class Binds(_Mixin):
    engine: t.ClassVar[t.Any]

    def check(self, base: type) -> None:
        engine = self.engine

        class Case(base):  # type: ignore[valid-type,misc]
            binds = {None}

            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            def test_declared(self) -> None:
                db.session.add(Author(name="Ann"))
                db.session.commit()
                self.assertEqual(
                    db.session.scalar(sa.select(sa.func.count(Author.id))), 1
                )

            def test_undeclared(self) -> None:
                db.session.scalar(sa.select(sa.func.count(Note.id)))

        result = run_case(Case)
        self.assertEqual(result.testsRun, 2)
        self.assertEqual(result.errors, [])
        (failure,) = result.failures
        self.assertEqual(failure[0]._testMethodName, "test_undeclared")
        self.assertIn(
            ".Case.test_undeclared' used bind 'other', which 'Case.binds' does not"
            " list. Add 'other' to 'Case.binds' if the class needs it.",
            failure[1],
        )

    def test_transactional(self) -> None:
        self.check(TransactionalTestCase)

    def test_database_test_case_still_empties_every_bind(self) -> None:
        self.check(DatabaseTestCase)

    def test_refused_in_a_view_that_catches_it(self) -> None:
        engine = self.engine

        class Case(ClientTestCase):
            binds = {None}

            @classmethod
            def create_app(cls) -> Flask:
                app = make_app(engine)

                @app.get("/notes")
                def notes() -> tuple[str, int]:
                    try:
                        db.session.scalar(sa.select(sa.func.count(Note.id)))
                    except DatabaseNotAllowedError:
                        return "caught", 500
                    return "counted", 200

                return app

            def test_request(self) -> None:
                self.assertEqual(self.client.get("/notes").status_code, 500)

        message = only_error(Case)
        self.assertIn("DatabaseNotAllowedError", message)
        self.assertIn(
            ".Case.test_request' used bind 'other', which 'Case.binds' does not list.",
            message,
        )

    def test_class_setup_is_not_limited(self) -> None:
        engine = self.engine

        class Case(TransactionalTestCase):
            binds = [None]

            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            @classmethod
            def setUpTestData(cls) -> None:
                db.session.add(Note(text="made before the tests"))

            def test_default_only(self) -> None:
                db.session.scalar(sa.select(sa.func.count(Author.id)))

        self.assertEqual(run_case(Case).problems(), "")

    def test_unknown_and_malformed(self) -> None:
        engine = self.engine

        class Misspelt(TransactionalTestCase):
            binds = {None, "othre"}

            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            def test_a(self) -> None:
                pass

        message = only_error(Misspelt)
        self.assertIn(
            "'Misspelt.binds' names 'othre', which the app does not have. Its"
            " binds: the default database, bind 'mirror', bind 'other'.",
            message,
        )

        class Text(Misspelt):
            binds = "other"  # type: ignore[assignment]

        self.assertIn(
            "'Text.binds' must be a collection of bind keys, such as {None, 'audit'},"
            " not 'other'.",
            only_error(Text),
        )


globals().update(engine_classes([Binds], ENGINES))
del Binds
