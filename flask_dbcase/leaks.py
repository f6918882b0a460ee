"""Rows committed outside the test transaction, found by counting.

Every table starts a class empty but for the rows migrations and
``setUpTestDatabase`` wrote, and everything done through the app's engines is
rolled back: whatever else another connection finds was committed by something
flask_dbcase does not manage. :class:`LeakCheck` looks after each class, and,
with ``strict_isolation``, after each test.
"""

from __future__ import annotations

import typing as t

import sqlalchemy as sa

from . import database
from .schema import reset_all
from .schema import rows_left
from .schema import seed_counts
from .urls import describe_url
from .urls import is_memory_sqlite

if t.TYPE_CHECKING:
    from flask_sqlalchemy import SQLAlchemy

_Counts = dict[str, int]


class LeakCheck:
    """Count the rows of one class's databases beyond those every test starts
    with, and fail when there are any.

    :param label: The class, as the failure names it.
    :param db: Its Flask-SQLAlchemy extension, whose tables are counted.
    :param engines: Its engines, by bind key.
    :param hook: Its ``setUpTestDatabase``, whose rows, with the migrations',
        are where every test starts.
    """

    def __init__(
        self,
        label: str,
        db: SQLAlchemy,
        engines: dict[str | None, sa.Engine],
        hook: t.Hashable,
    ) -> None:
        self.label = label
        self.db = db
        self.engines = engines
        self.hook = hook
        #: Engines of their own, outside the test transaction, one connection
        #: each, kept for the class.
        self._observers: dict[str | None, sa.Engine] = {}
        #: The rows already blamed on a test, per bind and table.
        self._blamed: dict[str | None, _Counts] = {}

    def after_test(self, name: str) -> None:
        """Fail if the test ``name`` left rows an earlier test did not.

        :raises AssertionError: Naming the tables, the counts and the test.
        """
        found = []
        for key, engine in self._counted():
            rows = self._extra(key, engine, self._observer(key, engine))
            # Only what this test added: an earlier test was blamed for the
            # rest. Rows it removed are forgotten.
            seen = self._blamed.get(key, {})
            self._blamed[key] = rows
            rows = _beyond(rows, seen)
            if rows:
                found.append(_listed(rows, engine))
        if found:
            raise AssertionError(_message(f"test {name!r}", self.label, found, False))

    def after_class(self) -> None:
        """Fail if any rows are left once the class's transaction is gone;
        delete them, so that the next class starts clean.

        :raises AssertionError: Naming the tables and the counts.
        """
        found = []
        for key, engine in self._counted():
            rows = self._extra(key, engine, engine)
            if rows:
                found.append(_listed(rows, engine))
                reset_all(self.db, {key: engine}, hook=self.hook)
        if found:
            raise AssertionError(_message("the class", self.label, found, True))

    def forget(self) -> None:
        """The tables were emptied and filled again: blame nothing on anyone."""
        self._blamed.clear()

    def close(self) -> None:
        for engine in self._observers.values():
            engine.dispose()
        self._observers.clear()

    def _counted(self) -> t.Iterator[tuple[str | None, sa.Engine]]:
        """The binds whose rows another connection can see."""
        for key, engine in self.engines.items():
            if key in self.db.metadatas and not is_memory_sqlite(engine.url):
                yield key, engine

    def _observer(self, key: str | None, engine: sa.Engine) -> sa.Engine:
        observer = self._observers.get(key)
        if observer is None:
            target = database.target_of(engine)
            assert target is not None, "counted on an engine not pointed"
            observer = self._observers[key] = target.engine(pool_size=1)
        return observer

    def _extra(
        self, key: str | None, engine: sa.Engine, observer: sa.Engine
    ) -> _Counts:
        """The rows of each table beyond those every test starts with."""
        rows = rows_left(self.db.metadatas[key], observer)
        return _beyond(rows, seed_counts(engine, self.hook))


def _beyond(rows: _Counts, base: _Counts) -> _Counts:
    """The tables with more rows than in ``base``, and how many more."""
    return {n: c - base.get(n, 0) for n, c in rows.items() if c > base.get(n, 0)}


def _listed(rows: _Counts, engine: sa.Engine) -> str:
    counts = ", ".join(f"{name!r}: {n}" for name, n in rows.items())
    return f"{counts} in {describe_url(engine.url)}"


def _message(where: str, label: str, found: list[str], deleted: bool) -> str:
    return (
        f"Rows were committed outside the test transaction during {where} of"
        f" {label!r}: {'; '.join(found)}. Something wrote through a connection"
        " flask_dbcase does not manage: an engine the app or the test made itself"
        " (use db.engine), a thread or process with a connection of its own, or"
        " an implicit commit on MySQL or MariaDB. Such code belongs in a"
        " DatabaseTestCase." + (" The rows were deleted." if deleted else "")
    )
