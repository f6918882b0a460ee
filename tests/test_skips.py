"""Skipping tests by the database they run on, on every engine."""

from __future__ import annotations

import typing as t
import unittest

import sqlalchemy as sa

from flask_dbcase import skipIfDialect
from flask_dbcase import skipUnlessDialect
from flask_dbcase import skipUnlessFeature
from flask_dbcase import TransactionalTestCase

from .support import engine_classes
from .support import ENGINES
from .support import make_app
from .support import run_case

if t.TYPE_CHECKING:
    _Mixin = unittest.TestCase
else:
    _Mixin = object


def runs(name: str) -> t.Callable[[t.Any], None]:
    """A test that notes that it ran."""

    def test(self: t.Any) -> None:
        type(self).ran.append(name)

    return test


class Skips(_Mixin):
    engine: t.ClassVar[t.Any]

    def kind(self) -> str:
        if self.engine.mysql:
            return "mysql"
        return "postgresql" if self.engine.postgresql else "sqlite"

    def outcome(self, case: type) -> tuple[list[str], dict[str, str]]:
        """Run ``case``; the tests that ran, and why the others were skipped
        (a skipped class is one entry, ``setUpClass``)."""
        case.ran = ran = []
        result = run_case(case)
        assert not result.errors and not result.failures, result.problems()
        skipped = {
            test.id().split(" ")[0].rpartition(".")[2]: why
            for test, why in result.skipped
        }
        return sorted(ran), skipped

    def case(self, **members: t.Any) -> type:
        engine = self.engine
        namespace = {"create_app": staticmethod(lambda: make_app(engine)), **members}
        return type("ShopTests", (TransactionalTestCase,), namespace)

    def test_methods(self) -> None:
        kind = self.kind()
        other = "postgresql" if kind != "postgresql" else "sqlite"
        case = self.case(
            test_mine=skipUnlessDialect(kind)(runs("test_mine")),
            test_other=skipUnlessDialect(other)(runs("test_other")),
            test_not_mine=skipIfDialect(kind)(runs("test_not_mine")),
            test_not_other=skipIfDialect(other)(runs("test_not_other")),
            test_other_bind=skipUnlessDialect(kind, bind="other")(
                runs("test_other_bind")
            ),
        )
        ran, skipped = self.outcome(case)
        self.assertEqual(ran, ["test_mine", "test_not_other", "test_other_bind"])
        self.assertEqual(set(skipped), {"test_other", "test_not_mine"})
        self.assertRegex(
            skipped["test_other"], r"^needs \w+; the default database is on \w+$"
        )
        self.assertRegex(skipped["test_not_mine"], r"^not on \w+ \(the default")

    def test_a_whole_class_before_any_database_work(self) -> None:
        kind = self.kind()
        other = "postgresql" if kind != "postgresql" else "sqlite"
        built: list[str] = []

        def set_up_test_data(cls: type) -> None:
            built.append("data")

        case = self.case(
            setUpTestData=classmethod(set_up_test_data),
            test_a=runs("test_a"),
            test_b=runs("test_b"),
        )
        skipUnlessDialect(other)(case)
        ran, skipped = self.outcome(case)
        self.assertEqual(ran, [])
        self.assertEqual(built, [])
        self.assertRegex(skipped["setUpClass"], r"^needs \w+; the default database")
        mine = self.case(test_a=runs("test_a"))
        skipUnlessDialect(kind)(mine)
        self.assertEqual(self.outcome(mine)[0], ["test_a"])

    def test_mariadb_or_mysql_on_a_class(self) -> None:
        # SQLAlchemy learns a mysql:// server's flavour on its first connection,
        # which a class's decision must wait for.
        if not self.engine.mysql:
            self.skipTest("a MySQL or MariaDB server")
        probe = sa.create_engine(self.engine.url)
        with probe.connect():
            mariadb = bool(probe.dialect.is_mariadb)
            returning = bool(probe.dialect.insert_returning)
        probe.dispose()
        for decorator, runs_here in (
            (skipUnlessDialect("mariadb"), mariadb),
            (skipIfDialect("mariadb"), not mariadb),
            (skipUnlessDialect("mysql"), True),
            (skipUnlessFeature("returning"), returning),
        ):
            case = decorator(self.case(test_a=runs("test_a")))
            ran, skipped = self.outcome(case)
            with self.subTest(decorator=decorator, mariadb=mariadb):
                self.assertEqual(ran, ["test_a"] if runs_here else [], skipped)

    def test_features(self) -> None:
        case = self.case(
            test_ddl=skipUnlessFeature("transactional_ddl")(runs("test_ddl")),
            test_sequences=skipUnlessFeature("sequences")(runs("test_sequences")),
        )
        ran, skipped = self.outcome(case)
        mysql, postgresql = self.engine.mysql, self.engine.postgresql
        self.assertEqual("test_ddl" in skipped, mysql)
        self.assertEqual("test_sequences" in skipped, not postgresql and not mysql)
        if mysql:
            self.assertRegex(skipped["test_ddl"], r"^needs transactional_ddl, which")


globals().update(engine_classes([Skips], ENGINES))
del Skips


class MisuseTests(unittest.TestCase):
    def test_unknown_names_are_refused_where_written(self) -> None:
        with self.assertRaises(ValueError) as raised:
            skipUnlessDialect("postgres")
        self.assertEqual(
            str(raised.exception),
            "Unknown database ['postgres']; known: sqlite, postgresql, mysql, mariadb.",
        )
        with self.assertRaises(ValueError) as raised:
            skipUnlessFeature("json")
        self.assertIn(
            "Unknown feature ['json']; known: returning,", str(raised.exception)
        )

    def test_unknown_bind_is_an_error(self) -> None:
        @skipUnlessDialect("sqlite", bind="nope")
        class BindTests(TransactionalTestCase):
            create_app = staticmethod(lambda: make_app(ENGINES[0]))

            def test_a(self) -> None:
                pass

        result = run_case(BindTests)
        self.assertEqual(len(result.errors), 1, result.problems())
        self.assertIn("The app has no bind 'nope'", result.errors[0][1])
