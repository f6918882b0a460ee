"""strict_commit_visibility, on every engine: a request that loads a row the test
flushed but did not commit fails, as on a server it would not see it."""

from __future__ import annotations

import typing as t

import sqlalchemy as sa
from flask import redirect
from sqlalchemy import event
from sqlalchemy.orm import Session

from flask_dbcase import ClientTestCase

from .support import Author
from .support import db
from .support import engine_classes
from .support import ENGINES
from .support import make_app
from .support import only_error
from .support import run_case

if t.TYPE_CHECKING:
    _Mixin = ClientTestCase
else:
    _Mixin = object

HERE = __file__


class Strict(_Mixin):
    engine: t.ClassVar[t.Any]
    strict_commit_visibility = True

    def create_app(self) -> t.Any:
        return make_app(self.engine)

    @classmethod
    def setUpTestData(cls) -> None:
        cls.ann = Author(name="Ann")
        db.session.add(cls.ann)

    def refused(self, path: str) -> str:
        with self.assertRaises(AssertionError) as raised:
            self.client.get(path)
        return str(raised.exception)

    def test_a_flushed_row(self) -> None:
        cy = Author(name="Cy")
        db.session.add(cy)
        db.session.flush()
        line = _line_of("db.session.flush()", "test_a_flushed_row")
        self.assertEqual(
            self.refused("/authors"),
            "GET /authors read row(s) the test flushed but did not commit:\n"
            f"  Author(id={cy.id}), flushed at {HERE}:{line} in test_a_flushed_row\n"
            "On a server the request would not see them. Commit them in the test"
            " (db.session.commit()) before the request.",
        )

    def test_a_changed_row(self) -> None:
        self.ann.name = "Anne"
        db.session.flush()
        message = self.refused("/authors?x=1")
        self.assertTrue(message.startswith("GET /authors?x=1 read row(s)"), message)
        self.assertIn(f"Author(id={self.ann.id}), flushed at {HERE}", message)

    def test_committed_rows_and_the_class_data(self) -> None:
        db.session.add(Author(name="Cy"))
        db.session.commit()
        self.assertEqual(sorted(self.client.get("/authors").json), ["Ann", "Cy"])
        # Flushed, then committed.
        db.session.add(Author(name="Di"))
        db.session.flush()
        db.session.commit()
        self.assertEqual(len(self.client.get("/authors").json), 3)

    def test_rolled_back_rows_are_forgotten(self) -> None:
        db.session.add(Author(name="Cy"))
        db.session.flush()
        db.session.rollback()
        # The same id may be given again, to a row that is committed.
        db.session.add(Author(name="Di"))
        db.session.commit()
        self.assertEqual(sorted(self.client.get("/authors").json), ["Ann", "Di"])

    def test_a_savepoint_is_not_a_commit(self) -> None:
        with db.session.begin_nested():
            db.session.add(Author(name="Cy"))
        self.assertIn("Author(id=", self.refused("/authors"))

    def test_rows_the_request_does_not_load(self) -> None:
        db.session.add(Author(name="Cy"))
        db.session.flush()
        # The view loads Ann alone; the failure is about rows read, not written.
        response = self.client.post(
            f"/authors/{self.ann.id}/rename", json={"name": "A"}
        )
        self.assertEqual(response.status_code, 200)

    def test_a_new_test_starts_clean(self) -> None:
        # Each test's flushes are its own; the ones above were rolled back.
        self.assertEqual(self.client.get("/authors").json, ["Ann"])


class Setting(_Mixin):
    engine: t.ClassVar[t.Any]

    def create_app(self) -> t.Any:
        return make_app(self.engine)

    def test_with_max_queries_per_request(self) -> None:
        engine = self.engine

        class Both(ClientTestCase):
            strict_commit_visibility = True
            max_queries_per_request = 1

            def create_app(self) -> t.Any:
                return make_app(engine)

            def test_committed(self) -> None:
                db.session.add_all([Author(name="Ann"), Author(name="Bob")])
                db.session.commit()
                self.client.get("/authors")  # one query, committed rows: fine

            def test_uncommitted(self) -> None:
                db.session.add(Author(name="Cy"))
                db.session.flush()
                self.client.get("/authors")

        error = only_error(Both)
        self.assertIn("read row(s) the test flushed but did not commit", error)

    def test_a_redirects_target_is_checked_too(self) -> None:
        engine = self.engine

        class Redirecting(ClientTestCase):
            strict_commit_visibility = True

            def create_app(self) -> t.Any:
                app = make_app(engine)
                app.add_url_rule("/go", "go", lambda: redirect("/authors"))
                return app

            def test_target(self) -> None:
                db.session.add(Author(name="Cy"))
                db.session.flush()
                response = self.client.get("/go")
                self.assertRedirects(response, "/authors", target_status_code=200)

        result = run_case(Redirecting)
        self.assertEqual(result.errors, [])
        (failure,) = result.failures
        self.assertIn("GET /authors read row(s) the test flushed", failure[1])

    def test_listeners_removed_after_the_class(self) -> None:
        engine = self.engine
        watches = []

        class Watched(ClientTestCase):
            strict_commit_visibility = True

            def create_app(self) -> t.Any:
                return make_app(engine)

            def test_it(self) -> None:
                watch = type(self)._dbcase_visibility
                watches.append(watch)
                assert watch is not None
                assert event.contains(Session, "after_flush", watch._flushed)

        self.assertEqual(run_case(Watched).problems(), "")
        [watch] = watches
        self.assertFalse(event.contains(Session, "after_flush", watch._flushed))
        self.assertFalse(event.contains(sa.orm.Mapper, "load", watch._loaded))
        self.assertIsNone(Watched._dbcase_visibility)

    def test_not_a_bool(self) -> None:
        engine = self.engine

        class Wrong(ClientTestCase):
            strict_commit_visibility = "yes"  # type: ignore[assignment]

            def create_app(self) -> t.Any:
                return make_app(engine)

            def test_it(self) -> None:
                pass

        error = only_error(Wrong)
        self.assertIn(
            "'Wrong.strict_commit_visibility' must be True or False, not 'yes'.",
            error,
        )


def _line_of(text: str, function: str) -> int:
    with open(HERE) as source:
        lines = source.read().splitlines()
    start = next(i for i, line in enumerate(lines) if f"def {function}(" in line)
    return next(i for i in range(start, len(lines)) if text in lines[i]) + 1


def _make(base: type) -> type:
    return type(base.__name__, (base, ClientTestCase), {})


globals().update(engine_classes([_make(Strict), _make(Setting)], ENGINES))
del Strict, Setting
