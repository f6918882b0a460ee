"""captureChanges and assertChanges, on every engine: the rows a block inserted,
updated and deleted, whoever changed them on the test's connection."""

from __future__ import annotations

import typing as t
import unittest

import sqlalchemy as sa

from flask_dbcase import DatabaseTestCase
from flask_dbcase import TransactionalTestCase
from flask_dbcase.changes import CapturedChanges
from flask_dbcase.changes import Snapshot
from flask_dbcase.client import isolated_client

from .support import Author
from .support import Book
from .support import db
from .support import engine_classes
from .support import ENGINES
from .support import make_app
from .support import Note

if t.TYPE_CHECKING:
    _Mixin = TransactionalTestCase
else:
    _Mixin = object


class Changes(_Mixin):
    engine: t.ClassVar[t.Any]

    def create_app(self) -> t.Any:
        return make_app(self.engine)

    def setUp(self) -> None:
        super().setUp()
        self.ann = Author(name="Ann")
        self.bob = Author(name="Bob")
        db.session.add_all([self.ann, self.bob, Book(title="Emma", author=self.ann)])
        db.session.add(Note(text="kept"))
        db.session.commit()
        self.client = isolated_client(self.app)

    def test_rows_inserted_updated_and_deleted(self) -> None:
        ann, bob = self.ann.id, self.bob.id
        with self.captureChanges() as changes:
            self.assertFalse(changes)  # filled when the block ends
            # The app commits, on the default bind and on another one.
            self.client.post("/authors", json={"name": "Cy"})
            self.client.post(f"/authors/{ann}/rename", json={"name": "Anne"})
            db.session.add(Note(text="new"))
            db.session.delete(db.session.get(Author, bob))
            db.session.commit()  # the test's own rows
        cy = db.session.scalars(sa.select(Author).filter_by(name="Cy")).one()
        note = db.session.scalars(sa.select(Note).filter_by(text="new")).one()
        self.assertEqual(changes[Author].inserted, [{"id": cy.id, "name": "Cy"}])
        self.assertEqual(
            changes[Author].updated,
            [({"id": ann, "name": "Ann"}, {"id": ann, "name": "Anne"})],
        )
        self.assertEqual(changes[Author].deleted, [{"id": bob, "name": "Bob"}])
        self.assertEqual(changes[Author].difference, 0)
        self.assertEqual(
            changes["note"].inserted, [{"id": note.id, "text": "new", "extra": None}]
        )
        self.assertEqual(changes[Note.__table__].difference, 1)
        # Unchanged tables are watched, and empty.
        self.assertEqual(sorted(table.name for table in changes), ["author", "note"])
        self.assertIn(Author, changes)
        self.assertIn("note", changes)
        self.assertNotIn(Book, changes)
        self.assertEqual(changes[Book], (Book.__table__, [], [], []))
        self.assertEqual(changes[Book].difference, 0)
        self.assertEqual(
            changes.listing(),
            f"author: 0\n    + {{id={cy.id}, name='Cy'}}\n"
            f"    ~ {{id={ann}}}: name: 'Ann' -> 'Anne'\n"
            f"    - {{id={bob}, name='Bob'}}\n"
            f"note: +1\n    + {{id={note.id}, text='new', extra=None}}",
        )

    def test_commits_after_the_test_read(self) -> None:
        # The test's session began a transaction before the request committed:
        # under REPEATABLE READ (MySQL), it would not show the request's row.
        db.session.scalar(sa.select(sa.func.count(Author.id)))
        with self.assertChanges({Author: +1}) as changes:
            self.client.post("/authors", json={"name": "Cy"})
        self.assertEqual(changes[Author].inserted[0]["name"], "Cy")

    def test_only_the_declared_binds(self) -> None:
        type(self).binds = {None}
        self.addCleanup(delattr, type(self), "binds")
        with self.captureChanges() as changes:
            db.session.add(Author(name="Cy"))
            db.session.commit()
        self.assertEqual([table.name for table in changes], ["author"])
        with self.assertRaises(KeyError):
            changes[Note]

    def test_a_named_table_not_in_the_database(self) -> None:
        ghost = sa.Table(
            "ghost", db.metadata, sa.Column("id", sa.Integer, primary_key=True)
        )
        self.addCleanup(db.metadata.remove, ghost)
        with self.assertRaises(ValueError) as raised:
            with self.captureChanges(ghost):
                pass
        self.assertEqual(
            str(raised.exception),
            "The table 'ghost' is not in the test database of the default database:"
            " is its migration missing?",
        )
        # Nothing failed in the test's transaction (PostgreSQL's would refuse
        # every statement after).
        self.assertEqual(db.session.scalar(sa.select(sa.func.count(Author.id))), 2)

    def test_rows_in_primary_key_order(self) -> None:
        with self.captureChanges(Author) as changes:
            for name in ("Zoe", "Yan", "Xi"):
                db.session.add(Author(name=name))
                db.session.commit()
        ids = [row["id"] for row in changes[Author].inserted]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(ids), 3)

    def test_only_the_tables_named(self) -> None:
        with self.captureChanges(Book, "note") as changes:
            db.session.add(Author(name="Cy"))
            db.session.add(Note(text="new"))
            db.session.commit()
        self.assertEqual([table.name for table in changes], ["note"])
        self.assertNotIn(Author, changes)  # not watched
        self.assertNotIn("nothing", changes)
        self.assertNotIn(1, changes)
        with self.assertRaises(KeyError):
            changes[object()]
        with self.assertRaises(KeyError) as raised:
            changes[Author]
        self.assertEqual(
            raised.exception.args[0],
            f"{Author!r} was not watched; the block watched 'book', 'note'.",
        )

    def test_unflushed_objects_are_not_rows(self) -> None:
        with self.captureChanges() as changes:
            db.session.add(Author(name="Cy"))
        self.assertFalse(changes)
        db.session.expunge_all()

    def test_an_error_in_the_block_captures_nothing(self) -> None:
        with self.assertRaises(KeyError):
            with self.captureChanges() as changes:
                db.session.add(Author(name="Cy"))
                db.session.flush()
                raise KeyError("the test's own error")
        self.assertFalse(changes)
        with self.assertRaises(KeyError) as raised:
            changes[Author]
        self.assertEqual(
            raised.exception.args[0],
            f"{Author!r} was not watched; the block watched none.",
        )

    def test_assert_changes(self) -> None:
        with self.assertChanges({Author: +1, Book: 0, Note: -1}) as changes:
            self.client.post("/authors", json={"name": "Cy"})
            db.session.execute(sa.delete(Note))
            db.session.commit()
        self.assertEqual(changes[Author].inserted[0]["name"], "Cy")

    def test_assert_changes_failure_lists_the_rows(self) -> None:
        ann = self.ann.id
        with self.assertRaises(self.failureException) as raised:
            with self.assertChanges({"author": +1, Book: +1, Note: 0}, "adding"):
                self.client.post("/authors", json={"name": "Cy"})
                self.client.post("/authors", json={"name": "Di"})
                self.client.post(f"/authors/{ann}/rename", json={"name": "Anne"})
        db.session.commit()  # a new transaction: MySQL's would not show them
        ids = {a.name: a.id for a in db.session.scalars(sa.select(Author))}
        self.assertEqual(
            str(raised.exception),
            f"author: +2 row(s), expected +1:\n"
            f"    + {{id={ids['Cy']}, name='Cy'}}\n"
            f"    + {{id={ids['Di']}, name='Di'}}\n"
            f"    ~ {{id={ann}}}: name: 'Ann' -> 'Anne'\n"
            f"book: 0 row(s), expected +1. : adding",
        )

    def test_assert_changes_hints_at_unflushed_objects(self) -> None:
        with self.assertRaises(self.failureException) as raised:
            with self.assertChanges({Author: 1}):
                db.session.add(Author(name="Cy"))
        self.assertIn("not yet flushed; call db.session.flush()", str(raised.exception))
        db.session.expunge_all()

    def test_bad_arguments(self) -> None:
        for expected in ([], {}, {Author: "1"}, {Author: True}, {Author: 1.0}):
            with self.subTest(expected=expected), self.assertRaises(TypeError):
                self.assertChanges(expected)  # type: ignore[arg-type]
        with self.assertRaises(TypeError) as raised:
            with self.captureChanges("authors"):
                pass
        self.assertIn("no table(s) named 'authors'", str(raised.exception))
        with self.assertRaises(TypeError):
            with self.captureChanges(Author, "author"):
                pass
        with self.assertRaises(TypeError):
            with self.captureChanges(1):
                pass

    def test_tables_not_in_the_database_are_left_out(self) -> None:
        # A model without its migration: reading it would abort PostgreSQL's
        # transaction, and the test's with it.
        ghost = sa.Table(
            "ghost", db.metadata, sa.Column("id", sa.Integer, primary_key=True)
        )
        self.addCleanup(db.metadata.remove, ghost)
        with self.captureChanges() as changes:
            db.session.add(Author(name="Cy"))
            db.session.commit()
        self.assertEqual(changes[Author].difference, 1)
        with self.assertRaises(KeyError):
            changes[ghost]


