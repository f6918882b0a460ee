"""AppTestCase: an app's views with the database refused, on every engine."""

from __future__ import annotations

import shutil
import tempfile
import threading
import typing as t
import unittest

import sqlalchemy as sa
from flask import flash
from flask import Flask
from flask import render_template_string
from flask import url_for

from flask_dbcase import AppTestCase
from flask_dbcase import DatabaseNotAllowedError
from flask_dbcase import override_config

from .support import Author
from .support import check_set_up_once
from .support import db
from .support import engine_classes
from .support import ENGINES
from .support import run_case

if t.TYPE_CHECKING:
    _Mixin = unittest.TestCase
else:
    _Mixin = object


def site_app(engine: t.Any, **config: t.Any) -> Flask:
    app = Flask(__name__)
    app.config.update(engine.config())
    app.config.update(config)
    db.init_app(app)

    @app.get("/")
    def home() -> str:
        return render_template_string("<h1>{{ title }}</h1>", title="Shop")

    @app.get("/authors")
    def authors() -> list[str]:
        return list(db.session.scalars(sa.select(Author.name)))

    return app


def elsewhere(case: unittest.TestCase, engine: t.Any) -> sa.Engine:
    """An engine of the test's own on the engine's server; for SQLite, on a file
    of its own, so that the configured file is never created."""
    url = engine.url
    if url.startswith("sqlite"):
        folder = tempfile.mkdtemp(prefix="dbcase-app-")
        case.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        url = f"sqlite:///{folder}/other.db"
    found = sa.create_engine(url)
    case.addCleanup(found.dispose)
    return found


def failures(result: t.Any) -> dict[str, str]:
    return {test._testMethodName: text for test, text in result.failures}


