"""The lifecycle of the test cases, and the messages for each way to misuse them."""

from __future__ import annotations

import contextvars
import functools
import os
import threading
import traceback
import typing as t
import unittest
from unittest import mock

import sqlalchemy as sa
from flask import Flask
from flask import g
from flask import has_request_context
from flask import request
from flask import url_for
from flask.globals import app_ctx
from flask_sqlalchemy import SQLAlchemy

from flask_dbcase import ClientTestCase
from flask_dbcase import DatabaseTestCase
from flask_dbcase import ImplicitCommitError
from flask_dbcase import override_config
from flask_dbcase import TransactionalTestCase

from .support import Author
from .support import check_set_up_once
from .support import db
from .support import ENGINES
from .support import make_app
from .support import only_error
from .support import run_case

MEMORY = ENGINES[0]
POSTGRESQL = next(e for e in ENGINES if e.name == "postgresql")
MYSQL = next(e for e in ENGINES if e.name == "mysql")


def memory_app() -> Flask:
    return make_app(MEMORY)


class ErrorsMixin:
    """Run a class and return the one error it produced."""

    def only_error(self, case: type[unittest.TestCase]) -> str:
        return only_error(case)


class CreateAppTests(ErrorsMixin, unittest.TestCase):
    def test_instance_method_form(self) -> None:
        seen: list[t.Any] = []

        class Case(TransactionalTestCase):
            def create_app(self) -> Flask:
                seen.append(self)
                return memory_app()

            def test_a(self) -> None:
                pass

            def test_b(self) -> None:
                pass

        self.assertTrue(run_case(Case).wasSuccessful())
        self.assertEqual(len(seen), 1)  # once per class, not per test
        self.assertIsInstance(seen[0], Case)

    def test_classmethod_form(self) -> None:
        calls: list[type] = []

        class Case(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                calls.append(cls)
                return memory_app()

            def test_a(self) -> None:
                self.assertIs(self.db, db)
                self.assertIsInstance(self.app, Flask)

            def test_b(self) -> None:
                pass

        self.assertTrue(run_case(Case).wasSuccessful())
        self.assertEqual(calls, [Case])
        self.assertFalse(hasattr(Case, "app"))  # forgotten when the class ends
        self.assertFalse(hasattr(Case, "db"))  # found on the app: forgotten too

    def test_missing(self) -> None:
        for shared in (False, True):  # looked up before anything is shared

            class NoFactoryTests(TransactionalTestCase):
                reuse_app = shared

                def test_a(self) -> None:
                    pass

            with self.subTest(reuse_app=shared):
                error = self.only_error(NoFactoryTests)
                self.assertIn("TypeError: 'NoFactoryTests' has no 'create_app'", error)

    def test_a_said_error_leaves_the_librarys_frames_out(self) -> None:
        # Its message says it all; the frames it passed through may hold URLs,
        # which a runner can print with their arguments.
        class NoFactoryTests(TransactionalTestCase):
            def test_a(self) -> None:
                pass

        with self.assertRaises(TypeError) as raised:
            NoFactoryTests.setUpClass()
        NoFactoryTests.doClassCleanups()
        error = raised.exception
        frames = [frame.name for frame in traceback.extract_tb(error.__traceback__)]
        self.assertNotIn("_build_app", frames)
        self.assertNotIn("_dbcase_set_up_class", frames)
        self.assertTrue(error.__suppress_context__)

    def test_returns_none(self) -> None:
        class NoneTests(TransactionalTestCase):
            def create_app(self) -> None:
                memory_app()

            def test_a(self) -> None:
                pass

        error = self.only_error(NoneTests)
        self.assertIn("'NoneTests.create_app' returned None", error)
        self.assertIn("did you forget 'return app'?", error)

    def test_returns_the_factory_itself(self) -> None:
        class UncalledTests(TransactionalTestCase):
            def create_app(self) -> t.Any:
                return memory_app

            def test_a(self) -> None:
                pass

        error = self.only_error(UncalledTests)
        self.assertIn(
            "TypeError: 'UncalledTests.create_app' returned the function"
            " 'memory_app', not a Flask application: did you forget to call it?"
            " Return 'memory_app()'.",
            error,
        )

    def test_returns_other_callables(self) -> None:
        from werkzeug.middleware.proxy_fix import ProxyFix

        cases = [
            (lambda: functools.partial(memory_app), "the function 'memory_app'"),
            (lambda: lambda: memory_app(), "did you forget to call it? Return its"),
            (lambda: Flask, "returned the class 'Flask', not a Flask application."),
            (lambda: ProxyFix(memory_app()), "returned 'ProxyFix', not a Flask app"),
        ]
        for factory, expected in cases:
            with self.subTest(expected=expected):
                case = type(
                    "OtherTests",
                    (TransactionalTestCase,),
                    {"create_app": staticmethod(factory), "test_a": lambda self: None},
                )
                self.assertIn(expected, self.only_error(case))

    def test_returns_something_else(self) -> None:
        class ClientTests(TransactionalTestCase):
            def create_app(self) -> t.Any:
                return memory_app().test_client()

            def test_a(self) -> None:
                pass

        error = self.only_error(ClientTests)
        self.assertIn(
            "'ClientTests.create_app' returned 'FlaskClient', not a Flask", error
        )

    def test_app_without_flask_sqlalchemy(self) -> None:
        class BareTests(TransactionalTestCase):
            def create_app(self) -> Flask:
                return Flask(__name__)

            def test_a(self) -> None:
                pass

        error = self.only_error(BareTests)
        self.assertIn(
            "'BareTests.create_app' returned an app without Flask-SQLAlchemy. Call"
            " 'db.init_app(app)' in your app factory, or set 'BareTests.db'.",
            error,
        )

    def test_declared_db_not_on_the_app(self) -> None:
        class OtherDbTests(TransactionalTestCase):
            db = SQLAlchemy()

            def create_app(self) -> Flask:
                return memory_app()

            def test_a(self) -> None:
                pass

        error = self.only_error(OtherDbTests)
        self.assertIn("'OtherDbTests.db' is not registered on the app", error)

    def test_declared_db(self) -> None:
        class DeclaredTests(TransactionalTestCase):
            db = db

            def create_app(self) -> Flask:
                return memory_app()

            def test_a(self) -> None:
                self.assertIs(self.db, db)

        self.assertTrue(run_case(DeclaredTests).wasSuccessful())
        self.assertIs(DeclaredTests.db, db)  # the user's attribute is kept

    def test_driver_not_installed(self) -> None:
        class DriverTests(TransactionalTestCase):
            def create_app(self) -> Flask:
                app = Flask(__name__)
                url = "postgresql+pg8000://u@localhost/test"
                app.config["SQLALCHEMY_DATABASE_URI"] = url
                SQLAlchemy(app)
                return app

            def test_a(self) -> None:
                pass

        error = self.only_error(DriverTests)
        self.assertIn(
            "'DriverTests.create_app' failed because the database driver 'pg8000'"
            " is not installed. Install it in the environment that runs the tests"
            " (for example: pip install pg8000)",
            error,
        )

    def test_postgres_scheme(self) -> None:
        for url, expected in [
            ("postgres://u@localhost/shop", "SQLAlchemy knows no database 'postgres'"),
            ("postgresql+pg9://u@localhost/shop", "knows no driver 'pg9' for"),
        ]:
            with self.subTest(url=url):

                class SchemeTests(TransactionalTestCase):
                    uri = url

                    def create_app(self) -> Flask:
                        app = Flask(__name__)
                        app.config["SQLALCHEMY_DATABASE_URI"] = self.uri
                        SQLAlchemy(app)
                        return app

                    def test_a(self) -> None:
                        pass

                error = self.only_error(SchemeTests)
                self.assertIn(expected, error)
                self.assertEqual(
                    "postgres://" in url, "Write 'postgresql://'" in error, error
                )
                self.assertNotIn("NoSuchModuleError", error)

    def test_unreadable_urls(self) -> None:
        for url, expected in [
            ("postgres+psycopg://u@h/shop", "Write 'postgresql://'"),
            ("postgresql+psycopg3://u@h/shop", "knows no driver 'psycopg3' for"),
            ("", "a database URL of the app is not one SQLAlchemy can read"),
            ("localhost/shop", "Write it as 'dialect+driver://user@host/database'"),
            ("nosuch+x://u@h/shop", "knows no database 'nosuch+x'"),
            ("nosuch://u@h/shop", "Check the URL's scheme"),
        ]:
            with self.subTest(url=url):
                config = {"SQLALCHEMY_DATABASE_URI": url}
                case = type(
                    "UrlTests",
                    (TransactionalTestCase,),
                    {
                        "create_app": staticmethod(
                            lambda c=config: make_app(MEMORY, **c)
                        ),
                        "test_a": lambda self: None,
                    },
                )
                error = self.only_error(case)
                self.assertIn(expected, error)
                self.assertNotIn("ArgumentError", error)
                self.assertNotIn("NoSuchModuleError", error)

    def test_driver_hints_name_the_package(self) -> None:
        from flask_dbcase.testcase import _install_hint

        hint = _install_hint("psycopg2")
        self.assertTrue(hint.startswith("for example: pip install psycopg2-binary"))
        hint = _install_hint("pymysql")
        self.assertEqual(
            hint,
            "for example: pip install PyMySQL, which flask-dbcase's 'mysql' extra"
            " installs",
        )

    def test_driver_hint_names_the_driver_that_is_installed(self) -> None:
        from flask_dbcase.testcase import _install_hint

        # A bare 'mysql://' asks for MySQLdb; PyMySQL may be there instead.
        for installed, expected in [
            (True, "; or start the URL with 'mysql+pymysql://' to use pymysql"),
            (False, ""),
        ]:
            with mock.patch(
                "importlib.util.find_spec",
                lambda name, installed=installed: (
                    object() if installed and name == "pymysql" else None
                ),
            ):
                hint = _install_hint("MySQLdb")
            self.assertEqual(
                hint.partition(", installed")[0],
                "for example: pip install mysqlclient" + expected,
            )

    def test_unrelated_import_error_is_left_alone(self) -> None:
        class ImportTests(TransactionalTestCase):
            def create_app(self) -> Flask:
                import flask_dbcase_no_such_module  # type: ignore[import-not-found]  # noqa: F401

                return memory_app()

            def test_a(self) -> None:
                pass

        error = self.only_error(ImportTests)
        self.assertIn("No module named 'flask_dbcase_no_such_module'", error)
        self.assertNotIn("database driver", error)


class SuperCallTests(ErrorsMixin, unittest.TestCase):
    def test_set_up_without_super_still_runs_isolated(self) -> None:
        # Flask-Testing's and Django's habit: the library's setup runs before the
        # class's setUp, whether or not that calls super().setUp().
        ran: list[t.Any] = []

        class ForgetfulTests(TransactionalTestCase):
            create_app = staticmethod(memory_app)

            def setUp(self) -> None:
                db.create_all()  # as Flask-Testing's docs do; the tables exist
                db.session.add(Author(name="from setUp"))
                db.session.commit()
                ran.append(db.session.query(Author).count())

            def tearDown(self) -> None:
                db.session.remove()
                db.drop_all()  # rolled back with the test

            def test_a(self) -> None:
                ran.append(db.session.query(Author).count())

            def test_b(self) -> None:
                ran.append(db.session.query(Author).count())

        result = run_case(ForgetfulTests)
        self.assertEqual(result.problems(), "")
        self.assertEqual(ran, [1, 1, 1, 1])

    def test_set_up_class_without_super(self) -> None:
        class ClassForgetfulTests(TransactionalTestCase):
            create_app = staticmethod(memory_app)

            @classmethod
            def setUpClass(cls) -> None:
                pass

            def test_a(self) -> None:
                pass

        error = self.only_error(ClassForgetfulTests)
        self.assertIn(
            "'ClassForgetfulTests' has no database set up: its 'setUpClass' did not"
            " call 'super().setUpClass()'.",
            error,
        )

    def test_set_up_class_without_super_in_a_mixin_listed_first(self) -> None:
        class Forgetful:
            @classmethod
            def setUpClass(cls) -> None:
                pass

        class First(Forgetful):
            pass

        class MixedTests(First, TransactionalTestCase):
            create_app = staticmethod(memory_app)

            def test_a(self) -> None:
                pass

        error = self.only_error(MixedTests)
        self.assertIn(
            "'MixedTests' has no database set up: 'Forgetful.setUpClass', which it"
            " inherits, did not call 'super().setUpClass()'. Add that call to"
            " 'Forgetful.setUpClass', or list 'Forgetful' after the flask_dbcase"
            " class among the bases of 'MixedTests'.",
            error,
        )

        class Swapped(TransactionalTestCase, First):
            create_app = staticmethod(memory_app)

            def test_a(self) -> None:
                pass

        self.assertTrue(run_case(Swapped).wasSuccessful())

    def test_set_up_class_called_twice_sets_up_once(self) -> None:
        check_set_up_once(self, TransactionalTestCase, memory_app)

    def test_run_without_set_up_class(self) -> None:
        class DirectTests(TransactionalTestCase):
            create_app = staticmethod(memory_app)

            def test_a(self) -> None:
                pass

        result = unittest.TestResult()
        DirectTests("test_a").run(result)  # a TestCase runs no setUpClass itself
        self.assertIn("its 'setUpClass' did not run", result.errors[0][1])

    def test_tear_down_without_super_still_isolates(self) -> None:
        class TearDownTests(TransactionalTestCase):
            create_app = staticmethod(memory_app)

            def tearDown(self) -> None:
                pass

            @classmethod
            def tearDownClass(cls) -> None:
                pass

            def test_a(self) -> None:
                db.session.add(Author(name="a"))
                db.session.commit()

            def test_b(self) -> None:
                self.assertEqual(db.session.query(Author).count(), 0)

        result = run_case(TearDownTests)
        self.assertTrue(result.wasSuccessful(), result.problems())

    def test_set_up_test_data_on_database_test_case(self) -> None:
        class DataTests(DatabaseTestCase):
            create_app = staticmethod(memory_app)

            @classmethod
            def setUpTestData(cls) -> None:
                pass

            def test_a(self) -> None:
                pass

        error = self.only_error(DataTests)
        self.assertIn("'DataTests' defines 'setUpTestData', which a", error)

    def test_skipped_test_does_no_database_work(self) -> None:
        calls: list[str] = []

        @unittest.skip("not today")
        class SkippedTests(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                calls.append("create_app")
                return memory_app()

            def test_a(self) -> None:
                pass

        result = run_case(SkippedTests)
        self.assertEqual(len(result.skipped), 1)
        self.assertEqual(calls, [])

    def test_skip_inside_test_and_subtests(self) -> None:
        class MixedTests(TransactionalTestCase):
            create_app = staticmethod(memory_app)

            def test_skip(self) -> None:
                db.session.add(Author(name="skipped"))
                db.session.commit()
                self.skipTest("changed my mind")

            def test_subtests(self) -> None:
                self.assertEqual(db.session.query(Author).count(), 0)
                for name in ("x", "y"):
                    with self.subTest(name=name):
                        db.session.add(Author(name=name))
                        db.session.commit()

            def test_zz_clean(self) -> None:
                self.assertEqual(db.session.query(Author).count(), 0)

        result = run_case(MixedTests)
        self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertEqual(len(result.skipped), 1)

    def test_pickled_test_runs(self) -> None:
        import pickle

        from .support import WatchingResult

        case = pickle.loads(pickle.dumps(PicklableTests("test_a")))
        result = WatchingResult(None)
        unittest.TestSuite([case]).run(result)
        self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertEqual(result.testsRun, 1)

    def test_debug_runs_with_isolation(self) -> None:
        class DebugTests(TransactionalTestCase):
            create_app = staticmethod(memory_app)

            def test_a(self) -> None:
                self.assertEqual(db.session.query(Author).count(), 0)

        DebugTests.setUpClass()
        try:
            DebugTests("test_a").debug()
        finally:
            DebugTests.doClassCleanups()
        self.assertFalse(hasattr(DebugTests, "app"))


class PicklableTests(TransactionalTestCase):
    """At module level, as pickle needs; run only by SuperCallTests."""

    __test__ = False  # for pytest
    create_app = staticmethod(memory_app)

    def test_a(self) -> None:
        self.assertEqual(db.session.query(Author).count(), 0)


class ContextTests(unittest.TestCase):
    def test_each_test_has_its_own_context(self) -> None:
        seen: list[t.Any] = []

        class Case(TransactionalTestCase):
            create_app = staticmethod(memory_app)

            def test_a(self) -> None:
                seen.append((getattr(g, "mark", None), db.session()))
                g.mark = "a"

            def test_b(self) -> None:
                seen.append((getattr(g, "mark", None), db.session()))
                g.mark = "b"

        self.assertTrue(run_case(Case).wasSuccessful())
        self.assertEqual([mark for mark, _ in seen], [None, None])
        self.assertIsNot(seen[0][1], seen[1][1])

    def test_app_and_db_are_the_users_to_rebind(self) -> None:
        # As suites that call their client 'self.app' do.
        class Case(ClientTestCase):
            create_app = staticmethod(memory_app)

            def setUp(self) -> None:
                super().setUp()
                self.app = self.client  # type: ignore[assignment]
                self.db = None  # type: ignore[assignment]

            def test_1_writes(self) -> None:
                self.app.post("/authors", json={"name": "Ada"})
                self.assertDatabaseHas(Author, name="Ada")
                with self.assertNumQueries(1):
                    db.session.scalar(sa.select(sa.func.count(Author.id)))

            def test_2_rolled_back(self) -> None:
                self.assertDatabaseCount(Author, 0)

        result = run_case(Case)
        self.assertTrue(result.wasSuccessful(), result.problems())

    def test_a_class_attribute_named_app_is_put_back(self) -> None:
        marker = object()

        class Case(TransactionalTestCase):
            create_app = staticmethod(memory_app)
            app = marker  # type: ignore[assignment]

            def test_a(self) -> None:
                self.assertIsInstance(self.app, Flask)

        self.assertTrue(run_case(Case).wasSuccessful())
        self.assertIs(Case.app, marker)

    def test_a_context_the_test_pushed_is_refreshed_too(self) -> None:
        class Case(TransactionalTestCase):
            create_app = staticmethod(memory_app)

            def test_a(self) -> None:
                with self.app.app_context():  # as Flask-Testing suites do
                    author = Author(name="Ada")
                    db.session.add(author)
                    db.session.commit()
                    self.assertEqual(author.name, "Ada")
                    with self.app.app_context():  # a job's
                        db.session.get(Author, author.id).name = "renamed"  # type: ignore[union-attr]
                        db.session.commit()
                    self.assertEqual(author.name, "renamed")

        result = run_case(Case)
        self.assertTrue(result.wasSuccessful(), result.problems())

    def test_contexts_ended_in_other_threads_leave_the_session_alone(self) -> None:
        class Case(TransactionalTestCase):
            create_app = staticmethod(memory_app)

            def test_a(self) -> None:
                author = Author(name="Ada")
                db.session.add(author)
                db.session.commit()
                self.assertEqual(author.name, "Ada")
                app = self.app

                def job() -> None:
                    with app.app_context():
                        pass

                # A thread that runs with the test's context (copied): the
                # session is the test thread's, not to expire from another.
                context = contextvars.copy_context()
                thread = threading.Thread(target=context.run, args=(job,))
                thread.start()
                thread.join()
                self.assertNotIn("name", sa.inspect(author).expired_attributes)

        result = run_case(Case)
        self.assertTrue(result.wasSuccessful(), result.problems())

    def test_contexts_of_another_app_leave_the_session_alone(self) -> None:
        other = Flask("other")

        class Case(TransactionalTestCase):
            create_app = staticmethod(memory_app)

            def test_a(self) -> None:
                author = Author(name="Ada")
                db.session.add(author)
                db.session.commit()
                self.assertEqual(author.name, "Ada")
                with other.app_context():  # another app's: not this session's
                    pass
                self.assertNotIn("name", sa.inspect(author).expired_attributes)

        result = run_case(Case)
        self.assertTrue(result.wasSuccessful(), result.problems())

    def test_session_options(self) -> None:
        expired: list[set[str]] = []

        class Case(TransactionalTestCase):
            create_app = staticmethod(memory_app)
            session_options = {"expire_on_commit": False}

            def test_a(self) -> None:
                author = Author(name="Ada")
                db.session.add(author)
                db.session.commit()
                expired.append(set(sa.inspect(author).expired_attributes))

        class Default(Case):
            session_options = {}

        for case in (Case, Default):
            self.assertTrue(run_case(case).wasSuccessful())
        self.assertEqual(expired[0], set())  # the class's option
        self.assertIn("name", expired[1])  # back to Flask-SQLAlchemy's default

        class Misspelt(Case):
            session_options = {"expire_on_comit": False}

        message = only_error(Misspelt)
        self.assertIn(
            "'Misspelt.session_options' names 'expire_on_comit', which a session"
            " does not take. Its options: ",
            message,
        )
        listed = message.rpartition("Its options: ")[2].partition(".")[0]
        options = listed.split(", ")
        self.assertIn("expire_on_commit", options)
        self.assertIn("bind", options)  # Session's one positional parameter
        self.assertNotIn("self", options)
        self.assertNotIn("db", options)  # Flask-SQLAlchemy's, not an option
        # Nothing of the failed setup is left on the class: run again (as a
        # runner that splits a class's tests does), it fails again, rather than
        # running its tests on an app that was never pointed at a test database.
        self.assertNotIn("_dbcase", vars(Misspelt))
        self.assertNotIn("app", vars(Misspelt))
        self.assertIn("'Misspelt.session_options' names", only_error(Misspelt))

    def test_models_in_another_database_are_refused(self) -> None:
        built: list[Flask] = []
        split = SQLAlchemy()

        class Here(split.Model):  # type: ignore[name-defined,misc]
            __bind_key__ = "other"
            id = sa.Column(sa.Integer, primary_key=True)

        class Elsewhere(split.Model):  # type: ignore[name-defined,misc]
            __table_args__ = {"schema": "archive"}  # an attached database
            id = sa.Column(sa.Integer, primary_key=True)

        def split_app() -> Flask:
            app = Flask(__name__)
            app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
            app.config["SQLALCHEMY_BINDS"] = {"other": "sqlite://"}
            split.init_app(app)
            built.append(app)
            return app

        class First(TransactionalTestCase):
            reuse_app = True
            create_app = staticmethod(split_app)

            def test_a(self) -> None:
                pass

        class Second(First):  # the same create_app: it would share the app
            pass

        expected = "the models put tables in other databases ('archive.elsewhere')"
        self.assertIn(expected, only_error(First))
        # The first class pointed the bind 'other', then failed on the default
        # database: its half-prepared app is not shared, and the next class
        # builds its own and fails for the same reason, not for another.
        self.assertIn(expected, only_error(Second))
        self.assertEqual(len(built), 2)

    def test_url_for_in_the_test_body(self) -> None:
        class Case(TransactionalTestCase):
            create_app = staticmethod(memory_app)

            def test_a(self) -> None:
                # As in a view, and as Flask-Testing and Django's reverse give.
                self.assertEqual(url_for("list_authors"), "/authors")
                external = url_for("list_authors", _external=True)
                self.assertEqual(external, "http://localhost/authors")
                self.assertTrue(has_request_context())
                self.assertEqual(
                    (request.method, request.url), ("GET", "http://localhost/")
                )
                self.assertIs(self.app_context, app_ctx._get_current_object())

            def test_b_a_request_of_its_own(self) -> None:
                request.environ["dbcase.mark"] = True
                g.mark = True

            def test_c_fresh(self) -> None:
                self.assertNotIn("dbcase.mark", request.environ)
                self.assertNotIn("mark", g)

        result = run_case(Case)
        self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertEqual(result.testsRun, 3)

        @override_config(SERVER_NAME="shop.test", APPLICATION_ROOT="/app")
        class Elsewhere(TransactionalTestCase):
            create_app = staticmethod(memory_app)

            def test_where_the_client_goes(self) -> None:
                self.assertEqual(url_for("list_authors"), "/app/authors")
                external = url_for("list_authors", _external=True)
                self.assertEqual(external, "http://shop.test/app/authors")
                self.assertEqual(request.url, "http://shop.test/app/")

        result = run_case(Elsewhere)
        self.assertTrue(result.wasSuccessful(), result.problems())

    def test_context_is_popped_after_each_test(self) -> None:
        torn: list[str] = []

        class Case(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                app = memory_app()
                app.teardown_appcontext(lambda error: torn.append(g.get("test")))
                return app

            def test_a(self) -> None:
                g.test = "a"
                torn.clear()  # setUpClass's own contexts

            def test_b(self) -> None:
                self.assertEqual(torn, ["a"])

        result = run_case(Case)
        self.assertTrue(result.wasSuccessful(), result.problems())

    def test_requests_get_their_own_context(self) -> None:
        torn: list[str] = []

        class Case(ClientTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                app = memory_app()
                app.teardown_appcontext(lambda error: torn.append("torn"))
                return app

            def test_a(self) -> None:
                g.seen = "test"
                first = self.client.get("/g").json
                second = self.client.get("/g").json
                self.assertIsNone(first["seen"])  # not the test's g
                self.assertIsNone(second["seen"])  # not the previous request's
                sessions = self.app.config["SESSIONS"]
                self.assertEqual(len({id(s) for s in sessions}), 2)
                self.assertNotIn(db.session(), sessions)
                self.assertEqual(g.seen, "test")

            def test_teardown_after_each_request(self) -> None:
                torn.clear()
                self.client.get("/g")
                self.client.get("/g")
                self.assertEqual(torn, ["torn", "torn"])

            def test_test_data_visible_and_session_expired(self) -> None:
                author = Author(name="before")
                db.session.add(author)
                db.session.commit()
                self.assertEqual(self.client.get("/authors").json, ["before"])
                self.assertEqual(author.name, "before")  # loaded in the test
                self.client.post(f"/authors/{author.id}/rename", json={"name": "x"})
                self.assertEqual(author.name, "x")  # read again after the request

            def test_preserved_context(self) -> None:
                from flask import request

                with self.client:
                    self.client.get("/authors?x=1")
                    self.assertEqual(request.args["x"], "1")

        result = run_case(Case)
        self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertEqual(result.testsRun, 4)

    def test_requests_do_not_share_the_tests_context_variables(self) -> None:
        # Flask 3.2 pushes an application context for every request, even with
        # one already pushed; the request's empty contextvars.Context still keeps
        # every other context variable apart, both ways.
        var: contextvars.ContextVar[str] = contextvars.ContextVar("var")
        seen: list[str] = []

        def var_app() -> Flask:
            app = memory_app()

            @app.get("/var")
            def read_and_set() -> str:
                seen.append(var.get("unset"))
                var.set("request")
                return ""

            return app

        class Case(ClientTestCase):
            create_app = staticmethod(var_app)

            def test_a(self) -> None:
                var.set("test")
                self.client.get("/var")
                self.client.get("/var")
                self.assertEqual(var.get(), "test")

        result = run_case(Case)
        self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertEqual(seen, ["unset", "unset"])

    def test_test_client_class(self) -> None:
        from flask.testing import FlaskClient

        class MyClient(FlaskClient):
            pass

        class Case(ClientTestCase):
            create_app = staticmethod(memory_app)
            client_class = MyClient

            def test_a(self) -> None:
                self.assertIsInstance(self.client, MyClient)
                self.assertEqual(self.client.get("/authors").json, [])

        result = run_case(Case)
        self.assertTrue(result.wasSuccessful(), result.problems())

    def test_max_queries_per_request_must_be_a_whole_number(self) -> None:
        for limit in (True, "3", 0, 2.0):
            with self.subTest(limit=limit):
                case = type(
                    "Limited",
                    (ClientTestCase,),
                    {
                        "create_app": staticmethod(memory_app),
                        "max_queries_per_request": limit,
                        "test_a": lambda self: None,
                    },
                )
                self.assertIn(
                    "TypeError: 'Limited.max_queries_per_request' must be a whole"
                    f" number of 1 or more, or None, not {limit!r}.",
                    only_error(case),
                )

    def test_responses_are_the_apps_response_class(self) -> None:
        from flask import Response

        class MyResponse(Response):
            pass

        def create_app() -> Flask:
            app = memory_app()
            app.response_class = MyResponse
            return app

        class Case(ClientTestCase):
            def create_app(self) -> Flask:
                return create_app()

            def test_a(self) -> None:
                response = self.client.get("/authors")
                self.assertIsInstance(response, MyResponse)
                self.assertEqual(response.json, [])

        result = run_case(Case)
        self.assertTrue(result.wasSuccessful(), result.problems())


class ServerTests(unittest.TestCase):
    """Connections are given back, on the servers that can count them."""

    def connections(self, engine: t.Any) -> int:
        """The TCP connections this process holds open to the server.

        Read from /proc, so that other processes using the server meanwhile do
        not count.
        """
        if not os.path.isdir("/proc/self/fd"):
            self.skipTest("counts the process's sockets in /proc (Linux)")
        url = sa.make_url(engine.url)
        port = url.port or (5432 if engine.postgresql else 3306)
        inodes = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:  # closed meanwhile
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
        found = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as f:
                rows = [line.split() for line in f.read().splitlines()[1:]]
            for row in rows:
                remote_port = int(row[2].rsplit(":", 1)[1], 16)
                established = row[3] == "01"
                if remote_port == port and established and row[9] in inodes:
                    found += 1
        return found

    def check_no_leaked_connections(self, engine: t.Any) -> None:
        class Case(ClientTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            def test_a(self) -> None:
                db.session.add(Author(name="a"))
                db.session.commit()
                self.client.post("/authors", json={"name": "b"})
                with db.engine.connect() as connection:
                    connection.exec_driver_sql("SELECT 1")

        # The first class may claim the test database for this process, with a
        # connection that lives as long as the process.
        self.assertTrue(run_case(Case).wasSuccessful())
        before = self.connections(engine)
        for case in (type("Again", (Case,), {}), type("More", (Case,), {})):
            self.assertTrue(run_case(case).wasSuccessful())
        self.assertEqual(self.connections(engine), before)

    @unittest.skipIf(POSTGRESQL.url is None, POSTGRESQL.skip_reason())
    def test_postgresql_connections_are_closed(self) -> None:
        self.check_no_leaked_connections(POSTGRESQL)

    @unittest.skipIf(MYSQL.url is None, MYSQL.skip_reason())
    def test_mysql_connections_are_closed(self) -> None:
        self.check_no_leaked_connections(MYSQL)

    @unittest.skipIf(MYSQL.url is None, MYSQL.skip_reason())
    def test_mysql_implicit_commit_fails_the_test_and_is_undone(self) -> None:
        class DdlTests(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(MYSQL)

            def test_1_ddl(self) -> None:
                db.session.add(Author(name="leaked"))
                db.session.flush()
                db.session.execute(sa.text("CREATE TABLE dbcase_ddl (id INT)"))
                db.session.execute(sa.text("DROP TABLE dbcase_ddl"))

            def test_2_later_tests_isolated(self) -> None:
                db.session.add(Author(name="later"))
                db.session.commit()

            def test_3_sees_the_starting_state(self) -> None:
                names = db.session.scalars(sa.select(Author.name)).all()
                self.assertEqual(names, [])

        result = run_case(DdlTests)
        # The test that caused it, and only that one: the committed row was
        # deleted before the next test, so the class's leak check finds none.
        ((test, error),) = result.errors
        self.assertTrue(test.id().endswith("test_1_ddl"))
        self.assertIn(ImplicitCommitError.__name__, error)
        self.assertRegex(
            error, r"on 'mysql\+pymysql://[^']*/test_\w+[^']*' ended before the test"
        )
        self.assertIn("Move such code to a DatabaseTestCase", error)
        self.assertIn("its tables were emptied and the class's data loaded", error)
        self.assertEqual(result.failures, [])
        self.assertEqual(result.testsRun, 3)


class FailureTests(unittest.TestCase):
    """A class that fails to set up leaves nothing behind for the next one."""

    def test_set_up_test_data_raises(self) -> None:
        engine = next(e for e in ENGINES if e.name == "sqlite_file")

        class BrokenTests(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            @classmethod
            def setUpTestData(cls) -> None:
                db.session.add(Author(name="half-made"))
                db.session.flush()
                raise ValueError("fixture file is broken")

            def test_a(self) -> None:
                pass

        class NextTests(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            def test_a(self) -> None:
                self.assertEqual(db.session.query(Author).count(), 0)

        observer = engine.observer()
        assert observer is not None
        self.addCleanup(observer.dispose)
        result = run_case(BrokenTests, observer)
        self.assertEqual(len(result.errors), 1)
        self.assertIn("ValueError: fixture file is broken", result.errors[0][1])
        self.assertFalse(hasattr(BrokenTests, "app"))
        left = observer.counts()
        self.assertEqual(set(left.values()) - {None}, {0}, f"rows left: {left}")
        next_result = run_case(NextTests, observer)
        self.assertTrue(next_result.wasSuccessful(), next_result.problems())


class ForeignDropTests(unittest.TestCase):
    def test_tables_dropped_by_other_code_are_built_again(self) -> None:
        engine = next(e for e in ENGINES if e.name == "sqlite_file")
        #: The test databases the class ran on, by bind.
        used: dict[str | None, str] = {}

        class Case(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            def test_a(self) -> None:
                self.assertEqual(db.session.query(Author).count(), 0)
                for key, bind in db.engines.items():
                    used[key] = bind.url.render_as_string(hide_password=False)

        self.assertTrue(run_case(Case).wasSuccessful())
        # A hand-written test in the same process cleans up after itself, in the
        # test databases. (Not with make_app(engine): between classes, that is
        # the configured database, where there is nothing to drop.)
        binds = {key: url for key, url in used.items() if key is not None}
        app = make_app(
            engine, SQLALCHEMY_DATABASE_URI=used[None], SQLALCHEMY_BINDS=binds
        )
        with app.app_context():
            db.drop_all()
            names = set(sa.inspect(db.engine).get_table_names())
            self.assertEqual(names & {"author", "book", "mirror"}, set())  # gone
            for bind in db.engines.values():
                bind.dispose()
        result = run_case(type("Again", (Case,), {}))
        self.assertTrue(result.wasSuccessful(), result.problems())
        # The configured files were never opened, not even to be made empty.
        for url in (engine.url, engine.other_url):
            self.assertFalse(os.path.exists(sa.make_url(url).database or ""), url)


class ReuseAppTests(unittest.TestCase):
    def test_classes_share_one_app_and_stay_isolated(self) -> None:
        engine = next(e for e in ENGINES if e.name == "sqlite_file")
        built: list[Flask] = []

        def create_app(cls: type) -> Flask:
            app = make_app(engine)
            built.append(app)
            return app

        class First(TransactionalTestCase):
            reuse_app = True

            def test_write(self) -> None:
                db.session.add(Author(name="first"))
                db.session.commit()

        First.create_app = classmethod(create_app)  # type: ignore[assignment]
        second = type("Second", (First,), {})
        database_case = type(
            "Third",
            (DatabaseTestCase,),
            {"reuse_app": True, "test_write": First.test_write},
        )
        database_case.create_app = classmethod(create_app)  # type: ignore[attr-defined]
        not_shared = type("Fourth", (First,), {"reuse_app": False})
        observer = engine.observer()
        assert observer is not None
        self.addCleanup(observer.dispose)
        for case in (First, second, database_case, not_shared):
            result = run_case(case, observer)
            self.assertTrue(result.wasSuccessful(), result.problems())
            self.assertEqual(observer.counts()["author"], 0)
        # One app for the three classes that share it, one for the one that does not.
        self.assertEqual(len(built), 2)

    def test_classes_with_other_factories_get_their_own_apps(self) -> None:
        apps: dict[str, Flask] = {}

        class Base(TransactionalTestCase):
            reuse_app = True

            def test_a(self) -> None:
                apps.setdefault(type(self).__name__, self.app)

        # Each form of create_app: the app is shared by its function.
        def create_app(self: t.Any) -> Flask:
            return memory_app()

        cases = [
            type(name, (Base,), {"create_app": form})
            for name, form in [
                ("Plain", create_app),
                ("PlainAgain", create_app),
                ("Other", lambda self: memory_app()),
                ("Static", staticmethod(memory_app)),
                ("StaticAgain", staticmethod(memory_app)),
                ("Class", classmethod(create_app)),
            ]
        ]
        for case in cases:
            result = run_case(case)
            self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertIs(apps["Plain"], apps["PlainAgain"])
        self.assertIs(apps["Static"], apps["StaticAgain"])
        self.assertIs(apps["Class"], apps["Plain"])  # the same function
        self.assertIsNot(apps["Other"], apps["Plain"])
        self.assertIsNot(apps["Static"], apps["Plain"])
        self.assertIsNot(apps["Static"], apps["Other"])
