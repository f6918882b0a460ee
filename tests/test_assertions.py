"""The assertions on statements, rows and commits, on every engine: each one's
passing and failing path, and the failure's message."""

from __future__ import annotations

import re
import typing as t
import unittest

import sqlalchemy as sa

from flask_dbcase import DatabaseTestCase
from flask_dbcase import TransactionalTestCase
from flask_dbcase.assertions import Query

from .support import Author
from .support import Book
from .support import db
from .support import engine_classes
from .support import ENGINES
from .support import make_app
from .support import Note


class Writer:
    """The author table mapped again, its name column as another attribute."""


sa.orm.registry().map_imperatively(
    Writer, Author.__table__, properties={"full_name": Author.__table__.c.name}
)


class Unmapped:
    """A class that names a table and is mapped by nothing."""

    __table__ = Author.__table__


if t.TYPE_CHECKING:
    _Mixin = TransactionalTestCase
else:
    _Mixin = object


class QueryAssertions(_Mixin):
    engine: t.ClassVar[t.Any]

    def create_app(self) -> t.Any:
        return make_app(self.engine)

    @classmethod
    def setUpTestData(cls) -> None:
        for name in ("Ann", "Bob", "Cy"):
            author = Author(name=name)
            db.session.add(author)
            db.session.add_all(
                [Book(title=f"{name} {i}", author=author) for i in (1, 2)]
            )

    def list_titles(self, eager: bool) -> list[tuple[str, list[str]]]:
        query = sa.select(Author).order_by(Author.name)
        if eager:
            query = query.options(sa.orm.selectinload(Author.books))
        db.session.expire_all()
        authors = db.session.scalars(query).all()
        return [(a.name, sorted(b.title for b in a.books)) for a in authors]

    def test_counts_each_statement_on_every_bind(self) -> None:
        with self.assertNumQueries(3) as queries:
            db.session.add(Note(text="on the other bind"))
            db.session.commit()  # one INSERT on 'other'
            db.session.scalar(sa.select(sa.func.count()).select_from(Author))
            db.session.scalar(sa.select(sa.func.count()).select_from(Note))
        self.assertEqual([q.bind for q in queries], ["other", None, "other"])
        self.assertTrue(queries[0].statement.startswith("INSERT INTO note"))

    def test_the_librarys_savepoints_are_not_counted(self) -> None:
        # Commits and rollbacks move savepoints here, and none of it is counted.
        with self.assertNumQueries(2):
            db.session.add(Author(name="Di"))
            db.session.commit()
            db.session.add(Author(name="Ed"))
            db.session.flush()
            db.session.rollback()
            with db.engine.begin():
                pass

    def test_failure_lists_the_statements_numbered(self) -> None:
        with self.assertRaises(self.failureException) as raised:
            with self.assertNumQueries(1):
                self.list_titles(eager=False)
        message = str(raised.exception)
        self.assertIn("4 statement(s) sent, expected exactly 1:\n", message)
        self.assertRegex(message, r"\n1\. SELECT author\.id, author\.name \s*FROM")
        self.assertRegex(message, r"\n4\. SELECT book\.id.*WHERE .*book\.author_id")

    def test_n_plus_one_caught_then_fixed_by_eager_loading(self) -> None:
        with self.assertRaises(self.failureException):
            with self.assertMaxQueries(2):
                lazy = self.list_titles(eager=False)
        with self.assertMaxQueries(2):
            eager = self.list_titles(eager=True)
        self.assertEqual(lazy, eager)
        self.assertEqual(len(eager), 3)

    def test_repeated_query_names_the_statement_and_the_line(self) -> None:
        with self.assertRaises(self.failureException) as raised:
            with self.assertNoRepeatedQueries():
                db.session.expire_all()
                authors = db.session.scalars(sa.select(Author).order_by(Author.name))
                for author in authors:
                    author.books  # noqa: B018  (loads each author's books alone)
        message = str(raised.exception)
        self.assertIn("1 statement(s) ran more than 1 time(s) in the block", message)
        self.assertRegex(
            message,
            # SQLAlchemy 2.0 labels the columns of a lazy load; 2.1 does not.
            r"\nSELECT book\.id(?: AS book_id)?, book\.title(?: AS book_title)?,"
            r" .*FROM book WHERE .*book\.author_id\n  ran 3 times on the default"
            r" database, parameters: ",
        )
        self.assertRegex(
            message,
            rf"\n  from {re.escape(__file__)}:\d+ in"
            r" test_repeated_query_names_the_statement_and_the_line \(3 time\(s\)\)",
        )

    def test_eager_loading_passes_and_in_lists_count_as_one(self) -> None:
        with self.assertNoRepeatedQueries():
            self.list_titles(eager=True)
        ids = list(db.session.scalars(sa.select(Author.id)))
        query = sa.select(Author)
        # The same query with two and with three ids: one statement, twice.
        with self.assertRaises(self.failureException) as raised:
            with self.assertNoRepeatedQueries():
                db.session.scalars(query.where(Author.id.in_(ids[:2]))).all()
                db.session.scalars(query.where(Author.id.in_(ids))).all()
        self.assertIn("IN (...)", str(raised.exception))
        with self.assertNoRepeatedQueries(limit=2):
            db.session.scalars(query.where(Author.id.in_(ids[:2]))).all()
            db.session.scalars(query.where(Author.id.in_(ids))).all()
        with self.assertNoRepeatedQueries(bind="other"):
            self.list_titles(eager=False)
        # One statement on two binds, and writes however the driver batches
        # them, are no N+1.
        with self.assertNoRepeatedQueries():
            db.session.scalar(sa.select(sa.literal(1)))
            db.session.scalar(sa.select(sa.literal(1)).select_from(Note))
            db.session.add_all([Author(name=f"new {i}") for i in range(50)])
            db.session.flush()
        for limit in (0, -1, 1.5, True):
            with self.assertRaises(ValueError):
                self.assertNoRepeatedQueries(limit=limit)  # type: ignore[arg-type]

    def test_one_bind(self) -> None:
        with self.assertNumQueries(0, bind="other"):
            db.session.scalar(sa.select(Author).limit(1))
        with self.assertRaises(self.failureException) as raised:
            with self.assertNumQueries(0, bind=None):
                db.session.scalar(sa.select(Author).limit(1))
        self.assertIn(
            "1 statement(s) sent on the default database, expected exactly 0",
            str(raised.exception),
        )

    def test_capture_shows_parameters(self) -> None:
        with self.captureQueries() as queries:
            db.session.scalar(sa.select(Author).where(Author.name == "Bob"))
        (query,) = queries
        self.assertIn("Bob", str(query.parameters))
        self.assertIn("Bob", str(query))

    def test_nothing_captured_after_the_block(self) -> None:
        with self.captureQueries() as queries:
            pass
        db.session.scalar(sa.select(Author).limit(1))
        self.assertEqual(len(queries), 0)

    def test_a_statement_names_its_bind(self) -> None:
        with self.captureQueries() as queries:
            db.session.scalar(sa.select(Author.id).limit(1))
            db.session.scalar(sa.select(Note.id).limit(1))
        self.assertNotIn("[bind", str(queries[0]))
        self.assertTrue(str(queries[1]).endswith(" [bind 'other']"), queries[1])
        # Named parameters, as psycopg and PyMySQL take them, with a buffer.
        query = Query("SELECT :a", {"a": memoryview(b"\x01")}, None, False)
        self.assertEqual(str(query), "SELECT :a -- {'a': b'\\x01'}")

    def test_max_queries_on_one_bind(self) -> None:
        with self.assertMaxQueries(0, bind="other"):
            db.session.scalar(sa.select(Author.id).limit(1))
        with self.assertRaises(self.failureException) as raised:
            with self.assertMaxQueries(0, bind="other"):
                db.session.scalar(sa.select(Author.id).limit(1))
                db.session.scalar(sa.select(Note.id).limit(1))
        self.assertRegex(
            str(raised.exception),
            r"^1 statement\(s\) sent on bind 'other', expected at most 0:\n"
            r"1\. SELECT note\.id .*\[bind 'other'\]$",
        )
        for assertion in (self.assertMaxQueries, self.assertNumQueries):
            with self.assertRaises(ValueError):
                assertion(1, bind="nope")
        with self.assertRaises(ValueError):
            self.assertNoRepeatedQueries(bind="nope")
        with self.assertRaises(ValueError) as raised:
            self.assertNoRepeatedQueries(limit=0)
        self.assertIn(
            "limit must be a whole number of 1 or more", str(raised.exception)
        )

    def test_repeated_queries_listed_by_bind_and_caller(self) -> None:
        def note(i: int) -> None:
            db.session.scalar(sa.select(Note.id).where(Note.id == i))

        with self.captureQueries() as queries:
            with self.assertRaises(self.failureException) as raised:
                with self.assertNoRepeatedQueries():
                    for i in range(4):
                        note(i)
                    for i in range(4, 6):
                        db.session.scalar(sa.select(Note.id).where(Note.id == i))
                    for name in ("Ann", "Bob", "Cy", "Di", "Ed"):
                        db.session.scalar(
                            sa.select(Author.id).where(Author.name == name)
                        )
        message = str(raised.exception)
        self.assertTrue(
            message.startswith(
                "2 statement(s) ran more than 1 time(s) in the block, its parameters"
                " aside (N+1 queries? Load the relationship with the first query:"
                " selectinload() or joinedload()):\nSELECT note.id "
            ),
            message,
        )
        notes = ", ".join(repr(q.parameters) for q in queries[:5])
        authors = ", ".join(repr(q.parameters) for q in queries[6:])
        # Five runs' parameters at most, then how many more; each caller apart.
        self.assertRegex(
            message,
            rf"\n  ran 6 times on bind 'other', parameters: {re.escape(notes)},"
            r" \.\.\. \(1 more\)\n  from .*:\d+ in note \(4 time\(s\)\)\n  from"
            r" .*:\d+ in test_repeated_queries_listed_by_bind_and_caller"
            r" \(2 time\(s\)\)"
            r"\nSELECT author\.id",
        )
        self.assertRegex(
            message,
            r"\n  ran 5 times on the default database, parameters: "
            + re.escape(authors)
            + r"\n  from .*:\d+ in test_repeated_queries_listed_by_bind_and_caller"
            r" \(5 time\(s\)\)$",
        )

    def test_repeated_query_parameters_cut_at_80_characters(self) -> None:
        def parameters(name: str) -> str:
            with self.captureQueries() as queries:
                db.session.scalar(sa.select(Author.id).where(Author.name == name))
            return repr(queries[0].parameters)

        def shown(name: str) -> str:
            with self.assertRaises(self.failureException) as raised:
                with self.assertNoRepeatedQueries():
                    for _ in range(2):
                        db.session.scalar(
                            sa.select(Author.id).where(Author.name == name)
                        )
            found = re.search(r"parameters: (.*), (.*)\n  from ", str(raised.exception))
            assert found is not None, str(raised.exception)
            self.assertEqual(found[1], found[2])
            return found[1]

        # The length of the parameters' repr, whatever the driver's style.
        extra = len(parameters("")) - len("")
        name = "x" * (80 - extra)
        self.assertEqual(shown(name), parameters(name))  # 80: as it is
        name = "x" * (81 - extra)
        self.assertEqual(shown(name), parameters(name)[:77] + "...")
        self.assertEqual(len(shown("x" * 200)), 80)


