"""Time flask_dbcase's test cases against the alternatives, on every engine.

    python benchmarks/run.py [--tests N] [--rst FILE] [--soak N] [--parallel N]
                             [--commits] [--tables 5,80,300] [--setup]
                             [--features]

SQLite (memory and file) always; PostgreSQL and MySQL/MariaDB when
DBCASE_POSTGRESQL_URL and DBCASE_MYSQL_URL are set (the database named in them is
replaced by 'test_bench' and 'test_bench_audit', created and dropped here).

Per-test times run from unittest's startTest to stopTest: setUp, the test and its
cleanups, without the class's one-time setup. Compare ratios within one run: the
machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

import sqlalchemy as sa  # noqa: E402
from bench_app import create_app  # noqa: E402
from bench_app import db  # noqa: E402
from bench_app import typical_work  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402
from sqlalchemy.pool import Pool  # noqa: E402

import flask_dbcase.transaction  # noqa: E402
from flask_dbcase import ClientTestCase  # noqa: E402
from flask_dbcase import DatabaseTestCase  # noqa: E402
from flask_dbcase import TransactionalTestCase  # noqa: E402
from flask_dbcase.backends import backend_class  # noqa: E402
from flask_dbcase.backends import BACKENDS  # noqa: E402
from flask_dbcase.backends import is_trusted  # noqa: E402
from flask_dbcase.client import isolated_client  # noqa: E402
from flask_dbcase.transaction import SharedConnection  # noqa: E402


class Engine(t.NamedTuple):
    name: str
    url: str
    audit_url: str


def engines() -> list[Engine]:
    folder = tempfile.mkdtemp(prefix="dbcase-bench-")
    found = [
        Engine("SQLite memory", "sqlite://", "sqlite://"),
        Engine(
            "SQLite file",
            f"sqlite:///{folder}/test_bench.db",
            f"sqlite:///{folder}/test_bench_audit.db",
        ),
    ]
    for name, variable in (
        ("PostgreSQL", "DBCASE_POSTGRESQL_URL"),
        ("MariaDB", "DBCASE_MYSQL_URL"),
    ):
        url = os.environ.get(variable)
        if url:
            base = sa.make_url(url)
            main = base.set(database="test_bench").render_as_string(False)
            audit = base.set(database="test_bench_audit").render_as_string(False)
            found.append(Engine(name, main, audit))
        else:
            print(f"({name} skipped: set {variable})")
    return found


class TimingResult(unittest.TestResult):
    def __init__(self, counter: StatementCounter | None = None) -> None:
        super().__init__()
        self.times: list[float] = []
        self.statements = 0
        self._counter = counter
        self._start = 0.0
        self._count = 0

    def startTest(self, test: unittest.TestCase) -> None:
        super().startTest(test)
        self._count = self._counter.count if self._counter else 0
        self._start = time.perf_counter()

    def stopTest(self, test: unittest.TestCase) -> None:
        self.times.append(time.perf_counter() - self._start)
        if self._counter:
            self.statements += self._counter.count - self._count
        super().stopTest(test)


def run(
    case: type[unittest.TestCase], counter: StatementCounter | None = None
) -> TimingResult:
    result = TimingResult(counter)
    unittest.TestLoader().loadTestsFromTestCase(case).run(result)
    if not result.wasSuccessful():
        raise SystemExit(f"{case.__name__} failed: {result.errors + result.failures}")
    return result


def per_test_ms(times: list[float]) -> float:
    # The median: a test that met a garbage collection or a noisy neighbour
    # should not move the figure.
    return statistics.median(times) * 1000


def tests(n: int, body: t.Callable[[t.Any], None]) -> dict[str, t.Any]:
    return {f"test_{i:05d}": (lambda self: body(self)) for i in range(n)}


def library_case(base: type, engine: Engine, n: int, typical: bool) -> type:
    def body(self: t.Any) -> None:
        if typical:
            typical_work(getattr(self, "client", None) or isolated_client(self.app))

    namespace = {
        "create_app": classmethod(lambda cls: create_app(engine.url, engine.audit_url)),
        **tests(n, body),
    }
    return type(base.__name__ + "Bench", (base,), namespace)


def manual_case(engine: Engine, n: int, typical: bool) -> type:
    """The hand-written pattern: an app, create_all and drop_all per test."""

    class ManualTests(unittest.TestCase):
        def setUp(self) -> None:
            self.app = create_app(engine.url, engine.audit_url)
            self.context = self.app.app_context()
            self.context.push()
            db.create_all()
            self.client = self.app.test_client()

        def tearDown(self) -> None:
            db.session.remove()
            db.drop_all()
            for bind in db.engines.values():
                bind.dispose()
            self.context.pop()

    def body(self: t.Any) -> None:
        if typical:
            typical_work(self.client)

    for name, method in tests(n, body).items():
        setattr(ManualTests, name, method)
    return ManualTests


def floor(engine: Engine, n: int, typical: bool) -> list[float]:
    """SQLAlchemy Core savepoint and rollback, and an app context: no unittest."""
    app = create_app(engine.url, engine.audit_url)
    with app.app_context():
        db.create_all()
        engines = dict(db.engines)
    connections = {key: e.connect() for key, e in engines.items()}
    for connection in connections.values():
        connection.begin()
    times = []
    client = app.test_client()
    for _ in range(n):
        start = time.perf_counter()
        with app.app_context():
            for connection in connections.values():
                connection.exec_driver_sql("SAVEPOINT bench")
            if typical:
                # A session joined to the connections, as in SQLAlchemy's recipe
                # for test suites.
                session = sa.orm.Session(
                    binds={
                        m: connections[getattr(m, "__bind_key__", None)]
                        for m in db.Model.__subclasses__()
                    },
                    join_transaction_mode="create_savepoint",
                )
                _floor_work(session)
                session.close()
            for connection in connections.values():
                connection.exec_driver_sql("ROLLBACK TO SAVEPOINT bench")
        times.append(time.perf_counter() - start)
    for connection in connections.values():
        connection.rollback()
        connection.close()
    with app.app_context():
        db.drop_all()
        for e in db.engines.values():
            e.dispose()
    del client
    return times


def _floor_work(session: sa.orm.Session) -> None:
    from bench_app import AuditEntry
    from bench_app import Author
    from bench_app import Book

    author = Author(name="Ursula")
    session.add(author)
    session.flush()
    session.add_all([Book(title=f"Book {i}", author_id=author.id) for i in range(3)])
    session.add(AuditEntry(message="added"))
    session.commit()
    assert session.scalar(sa.select(sa.func.count(Book.id))) == 3
    assert len(session.scalars(sa.select(Book.title)).all()) == 3


class StatementCounter:
    """Count the statements flask_dbcase itself sends, per test."""

    def __init__(self) -> None:
        self.count = 0
        self._original = flask_dbcase.transaction._Savepoints.run

    def __enter__(self) -> StatementCounter:
        counter = self

        def run(state: t.Any, sql: str) -> None:
            counter.count += 1
            counter._original(state, sql)

        flask_dbcase.transaction._Savepoints.run = run  # type: ignore[method-assign]
        return self

    def __exit__(self, *args: t.Any) -> None:
        flask_dbcase.transaction._Savepoints.run = self._original  # type: ignore[method-assign]


class ConnectionCounter:
    """Count new connections, and the statements flask_dbcase sends to ask each
    which database it is on."""

    def __init__(self) -> None:
        self.connections = 0
        self.checks = 0
        self._saved: dict[type, t.Any] = {}

    def __enter__(self) -> ConnectionCounter:
        event.listen(Pool, "connect", self._connected)
        for kind in set(BACKENDS.values()):
            self._saved[kind] = kind.__dict__["identify"]
            kind.identify = classmethod(self._counting(kind.identify))  # type: ignore[method-assign,assignment]
        return self

    def _counting(self, identify: t.Callable[[t.Any], t.Any]) -> t.Callable[..., t.Any]:
        def counted(cls: type, dbapi_connection: t.Any) -> t.Any:
            self.checks += 1
            return identify(dbapi_connection)

        return counted

    def _connected(self, dbapi_connection: t.Any, record: t.Any) -> None:
        # Not the library's own to a server's maintenance database, nor the
        # stand-in that the test transaction's engines hand out.
        shared = isinstance(dbapi_connection, SharedConnection)
        if not is_trusted() and not shared:
            self.connections += 1

    def __exit__(self, *args: t.Any) -> None:
        event.remove(Pool, "connect", self._connected)
        for kind, identify in self._saved.items():
            kind.identify = identify  # type: ignore[method-assign]


def reset_databases(engine: Engine, create: bool = True) -> None:
    """Drop the engine's server databases, and create them empty again."""
    for url in (engine.url, engine.audit_url):
        parsed = sa.make_url(url)
        if parsed.get_backend_name() == "sqlite":
            continue
        admin_db = "postgres" if parsed.get_backend_name() == "postgresql" else ""
        admin = sa.create_engine(
            parsed.set(database=admin_db),
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as connection:
            quoted = connection.dialect.identifier_preparer.quote(parsed.database)
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}")
            if create:
                connection.exec_driver_sql(f"CREATE DATABASE {quoted}")
        admin.dispose()
        # The library's test databases, with the copies and template of parallel
        # workers, which unittest-parallel kills before they can drop them.
        server = backend_class(parsed, "benchmarks")(parsed, "benchmarks")
        ours = re.compile(re.escape(f"test_{parsed.database}") + r"(_\d+|_template)?$")
        for name in server.marked():
            if ours.match(name):
                server.drop(name)
        server.close()


