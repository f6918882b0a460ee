"""Fixtures and factories."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import typing as t
import unittest

import factory
import sqlalchemy as sa

from flask_dbcase import DatabaseTestCase
from flask_dbcase import TransactionalTestCase
from flask_dbcase.factory import ModelFactory

from .support import Author
from .support import Book
from .support import db
from .support import engine_classes
from .support import ENGINES
from .support import make_app
from .support import Note
from .support import only_error
from .support import run_case

if t.TYPE_CHECKING:
    _Mixin = TransactionalTestCase
else:
    _Mixin = object


class FixtureLoading(_Mixin):
    """Runs as a TransactionalTestCase and as a DatabaseTestCase, on every engine."""

    engine: t.ClassVar[t.Any]
    fixtures = ["authors.json", "books.yaml"]

    def create_app(self) -> t.Any:
        return make_app(self.engine)

    def test_1_rows_are_there(self) -> None:
        self.assertEqual(
            db.session.execute(
                sa.select(Book.title, Author.name).join(Author).order_by(Book.id)
            ).all(),
            [
                ("The Dispossessed", "Ursula K. Le Guin"),
                ("Kindred", "Octavia E. Butler"),
            ],
        )
        self.assertDatabaseHas(Note, text="a table name works too, on another bind")

    def test_2_a_test_changes_them(self) -> None:
        db.session.execute(sa.delete(Book))
        db.session.add(Author(name="Added"))
        db.session.commit()

    def test_3_next_test_has_them_again(self) -> None:
        self.assertDatabaseCount(Book, 2)
        self.assertDatabaseCount(Author, 2)

    def test_new_rows_get_fresh_ids(self) -> None:
        # On PostgreSQL the sequence was moved past the fixtures' ids.
        author = Author(name="New")
        db.session.add(author)
        db.session.flush()
        self.assertGreater(author.id, 1001)


class FixtureErrors(unittest.TestCase):
    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="dbcase-fixtures-")
        self.addCleanup(shutil.rmtree, self.folder, ignore_errors=True)

    def write(self, name: str, content: t.Any) -> None:
        with open(os.path.join(self.folder, name), "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))

    def error(self, fixtures: list[str], **attrs: t.Any) -> str:
        case = type(
            "Broken",
            (TransactionalTestCase,),
            {
                "create_app": lambda self: make_app(ENGINES[0]),
                "fixtures": fixtures,
                "fixture_dirs": [self.folder],
                "test_nothing": lambda self: None,
                **attrs,
            },
        )
        return only_error(case)

    def test_not_found_lists_the_folders_searched(self) -> None:
        message = self.error(["nowhere.json"])
        self.assertIn(
            "FixtureError: 'Broken': fixture 'nowhere.json' not found. Searched:\n",
            message,
        )
        self.assertIn(f"\n  {self.folder}\n", message)
        self.assertIn(os.path.join(os.path.dirname(__file__), "fixtures"), message)

    def test_found_beside_the_test_module(self) -> None:
        # The app's root path has no fixtures folder: the test module's has.
        folder = self.folder
        counts: list[int] = []

        def create_app(self: t.Any) -> t.Any:
            app = make_app(ENGINES[0])
            app.root_path = folder
            return app

        def test_a(self: t.Any) -> None:
            counts.append(db.session.scalar(sa.select(sa.func.count(Author.id))))

        case = type(
            "Beside",
            (TransactionalTestCase,),
            {"create_app": create_app, "fixtures": ["authors.json"], "test_a": test_a},
        )
        result = run_case(case)
        self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertEqual(counts, [2])

    def test_unknown_model(self) -> None:
        self.write("x.json", [{"model": "Autor", "fields": {}}])
        message = self.error(["x.json"])
        self.assertIn(
            "fixture 'x.json', item 1 names the model 'Autor', which the app does not"
            " have. Models: Author, Book, Mirror, Note; or give a table name.",
            message,
        )

    def test_unknown_field(self) -> None:
        self.write("x.json", [{"model": "Author", "fields": {"nam": "x"}}])
        message = self.error(["x.json"])
        self.assertIn(
            "fixture 'x.json', item 1: 'Author' has no field 'nam'."
            " Its fields: id, name.",
            message,
        )

    def test_constraint_violation_names_the_row(self) -> None:
        self.write("x.json", [{"model": "Author", "fields": {"name": "Same"}}] * 2)
        message = self.error(["x.json"])
        self.assertIn(
            "fixture 'x.json', item 2 (Author {name='Same'}) breaks a constraint"
            " of 'author': ",
            message,
        )
        self.assertIn("UNIQUE", message)

    def test_malformed_files(self) -> None:
        self.write("x.json", "{not json")
        self.assertIn("fixture 'x.json' is not valid JSON: ", self.error(["x.json"]))
        self.write("x.yaml", "a: [")
        self.assertIn("fixture 'x.yaml' is not valid YAML: ", self.error(["x.yaml"]))
        self.write("x.json", {"model": "Author"})
        self.assertIn(
            "fixture 'x.json' must hold a list of items", self.error(["x.json"])
        )
        self.write("x.json", [{"model": "Author", "field": {}}])
        self.assertIn("item 1 has unknown keys ['field']", self.error(["x.json"]))
        self.write("x.txt", "")
        self.assertIn(
            "has an unknown format; name it .json, .yaml or .yml.",
            self.error(["x.txt"]),
        )

    def test_a_failed_class_leaves_nothing(self) -> None:
        self.write("x.json", [{"model": "Author", "fields": {"name": "Same"}}] * 2)
        self.error(["x.json"])
        self.write("y.json", [{"model": "Author", "fields": {"name": "Same"}}])
        result = run_case(
            type(
                "Next",
                (TransactionalTestCase,),
                {
                    "create_app": lambda self: make_app(ENGINES[0]),
                    "fixtures": ["y.json"],
                    "fixture_dirs": [self.folder],
                    "test_one": lambda self: self.assertDatabaseCount(Author, 1),
                },
            )
        )
        self.assertEqual(result.problems(), "")


class AuthorFactory(ModelFactory):
    class Meta:
        model = Author

    name = factory.Sequence(lambda n: f"Author {n}")


class BookFactory(ModelFactory):
    class Meta:
        model = Book

    title = factory.Sequence(lambda n: f"Book {n}")
    author = factory.SubFactory(AuthorFactory)


class Factories(_Mixin):
    engine: t.ClassVar[t.Any]

    def create_app(self) -> t.Any:
        return make_app(self.engine)

    @classmethod
    def setUpTestData(cls) -> None:
        cls.shared = BookFactory(title="Shared")

    def test_1_objects_are_flushed_into_the_test_session(self) -> None:
        books = BookFactory.create_batch(3)
        self.assertTrue(all(book.id for book in books))
        self.assertIs(db.session.get(Book, books[0].id), books[0])
        self.assertDatabaseCount(Book, 4)
        self.assertDatabaseCount(Author, 4)

    def test_2_and_rolled_back(self) -> None:
        self.assertDatabaseCount(Book, 1)
        self.assertEqual(self.shared.title, "Shared")

    def test_without_a_context(self) -> None:
        self.app_context.pop()
        try:
            with self.assertRaises(RuntimeError) as raised:
                AuthorFactory()
        finally:
            self.app_context.push()
        self.assertIn("without an application context", str(raised.exception))


def _make(base: type, case: type, suffix: str) -> type:
    return type(base.__name__ + suffix, (base, case), {})


globals().update(
    engine_classes(
        [
            _make(FixtureLoading, TransactionalTestCase, ""),
            _make(FixtureLoading, DatabaseTestCase, "Database"),
            _make(Factories, TransactionalTestCase, ""),
        ],
        ENGINES,
    )
)
del FixtureLoading, Factories
