"""A request of the test client in a transaction of its own: it sees the rows
the test wrote and has not committed, and its rollback leaves them, on every
engine."""

from __future__ import annotations

import typing as t

import sqlalchemy as sa
from flask import request

from flask_dbcase import ClientTestCase

from .support import Author
from .support import db
from .support import engine_classes
from .support import ENGINES
from .support import make_app

if t.TYPE_CHECKING:
    _Mixin = ClientTestCase
else:
    _Mixin = object


class RequestTransactions(_Mixin):
    """What a request sees of the test's uncommitted rows, and what its own
    rollback leaves of them."""

    engine: t.ClassVar[t.Any]

    def create_app(self) -> t.Any:
        app = make_app(self.engine)

        @app.post("/nested")
        def nested() -> str:
            name = request.json["name"]  # type: ignore[index]
            with db.session.begin_nested():
                db.session.add(Author(name=name))
            try:
                with db.session.begin_nested():  # the name is taken
                    db.session.add(Author(name=name))
            except sa.exc.IntegrityError:
                pass
            db.session.commit()
            return "added"

        @app.post("/idle")
        def idle() -> str:
            db.session.connection()  # a transaction begun, and no statement run
            db.session.commit()
            return "committed nothing"

        return app

    def test_a_flushed_row_is_seen(self) -> None:
        db.session.add(Author(name="Cy"))
        db.session.flush()
        self.assertEqual(self.client.get("/authors").json, ["Cy"])

    def test_the_requests_rollback_keeps_the_tests_rows(self) -> None:
        cy = Author(name="Cy")
        db.session.add(cy)
        db.session.flush()
        self.client.get("/authors")  # ends in a rollback
        # Commits "Di", then fails with "half-done" flushed.
        response = self.client.post("/authors/broken", json={"name": "Di"})
        self.assertEqual(response.status_code, 500)
        self.assertEqual(cy.name, "Cy")  # reloaded: the row is still there
        names = db.session.scalars(sa.select(Author.name).order_by(Author.name))
        self.assertEqual(list(names), ["Cy", "Di"])
        db.session.commit()
        self.assertEqual(sorted(self.client.get("/authors").json), ["Cy", "Di"])

    def test_a_composed_statement_counts_as_a_write(self) -> None:
        # psycopg's sql objects are not text, and a write all the same: the
        # request after it gets a savepoint of its own, whose rollback keeps it.
        if not self.engine.url.startswith("postgresql+psycopg:"):
            self.skipTest("psycopg's sql module")
        from psycopg import sql

        raw = db.session.connection().connection.dbapi_connection
        insert = sql.SQL("INSERT INTO {} (name) VALUES (%s)").format(
            sql.Identifier("author")
        )
        with raw.cursor() as cursor:
            cursor.execute(insert, ("Ed",))
        self.assertEqual(self.client.get("/authors").json, ["Ed"])  # a rollback
        self.assertEqual(list(db.session.scalars(sa.select(Author.name))), ["Ed"])

    def test_a_copy_counts_as_a_write(self) -> None:
        # psycopg's copy() is no execute(), and a write all the same: the
        # request after it gets a savepoint of its own, whose rollback keeps it.
        if not self.engine.url.startswith("postgresql+psycopg:"):
            self.skipTest("psycopg's copy()")
        raw = db.session.connection().connection.dbapi_connection
        with raw.cursor() as cursor:
            with cursor.copy("COPY author (name) FROM STDIN") as copy:
                copy.write_row(("Ed",))
        self.assertEqual(self.client.get("/authors").json, ["Ed"])  # a rollback
        self.assertEqual(list(db.session.scalars(sa.select(Author.name))), ["Ed"])

    def test_an_open_savepoint_outlives_a_request(self) -> None:
        nested = db.session.begin_nested()
        db.session.add(Author(name="Cy"))
        db.session.flush()
        self.assertEqual(self.client.get("/authors").json, ["Cy"])
        nested.rollback()  # the test's savepoint is still there to roll back to
        self.assertEqual(db.session.scalars(sa.select(Author)).all(), [])
        self.assertEqual(self.client.get("/authors").json, [])

    def test_the_requests_own_savepoints_leave_the_tests(self) -> None:
        # SQLAlchemy names the request's savepoints as it named the test's.
        nested = db.session.begin_nested()
        db.session.add(Author(name="Cy"))
        db.session.flush()
        self.assertEqual(self.client.post("/nested", json={"name": "Di"}).text, "added")
        nested.commit()
        names = db.session.scalars(sa.select(Author.name).order_by(Author.name))
        self.assertEqual(list(names), ["Cy", "Di"])

    def test_a_request_that_commits_after_the_tests_writes(self) -> None:
        db.session.add(Author(name="Cy"))
        db.session.flush()
        self.client.post("/authors", json={"name": "Di"})
        names = db.session.scalars(sa.select(Author.name).order_by(Author.name))
        self.assertEqual(list(names), ["Cy", "Di"])

    def test_a_request_that_commits_nothing_leaves_the_tests_transaction(
        self,
    ) -> None:
        # The transaction open when the request commits is the test's: the
        # commit, with nothing run, must leave it to the test's rollback.
        db.session.add(Author(name="Cy"))
        db.session.flush()
        self.assertEqual(self.client.post("/idle").text, "committed nothing")
        db.session.rollback()
        self.assertEqual(db.session.scalars(sa.select(Author)).all(), [])


globals().update(
    engine_classes(
        [type("RequestTransactions", (RequestTransactions, ClientTestCase), {})],
        ENGINES,
    )
)
del RequestTransactions
