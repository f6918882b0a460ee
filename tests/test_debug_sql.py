"""``debug_sql``: the SQL a failing test sent, shown under its traceback."""

from __future__ import annotations

import os
import typing as t
import unittest
from unittest import mock

import sqlalchemy as sa
from flask import Flask

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


class DebugSQL(_Mixin):
    engine: t.ClassVar[t.Any]

    def case(self, debug: bool = True) -> type[TransactionalTestCase]:
        engine = self.engine

        class Case(TransactionalTestCase):
            debug_sql = debug

            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            def test_fails(self) -> None:
                db.session.add(Author(name="Ann"))
                db.session.commit()  # a savepoint follows: not shown
                db.session.scalars(sa.select(Author).where(Author.name == "Ann"))
                self.assertEqual(1, 2)

            def test_errors(self) -> None:
                db.session.execute(sa.select(sa.literal(7)))
                db.session.execute(sa.select(sa.literal(b"\x00raw")))
                raise RuntimeError("broken")

            def test_passes(self) -> None:
                db.session.execute(sa.select(sa.literal(1)))

            def test_skips(self) -> None:
                db.session.execute(sa.select(sa.literal(1)))
                self.skipTest("not today")

            def test_sub_test_fails(self) -> None:
                db.session.execute(sa.select(sa.literal(3)))
                with self.subTest(n=1):
                    self.fail("inside")

        return Case

    def reports(self, case: type[TransactionalTestCase]) -> dict[str, str]:
        result = run_case(case)
        self.assertEqual(result.testsRun, 5)
        self.assertEqual(len(result.skipped), 1)
        found = {}
        for test, text in result.failures + result.errors:
            test = getattr(test, "test_case", test)  # a subtest's
            found[test._testMethodName] = text
        self.assertEqual(
            set(found), {"test_fails", "test_errors", "test_sub_test_fails"}
        )
        return found

    def test_failure_shows_what_the_test_sent(self) -> None:
        found = self.reports(self.case())
        text = found["test_fails"]
        self.assertIn(
            "AssertionError: 1 != 2\nSQL the test sent (2):\n1. INSERT INTO author",
            text,
        )
        self.assertIn("'Ann'", text)  # the parameters
        self.assertRegex(text, r"\n2\. SELECT author\.id, author\.name\s+FROM author")
        self.assertNotIn("SAVEPOINT", text)
        self.assertIn(
            "RuntimeError: broken\nSQL the test sent (2):\n1. SELECT",
            found["test_errors"],
        )
        self.assertIn("7", found["test_errors"])
        self.assertIn("b'\\x00raw'", found["test_errors"])  # bytes, not a buffer
        self.assertIn(
            "AssertionError: inside\nSQL the test sent (1):",
            found["test_sub_test_fails"],
        )

    def test_one_exception_raised_twice_shows_each_tests_sql(self) -> None:
        engine = self.engine
        shared = RuntimeError("the same one")

        class Case(TransactionalTestCase):
            debug_sql = True

            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            def test_1(self) -> None:
                db.session.execute(sa.select(sa.literal(1)))
                raise shared

            def test_2(self) -> None:
                raise shared

        result = run_case(Case)
        second = result.errors[1][1]
        self.assertIn("SQL the test sent (0):\nNo statements were sent.", second)
        self.assertEqual(second.count("SQL the test sent"), 1, second)

    def test_a_cleanup_that_fails_shows_what_the_test_sent(self) -> None:
        engine = self.engine

        def check() -> None:
            raise AssertionError("the cleanup's check")

        class Case(TransactionalTestCase):
            debug_sql = True

            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            def test_cleanup(self) -> None:
                self.addCleanup(check)
                db.session.execute(sa.select(sa.literal(5)))

        result = run_case(Case)
        ((_, text),) = result.failures
        self.assertIn(
            "AssertionError: the cleanup's check\nSQL the test sent (1):\n1. SELECT",
            text,
        )

    def test_long_lists_are_cut_with_their_size(self) -> None:
        engine = self.engine

        class Case(TransactionalTestCase):
            debug_sql = True

            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            def test_many(self) -> None:
                ids = sa.select(Author).where(Author.id.in_(range(3000)))
                db.session.scalars(ids).all()
                db.session.execute(sa.select(sa.literal("x" * 500)))
                self.fail("look")

        ((_, text),) = run_case(Case).failures
        listing = text[text.index("SQL the test sent") :]
        select, literal = listing.splitlines()[1:3]
        # Both the placeholders and the values, once each.
        self.assertEqual(select.count("... 3000 in all"), 2, select)
        self.assertLess(len(select), 1000)
        self.assertIn("24, ... 3000 in all", select)  # the first 25 values
        self.assertIn(" in all) -- ", select)  # the list still closes
        self.assertIn("'" + "x" * 150, literal)
        self.assertNotIn("x" * 200, literal)

    def test_off_by_default(self) -> None:
        with mock.patch.dict(os.environ, {"FLASK_DBCASE_DEBUG_SQL": ""}):
            found = self.reports(self.case(debug=False))
        for text in found.values():
            self.assertNotIn("SQL the test sent", text)

    def test_environment_turns_it_on(self) -> None:
        with mock.patch.dict(os.environ, {"FLASK_DBCASE_DEBUG_SQL": "1"}):
            found = self.reports(self.case(debug=False))
        self.assertIn("SQL the test sent (2):", found["test_fails"])


globals().update(engine_classes([DebugSQL], ENGINES))
del DebugSQL