class RowAssertions(_Mixin):
    engine: t.ClassVar[t.Any]

    def create_app(self) -> t.Any:
        return make_app(self.engine)

    @classmethod
    def setUpTestData(cls) -> None:
        author = Author(name="Ursula")
        db.session.add_all([author, Book(title="The Dispossessed", author=author)])
        db.session.add(Note(text="remember"))

    def test_has(self) -> None:
        self.assertDatabaseHas(Author, name="Ursula")
        self.assertDatabaseHas(Book.__table__, title="The Dispossessed")
        self.assertDatabaseHas(Note, text="remember")  # another bind

    def test_has_fails_showing_the_closest_rows(self) -> None:
        db.session.add(Book(title="Lathe", author_id=self.author_id()))
        db.session.flush()
        with self.assertRaises(self.failureException) as raised:
            self.assertDatabaseHas(Book, title="The Dispossessed", author_id=999)
        message = str(raised.exception)
        self.assertIn(
            "No row of 'book' has {title='The Dispossessed', author_id=999}.", message
        )
        self.assertIn("Closest of its 2 row(s):\n", message)
        self.assertRegex(
            message,
            r"\n  \{id=\d+, title='The Dispossessed', author_id=\d+\}: title matches,"
            r" author_id differs\n  \{id=\d+, title='Lathe', author_id=\d+\}: title"
            r" and author_id differ",
        )

    def test_has_fails_on_an_empty_table_and_names_unflushed_changes(self) -> None:
        db.session.execute(sa.delete(Book))
        db.session.add(Book(title="Unflushed", author_id=self.author_id()))
        with self.assertRaises(self.failureException) as raised:
            self.assertDatabaseHas(Book, title="Unflushed")
        message = str(raised.exception)
        self.assertIn("The table is empty.", message)
        self.assertIn("1 change(s) not yet flushed", message)

    def test_missing(self) -> None:
        self.assertDatabaseMissing(Author, name="Nobody")
        with self.assertRaises(self.failureException) as raised:
            self.assertDatabaseMissing(Author, name="Ursula")
        self.assertRegex(
            str(raised.exception),
            r"'author' has a row with \{name='Ursula'\}:\n  \{id=\d+, name='Ursula'\}",
        )

    def test_count(self) -> None:
        self.assertDatabaseCount(Book, 1)
        self.assertDatabaseCount(Book, 0, title="Other")
        with self.assertRaises(self.failureException) as raised:
            self.assertDatabaseCount(Author, 2, "after the import", name="Ursula")
        self.assertEqual(
            str(raised.exception),
            "'author' has 1 row(s) with {name='Ursula'}, expected 2."
            " : after the import",
        )

    def test_none_matches_null(self) -> None:
        self.assertDatabaseHas(Note, text="remember", extra=None)
        db.session.add(Note(text="kept", extra={"a": 1}))
        db.session.flush()
        self.assertDatabaseCount(Note, 1, extra=None)
        self.assertDatabaseMissing(Note, text="kept", extra=None)

    def test_unknown_column_and_bad_model(self) -> None:
        with self.assertRaises(TypeError) as raised:
            self.assertDatabaseHas(Author, nam="Ursula")
        self.assertEqual(
            str(raised.exception),
            "'author' has no column 'nam'. Its columns: id, name.",
        )
        with self.assertRaises(TypeError) as raised:
            self.assertDatabaseHas("author", name="Ursula")
        self.assertIn("Pass the model class", str(raised.exception))

    def test_on_the_models_own_bind(self) -> None:
        # Without values, by table, and in the closest rows: on Note's bind.
        self.assertDatabaseCount(Note, 1)
        self.assertDatabaseHas(Note.__table__, text="remember")
        self.assertDatabaseMissing(Note.__table__, text="forget")
        with self.assertRaises(self.failureException) as raised:
            self.assertDatabaseHas(Note, text="forget")
        self.assertRegex(
            str(raised.exception),
            r"\{id=\d+, text='remember', extra=None\}: text differs",
        )

    def test_closest_rows_as_the_database_compares(self) -> None:
        # Far beyond any number of rows read into Python.
        db.session.execute(
            sa.insert(Author), [{"name": f"Author {i:04d}"} for i in range(1500)]
        )
        with self.assertRaises(self.failureException) as raised:
            self.assertDatabaseHas(Book, title="The Dispossessed", author_id=-1)
        self.assertIn("Closest of its 1 row(s)", str(raised.exception))
        with self.assertRaises(self.failureException) as raised:
            self.assertDatabaseHas(Author, name="Author 1499", id=-1)
        message = str(raised.exception)
        self.assertIn("Closest of its 1501 row(s):\n", message)
        self.assertRegex(message, r"name='Author 1499'\}: name matches, id differs")

    def test_misuse_is_refused(self) -> None:
        with self.assertRaises(TypeError) as raised:
            self.assertDatabaseHas(Book, author=self.author_id())
        self.assertEqual(
            str(raised.exception),
            "'author' is a relationship of 'Book', not a column. Compare its column"
            " instead: author_id=....",
        )
        with self.assertRaises(TypeError) as raised:
            self.assertDatabaseHas(Author, {"name": "Nobody"})  # type: ignore[arg-type]
        self.assertIn("Give the values as keywords", str(raised.exception))
        with self.assertRaises(ValueError) as raised:
            with self.assertNumQueries(0, bind="nope"):
                pass
        self.assertEqual(
            str(raised.exception),
            "The app has no bind 'nope'; it has bind 'other', bind 'mirror', the"
            " default database.",
        )

    def test_messages_and_refusals_of_each_assertion(self) -> None:
        for assertion in (self.assertDatabaseHas, self.assertDatabaseMissing):
            with self.assertRaises(TypeError):
                assertion(Author, {"name": "Nobody"})  # type: ignore[arg-type]
        with self.assertRaises(TypeError) as raised:
            self.assertDatabaseCount(Author, 1, {"name": "x"})  # type: ignore[arg-type]
        self.assertEqual(
            str(raised.exception),
            "The message must be a string, got 'dict'. Give the values as keywords:"
            " assertDatabaseHas(Book, title='Dune').",
        )
        with self.assertRaises(self.failureException) as raised:
            self.assertDatabaseCount(Book, 2)
        self.assertEqual(str(raised.exception), "'book' has 1 row(s), expected 2.")
        with self.assertRaises(self.failureException) as raised:
            self.assertDatabaseHas(Author, "after the import", name="Nobody")
        self.assertTrue(str(raised.exception).endswith(" : after the import"))
        with self.assertRaises(self.failureException) as raised:
            self.assertDatabaseMissing(Author, "after the import", name="Ursula")
        self.assertTrue(str(raised.exception).endswith(" : after the import"))
        elsewhere = sa.Table(
            "author",
            sa.MetaData(info={"bind_key": "nope"}),
            sa.Column("id", sa.Integer),
        )
        with self.assertRaises(TypeError) as raised:
            self.assertDatabaseHas(elsewhere, id=1)
        self.assertEqual(
            str(raised.exception),
            "'author' belongs to no database of the app (its bind key is 'nope')."
            " Pass a model or table of the app's Flask-SQLAlchemy.",
        )

    def test_missing_shows_five_rows(self) -> None:
        author_id = self.author_id()
        db.session.add_all([Book(title="Same", author_id=author_id) for _ in range(7)])
        db.session.flush()
        with self.assertRaises(self.failureException) as raised:
            self.assertDatabaseMissing(Book, title="Same")
        lines = str(raised.exception).split("\n")
        self.assertEqual(lines[0], "'book' has a row with {title='Same'}:")
        self.assertEqual(len(lines), 6, lines)
        for line in lines[1:]:
            self.assertRegex(line, r"^  \{id=\d+, title='Same', author_id=\d+\}$")

    def test_unflushed_changes_of_every_kind_are_counted(self) -> None:
        author = db.session.scalars(sa.select(Author)).one()
        book = db.session.scalars(sa.select(Book)).one()
        author.name = "Le Guin"  # changed
        db.session.delete(book)  # deleted
        db.session.add(Author(name="Added"))  # new
        with self.assertRaises(self.failureException) as raised:
            self.assertDatabaseHas(Author, name="Added")
        self.assertTrue(
            str(raised.exception).endswith(
                "\nThe session has 3 change(s) not yet flushed; call"
                " db.session.flush() before asserting."
            ),
            str(raised.exception),
        )

    def test_closest_rows_are_the_three_that_match_most(self) -> None:
        ursula = self.author_id()
        other = Author(name="Octavia")
        db.session.add_all([Book(title=f"B{i}", author_id=ursula) for i in (1, 2)])
        db.session.add_all([other, Book(title="Kindred", author=other)])
        db.session.flush()
        with self.assertRaises(self.failureException) as raised:
            self.assertDatabaseHas(Book, title="Dawn", author_id=other.id)
        lines = str(raised.exception).split("\n")
        self.assertEqual(lines[1], "Closest of its 4 row(s):")
        self.assertEqual(len(lines), 5, lines)
        self.assertRegex(
            lines[2], r"title='Kindred', .*\}: author_id matches, title differs$"
        )
        # Every value named, in the order given, singular and plural.
        with self.assertRaises(self.failureException) as raised:
            self.assertDatabaseHas(
                Book, id=-1, title="The Dispossessed", author_id=ursula
            )
        self.assertRegex(
            str(raised.exception),
            r"\n  \{[^\n]*title='The Dispossessed'[^\n]*\}: title and author_id"
            r" match, id differs\n",
        )
        with self.assertRaises(self.failureException) as raised:
            self.assertDatabaseHas(Book, id=-1, title="Dawn", author_id=-1)
        self.assertIn(": id, title and author_id differ", str(raised.exception))

    def test_by_attribute_name_and_on_an_unmapped_class(self) -> None:
        self.assertDatabaseHas(Writer, full_name="Ursula")
        self.assertDatabaseMissing(Writer, full_name="Nobody")
        self.assertDatabaseHas(Unmapped, name="Ursula")

    def test_outside_its_test_an_assertion_refuses(self) -> None:
        # A test's instance once its test ended, while the class still runs.
        earlier = type(self)("test_has")
        with self.assertRaises(RuntimeError) as raised:
            earlier.assertDatabaseHas(Author, name="Ursula")
        self.assertIn("works while a test of the class runs", str(raised.exception))

    def author_id(self) -> int:
        return db.session.scalar(sa.select(Author.id))  # type: ignore[return-value]


