"""The configured database is never touched, whatever the app does to hide it.

Each test sets up a "real" database the app is configured with, with a table and a
sentinel row, runs a test class against it the way a real app would, and then
checks from a connection of its own, after the class, that the real database's
tables and rows are exactly as before. The run either passes on the test database
or fails at once with one clear error.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import typing as t
import unittest
from unittest import mock

import sqlalchemy as sa
from flask import current_app
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.pool import NullPool

from flask_dbcase import DatabaseTestCase
from flask_dbcase import TransactionalTestCase
from flask_dbcase.urls import describe_url

from .support import engine_classes
from .support import ENGINES
from .support import run_case
from .support import WatchingResult

if t.TYPE_CHECKING:
    _Mixin = unittest.TestCase
else:
    _Mixin = object

db = SQLAlchemy()


class Entry(db.Model):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    text = db.Column(db.String(50), nullable=False)


class Extra(db.Model):  # type: ignore[name-defined,misc]
    """A table the real database does not have: it must not appear there."""

    id = db.Column(db.Integer, primary_key=True)


class Real:
    """A database an app is configured with, holding a sentinel row."""

    def __init__(self, engine: t.Any, name: str) -> None:
        self.engine = engine
        base = sa.make_url(engine.url)
        #: The suite's own configured database is kept; its tables are not.
        self.shared = name == base.database
        if engine.name == "sqlite_file":
            self.folder = tempfile.mkdtemp(prefix="dbcase-real-")
            self.url = base.set(database=os.path.join(self.folder, name))
        else:
            self.folder = ""
            self.url = base.set(database=name)
            if not self.shared:
                self._admin(
                    f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"
                )
        with self.connect() as connection, connection.begin():
            connection.exec_driver_sql("DROP TABLE IF EXISTS entry")
            connection.exec_driver_sql("DROP TABLE IF EXISTS keep")
            connection.exec_driver_sql(
                "CREATE TABLE entry (id INTEGER PRIMARY KEY, text VARCHAR(50))"
            )
            connection.exec_driver_sql("INSERT INTO entry VALUES (1, 'sentinel')")
            connection.exec_driver_sql("CREATE TABLE keep (id INTEGER PRIMARY KEY)")
            connection.exec_driver_sql("INSERT INTO keep VALUES (7)")

    @property
    def uri(self) -> str:
        return self.url.render_as_string(hide_password=False)

    @property
    def name(self) -> str:
        return self.url.database or ""

    def _admin(self, *statements: str) -> None:
        server = sa.make_url(self.engine.url)
        server = server.set(database="postgres" if self.engine.postgresql else "")
        admin = sa.create_engine(
            server, poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
        admin.dispose()

    def connect(self) -> t.Any:
        engine = sa.create_engine(self.url, poolclass=NullPool)
        return engine.connect()

    def snapshot(self) -> dict[str, list[tuple[t.Any, ...]]]:
        """Every table of the database, with its rows."""
        with self.connect() as connection:
            names = sorted(sa.inspect(connection).get_table_names())
            return {
                name: [
                    tuple(row)
                    for row in connection.exec_driver_sql(
                        f"SELECT * FROM {name} ORDER BY 1"
                    )
                ]
                for name in names
            }

    def creator(self) -> t.Callable[[], t.Any]:
        """A ``creator`` that connects to this database, as the Cloud SQL
        connector or an IAM-token function would."""
        engine = sa.create_engine(self.url)
        args, params = engine.dialect.create_connect_args(engine.url)
        dbapi = engine.dialect.loaded_dbapi
        engine.dispose()
        return lambda: dbapi.connect(*args, **params)

    def drop(self) -> None:
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
        elif self.shared:
            with self.connect() as connection, connection.begin():
                connection.exec_driver_sql("DROP TABLE IF EXISTS entry")
                connection.exec_driver_sql("DROP TABLE IF EXISTS keep")
        else:
            self._admin(f"DROP DATABASE IF EXISTS {self.name}")


def make_app(uri: str, **config: t.Any) -> Flask:
    app = Flask(__name__)
    app.config.update(SQLALCHEMY_DATABASE_URI=uri, TESTING=True, **config)
    db.init_app(app)

    @app.post("/report")
    def report() -> str:
        # A report job that builds its own engine from the configuration.
        engine = sa.create_engine(current_app.config["SQLALCHEMY_DATABASE_URI"])
        with engine.begin() as connection:
            connection.execute(sa.insert(Entry).values(id=99, text="report"))
        engine.dispose()
        return "done"

    return app


def writing(name: str, base: type, create_app: t.Callable[[], Flask]) -> t.Any:
    """A test class called ``name`` with the tests of :class:`Writes`."""
    factory = classmethod(lambda cls: create_app())
    return type(name, (Writes, base), {"create_app": factory, "seen": []})


def server_database(connection: sa.Connection) -> str:
    """Which database the server says ``connection`` is on."""
    if connection.dialect.name == "postgresql":
        return str(connection.exec_driver_sql("SELECT current_database()").scalar())
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("PRAGMA database_list").all()
        return str(rows[0][2])
    return str(connection.exec_driver_sql("SELECT DATABASE()").scalar())


class Writes:
    """Tests that write, commit and look, as a suite's tests do."""

    #: Where the server said the first test's connection was.
    seen: t.ClassVar[list[str]]

    def test_1_write(self) -> None:
        db.session.add(Entry(id=2, text="from a test"))
        db.session.commit()
        self.seen.append(server_database(db.session.connection()))

    def test_2_empty(self) -> None:
        assert db.session.query(Entry).count() == 0


