"""The code shown in README.rst runs and passes."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import types
import typing as t
import unittest
from unittest import mock

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_dbcase import TransactionalTestCase

from .support import Author
from .support import Book
from .support import db
from .support import ENGINES
from .support import make_app
from .support import only_error
from .support import run_case

MEMORY = ENGINES[0]
SERVERS = [engine for engine in ENGINES if engine.postgresql]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_blocks(path: str) -> list[str]:
    with open(path) as f:
        text = f.read()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)
    return [re.sub(r"^    ", "", block, flags=re.M) for block in blocks]


class ReadmeTests(unittest.TestCase):
    def test_example_passes(self) -> None:
        (code,) = python_blocks(os.path.join(ROOT, "README.rst"))
        sys.path.insert(0, os.path.join(ROOT, "examples"))
        self.addCleanup(sys.path.remove, os.path.join(ROOT, "examples"))
        module = types.ModuleType("readme_example")
        exec(compile(code, "README.rst", "exec"), module.__dict__)
        result = run_case(module.BookTests)
        self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertEqual(result.testsRun, 2)


def example_tests(name: str) -> types.ModuleType:
    """Import a module of the example suite, whose package is also 'tests'."""
    folder = os.path.join(ROOT, "examples", "tests")
    if "bookshop_tests" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "bookshop_tests",
            os.path.join(folder, "__init__.py"),
            submodule_search_locations=[folder],
        )
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules["bookshop_tests"] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"bookshop_tests.{name}")


class ExampleQueriesTests(unittest.TestCase):
    def test_n_plus_one_in_the_list_view_is_reported(self) -> None:
        sys.path.insert(0, os.path.join(ROOT, "examples"))
        self.addCleanup(sys.path.remove, os.path.join(ROOT, "examples"))
        from flask_dbcase import override_config

        BookApiTests = example_tests("test_api").BookApiTests

        class Lazy(BookApiTests):
            pass

        lazy = override_config(BOOKSHOP_EAGER_LOADING=False)(Lazy)
        name = "test_list_takes_two_queries_however_many_books"
        result = unittest.TestResult()
        unittest.TestSuite([lazy(name)]).run(result)
        ((_, trace),) = result.failures
        # The books, then the author of each of the 4 books, one by one.
        self.assertIn("5 statement(s) sent, expected exactly 2:\n", trace)
        # SQLAlchemy 2.0 labels the columns of a lazy load; 2.1 does not.
        self.assertRegex(
            trace,
            r"\n5\. SELECT author\.id( AS author_id)?, author\.name( AS author_name)?"
            r" FROM author WHERE author\.id = ",
        )
        result = unittest.TestResult()
        unittest.TestSuite([BookApiTests(name)]).run(result)
        self.assertTrue(result.wasSuccessful(), result.failures + result.errors)


class DocsSnippetsTests(unittest.TestCase):
    """Every code snippet of the docs is a file that a suite runs."""

    def pages(self) -> dict[str, str]:
        folder = os.path.join(ROOT, "docs")
        found = {}
        for name in sorted(os.listdir(folder)):
            if name.endswith(".rst"):
                with open(os.path.join(folder, name)) as f:
                    found[name] = f.read()
        return found

    def test_python_is_included_from_files_that_run(self) -> None:
        for name, text in self.pages().items():
            with self.subTest(page=name):
                # Inline Python would not be run by anything.
                self.assertNotIn(".. code-block:: python", text)
                for target in re.findall(r"\.\. literalinclude:: (\S+)", text):
                    path = os.path.normpath(os.path.join(ROOT, "docs", target))
                    self.assertTrue(os.path.isfile(path), target)
                    # examples/tests runs as the example suite, and
                    # examples/quickstart as CI's quickstart step.
                    relative = os.path.relpath(path, ROOT)
                    self.assertTrue(
                        relative.startswith(
                            ("examples/tests/", "examples/quickstart/")
                        ),
                        relative,
                    )


class VersionAddedTests(unittest.TestCase):
    """Every public name says in which version it appeared."""

    def test_every_public_name(self) -> None:
        import inspect

        import flask_dbcase
        import flask_dbcase.assertions
        import flask_dbcase.changes
        import flask_dbcase.client
        import flask_dbcase.factory
        import flask_dbcase.html
        import flask_dbcase.recording
        import flask_dbcase.responses

        modules = [
            flask_dbcase,
            flask_dbcase.assertions,
            flask_dbcase.changes,
            flask_dbcase.client,
            flask_dbcase.factory,
            flask_dbcase.html,
            flask_dbcase.recording,
            flask_dbcase.responses,
        ]
        missing = []
        for module in modules:
            for name in dir(module):
                found = getattr(module, name)
                if name.startswith("_") or not (
                    inspect.isclass(found) or inspect.isfunction(found)
                ):
                    continue
                if not getattr(found, "__module__", "").startswith("flask_dbcase"):
                    continue
                members = [(name, found)]
                if inspect.isclass(found):
                    for key, member in vars(found).items():
                        if key.startswith("_") or key == "setUpClass":
                            continue
                        member = getattr(member, "fget", member)  # a property
                        member = getattr(member, "__func__", member)  # classmethod
                        if inspect.isfunction(member):
                            members.append((f"{name}.{key}", member))
                for label, member in members:
                    if "versionadded" not in (member.__doc__ or ""):
                        missing.append(f"{module.__name__}: {label}")
        self.assertEqual(missing, [])


def documented(message: str) -> bool:
    """Tell whether a heading of the errors page matches ``message``: its text
    verbatim, where ``...`` stands for anything."""
    with open(os.path.join(ROOT, "docs", "errors.rst")) as f:
        headings = re.findall(r"^``(.+)``$", f.read(), flags=re.M)
    message = " ".join(message.split())
    for heading in headings:
        heading = re.sub(r"^\w+Error: ", "", heading)
        pattern = ".*?".join(re.escape(part) for part in heading.split("..."))
        if re.search(pattern, message, flags=re.S):
            return True
    return False


class ErrorsPageTests(unittest.TestCase):
    """The messages a newcomer meets first are on the errors page, verbatim."""

    def assertDocumented(self, message: str) -> None:
        self.assertTrue(documented(message), f"not on docs/errors.rst:\n{message}")

    def only_error(self, create_app: t.Callable[..., t.Any]) -> str:
        """Run a class named as on the errors page, with this app factory."""
        body = {"create_app": staticmethod(create_app), "test_a": lambda self: None}
        return only_error(type("OrderTests", (TransactionalTestCase,), body))

    def test_database_not_allowed(self) -> None:
        from flask_dbcase import AppTestCase

        def create_app() -> Flask:
            app = Flask(__name__)
            app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
            SQLAlchemy(app)
            return app

        def test_index(case: t.Any) -> None:
            case.app.extensions["sqlalchemy"].session.execute(sa.text("SELECT 1"))

        body = {"create_app": staticmethod(create_app), "test_index": test_index}
        self.assertDocumented(only_error(type("HomeTests", (AppTestCase,), body)))

    def test_a_heading_does_not_match_another_message(self) -> None:
        self.assertFalse(documented("'OrderTests.create_app' returned a string."))

    def test_factory_not_called(self) -> None:
        def create_app() -> Flask:
            return Flask(__name__)

        self.assertDocumented(self.only_error(lambda: create_app))

    def test_driver_not_installed_names_the_extra(self) -> None:
        def create_app() -> Flask:
            app = Flask(__name__)
            app.config["SQLALCHEMY_DATABASE_URI"] = "mysql+pymysql://u@localhost/shop"
            SQLAlchemy(app)
            return app

        with mock.patch.dict(sys.modules, {"pymysql": None}):
            message = self.only_error(create_app)
        self.assertIn(
            "pip install PyMySQL, which flask-dbcase's 'mysql' extra", message
        )
        # One line: no chain of SQLAlchemy's frames before it, nor the library's.
        self.assertEqual(len(message.strip().splitlines()), 1, message)
        self.assertDocumented(message)

    def test_create_app_returns_a_client_or_a_bad_url(self) -> None:
        self.assertDocumented(self.only_error(lambda: make_app(MEMORY).test_client()))
        message = self.only_error(lambda: make_app(MEMORY, **{URI: "shop"}))
        self.assertDocumented(message)

    def test_postgres_scheme(self) -> None:
        uri = "postgres://u@localhost/shop"
        self.assertDocumented(self.only_error(lambda: make_app(MEMORY, **{URI: uri})))

    @unittest.skipUnless(importlib.util.find_spec("pymysql"), "needs PyMySQL")
    def test_the_default_database_in_words(self) -> None:
        message = self.only_error(
            lambda: make_app(MEMORY, **{URI: "mysql+pymysql://u@h"})
        )
        self.assertIn("'OrderTests' (the default database) uses", message)
        self.assertDocumented(message)

    def test_closest_rows_in_words(self) -> None:
        class OrderTests(TransactionalTestCase):
            def create_app(self) -> Flask:
                return make_app(MEMORY)

            def test_a(self) -> None:
                author = Author(name="Frank Herbert")
                db.session.add(Book(title="Dune Messiah", author=author))
                db.session.flush()
                self.assertDatabaseHas(Book, title="Dune", author_id=author.id)

        message = only_error(OrderTests)
        self.assertIn("author_id matches, title differs", message)
        self.assertDocumented(message)

    @unittest.skipUnless(SERVERS and SERVERS[0].postgresql, "needs PostgreSQL")
    def test_refused_create_is_one_line(self) -> None:
        role, shop = SERVERS[0].own("dbcase_limited"), SERVERS[0].own("shop")
        url = sa.make_url(str(SERVERS[0].url)).set(username=role, database=shop)
        observer = sa.create_engine(str(SERVERS[0].url))
        with observer.begin() as connection:
            connection.execute(sa.text(LIMITED_ROLE.format(role=role)))
        observer.dispose()
        uri = url.render_as_string(hide_password=False)
        message = self.only_error(lambda: make_app(MEMORY, **{URI: uri}))
        # The errors page shows it for a database 'shop'.
        self.assertIn(f"the test database 'test_{shop}' on", message)
        self.assertDocumented(message.replace(f"'test_{shop}'", "'test_shop'"))
        # The message alone: no frame of the library's, none of the driver's.
        self.assertEqual(len(message.strip().splitlines()), 1, message)
        self.assertTrue(message.startswith("flask_dbcase.backends.base."), message)


URI = "SQLALCHEMY_DATABASE_URI"
LIMITED_ROLE = (
    "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname ="
    " '{role}') THEN CREATE ROLE {role} LOGIN; END IF; END $$"
)
