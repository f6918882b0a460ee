"""The randomised isolation battery: many generated tests, each a random sequence
of what a test or the application can do to the database, reproducible from a seed.

After every test, connections of our own must see exactly the committed baseline
(nothing: setUpTestData's rows exist only inside the class's transaction), and
every test first checks, from inside, that it starts from setUpTestData's rows.

    python -m tests.battery [--sequences N] [--seed S] [--engine NAME ...]
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import threading
import time
import typing as t
import unittest

import sqlalchemy as sa
from flask import Flask

from flask_dbcase import ClientTestCase

from .support import Author
from .support import Book
from .support import db
from .support import Engine
from .support import ENGINES
from .support import make_app
from .support import Mirror
from .support import Note
from .support import WatchingResult

#: Rows setUpTestData creates, which every test must start from.
BASELINE = {Author: 1, Book: 1, Note: 1, Mirror: 0}

_names = itertools.count()


def _name() -> str:
    return f"generated {next(_names)}"


def _count(model: type) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def add_commit(case: t.Any) -> None:
    db.session.add(Author(name=_name()))
    db.session.commit()


def add_flush(case: t.Any) -> None:
    db.session.add(Author(name=_name()))
    db.session.flush()


def add_rollback(case: t.Any) -> None:
    db.session.add(Author(name=_name()))
    db.session.flush()
    db.session.rollback()


def nested_commit(case: t.Any) -> None:
    with db.session.begin_nested():
        db.session.add(Author(name=_name()))
    db.session.commit()


def nested_rollback(case: t.Any) -> None:
    nested = db.session.begin_nested()
    db.session.add(Author(name=_name()))
    db.session.flush()
    nested.rollback()


def integrity_error(case: t.Any) -> None:
    taken = db.session.scalar(sa.select(Author.name).limit(1))  # names are unique
    db.session.add(Author(name=taken))
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        db.session.rollback()
    else:
        raise AssertionError("the duplicate name was accepted")


def engine_begin(case: t.Any) -> None:
    with db.engine.begin() as connection:
        connection.execute(sa.insert(Author).values(name=_name()))


def engine_connect(case: t.Any) -> None:
    with db.engine.connect() as connection:
        connection.execute(sa.insert(Author).values(name=_name()))
        connection.commit()
        connection.execute(sa.insert(Author).values(name=_name()))  # not committed


def commit_as_sql(case: t.Any) -> None:
    db.session.add(Author(name=_name()))
    db.session.flush()
    db.session.execute(sa.text("COMMIT"))


def rollback_as_sql(case: t.Any) -> None:
    db.session.add(Author(name=_name()))
    db.session.flush()
    db.session.execute(sa.text("ROLLBACK"))


def rollback_keeps_commits(case: t.Any) -> None:
    kept = _name()
    db.session.add(Author(name=kept))
    db.session.commit()
    db.session.execute(sa.text("ROLLBACK"))  # nothing sent since the commit
    db.session.add(Author(name=_name()))
    db.session.flush()
    db.session.rollback()
    query = sa.select(sa.func.count()).where(Author.name == kept)
    case.assertEqual(db.session.scalar(query), 1, "a rollback undid a commit")


def cursor_commit(case: t.Any) -> None:
    cursor = db.session.connection().connection.dbapi_connection.cursor()
    cursor.execute(f"INSERT INTO author (name) VALUES ('{_name()}')")
    cursor.connection.commit()
    cursor.close()


def cursor_across_commit(case: t.Any) -> None:
    raw = db.session.connection().connection.dbapi_connection
    cursor = raw.cursor()
    kept, undone = _name(), _name()
    cursor.execute(f"INSERT INTO author (name) VALUES ('{kept}')")
    raw.commit()
    cursor.execute(f"INSERT INTO author (name) VALUES ('{undone}')")
    raw.rollback()  # the second insert only: it began a transaction of its own
    cursor.close()
    query = sa.select(Author.name).where(Author.name.in_([kept, undone]))
    found = list(db.session.scalars(query))
    case.assertEqual(found, [kept], "a rollback after a commit missed")


def autocommit_connection(case: t.Any) -> None:
    with db.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.execute(sa.insert(Author).values(name=_name()))


def ddl(case: t.Any) -> None:
    # Inside the transaction on PostgreSQL and SQLite; MySQL commits implicitly,
    # which fails the test with ImplicitCommitError (expected, see run()).
    db.session.add(Author(name=_name()))
    db.session.flush()
    db.session.execute(sa.text("CREATE TABLE battery_scratch (id INT)"))
    db.session.execute(sa.text("DROP TABLE battery_scratch"))


def lock_tables(case: t.Any) -> None:
    if _family() == "mysql":  # an implicit commit, twice
        db.session.execute(sa.text("LOCK TABLES author WRITE"))
        db.session.execute(sa.insert(Author).values(name=_name()))
        db.session.execute(sa.text("UNLOCK TABLES"))
    elif _family() == "postgresql":  # held until the savepoint is rolled back
        db.session.execute(sa.text("LOCK TABLE author IN SHARE ROW EXCLUSIVE MODE"))
        db.session.execute(sa.insert(Author).values(name=_name()))


def session_setting(case: t.Any) -> None:
    family = _family()
    if family == "mysql":
        db.session.execute(sa.text("SET time_zone = '+05:00', @battery = 1"))
        db.session.execute(sa.text("SELECT GET_LOCK('battery', 0)"))
        if not case.__dict__.get("temporary_made"):  # once a test; a leftover fails
            db.session.execute(sa.text("CREATE TEMPORARY TABLE battery_temp (id INT)"))
            case.temporary_made = True
    elif family == "postgresql":
        db.session.execute(sa.text("SELECT pg_advisory_lock(2026)"))
        db.session.execute(sa.text("SET timezone = 'Asia/Tokyo'"))
    else:
        db.session.execute(sa.text("PRAGMA recursive_triggers = ON"))


def session_state() -> t.Any:
    """What :func:`session_setting` changes, read from the test's connection."""
    family = _family()
    if family == "mysql":
        # A temporary table left behind shows in the next CREATE, which fails.
        return db.session.execute(
            sa.text("SELECT @@SESSION.time_zone, @battery, IS_USED_LOCK('battery')")
        ).one()[:]
    if family == "postgresql":
        return db.session.execute(
            sa.text(
                "SELECT current_setting('timezone'), count(*) FROM pg_locks"
                " WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            )
        ).one()[:]
    return db.session.execute(sa.text("PRAGMA recursive_triggers")).one()[:]


def thread_writes_later(case: t.Any) -> None:
    # Started when the test body returns, as a view's fire-and-forget work.
    case.later.append(_writer(case.app))


def _writer(app: Flask) -> t.Callable[[], None]:
    def write() -> None:
        time.sleep(0.01)
        with app.app_context():
            db.session.add(Author(name=_name()))
            db.session.commit()

    return write


def mutate_json_in_place(case: t.Any) -> None:
    note = case.note
    if sa.inspect(note).detached:  # the session was closed: expired, unloadable
        note = db.session.merge(note)
    note.extra["tags"].append(_name())
    note.extra["seen"] = True


def _family() -> str:
    name = db.engine.dialect.name
    return "mysql" if name == "mariadb" else name


def bulk_insert(case: t.Any) -> None:
    author_id = db.session.scalar(sa.select(Author.id).limit(1))
    rows = [{"title": _name(), "author_id": author_id} for _ in range(3)]
    db.session.execute(sa.insert(Book), rows)
    db.session.commit()


def core_update_and_delete(case: t.Any) -> None:
    db.session.execute(sa.update(Author).values(name=sa.func.upper(Author.name)))
    db.session.execute(sa.delete(Book))
    db.session.commit()


def other_bind(case: t.Any) -> None:
    db.session.add(Note(text=_name()))
    db.session.commit()


def mirror_bind(case: t.Any) -> None:
    db.session.add(Mirror(text=_name()))
    db.session.commit()


def request_commits(case: t.Any) -> None:
    assert case.client.post("/authors", json={"name": _name()}).status_code == 201


def request_forgets_to_commit(case: t.Any) -> None:
    case.client.post("/authors/forgotten", json={"name": _name()})


def request_raises(case: t.Any) -> None:
    assert (
        case.client.post("/authors/broken", json={"name": _name()}).status_code == 500
    )


def mutate_test_data(case: t.Any) -> None:
    case.author.name = _name()
    db.session.commit()


def close_session(case: t.Any) -> None:
    db.session.add(Author(name=_name()))
    db.session.flush()
    db.session.close()


def remove_session(case: t.Any) -> None:
    db.session.add(Author(name=_name()))
    db.session.commit()
    db.session.remove()


OPERATIONS: dict[str, t.Callable[[t.Any], None]] = {
    f.__name__: f
    for f in [
        add_commit,
        add_flush,
        add_rollback,
        nested_commit,
        nested_rollback,
        integrity_error,
        engine_begin,
        engine_connect,
        commit_as_sql,
        rollback_as_sql,
        rollback_keeps_commits,
        cursor_commit,
        cursor_across_commit,
        autocommit_connection,
        ddl,
        lock_tables,
        session_setting,
        thread_writes_later,
        mutate_json_in_place,
        bulk_insert,
        core_update_and_delete,
        other_bind,
        mirror_bind,
        request_commits,
        request_forgets_to_commit,
        request_raises,
        mutate_test_data,
        close_session,
        remove_session,
    ]
}


def plans(seed: int, sequences: int) -> list[list[str]]:
    """The operations of each generated test, the same for the same seed."""
    rng = random.Random(seed)
    names = sorted(OPERATIONS)
    return [rng.choices(names, k=rng.randint(1, 6)) for _ in range(sequences)]


def battery_case(engine: Engine, seed: int, sequences: int) -> type[ClientTestCase]:
    """A test class with one generated test per plan."""

    def create_app(cls: type) -> Flask:
        app = make_app(engine)
        app.logger.disabled = True  # the failing view is expected to fail
        return app

    def set_up_test_data(cls: type) -> None:
        cls.author = Author(name="base author")
        db.session.add_all([cls.author, Book(title="base book", author=cls.author)])
        cls.note = Note(text="base note", extra={"tags": []})
        db.session.add(cls.note)
        cls.session_state = session_state()

    def make_test(plan: list[str]) -> t.Callable[[t.Any], None]:
        def test(case: t.Any) -> None:
            found = {model: _count(model) for model in BASELINE}
            found["session"] = session_state()
            found["json"] = case.note.extra
            expected = {
                **BASELINE,
                "session": case.session_state,
                "json": {"tags": []},
            }
            case.assertEqual(
                found, expected, "the test did not start from the baseline"
            )
            case.later = []
            for name in plan:
                OPERATIONS[name](case)
            if case.later:
                # One thread for all: threads sharing the test's connection at
                # once is not supported (the docs say so).
                later = case.later
                writer = threading.Thread(
                    target=lambda: [write() for write in later], name="battery writer"
                )
                writer.start()

        test.__doc__ = " ".join(plan)
        return test

    namespace: dict[str, t.Any] = {
        "create_app": classmethod(create_app),
        "setUpTestData": classmethod(set_up_test_data),
    }
    for number, plan in enumerate(plans(seed, sequences)):
        namespace[f"test_{number:05d}"] = make_test(plan)
    return type(f"Battery_{engine.name}_{seed}", (ClientTestCase,), namespace)


class Report(t.NamedTuple):
    engine: str
    sequences: int
    leaks: list[str]
    problems: str
    seconds: float

    def line(self) -> str:
        return (
            f"{self.engine}: {self.sequences} sequences, {len(self.leaks)} leaks,"
            f" {'no problems' if not self.problems else 'PROBLEMS'}"
            f" ({self.seconds:.1f} s)"
        )


def run(engine: Engine, seed: int, sequences: int) -> Report:
    """Run the battery on one engine; report the tests after which rows were seen."""
    case = battery_case(engine, seed, sequences)
    observer = engine.observer()
    result = WatchingResult(observer)
    start = time.perf_counter()
    try:
        unittest.TestLoader().loadTestsFromTestCase(case).run(result)
    finally:
        if observer is not None:
            observer.dispose()
    seconds = time.perf_counter() - start
    leaks = [
        f"after {test_id}: {counts}"
        for test_id, counts in result.seen
        if any(counts.values())
    ]
    # A test that did not start from the baseline saw what an earlier one left.
    problems = "\n".join(
        f"{test.id()}:\n{trace}"
        for test, trace in result.errors + result.failures
        if not _expected(engine, test, trace)
    )
    leaks += [
        test.id()
        for test, trace in result.failures
        if "did not start from the baseline" in trace
    ]
    return Report(engine.name, result.testsRun, leaks, problems, seconds)


#: Operations MySQL ends the test's transaction on, which fails the test.
_IMPLICIT_COMMITS = {"ddl", "lock_tables"}


def _expected(engine: Engine, test: unittest.TestCase, trace: str) -> bool:
    """Tell whether a test's error is the one its plan must cause."""
    plan = set((test.shortDescription() or "").split())
    return (
        engine.mysql
        and bool(plan & _IMPLICIT_COMMITS)
        and trace.rstrip()
        .splitlines()[-1]
        .startswith("flask_dbcase.transaction.ImplicitCommitError:")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--engine", action="append", help="default: every one set up")
    args = parser.parse_args()
    chosen = [
        e for e in ENGINES if e.url and (not args.engine or e.name in args.engine)
    ]
    failed = False
    for engine in chosen:
        report = run(engine, args.seed, args.sequences)
        print(report.line(), flush=True)
        if report.leaks or report.problems:
            failed = True
            print("\n".join(report.leaks[:20]), report.problems[:5000], sep="\n")
    print(f"seed {args.seed}: {'FAILED' if failed else 'all isolated'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
