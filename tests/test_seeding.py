"""setUpTestDatabase: rows every class needs, written once per test database,
kept by the rollback and put back after emptying, on every engine."""

from __future__ import annotations

import typing as t
import unittest

import sqlalchemy as sa
from flask import Flask

from flask_dbcase import DatabaseTestCase
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


def names() -> list[str]:
    return sorted(db.session.scalars(sa.select(Author.name)))


class Seeding(_Mixin):
    engine: t.ClassVar[t.Any]

    def check(self, base: type) -> None:
        engine = self.engine
        calls: list[str] = []

        class Seeded(base):  # type: ignore[valid-type,misc]
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            @classmethod
            def setUpTestDatabase(cls) -> None:
                calls.append(cls.__name__)
                db.session.add(Author(name="admin"))

            def test_1_changes_it(self) -> None:
                self.assertEqual(names(), ["admin"])
                db.session.execute(sa.delete(Author))
                db.session.add(Author(name="added"))
                db.session.commit()
                self.assertEqual(names(), ["added"])

            def test_2_starts_with_it(self) -> None:
                self.assertEqual(names(), ["admin"])

        class AlsoSeeded(Seeded):  # the same method: not run again
            pass

        class Plain(base):  # type: ignore[valid-type,misc]
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            def test_does_not_see_it(self) -> None:
                self.assertEqual(names(), [])

        for case in (Seeded, Plain, AlsoSeeded, Plain):
            result = run_case(case)
            self.assertEqual(result.problems(), "", case.__name__)
        # Once per test database and process; every class of its own in memory.
        expected = 2 if engine.memory else 1
        self.assertEqual(len(calls), expected, calls)

    def test_transactional(self) -> None:
        self.check(TransactionalTestCase)

    def test_database_test_case(self) -> None:
        self.check(DatabaseTestCase)


globals().update(engine_classes([Seeding], ENGINES))
del Seeding
