"""The schema built from Alembic migrations in Flask-Migrate's layout."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import typing as t
import unittest

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_dbcase import DatabaseTestCase
from flask_dbcase import TransactionalTestCase

from .support import ENGINES
from .support import run_case

try:
    import flask_migrate
except ImportError:  # pragma: no cover - the suite installs it
    flask_migrate = None  # type: ignore[assignment]

ENGINES_ON_DISK = [e for e in ENGINES if not e.memory and e.url]
ENGINES_WITH_URL = [e for e in ENGINES if e.url]


def make_db(extra: bool) -> tuple[SQLAlchemy, type]:
    """Models with or without a column the migrations do not know."""
    db = SQLAlchemy()

    class Item(db.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "dbcase_item"
        id = db.Column(db.Integer, primary_key=True)
        name = db.Column(db.String(40), nullable=False)
        if extra:
            note = db.Column(db.String(40))

    return db, Item


def make_app(db: SQLAlchemy, url: str, directory: str | None) -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    db.init_app(app)
    if directory is not None:
        flask_migrate.Migrate(app, db, directory=directory)
    return app


@unittest.skipIf(flask_migrate is None, "Flask-Migrate is not installed")
class MigrationTests(unittest.TestCase):
    directory: t.ClassVar[str]

    @classmethod
    def setUpClass(cls) -> None:
        folder = tempfile.mkdtemp(prefix="dbcase-migrations-")
        cls.addClassCleanup(shutil.rmtree, folder, ignore_errors=True)
        cls.directory = os.path.join(folder, "migrations")
        db, _ = make_db(extra=False)
        app = make_app(db, f"sqlite:///{folder}/generate.db", cls.directory)
        quiet = io.StringIO()
        env = os.path.join(cls.directory, "env.py")
        with app.app_context(), contextlib.redirect_stdout(quiet):
            with contextlib.redirect_stderr(quiet):
                flask_migrate.init(directory=cls.directory)
                with open(env) as f:
                    text = f.read()
                # As a project would: Flask-SQLAlchemy 3.1 deprecates get_engine().
                with open(env, "w") as f:
                    f.write(text.replace(".db.get_engine()", ".db.engine"))
                flask_migrate.migrate(directory=cls.directory, message="items")
            db.engine.dispose()

    def case(self, url: str, extra: bool, **members: t.Any) -> type:
        db, item = make_db(extra)
        directory = self.directory

        class MigratedTests(TransactionalTestCase):
            migrations = directory

            @classmethod
            def create_app(cls) -> Flask:
                return make_app(db, url, directory)

            def test_1_write(self) -> None:
                db.session.add(item(name="a"))
                db.session.commit()
                self.assertEqual(db.session.query(item).count(), 1)
                version = "SELECT COUNT(*) FROM alembic_version"
                self.assertEqual(db.session.scalar(sa.text(version)), 1)

            def test_2_rolled_back(self) -> None:
                self.assertEqual(db.session.query(item).count(), 0)

        for name, value in members.items():
            setattr(MigratedTests, name, value)
        return MigratedTests

    def test_schema_from_migrations(self) -> None:
        for engine in ENGINES_ON_DISK:
            with self.subTest(engine=engine.name):
                case = self.case(engine.url, extra=False, check_migrations=True)
                printed = io.StringIO()
                with contextlib.redirect_stderr(printed):
                    result = run_case(case)
                self.assertTrue(result.wasSuccessful(), result.problems())
                self.assertEqual(result.testsRun, 2)
                # Alembic's INFO lines would interleave with the runner's output.
                self.assertNotIn("Running upgrade", printed.getvalue())

    def test_drift_is_reported(self) -> None:
        for engine in ENGINES_ON_DISK:
            with self.subTest(engine=engine.name):
                case = self.case(engine.url, extra=True, check_migrations=True)
                with contextlib.redirect_stderr(io.StringIO()):
                    result = run_case(case)
                self.assertEqual(len(result.errors), 1, result.problems())
                error = result.errors[0][1]
                self.assertIn(
                    "'MigratedTests': the schema the migrations in"
                    f" {self.directory!r} build differs from the models:\n"
                    "  - add_column dbcase_item note\n"
                    "Add a migration ('flask db migrate'), or change the models to"
                    " match.",
                    error,
                )

    def test_drift_is_not_checked_unless_asked(self) -> None:
        engine = ENGINES_ON_DISK[0]

        def count(case: t.Any) -> None:  # the models' extra column is missing
            rows = "SELECT COUNT(*) FROM dbcase_item"
            case.assertEqual(case.db.session.scalar(sa.text(rows)), 0)

        case = self.case(
            engine.url, extra=True, test_1_write=count, test_2_rolled_back=count
        )
        with contextlib.redirect_stderr(io.StringIO()):
            result = run_case(case)
        self.assertTrue(result.wasSuccessful(), result.problems())

    def test_app_without_flask_migrate(self) -> None:
        db, _ = make_db(extra=False)

        class NoMigrateTests(TransactionalTestCase):
            migrations = True

            @classmethod
            def create_app(cls) -> Flask:
                return make_app(db, "sqlite://", None)

            def test_a(self) -> None:
                pass

        result = run_case(NoMigrateTests)
        self.assertEqual(len(result.errors), 1)
        self.assertIn(
            "'NoMigrateTests' builds its schema from migrations, but the app has no"
            " Flask-Migrate. Call 'Migrate(app, db)' in the app factory.",
            result.errors[0][1],
        )

    def test_missing_directory(self) -> None:
        db, _ = make_db(extra=False)

        class NowhereTests(TransactionalTestCase):
            migrations = "no-such-migrations"

            @classmethod
            def create_app(cls) -> Flask:
                return make_app(db, "sqlite://", "no-such-migrations")

            def test_a(self) -> None:
                pass

        result = run_case(NowhereTests)
        self.assertEqual(len(result.errors), 1)
        error = result.errors[0][1]
        self.assertIn(
            "'NowhereTests' builds its schema from migrations, but found no"
            " 'alembic.ini' in",
            error,
        )
        self.assertIn("no-such-migrations", error)


SEEDED = ["seeded one", "seeded two"]


@unittest.skipIf(flask_migrate is None, "Flask-Migrate is not installed")
class SeededMigrationTests(unittest.TestCase):
    """Rows the migrations insert are where every test starts, whatever the
    class: kept by the rollback, put back after emptying, not taken for leaks."""

    directory: t.ClassVar[str]

    @classmethod
    def setUpClass(cls) -> None:
        MigrationTests.setUpClass.__func__(cls)  # type: ignore[attr-defined]
        versions = os.path.join(cls.directory, "versions")
        (name,) = [n for n in os.listdir(versions) if n.endswith(".py")]
        path = os.path.join(versions, name)
        with open(path) as f:
            text = f.read()
        seed = (
            '    op.execute("INSERT INTO dbcase_item (name) VALUES'
            " ('seeded one'), ('seeded two')\")\n"
        )
        end = "    # ### end Alembic commands ###\n"
        with open(path, "w") as f:
            f.write(text.replace(end, end + seed, 1))

    def names(self, db: SQLAlchemy, item: type) -> list[str]:
        return sorted(db.session.scalars(sa.select(item.name)))  # type: ignore[attr-defined]

    def check(self, engine: t.Any, base: type) -> None:
        db, item = make_db(extra=False)
        directory = self.directory
        names = self.names
        where: list[str] = []  # the test database the class used

        class SeededTests(base):  # type: ignore[valid-type,misc]
            migrations = directory

            @classmethod
            def create_app(cls) -> Flask:
                return make_app(db, engine.url, directory)

            def test_1_changes_the_seeds(self) -> None:
                self.assertEqual(names(db, item), SEEDED)
                db.session.execute(sa.delete(item).where(item.name == "seeded one"))
                db.session.add(item(name="added"))
                db.session.commit()
                self.assertEqual(names(db, item), ["added", "seeded two"])

            def test_2_starts_from_the_seeds(self) -> None:
                self.assertEqual(names(db, item), SEEDED)
                where.append(db.engine.url.render_as_string(hide_password=False))

        with contextlib.redirect_stderr(io.StringIO()):
            result = run_case(SeededTests)
        self.assertEqual(result.problems(), "")
        self.assertEqual(result.testsRun, 2)
        if engine.memory:
            return
        # And so does the next class, with the database as the seeds left it.
        with contextlib.redirect_stderr(io.StringIO()):
            result = run_case(SeededTests)
        self.assertEqual(result.problems(), "")
        outside = sa.create_engine(where[-1], poolclass=sa.pool.NullPool)
        self.addCleanup(outside.dispose)
        with outside.connect() as connection:
            found = connection.scalars(sa.text("SELECT name FROM dbcase_item"))
            self.assertEqual(sorted(found), SEEDED)

    def test_transactional(self) -> None:
        for engine in ENGINES_WITH_URL:
            with self.subTest(engine=engine.name):
                self.check(engine, TransactionalTestCase)

    def test_database_test_case(self) -> None:
        for engine in ENGINES_WITH_URL:
            with self.subTest(engine=engine.name):
                self.check(engine, DatabaseTestCase)

    def test_leaks_are_counted_beyond_the_seeds(self) -> None:
        db, item = make_db(extra=False)
        directory = self.directory
        where: list[str] = []
        for engine in ENGINES_ON_DISK:

            class Leaking(TransactionalTestCase):
                migrations = directory

                @classmethod
                def create_app(cls, engine: t.Any = engine) -> Flask:
                    return make_app(db, engine.url, directory)

                def test_leaks(self) -> None:
                    url = db.engine.url.render_as_string(hide_password=False)
                    where.append(url)
                    other = sa.create_engine(url, poolclass=sa.pool.NullPool)
                    with other.begin() as connection:
                        connection.execute(sa.insert(item).values(name="leaked"))
                    other.dispose()

            with self.subTest(engine=engine.name):
                with contextlib.redirect_stderr(io.StringIO()):
                    result = run_case(Leaking)
                self.assertIn("'dbcase_item': 1 in", result.problems())
                outside = sa.create_engine(where[-1], poolclass=sa.pool.NullPool)
                self.addCleanup(outside.dispose)
                with outside.connect() as connection:
                    found = connection.scalars(sa.text("SELECT name FROM dbcase_item"))
                    self.assertEqual(sorted(found), SEEDED)  # back to the seeds