class CommitAssertions(_Mixin):
    engine: t.ClassVar[t.Any]

    def create_app(self) -> t.Any:
        return make_app(self.engine)

    def test_commit_seen_inside_the_rolled_back_test(self) -> None:
        with self.assertCommits(1) as commits:
            db.session.add(Author(name="Kept"))
            db.session.commit()
        self.assertEqual(commits[0].bind, None)
        self.assertIn(__file__, commits[0].caller)
        self.assertIn("test_commit_seen_inside_the_rolled_back_test", commits[0].caller)

    def test_forgotten_commit_fails(self) -> None:
        with self.assertRaises(self.failureException) as raised:
            with self.assertCommits():
                db.session.add(Author(name="Lost"))
                db.session.flush()
                db.session.rollback()
        self.assertEqual(
            str(raised.exception),
            "The code did not commit (it rolled back 1 time(s)). A view or function"
            " that saves must call db.session.commit().",
        )

    def test_unexpected_commit_names_its_caller(self) -> None:
        with self.assertRaises(self.failureException) as raised:
            with self.assertCommits(0):
                db.session.add(Note(text="x"))
                db.session.commit()
        message = str(raised.exception)
        self.assertIn(
            "The code committed 1 time(s), expected 0:\n1. bind 'other', from ", message
        )
        self.assertIn(f"{__file__}:", message)

    def test_no_commit(self) -> None:
        with self.captureCommits() as commits:
            db.session.scalar(sa.select(Author.id).limit(1))
        self.assertEqual(commits.listing(), "No commit.")
        with self.assertCommits(0):
            pass
        with self.assertRaises(self.failureException) as raised:
            with self.assertCommits():
                pass
        self.assertEqual(
            str(raised.exception),
            "The code did not commit. A view or function that saves must call"
            " db.session.commit().",
        )
        with self.assertRaises(self.failureException) as raised:
            with self.assertCommits(2):
                pass
        self.assertEqual(
            str(raised.exception),
            "The code committed 0 time(s), expected 2:\nNo commit.",
        )

    def test_commits_listed_in_order(self) -> None:
        with self.captureCommits() as commits:
            db.session.add(Author(name="First"))
            db.session.commit()
            db.session.add(Note(text="second"))
            db.session.commit()
        lines = commits.listing().split("\n")
        self.assertEqual(len(lines), 2, lines)
        self.assertTrue(lines[0].startswith("1. the default database, from "))
        self.assertTrue(lines[1].startswith("2. bind 'other', from "))

    def test_session_after_commit_hooks_fire(self) -> None:
        fired: list[str] = []

        @sa.event.listens_for(db.session, "after_commit")
        def hook(session: t.Any) -> None:
            fired.append("after_commit")

        self.addCleanup(sa.event.remove, db.session, "after_commit", hook)
        db.session.add(Author(name="Hooked"))
        db.session.commit()
        self.assertEqual(fired, ["after_commit"])