class Refusals(_Mixin):
    engine: t.ClassVar[t.Any]

    def test_views_run_and_queries_fail_the_test(self) -> None:
        engine = self.engine
        built: list[int] = []

        @override_config(SITE_NAME="shop")
        class Pages(AppTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                built.append(1)
                return site_app(engine)

            def test_a_page(self) -> None:
                response = self.client.get(url_for("home"))
                self.assert200(response)
                self.assertContains(response, "<h1>Shop</h1>", html=True)
                self.assertEqual(url_for("home"), "/")
                self.assertEqual(self.app.config["SITE_NAME"], "shop")

            def test_b_query_in_the_test(self) -> None:
                db.session.execute(sa.select(Author.name))

            def test_c_query_in_a_view_caught_by_the_app(self) -> None:
                # Not testing, so Flask answers 500 and logs the error.
                self.app.testing = False
                self.app.logger.disabled = True
                try:
                    response = self.client.get("/authors")
                finally:
                    self.app.testing = True
                    self.app.logger.disabled = False
                self.assertEqual(response.status_code, 500)

            def test_d_query_in_a_thread(self) -> None:
                caught: list[BaseException] = []
                app = self.app

                def work() -> None:
                    with app.app_context():
                        try:
                            db.session.execute(sa.select(Author.name))
                        except BaseException as error:
                            caught.append(error)

                thread = threading.Thread(target=work)
                thread.start()
                thread.join()
                self.assertIsInstance(caught[0], DatabaseNotAllowedError)

        result = run_case(Pages)
        self.assertEqual(result.testsRun, 4)
        self.assertEqual(result.errors, [])
        found = failures(result)
        # Each attempt fails its test, caught by the app or a thread or not.
        expected = {"test_b_query_in_the_test", "test_c", "test_d_query_in_a_thread"}
        expected = {n for n in found if n.startswith(tuple(expected))}
        self.assertEqual(len(result.failures), 3, result.problems())
        self.assertEqual(set(found), expected, result.problems())
        for name, text in found.items():
            self.assertIn("DatabaseNotAllowedError: 'tests.test_apptestcase.", text)
            self.assertIn(f".{name}' tried to connect to ", text)
            self.assertIn(
                ": queries are not allowed in an AppTestCase, whose tests run"
                " without a database. Derive the class from TransactionalTestCase"
                " (or ClientTestCase) to test code that uses the database.",
                text,
            )
        self.assertEqual(built, [1])  # once per class
        # After the class, the database is there again.
        with elsewhere(self, self.engine).connect() as connection:
            self.assertEqual(connection.scalar(sa.select(sa.literal(1))), 1)

    def test_a_pooled_connection_is_refused_too(self) -> None:
        pooled = elsewhere(self, self.engine)
        with pooled.connect() as connection:  # left in the pool
            connection.scalar(sa.select(sa.literal(1)))
        engine = self.engine

        class Pooled(AppTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return site_app(engine)

            def test_pooled(self) -> None:
                with self.assertRaises(DatabaseNotAllowedError) as raised:
                    with pooled.connect() as connection:
                        connection.scalar(sa.select(sa.literal(1)))
                refused.append(str(raised.exception))

        refused: list[str] = []
        result = run_case(Pooled)
        self.assertEqual(result.testsRun, 1)
        # The attempt fails the test, even though the test caught the error.
        self.assertEqual(len(result.failures), 1, result.problems())
        self.assertIn(".test_pooled' tried to connect to ", refused[0])
        with pooled.connect() as connection:
            self.assertEqual(connection.scalar(sa.select(sa.literal(2))), 2)

    def test_a_connection_held_from_before_is_refused(self) -> None:
        held = elsewhere(self, self.engine).connect()
        self.addCleanup(held.close)
        engine = self.engine

        class Held(AppTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return site_app(engine)

            def test_held(self) -> None:
                held.execute(sa.select(sa.literal(1)))

        result = run_case(Held)
        self.assertIn(
            ".test_held' tried to connect to a database, on a connection opened"
            " before it, which flask_dbcase refused",
            result.problems(),
        )
        self.assertEqual(held.scalar(sa.select(sa.literal(2))), 2)  # after

    def test_a_thread_left_running_stays_refused(self) -> None:
        engine = self.engine
        release = threading.Event()
        self.addCleanup(release.set)
        outcome: list[BaseException | None] = []

        class Threads(AppTestCase):
            thread_timeout = 0.1

            @classmethod
            def create_app(cls) -> Flask:
                return site_app(engine)

            def test_starts_a_thread(self) -> None:
                app = self.app

                def work() -> None:
                    release.wait(10)  # until the class has ended
                    try:
                        with app.app_context():
                            db.session.execute(sa.select(Author.name))
                    except BaseException as error:
                        outcome.append(error)
                    else:
                        outcome.append(None)

                threading.Thread(target=work, name="late reader", daemon=True).start()

        result = run_case(Threads)
        self.assertIn(
            "1 thread(s) the test started still run after 0.1 s ('late reader'):"
            " their database connections are refused until they end.",
            result.problems(),
        )
        self.assertIn("raise 'Threads.thread_timeout'", result.problems())
        release.set()
        for _ in range(1000):
            if outcome:
                break
            threading.Event().wait(0.01)
        self.assertIsInstance(outcome[0], DatabaseNotAllowedError)
        self.assertIn(".test_starts_a_thread' tried to connect", str(outcome[0]))

    def test_create_app_may_not_connect(self) -> None:
        engine = self.engine

        class Building(AppTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                app = site_app(engine)
                with app.app_context():
                    db.create_all()
                return app

            def test_never_runs(self) -> None:
                raise AssertionError("ran")

        result = run_case(Building)
        self.assertIn(
            "DatabaseNotAllowedError: 'Building.create_app' tried to connect to ",
            result.problems(),
        )
        self.assertIn("db.create_all()", result.problems())  # where it did
        self.assertEqual(result.testsRun, 0)


globals().update(engine_classes([Refusals], ENGINES))
del Refusals


class LifecycleTests(unittest.TestCase):
    """What AppTestCase does to the class, on SQLite alone: it never connects."""

    engine = ENGINES[0]

    def test_create_app_that_catches_the_refusal_still_fails(self) -> None:
        engine = self.engine

        class Catching(AppTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                app = site_app(engine)
                with app.app_context():
                    try:
                        db.create_all()
                    except DatabaseNotAllowedError:
                        pass  # an app that hides the error
                return app

            def test_never_runs(self) -> None:
                raise AssertionError("ran")

        result = run_case(Catching)
        self.assertIn(
            "DatabaseNotAllowedError: 'Catching.create_app' tried to connect to ",
            result.problems(),
        )
        self.assertEqual(result.testsRun, 0)

    def test_app_attribute_is_forgotten_or_put_back(self) -> None:
        engine = self.engine
        marker = object()

        class Pages(AppTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return site_app(engine)

            def test_a(self) -> None:
                self.assertIsInstance(self.app, Flask)

        class Marked(Pages):
            app = marker  # type: ignore[assignment]

        for case in (Pages, Marked):
            result = run_case(case)
            self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertNotIn("app", vars(Pages))
        self.assertIs(Marked.app, marker)

    def test_set_up_class_called_twice_sets_up_once(self) -> None:
        engine = self.engine
        check_set_up_once(self, AppTestCase, lambda: site_app(engine))

    def test_run_without_set_up_class(self) -> None:
        engine = self.engine

        class DirectPages(AppTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return site_app(engine)

            def test_a(self) -> None:
                pass

        result = unittest.TestResult()
        DirectPages("test_a").run(result)  # a TestCase runs no setUpClass itself
        self.assertIn(
            "'DirectPages' has no app set up: its 'setUpClass' did not run",
            result.errors[0][1],
        )

    def test_response_assertions_read_the_apps_requests(self) -> None:
        engine = self.engine

        class Pages(AppTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                app = site_app(engine, SECRET_KEY="x", SERVER_NAME="shop.test")

                @app.get("/hello")
                def hello() -> str:
                    flash("hi")
                    return render_template_string("{{ who }}", who="Ada")

                return app

            def test_a(self) -> None:
                self.assertEqual(self.client.get("/hello").text, "Ada")
                self.assertMessageFlashed("hi")
                self.assertContext("who", "Ada")
                self.assertURLEqual("/hello", "http://shop.test/hello")

        result = run_case(Pages)
        self.assertTrue(result.wasSuccessful(), result.problems())

    def test_client_and_response_classes(self) -> None:
        from flask import Response
        from flask.testing import FlaskClient

        engine = self.engine

        class MyClient(FlaskClient):
            pass

        class MyResponse(Response):
            pass

        class Pages(AppTestCase):
            client_class = MyClient

            @classmethod
            def create_app(cls) -> Flask:
                app = site_app(engine)
                app.response_class = MyResponse
                return app

            def test_a(self) -> None:
                self.assertIsInstance(self.client, MyClient)
                response = self.client.get("/")
                self.assertIsInstance(response, MyResponse)
                self.assertEqual(response.text, "<h1>Shop</h1>")

        result = run_case(Pages)
        self.assertTrue(result.wasSuccessful(), result.problems())