ROWS = [
    ("raw floor", None),
    ("TransactionalTestCase", TransactionalTestCase),
    ("ClientTestCase", ClientTestCase),
    ("DatabaseTestCase", DatabaseTestCase),
    ("create_all/drop_all", "manual"),
]


#: One-test classes timed per row, for the per-class cost.
CLASSES = 30


def per_class_ms(base: type, create: t.Callable[[type], t.Any], name: str) -> float:
    """Median time of a class with one empty test, setUpClass and tearDownClass
    included, the app shared (``reuse_app``): what each class adds."""
    namespace = {
        "create_app": classmethod(create),
        "reuse_app": True,
        "test_empty": lambda self: None,
    }
    times = []
    for number in range(CLASSES + 1):
        case = type(f"{name}Class{number}", (base,), namespace)
        start = time.perf_counter()
        run(case)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]) * 1000  # the first builds the app


def measure(engine: Engine, n: int) -> dict[str, t.Any]:
    reset_databases(engine)
    figures: dict[str, t.Any] = {}
    for label, base in ROWS:
        row = {}
        for kind, typical in (("empty", False), ("typical", True)):
            count = max(n // 5, 20) if base == "manual" else n
            if base is None:
                times = floor(engine, count, typical)
            elif base == "manual":
                times = run(manual_case(engine, count, typical)).times
            else:
                with StatementCounter() as counter, ConnectionCounter() as opened:
                    result = run(library_case(base, engine, count, typical), counter)
                times = result.times
                if base is not DatabaseTestCase:  # its DELETEs are not counted
                    row[f"{kind} statements"] = result.statements / count
                if opened.connections:
                    row["checks"] = opened.checks / opened.connections
            row[kind] = per_test_ms(times)
        if isinstance(base, type):
            create = lambda cls: create_app(engine.url, engine.audit_url)  # noqa: E731
            row["class"] = per_class_ms(base, create, base.__name__)
        figures[label] = row
        gc.collect()
    return figures


def report(results: dict[str, dict[str, t.Any]]) -> list[list[str]]:
    header = [
        "engine",
        "test case",
        "empty ms",
        "typical ms",
        "statements",
        "checks",
        "class ms",
        "empty vs floor",
        "typical vs floor",
        "create_all/drop_all vs this",
    ]
    rows = [header]
    for engine, figures in results.items():
        floor = figures["raw floor"]
        manual = figures["create_all/drop_all"]
        for label, _ in ROWS:
            row = figures[label]
            statements = [
                row.get(f"{kind} statements") for kind in ("empty", "typical")
            ]
            rows.append(
                [
                    engine,
                    label,
                    f"{row['empty']:.3f}",
                    f"{row['typical']:.3f}",
                    "" if None in statements else "{:g} / {:g}".format(*statements),
                    "" if "checks" not in row else f"{row['checks']:g}",
                    "" if "class" not in row else f"{row['class']:.2f}",
                    f"{row['empty'] / floor['empty']:.2f}x",
                    f"{row['typical'] / floor['typical']:.2f}x",
                    ""
                    if label == "create_all/drop_all"
                    else f"{manual['empty'] / row['empty']:.0f}x empty,"
                    f" {manual['typical'] / row['typical']:.1f}x typical",
                ]
            )
    return rows


def aligned(rows: list[list[str]], rule: str) -> list[str]:
    """Lay the rows out in columns, with a rule under the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = zip(row, widths, strict=True)
        lines.append("  ".join(cell.ljust(width) for cell, width in cells).rstrip())
        if index == 0:
            lines.append("  ".join(rule * width for width in widths))
    return lines


def write_rst(rows: list[list[str]], path: str, note: str) -> None:
    lines = aligned(rows, "=")
    with open(path, "w") as f:
        f.write("\n".join([note, "", lines[1], *lines, lines[1]]) + "\n")


def connections_open(engine: Engine) -> int | None:
    parsed = sa.make_url(engine.url)
    if parsed.get_backend_name() == "sqlite":
        return None
    admin = sa.create_engine(
        parsed.set(
            database="postgres" if parsed.get_backend_name() == "postgresql" else ""
        ),
        poolclass=NullPool,
    )
    sql = (
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname IS NOT NULL"
        if parsed.get_backend_name() == "postgresql"
        else "SELECT COUNT(*) FROM information_schema.processlist"
    )
    with admin.connect() as connection:
        found = int(connection.exec_driver_sql(sql).scalar() or 0) - 1
    admin.dispose()
    return found


def soak(engine: Engine, total: int, reuse_app: bool) -> None:
    """Run ``total`` tests in classes of 100; report memory and connections."""

    def create(cls: type) -> t.Any:
        return create_app(engine.url, engine.audit_url)

    def case() -> type:
        cls = library_case(ClientTestCase, engine, 100, True)
        cls.create_app = classmethod(create)  # one factory: shareable
        cls.reuse_app = reuse_app
        return cls

    run(case())
    gc.collect()
    before_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    before_connections = connections_open(engine)
    for _ in range(total // 100 - 1):
        run(case())
    gc.collect()
    after_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    after_connections = connections_open(engine)
    how = "one app for all classes" if reuse_app else "an app per class"
    print(
        f"{engine.name}: {total} typical ClientTestCase tests in classes of 100,"
        f" {how}: peak memory grew {(after_rss - before_rss) / 1024:.1f} MB;"
        f" connections open {before_connections} before, {after_connections} after"
    )


PARALLEL_MODULE = """
import os, sys
sys.path[:0] = [{here!r}, {root!r}]
from bench_app import create_app, typical_work
from flask_dbcase import ClientTestCase

for c in range({classes}):
    ns = {{"create_app": classmethod(lambda cls: create_app({url!r}, {audit!r}))}}
    for i in range({per_class}):
        ns[f"test_{{i:03d}}"] = lambda self: typical_work(self.client)
    name = f"Generated{{c:03d}}"
    globals()[name] = type(name, (ClientTestCase,), ns)
"""


def parallel(engine: Engine, workers: int) -> None:
    """A generated suite of 400 tests: serial, then unittest-parallel and pytest -n."""
    folder = tempfile.mkdtemp(prefix="dbcase-parallel-")
    with open(os.path.join(folder, "test_generated.py"), "w") as f:
        f.write(
            PARALLEL_MODULE.format(
                here=HERE,
                root=os.path.dirname(HERE),
                classes=40,
                per_class=10,
                url=engine.url.replace("test_bench", "bench"),
                audit=engine.audit_url.replace("test_bench", "bench"),
            )
        )
    commands = {
        "serial (unittest)": [sys.executable, "-m", "unittest", "-q", "test_generated"],
        f"unittest-parallel -j {workers}": [
            sys.executable,
            "-m",
            "unittest_parallel",
            "-j",
            str(workers),
            "--level",
            "class",
            "-s",
            ".",
            "-t",
            ".",
        ],
        f"pytest -n {workers}": [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-n",
            str(workers),
            "-p",
            "no:cacheprovider",
            "test_generated.py",
        ],
    }
    for label, command in commands.items():
        start = time.perf_counter()
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        status = "ok" if done.returncode == 0 else "FAILED"
        print(f"{engine.name}: 400 tests, {label}: {elapsed:.2f} s wall ({status})")
        if done.returncode:
            print((done.stdout + done.stderr)[-2000:])


def wide_metadata(tables: int) -> sa.MetaData:
    """A schema of ``tables`` tables, each with a foreign key and an index."""
    metadata = sa.MetaData()
    for i in range(tables):
        columns = [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(80), nullable=False, index=True),
            sa.Column("created", sa.DateTime),
        ]
        if i:
            columns.append(sa.Column("parent_id", sa.ForeignKey(f"t{i - 1}.id")))
        sa.Table(f"t{i}", metadata, *columns)
    return metadata


def setup_cost(engine: Engine, repeat: int = 5) -> None:
    """What a new worker pays for its database on PostgreSQL: build the schema in
    an empty database, or clone a database that has it (CREATE DATABASE ...
    TEMPLATE), as flask_dbcase does for the second and later workers."""
    for metadata in (db.metadatas[None], wide_metadata(40)):
        builds, clones = _setup_times(engine, metadata, repeat)
        build, clone = statistics.median(builds), statistics.median(clones)
        print(
            f"{engine.name}: a worker's database with its schema"
            f" ({len(metadata.tables)} tables): created empty and built"
            f" {build * 1000:.1f} ms, cloned from a template {clone * 1000:.1f} ms"
            f" (x{build / clone:.1f}; median of {repeat})"
        )


def _setup_times(
    engine: Engine, metadata: sa.MetaData, repeat: int
) -> tuple[list[float], list[float]]:
    base = sa.make_url(engine.url)
    admin = sa.create_engine(
        base.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    template, copy = "test_bench_template", "test_bench_copy"
    builds, clones = [], []
    with admin.connect() as connection:
        for name in (template, copy):
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        connection.exec_driver_sql(f"CREATE DATABASE {template}")
        for _ in range(repeat):
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {copy}")
            start = time.perf_counter()
            connection.exec_driver_sql(f"CREATE DATABASE {copy}")
            target = sa.create_engine(base.set(database=copy), poolclass=NullPool)
            metadata.create_all(target)
            builds.append(time.perf_counter() - start)
            target.dispose()
        target = sa.create_engine(base.set(database=template), poolclass=NullPool)
        metadata.create_all(target)
        target.dispose()
        for _ in range(repeat):
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {copy}")
            start = time.perf_counter()
            connection.exec_driver_sql(f"CREATE DATABASE {copy} TEMPLATE {template}")
            clones.append(time.perf_counter() - start)
        for name in (template, copy):
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    admin.dispose()
    return builds, clones


def commit_cost(engine: Engine, n: int, commits: int = 30) -> None:
    """A test that commits ``commits`` times, one insert each: flask_dbcase's
    round trips per commit, and its time against the same body on one
    connection, in one transaction rolled back after it, with no savepoint."""
    from bench_app import Author

    def body(session: t.Any) -> None:
        for i in range(commits):
            session.add(Author(name=f"author {i}"))
            session.commit()

    namespace = {
        "create_app": classmethod(lambda cls: create_app(engine.url, engine.audit_url)),
        **tests(n, lambda self: body(db.session)),
    }
    case = type("CommitsBench", (TransactionalTestCase,), namespace)
    with StatementCounter() as counter:
        result = run(case, counter)
    app = create_app(engine.url, engine.audit_url)
    with app.app_context():
        db.create_all()
        connection = db.engine.connect()
    timings = {}
    # No savepoint at all (a floor: it cannot roll back to a commit), and
    # SQLAlchemy's recipe for test suites, which hand-rolled base classes use
    # (not on SQLite, where pysqlite's RELEASE would commit for real).
    modes = ["rollback_only"]
    if not engine.url.startswith("sqlite"):
        modes.append("create_savepoint")
    for mode in modes:
        times = timings[mode] = []
        for _ in range(n):
            start = time.perf_counter()
            transaction = connection.begin()
            session = sa.orm.Session(bind=connection, join_transaction_mode=mode)
            body(session)
            session.close()
            transaction.rollback()
            times.append(time.perf_counter() - start)
    connection.close()
    timings["app"] = app_floor(engine, body, n)
    with app.app_context():
        db.drop_all()
        for each in db.engines.values():
            each.dispose()
    library = per_test_ms(result.times)
    alone = per_test_ms(timings["rollback_only"])
    own = per_test_ms(timings["app"])
    trips = (result.statements / n - 1) / commits  # less the test's rollback
    recipe = ""
    if "create_savepoint" in timings:
        other = per_test_ms(timings["create_savepoint"])
        recipe = f" SQLAlchemy's recipe {other:.2f} ms (x{library / other:.2f});"
    print(
        f"{engine.name}: a test of {commits} commits: {library:.2f} ms; one"
        f" transaction without savepoints {alone:.2f} ms (x{library / alone:.2f});"
        f" the same through db.session, commits doing nothing {own:.2f} ms"
        f" (x{library / own:.2f});{recipe} flask_dbcase's own calls per commit:"
        f" {trips:.2f}"
    )


def app_floor(engine: Engine, body: t.Callable[[t.Any], None], n: int) -> list[float]:
    """``body`` through ``db.session`` in an app context, as the code under test
    runs it: its engine checks a connection out for each transaction, but each
    commit does nothing; the one real transaction is rolled back after it."""
    from flask import Flask
    from sqlalchemy.pool import StaticPool

    floor_app = Flask(__name__)
    floor_app.config["SQLALCHEMY_DATABASE_URI"] = engine.url
    floor_app.config["SQLALCHEMY_BINDS"] = {"audit": engine.audit_url}
    floor_app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"poolclass": StaticPool}
    db.init_app(floor_app)
    with floor_app.app_context():
        db.create_all()  # in memory, a database of the engine's own
        for each in db.engines.values():
            each.dialect.do_commit = each.dialect.do_rollback = lambda _: None
        fairy = db.engine.raw_connection()
        real = fairy.dbapi_connection
        fairy.close()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        with floor_app.app_context():
            body(db.session)
        real.rollback()
        times.append(time.perf_counter() - start)
    with floor_app.app_context():
        for each in db.engines.values():
            each.dispose()
    return times


def feature_cost(engine: Engine, n: int) -> None:
    """A typical ClientTestCase test as it is, with the checks that record
    statements and loads off (the default: no listener is attached), and with
    each on."""
    variants = {
        "off": {},
        "max_queries_per_request = 50": {"max_queries_per_request": 50},
        "debug_sql = True": {"debug_sql": True},
        "strict_commit_visibility = True": {"strict_commit_visibility": True},
    }
    figures = {}
    for label, attributes in variants.items():
        case = library_case(ClientTestCase, engine, n, typical=True)
        for name, value in attributes.items():
            setattr(case, name, value)
        result = run(case, None)
        figures[label] = per_test_ms(result.times)
    off = figures["off"]
    shown = ", ".join(
        f"{label} {ms:.3f} ms (x{ms / off:.2f})" for label, ms in figures.items()
    )
    print(f"{engine.name}: a typical ClientTestCase test: {shown}")


def class_cost(engine: Engine, counts: t.Sequence[int]) -> None:
    """What each class adds (``reuse_app``, one empty test) as the schema grows."""
    from flask import Flask
    from flask_sqlalchemy import SQLAlchemy

    figures = []
    for tables in counts:
        wide = SQLAlchemy(metadata=wide_metadata(tables))
        url = sa.make_url(engine.url)
        url = url.set(database=f"{url.database}_wide") if url.database else url

        def create(cls: type, wide: t.Any = wide, url: t.Any = url) -> Flask:
            app = Flask(__name__)
            app.config["SQLALCHEMY_DATABASE_URI"] = url
            wide.init_app(app)
            return app

        ms = per_class_ms(TransactionalTestCase, create, f"Wide{tables}")
        figures.append(f"{tables} tables {ms:.2f} ms")
    print(
        f"{engine.name}: each class adds (median of {CLASSES}): " + ", ".join(figures)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=300, help="tests per row")
    parser.add_argument("--rst", help="also write the table as reST to this file")
    parser.add_argument(
        "--soak",
        type=int,
        default=0,
        help="then run this many tests; report memory, connections",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=0,
        help="then time a 400-test suite with this many workers",
    )
    parser.add_argument(
        "--commits",
        action="store_true",
        help="then time a test of 30 commits against one transaction",
    )
    parser.add_argument(
        "--tables",
        help="then time each class for these schema sizes, e.g. 5,80,300",
    )
    parser.add_argument(
        "--features",
        action="store_true",
        help="then time a typical test with N+1 detection, debug SQL and strict"
        " commit visibility on",
    )
    parser.add_argument(
        "--setup",
        action="store_true",
        help="then compare a new worker's schema build with a template clone",
    )
    args = parser.parse_args()
    found = engines()
    # Registered before flask_dbcase's own exit cleanup, so it runs after it.
    atexit.register(lambda: [reset_databases(e, create=False) for e in found])
    results = {}
    for engine in found:
        results[engine.name] = measure(engine, args.tests)
    rows = report(results)
    print("\n".join(aligned(rows, "-")))
    if args.rst:
        note = (
            f"{args.tests} tests per row, median per-test time; Python"
            f" {sys.version.split()[0]}, SQLAlchemy {sa.__version__}. Statements:"
            " the library's own per test, empty / typical. Checks: the statements"
            " it sends per new connection, to ask the server which database the"
            f" connection is on. Class ms: median of {CLASSES} classes of one empty"
            " test each, the app shared (reuse_app), set-up and tear-down included."
        )
        write_rst(rows, args.rst, note)
    for engine in found if args.soak else []:
        soak(engine, args.soak, reuse_app=False)
        soak(engine, args.soak, reuse_app=True)
    for engine in found if args.commits else []:
        commit_cost(engine, args.tests)
    for engine in found if args.tables else []:
        class_cost(engine, [int(n) for n in args.tables.split(",")])
    for engine in found if args.features else []:
        feature_cost(engine, args.tests)
    for engine in found if args.setup else []:
        if engine.name == "PostgreSQL":
            setup_cost(engine)
    for engine in found if args.parallel else []:
        if not engine.url.startswith("sqlite://") or engine.name == "SQLite file":
            parallel(engine, args.parallel)


if __name__ == "__main__":
    main()