class DatabaseCaseCommits(_Mixin):
    """The same assertions on a DatabaseTestCase, whose commits are real."""

    engine: t.ClassVar[t.Any]

    def create_app(self) -> t.Any:
        return make_app(self.engine)

    def test_commit_and_rows(self) -> None:
        with self.assertCommits(1), self.assertNumQueries(1):
            db.session.add(Author(name="Real"))
            db.session.commit()
        self.assertDatabaseHas(Author, name="Real")

    def test_repeatable_read_hint_only_on_mysql(self) -> None:
        db.session.scalar(sa.select(Author.id).limit(1))  # begins a transaction
        with self.assertRaises(self.failureException) as raised:
            self.assertDatabaseHas(Author, name="Nobody")
        hint = (
            "\nThe test's session is in a transaction that began before other"
            " connections' latest commits, which REPEATABLE READ hides from it;"
            " call db.session.rollback() before asserting."
        )
        if self.engine.mysql:
            self.assertTrue(str(raised.exception).endswith(hint), raised.exception)
        else:
            self.assertNotIn("REPEATABLE READ", str(raised.exception))


class DatabaseAssertionsOutsideATest(unittest.TestCase):
    def test_clear_error(self) -> None:
        case = TransactionalTestCase()
        with self.assertRaises(RuntimeError) as raised:
            case.assertDatabaseHas(Author, name="x")
        self.assertIn("works while a test of the class runs", str(raised.exception))


def _make(base: type, case: type) -> type:
    return type(base.__name__, (base, case), {})


globals().update(
    engine_classes(
        [
            _make(QueryAssertions, TransactionalTestCase),
            _make(RowAssertions, TransactionalTestCase),
            _make(CommitAssertions, TransactionalTestCase),
            _make(DatabaseCaseCommits, DatabaseTestCase),
        ],
        ENGINES,
    )
)
del QueryAssertions, RowAssertions, CommitAssertions, DatabaseCaseCommits