class FlushedRows(_Mixin):
    """In a transaction the test's connection sees its flushed rows, and so
    does the capture; a DatabaseTestCase, whose tests commit for real, reads
    what was committed."""

    engine: t.ClassVar[t.Any]

    def create_app(self) -> t.Any:
        return make_app(self.engine)

    def test_flushed_rows(self) -> None:
        with self.captureChanges(Author) as changes:
            db.session.add(Author(name="Cy"))
            db.session.flush()
        expected = 1 if isinstance(self, TransactionalTestCase) else 0
        if self.engine.memory:  # one connection: the session's
            expected = 1
        self.assertEqual(changes[Author].difference, expected)


class SnapshotWithoutPrimaryKey(unittest.TestCase):
    """A table without a primary key is compared as a collection of rows."""

    def setUp(self) -> None:
        self.engine = sa.create_engine("sqlite://")
        self.addCleanup(self.engine.dispose)
        self.table = sa.Table(
            "tally",
            sa.MetaData(),
            sa.Column("word", sa.String(10)),
            sa.Column("n", sa.Integer),
        )
        self.connection = self.engine.connect()
        self.addCleanup(self.connection.close)
        self.table.create(self.connection)
        rows = [{"word": "a", "n": 1}, {"word": "a", "n": 1}, {"word": "b", "n": 2}]
        self.connection.execute(self.table.insert(), rows)

    def read(self, table: sa.Table) -> list[sa.RowMapping]:
        return list(self.connection.execute(sa.select(table)).mappings())

    def test_copies_counted(self) -> None:
        snapshot = Snapshot([self.table], self.read)
        self.connection.execute(self.table.delete().where(self.table.c.word == "b"))
        self.connection.execute(
            self.table.insert(), [{"word": "a", "n": 1}, {"word": "c", "n": None}]
        )
        changes = CapturedChanges()
        snapshot.compare(changes)
        found = changes["tally"]
        self.assertEqual(
            found.inserted, [{"word": "a", "n": 1}, {"word": "c", "n": None}]
        )
        self.assertEqual(found.deleted, [{"word": "b", "n": 2}])
        self.assertEqual(found.updated, [])
        self.assertEqual(found.difference, 1)

    def test_keys_that_do_not_compare(self) -> None:
        # ('a', None) and ('a', 1) cannot be sorted as they are.
        snapshot = Snapshot([self.table], self.read)
        self.connection.execute(
            self.table.insert(), [{"word": "a", "n": None}, {"word": "z", "n": 3}]
        )
        changes = CapturedChanges()
        snapshot.compare(changes)
        self.assertEqual(len(changes["tally"].inserted), 2)

    def test_a_nan_read_twice(self) -> None:
        # What PostgreSQL gives back for a float column holding NaN.
        real = sa.Table(
            "reals",
            sa.MetaData(),
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("x", sa.Float),
        )
        values = {1: float("nan"), 2: float("nan")}

        def read(table: sa.Table) -> list[dict[t.Any, t.Any]]:
            return [{real.c.id: i, real.c.x: x} for i, x in values.items()]

        snapshot = Snapshot([real], read)
        values[2] = 1.5
        changes = CapturedChanges()
        snapshot.compare(changes)
        [(before, after)] = changes[real].updated
        self.assertEqual((before["id"], after["x"]), (2, 1.5))

    def test_rows_in_key_order(self) -> None:
        numbers = sa.Table(
            "numbers", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True)
        )
        ids: list[int] = []

        def read(table: sa.Table) -> list[dict[t.Any, t.Any]]:
            return [{numbers.c.id: i} for i in ids]

        snapshot = Snapshot([numbers], read)
        ids[:] = [10, 9, 100]  # in their text's order: 10, 100, 9
        changes = CapturedChanges()
        snapshot.compare(changes)
        inserted = [row["id"] for row in changes[numbers].inserted]
        self.assertEqual(inserted, [9, 10, 100])

    def test_two_columns_changed_and_unhashable_values(self) -> None:
        table = sa.Table(
            "docs",
            sa.MetaData(),
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("a", sa.String(5)),
            sa.Column("b", sa.String(5)),
        )
        loose = sa.Table("loose", sa.MetaData(), sa.Column("data", sa.JSON))
        rows = {
            table: [{"id": 1, "a": "x", "b": "y"}],
            loose: [{"data": {"k": [1]}}],
        }

        def read(which: sa.Table) -> list[dict[t.Any, t.Any]]:
            return [{which.c[k]: v for k, v in row.items()} for row in rows[which]]

        snapshot = Snapshot([table, loose], read)
        rows[table] = [{"id": 1, "a": "X", "b": "Y"}]
        rows[loose] = [{"data": {"k": [2]}}]  # without a key: one out, one in
        changes = CapturedChanges()
        snapshot.compare(changes)
        self.assertEqual(
            changes[table].listing(), "  ~ {id=1}: a: 'x' -> 'X', b: 'y' -> 'Y'"
        )
        self.assertEqual(changes[loose].inserted, [{"data": {"k": [2]}}])
        self.assertEqual(changes[loose].deleted, [{"data": {"k": [1]}}])
        self.assertEqual(changes[loose].updated, [])

    def test_a_nan_is_unchanged(self) -> None:
        self.connection.execute(self.table.insert(), [{"word": "nan", "n": None}])
        real = sa.Table(
            "reals",
            sa.MetaData(),
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("x", sa.Float),
        )
        real.create(self.connection)
        self.connection.execute(real.insert(), [{"id": 1, "x": float("nan")}])
        snapshot = Snapshot([real], self.read)
        changes = CapturedChanges()
        snapshot.compare(changes)
        self.assertEqual(len(changes), 0)

    def test_nothing_changed(self) -> None:
        snapshot = Snapshot([self.table], self.read)
        changes = CapturedChanges()
        snapshot.compare(changes)
        self.assertEqual(len(changes), 0)
        self.assertEqual(changes.listing(), "No rows changed.")


def _make(base: type, case: type, name: str) -> type:
    return type(name, (base, case), {})


globals().update(
    engine_classes(
        [
            _make(Changes, TransactionalTestCase, "Changes"),
            _make(Changes, DatabaseTestCase, "ChangesEmptied"),
            _make(FlushedRows, TransactionalTestCase, "FlushedRows"),
            _make(FlushedRows, DatabaseTestCase, "FlushedRowsEmptied"),
        ],
        ENGINES,
    )
)
del Changes, FlushedRows