class Safety(_Mixin):
    engine: t.ClassVar[t.Any]

    def real(self, name: str = "") -> Real:
        """A configured database, ``dbcase_real_test`` if not ``name``."""
        real = Real(self.engine, name or self.engine.own("dbcase_real"))
        self.addCleanup(real.drop)
        return real

    def run_class(self, case: type[unittest.TestCase]) -> WatchingResult:
        return run_case(case)

    def assert_one_error(self, result: WatchingResult, *parts: str) -> str:
        problems = result.errors + result.failures
        self.assertEqual(len(problems), 1, result.problems())
        message = problems[0][1]
        for part in parts:
            self.assertIn(part, message)
        return message

    def test_mysql_use_cannot_make_the_library_empty_another_database(self) -> None:
        # DatabaseTestCase has no statement wrapper: a USE moves a pooled
        # connection, which the emptying after the test would reuse.
        if not self.engine.mysql:
            self.skipTest("MySQL's USE")
        real = self.real()
        with real.connect() as connection, connection.begin():
            # Every table of the models there too: nothing fails on the way.
            connection.exec_driver_sql("CREATE TABLE extra (id INTEGER PRIMARY KEY)")
        before = real.snapshot()

        class UseTests(DatabaseTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(real.uri)

            def test_use(self) -> None:
                db.session.add(Entry(id=2, text="in the test database"))
                db.session.commit()
                db.session.execute(sa.text(f"USE {real.name}"))
                db.session.commit()

        result = self.run_class(UseTests)
        self.assert_one_error(
            result,
            f"flask_dbcase refused to empty or count the tables of {real.name!r}",
            "Nothing was deleted",
        )
        self.assertEqual(real.snapshot(), before)

    # 1. A creator in the engine options.

    def test_creator_is_refused_before_anything_runs(self) -> None:
        real = self.real()
        before = real.snapshot()
        options = {"creator": real.creator()}

        for base in (TransactionalTestCase, DatabaseTestCase):
            with self.subTest(base=base.__name__):
                case = writing(
                    "CreatorTests",
                    base,
                    lambda: make_app(real.uri, SQLALCHEMY_ENGINE_OPTIONS=options),
                )
                result = self.run_class(case)
                message = self.assert_one_error(
                    result,
                    "'CreatorTests' (the default database) should connect to a"
                    " database named in FLASK_DBCASE_WIPE_DATABASES",
                    "SQLALCHEMY_ENGINE_OPTIONS['creator']",
                    f"connection is on {_described(self.engine, real)}",
                )
                self.assertIn("setUpClass", str(result.errors[0][0]))
                self.assertEqual(result.testsRun, 0, message)
                self.assertEqual(real.snapshot(), before)

    def test_creator_and_create_all_in_the_factory(self) -> None:
        real = self.real()
        before = real.snapshot()

        class FactoryTests(Writes, TransactionalTestCase):
            seen: t.ClassVar[list[str]] = []

            @classmethod
            def create_app(cls) -> Flask:
                options = {"creator": real.creator()}
                app = make_app(real.uri, SQLALCHEMY_ENGINE_OPTIONS=options)
                with app.app_context():
                    db.create_all()
                return app

        self.assert_one_error(
            self.run_class(FactoryTests),
            "'FactoryTests.create_app' connected to",
            "while building the app",
        )
        self.assertEqual(real.snapshot(), before)  # no 'extra' table

    def test_creator_may_land_on_an_allowed_database(self) -> None:
        real = self.real()
        ci = self.real(self.engine.own("dbcase_ci"))
        before = real.snapshot()
        options = {"creator": ci.creator()}
        case = writing(
            "AllowedTests",
            DatabaseTestCase,
            lambda: make_app(real.uri, SQLALCHEMY_ENGINE_OPTIONS=options),
        )
        allow = {"FLASK_DBCASE_WIPE_DATABASES": os.path.basename(ci.name)}
        with mock.patch.dict(os.environ, allow):
            result = self.run_class(case)
        self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertEqual(os.path.basename(case.seen[0]), os.path.basename(ci.name))
        self.assertEqual(real.snapshot(), before)
        self.assertEqual(ci.snapshot()["entry"], [])  # emptied: it was allowed

    # 2. The app's configuration, and engines built from it or elsewhere.

    def test_configuration_names_the_test_database_during_the_class(self) -> None:
        real = self.real()
        before = real.snapshot()
        app = make_app(real.uri, SQLALCHEMY_BINDS={"other": real.uri})
        config: list[t.Any] = []

        class ConfigTests(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return app

            def test_config(self) -> None:
                config.append(dict(current_app.config))
                url = db.engine.url.render_as_string(hide_password=False)
                self.assertEqual(current_app.config["SQLALCHEMY_DATABASE_URI"], url)
                other = db.engines["other"].url.render_as_string(hide_password=False)
                self.assertEqual(current_app.config["SQLALCHEMY_BINDS"]["other"], other)
                self.assertNotEqual(url, real.uri)

        result = self.run_class(ConfigTests)
        self.assertTrue(result.wasSuccessful(), result.problems())
        # Put back when the class ended, and the engine points there again.
        self.assertEqual(app.config["SQLALCHEMY_DATABASE_URI"], real.uri)
        self.assertEqual(app.config["SQLALCHEMY_BINDS"], {"other": real.uri})
        with app.app_context():
            self.assertEqual(db.engine.url.database, real.name)
            self.assertEqual(db.session.query(Entry).count(), 1)  # the sentinel
            db.session.remove()
            db.engine.dispose()
        self.assertEqual(real.snapshot(), before)

    def test_engine_built_from_the_configuration_lands_in_the_test_database(
        self,
    ) -> None:
        real = self.real()
        before = real.snapshot()

        class ReportTests(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(real.uri)

            def test_report(self) -> None:
                app = current_app._get_current_object()  # type: ignore[attr-defined]
                app.test_client().post("/report")

        # The row lands in the test database, outside the test transaction: the
        # leak check sees it there.
        self.assert_one_error(
            self.run_class(ReportTests),
            "Rows were committed outside the test transaction during the class of"
            " 'ReportTests': 'entry': 1",
        )
        self.assertEqual(real.snapshot(), before)

    def test_engine_built_from_the_real_url_is_refused(self) -> None:
        real = self.real()
        before = real.snapshot()
        # As a module would at import, from DATABASE_URL: one engine that never
        # connected, and one that did before the tests started.
        fresh = sa.create_engine(real.uri)
        pooled = sa.create_engine(real.uri)
        with pooled.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        self.addCleanup(fresh.dispose)
        self.addCleanup(pooled.dispose)

        class ModuleEngineTests(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(real.uri)

            def test_fresh(self) -> None:
                with fresh.begin() as connection:
                    connection.execute(sa.insert(Entry).values(id=3, text="x"))

            def test_pooled(self) -> None:
                with pooled.begin() as connection:
                    connection.execute(sa.insert(Entry).values(id=4, text="y"))

        result = self.run_class(ModuleEngineTests)
        self.assertEqual(len(result.errors), 2, result.problems())
        for _, trace in result.errors:
            self.assertIn(
                "flask_dbcase refused a connection to "
                f"{_described(self.engine, real)}, which 'ModuleEngineTests'"
                " (the default database) is configured with",
                trace,
            )
        self.assertEqual(real.snapshot(), before)
        # After the class, the engine works again, as without the library.
        with fresh.connect() as connection:
            count = connection.exec_driver_sql("SELECT COUNT(*) FROM entry").scalar()
        self.assertEqual(count, 1)

    # 3. No name or folder makes a configured database a test database.

    def test_databases_whose_names_start_with_test_are_derived(self) -> None:
        names = [self.engine.own("testing"), self.engine.own("testimonials")]
        if self.engine.name == "sqlite_file":
            names = ["test.db", "testing.db"]  # in the temporary directory
        elif self.engine.database.startswith("test"):
            # The run's own configured database ('test' in CI): kept, with
            # the tables added for the test dropped after.
            names.append(self.engine.database)
        for name in names:
            for base in (TransactionalTestCase, DatabaseTestCase):
                with self.subTest(name=name, base=base.__name__):
                    self.check_derived(name, base)

    def check_derived(self, name: str, base: type) -> None:
        real = self.real(name)
        before = real.snapshot()
        case = writing("NamedTests", base, lambda: make_app(real.uri))
        result = self.run_class(case)
        self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertEqual(real.snapshot(), before)
        stem = os.path.splitext(name)[0]
        self.assertRegex(os.path.basename(case.seen[0]), rf"^test_{re.escape(stem)}\b")

    def test_allowed_database_is_used_as_it_is(self) -> None:
        real = self.real(self.engine.own("testing"))
        name = os.path.basename(real.name)
        case = writing("AllowedTests", DatabaseTestCase, lambda: make_app(real.uri))
        with mock.patch.dict(os.environ, {"FLASK_DBCASE_WIPE_DATABASES": name}):
            result = self.run_class(case)
        self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertEqual(os.path.basename(case.seen[0]), name)
        self.assertEqual(real.snapshot()["entry"], [])  # wiped, as allowed

    # 5. One database spelled two ways.

    def test_binds_that_reach_one_database_share_it(self) -> None:
        if self.engine.name == "sqlite_file":
            self.skipTest("a file has one path")
        real = self.real()
        before = real.snapshot()
        other = real.url.set(host="localhost").render_as_string(hide_password=False)
        seen: list[t.Any] = []

        class SpelledTests(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(real.uri, SQLALCHEMY_BINDS={"alias": other})

            def test_shared(self) -> None:
                db.session.add(Entry(id=5, text="through the default bind"))
                db.session.flush()
                with db.engines["alias"].connect() as connection:
                    seen.append(server_database(connection))
                    count = connection.exec_driver_sql("SELECT COUNT(*) FROM entry")
                    seen.append(count.scalar())
                seen.append(server_database(db.session.connection()))

        result = self.run_class(SpelledTests)
        self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertEqual(seen, [f"test_{real.name}", 1, f"test_{real.name}"])
        self.assertEqual(real.snapshot(), before)

    # 6. A connection already in the pool before the first class.

    def test_connection_pooled_before_the_class_is_never_used(self) -> None:
        real = self.real()
        pattern = rf"^test_{re.escape(os.path.basename(real.name))}\b"
        before = real.snapshot()
        app = make_app(real.uri)
        with app.app_context():  # a factory that queries at start-up
            self.assertEqual(db.session.query(Entry).count(), 1)
        for base in (TransactionalTestCase, DatabaseTestCase):
            with self.subTest(base=base.__name__):
                case = writing("PooledTests", base, lambda: app)
                result = self.run_class(case)
                self.assertTrue(result.wasSuccessful(), result.problems())
                self.assertEqual(real.snapshot(), before)
                self.assertRegex(os.path.basename(case.seen[0]), pattern)
        with app.app_context():  # and the app is the app again
            self.assertEqual(db.session.query(Entry).count(), 1)
            db.session.remove()
            db.engine.dispose()

    # Found by probing as a hostile user would.

    def test_dialect_that_first_met_the_real_database(self) -> None:
        # A module-level app that queried at import: its dialect learned the
        # real database as its default schema (MySQL), where reflection looks.
        real = self.real(self.engine.own("dbcase_imported"))
        before = real.snapshot()
        with real.connect() as connection, connection.begin():
            connection.exec_driver_sql("CREATE TABLE extra (id INTEGER PRIMARY KEY)")
        before = real.snapshot()
        app = make_app(real.uri)
        with app.app_context():
            self.assertEqual(db.session.query(Entry).count(), 1)
            db.session.remove()

        result = self.run_class(
            writing("ImportedTests", TransactionalTestCase, lambda: app)
        )
        self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertEqual(real.snapshot(), before)
        with app.app_context():
            self.assertEqual(db.engine.dialect.default_schema_name, _schema(real))
            db.engine.dispose()

    def test_tables_in_another_database_are_refused(self) -> None:
        if self.engine.postgresql:
            self.skipTest("a PostgreSQL schema is inside the test database")
        real = self.real()
        before = real.snapshot()
        schema = "shop" if self.engine.name == "sqlite_file" else real.name
        other = SQLAlchemy()

        class Qualified(other.Model):  # type: ignore[name-defined,misc]
            __tablename__ = "entry"
            __table_args__ = {"schema": schema}
            id = other.Column(other.Integer, primary_key=True)

        class QualifiedTests(DatabaseTestCase):
            db = other

            @classmethod
            def create_app(cls) -> Flask:
                app = Flask(__name__)
                app.config["SQLALCHEMY_DATABASE_URI"] = real.uri
                other.init_app(app)
                return app

            def test_a(self) -> None:
                pass

        self.assert_one_error(
            self.run_class(QualifiedTests),
            f"'QualifiedTests' (the default database): the models put tables in other"
            f" databases ('{schema}.entry')",
            "Give each database a bind of its own",
        )
        self.assertEqual(real.snapshot(), before)

    def test_url_without_a_database_is_refused(self) -> None:
        if self.engine.name == "sqlite_file":
            self.skipTest("a SQLite URL without a file is memory")
        url = sa.make_url(self.engine.url)._replace(database=None)
        uri = url.render_as_string(hide_password=False)

        class NoNameTests(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(uri)

            def test_a(self) -> None:
                pass

        self.assert_one_error(
            self.run_class(NoNameTests),
            f"'NoNameTests' (the default database) uses {describe_url(url)[:-1]}",
            "which names no database",
            "Name the database in the URL.",
        )

    def test_long_names(self) -> None:
        if self.engine.name == "sqlite_file":
            self.skipTest("file names are hashed already")
        # Names the server takes whole (59 characters) whose test databases'
        # are too long and cut, the two differing only at their end.
        room = 49 - len(self.engine.database)
        if room < 3:
            self.skipTest("the configured database's name is too long for this")
        names = [self.engine.own(f"dbcase_{'x' * room}") + f"_{n}" for n in (1, 2)]
        self.assertEqual([len(name) for name in names], [59, 59])
        reals = [self.real(name) for name in names]
        seen: list[str] = []

        class LongTests(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                binds = {"second": reals[1].uri}
                return make_app(reals[0].uri, SQLALCHEMY_BINDS=binds)

            def test_a(self) -> None:
                for key in (None, "second"):
                    with db.engines[key].connect() as connection:
                        seen.append(server_database(connection))

        result = self.run_class(LongTests)
        self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertEqual(len(set(seen)), 2, seen)
        limit = 63 if self.engine.postgresql else 64
        for name in seen:
            self.assertLessEqual(len(name), limit - len("_template"))
            self.assertTrue(name.startswith("test_dbcase_xxx"), name)


class OneAppTwoClasses(_Mixin):
    engine: t.ClassVar[t.Any]

    def test_the_dialect_knows_its_schema_in_the_second_class(self) -> None:
        # The first class puts the engine back as it found it, never connected;
        # the second points it again. MySQL's has_table needs the default
        # schema, which a dialect learns on its first connection only.
        from .support import Author
        from .support import db as shared_db
        from .support import make_app

        app = make_app(self.engine)
        seen: list[bool] = []

        class First(DatabaseTestCase):
            def create_app(self) -> Flask:
                return app

            def test_a(self) -> None:
                pass

        class Second(TransactionalTestCase):
            def create_app(self) -> Flask:
                return app

            def test_b(self) -> None:
                table = Author.__tablename__
                seen.append(sa.inspect(shared_db.engine).has_table(table))

        for case in (First, Second):
            self.assertEqual(run_case(case).problems(), "")
        self.assertEqual(seen, [True])


globals().update(engine_classes([OneAppTwoClasses], ENGINES))


class SqliteUriTests(unittest.TestCase):
    def test_uri_form_with_parameters(self) -> None:
        sqlite = next(e for e in ENGINES if e.name == "sqlite_file")
        real = Real(sqlite, "shop.db")
        self.addCleanup(real.drop)
        before = real.snapshot()
        uri = f"sqlite:///file:{real.name}?mode=rwc&cache=shared&uri=true"
        case = writing("UriTests", TransactionalTestCase, lambda: make_app(uri))
        result = run_case(case)
        self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertEqual(real.snapshot(), before)
        folder = os.path.dirname(case.seen[0])
        self.assertRegex(os.path.basename(case.seen[0]), r"^test_shop-[0-9a-f]{8}\.db$")
        self.assertEqual([n for n in os.listdir(folder) if "?" in n], [])


def _schema(real: Real) -> str | None:
    """The default schema of a dialect that connected to ``real``."""
    if real.engine.postgresql:
        return "public"
    if real.engine.mysql:
        return real.name
    return "main"


def _described(engine: t.Any, real: Real) -> str:
    if engine.name == "sqlite_file":
        return f"the file {os.path.realpath(real.name)!r}"
    backend = "postgresql" if engine.postgresql else "mysql"
    return f"the {backend} database {real.name!r}"


globals().update(engine_classes([Safety], [e for e in ENGINES if not e.memory]))
del Safety


SECRETS_MODULE = """
import unittest

from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_dbcase import TransactionalTestCase

URLS = {urls!r}


def make(url):
    def create_app(cls):
        app = Flask(__name__)
        app.config["SQLALCHEMY_DATABASE_URI"] = url
        SQLAlchemy(app)
        return app

    return classmethod(create_app)


for name, url in URLS.items():
    globals()[name] = type(
        name,
        (TransactionalTestCase,),
        {{"create_app": make(url), "test_a": lambda self: None}},
    )
"""


class SecretTests(unittest.TestCase):
    """No password, in the URL's user info or in its query, in any output."""

    def urls(self) -> dict[str, str]:
        secrets = "s3cretUser", "s3cretQuery"
        found = {}
        postgresql = next(e for e in ENGINES if e.name == "postgresql")
        if postgresql.url:
            role = postgresql.own("dbcase_limited")
            admin = sa.create_engine(postgresql.url, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.exec_driver_sql(
                    "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname ="
                    f" '{role}') THEN CREATE ROLE {role} LOGIN; END IF; END $$"
                )
            admin.dispose()
            base = sa.make_url(postgresql.url).set(
                password=secrets[0], query={"password": secrets[1]}
            )
            found["Unreachable"] = base.set(port=9, database="shop")
            found["MayNotCreate"] = base.set(
                username=role, database=postgresql.own("shop")
            )
        mysql = next(e for e in ENGINES if e.name == "mysql")
        if mysql.url:
            base = sa.make_url(mysql.url).set(
                password=secrets[0], query={"password": secrets[1]}
            )
            found["WrongPassword"] = base.set(database="shop")
        if not found:
            self.skipTest("needs PostgreSQL or MySQL")
        return {
            name: url.render_as_string(hide_password=False)
            for name, url in found.items()
        }

    def test_failing_run_prints_no_password(self) -> None:
        urls = self.urls()
        folder = tempfile.mkdtemp(prefix="dbcase-secrets-")
        self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        with open(os.path.join(folder, "test_secrets.py"), "w") as f:
            f.write(SECRETS_MODULE.format(urls=urls))
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        for command in (
            ["unittest", "-v", "test_secrets"],
            ["pytest", "-p", "no:cacheprovider", "test_secrets.py"],
        ):
            with self.subTest(runner=command[0]):
                done = subprocess.run(
                    [sys.executable, "-m", *command],
                    cwd=folder,
                    env=dict(os.environ, PYTHONPATH=root),
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                output = done.stdout + done.stderr
                self.assertNotEqual(done.returncode, 0, output)
                self.assertIn("***", output)
                for name in urls:
                    self.assertIn(name, output)
                self.assertNotIn("s3cret", output)
