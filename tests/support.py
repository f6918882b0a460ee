"""The engines the suite runs on, a small app, and a runner that watches a test
class from outside."""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import typing as t
import unittest

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.pool import NullPool

db = SQLAlchemy()


class Author(db.Model):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(50), unique=True, nullable=False)


class Book(db.Model):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    title = db.Column(db.String(100), nullable=False)
    author_id = db.Column(db.ForeignKey(Author.id), nullable=False)
    author = db.relationship(Author, backref="books")


class Note(db.Model):  # type: ignore[name-defined,misc]
    """Lives in a second database."""

    __bind_key__ = "other"
    id = db.Column(db.Integer, primary_key=True)
    text = db.Column(db.String(100), nullable=False)
    #: A mutable value, for what tests do to setUpTestData's objects in place.
    extra = db.Column(db.JSON, nullable=True)


class Mirror(db.Model):  # type: ignore[name-defined,misc]
    """Lives in the default database, reached through a second bind."""

    __bind_key__ = "mirror"
    id = db.Column(db.Integer, primary_key=True)
    text = db.Column(db.String(100), nullable=False)


TABLES = {None: ["author", "book"], "other": ["note"], "mirror": ["mirror"]}


class Engine:
    """A database server the suite runs against, and the URLs it uses there."""

    def __init__(self, name: str, url: str | None, other_url: str | None) -> None:
        self.name = name
        self.url = url
        self.other_url = other_url

    @property
    def memory(self) -> bool:
        return self.url == "sqlite://"

    @property
    def mysql(self) -> bool:
        return bool(self.url) and self.url.startswith(("mysql", "mariadb"))

    @property
    def postgresql(self) -> bool:
        return bool(self.url) and self.url.startswith("postgresql")

    def skip_reason(self) -> str | None:
        if self.url is None:
            return f"set DBCASE_{self.name.upper()}_URL to run on {self.name}"
        return None

    def config(self) -> dict[str, t.Any]:
        assert self.url is not None and self.other_url is not None
        return {
            "SQLALCHEMY_DATABASE_URI": self.url,
            "SQLALCHEMY_BINDS": {
                "other": self.other_url,
                # In memory, a second engine is a second database.
                "mirror": self.url,
            },
        }

    def observer(self) -> Observer | None:
        """Connections of our own to the test databases; none for memory."""
        if self.memory:
            return None
        assert self.url is not None and self.other_url is not None
        return Observer(derived_url(self.url), derived_url(self.other_url))

    @property
    def database(self) -> str:
        """The name of the configured database: ``test`` in CI."""
        assert self.url is not None
        return sa.make_url(self.url).database or ""

    def own(self, name: str) -> str:
        """A database or role name on the server for this run alone.

        ``name`` and the configured database's name (``dbcase_real`` ->
        ``dbcase_real_test``): two runs of the suite on the same servers,
        configured with different databases, never meet on one. What the name
        says stays at its start (``testing_test`` starts with ``test``,
        ``dbcase_real_test`` does not). Unchanged for SQLite, whose tests make
        their files in folders of their own.
        """
        if not (self.postgresql or self.mysql):
            return name
        return f"{name}_{self.database}"

    @property
    def test_url(self) -> str:
        """The URL of the test database the library derives from :attr:`url`."""
        assert self.url is not None
        return derived_url(self.url)


def derived_url(url: str) -> str:
    """The test database flask_dbcase uses for a configured URL, in a serial run.

    Written out here rather than asked of the library, so that a change in the
    rule fails the suite.
    """
    parsed = sa.make_url(url)
    name = parsed.database or ""
    if parsed.get_backend_name() == "sqlite":
        path = os.path.realpath(name)
        digest = hashlib.sha256(path.encode()).hexdigest()[:8]
        stem, ext = os.path.splitext(os.path.basename(path))
        uid = os.getuid()
        folder = os.path.join(tempfile.gettempdir(), f"flask_dbcase-{uid}")
        name = os.path.join(folder, f"test_{stem}-{digest}{ext}")
    else:
        name = f"test_{name}"
    return parsed.set(database=name).render_as_string(hide_password=False)


def _server_url(url: str, database: str) -> str:
    return sa.make_url(url).set(database=database).render_as_string(False)


def _ensure_database(url: str) -> None:
    """Create a server database for the suite if it is missing."""
    parsed = sa.make_url(url)
    admin_db = "postgres" if parsed.get_backend_name() == "postgresql" else "mysql"
    engine = sa.create_engine(
        parsed.set(database=admin_db), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    with engine.connect() as connection:
        name = parsed.database
        if parsed.get_backend_name() == "postgresql":
            exists = connection.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %(n)s", {"n": name}
            ).first()
            if not exists:
                connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        else:
            connection.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{name}`")
    engine.dispose()


def _server_engine(name: str) -> Engine:
    url = os.environ.get(f"DBCASE_{name.upper()}_URL")
    if not url:
        return Engine(name, None, None)
    database = sa.make_url(url).database or "test"
    other = _server_url(url, f"{database}_other")
    _ensure_database(url)
    _ensure_database(other)
    return Engine(name, url, other)


def _sqlite_file_engine() -> Engine:
    engine = Engine("sqlite_file", None, None)
    _own_sqlite_files(engine)
    os.register_at_fork(after_in_child=lambda: _own_sqlite_files(engine))
    return engine


def _own_sqlite_files(engine: Engine) -> None:
    """Point ``engine`` at SQLite files of this process's own, in a new folder.

    Again in a child forked after the suite imported this module (mutmut's
    workers): flask_dbcase gives the child test files of its own, numbered, but
    the suite's observers look for the first (:func:`derived_url`).
    """
    folder = tempfile.mkdtemp(prefix="dbcase-")
    atexit.register(_remove_folder, folder, os.getpid())
    engine.url = f"sqlite:///{folder}/test.db"
    engine.other_url = f"sqlite:///{folder}/test_other.db"


def _remove_folder(folder: str, pid: int) -> None:
    if os.getpid() == pid:  # not in a forked child that exits normally
        shutil.rmtree(folder, ignore_errors=True)


ENGINES = [
    Engine("sqlite_memory", "sqlite://", "sqlite://"),
    _sqlite_file_engine(),
    _server_engine("postgresql"),
    _server_engine("mysql"),
]


def engine_classes(
    bases: t.Iterable[type], engines: t.Iterable[Engine]
) -> dict[str, type]:
    """Make a test class for each base and engine, skipped where not configured.

    The bases are mixins with ``test_*`` methods; each class gets ``engine``.
    """
    classes: dict[str, type] = {}
    for base in bases:
        for engine in engines:
            name = f"{base.__name__}_{engine.name}"
            cls = type(name, (base, unittest.TestCase), {"engine": engine})
            reason = engine.skip_reason()
            if reason:
                cls = unittest.skip(reason)(cls)
            classes[name] = cls
    return classes


class Observer:
    """Count rows from connections of its own, outside any test transaction."""

    def __init__(self, url: str, other_url: str) -> None:
        # One connection each, kept open: every use ends its transaction, so
        # the next sees what was committed meanwhile.
        self.engines = {
            None: sa.create_engine(url, pool_size=1),
            "other": sa.create_engine(other_url, pool_size=1),
        }

    def counts(self) -> dict[str, int | None]:
        """Rows per table; ``None`` where the table does not exist."""
        result: dict[str, int | None] = {}
        for key, engine in self.engines.items():
            names = TABLES[key] + (TABLES["mirror"] if key is None else [])
            with engine.connect() as connection:
                existing = set(sa.inspect(connection).get_table_names())
                for name in names:
                    if name not in existing:
                        result[name] = None
                        continue
                    query = f"SELECT COUNT(*) FROM {name}"
                    result[name] = connection.exec_driver_sql(query).scalar()
        return result

    def dispose(self) -> None:
        for engine in self.engines.values():
            engine.dispose()


def make_app(engine: Engine, **config: t.Any) -> Flask:
    app = Flask(__name__)
    app.config.update(engine.config())
    app.config.update(config)
    db.init_app(app)

    @app.post("/authors")
    def add_author() -> tuple[dict[str, t.Any], int]:
        from flask import request

        author = Author(name=request.json["name"])  # type: ignore[index]
        db.session.add(author)
        db.session.commit()
        return {"id": author.id, "name": author.name}, 201

    @app.post("/authors/<int:id>/rename")
    def rename_author(id: int) -> str:
        from flask import request

        author = db.session.get(Author, id)
        assert author is not None
        author.name = request.json["name"]  # type: ignore[index]
        db.session.commit()
        return "renamed"

    @app.post("/authors/forgotten")
    def add_author_without_commit() -> str:
        from flask import request

        db.session.add(Author(name=request.json["name"]))  # type: ignore[index]
        db.session.flush()
        return "flushed, never committed"

    @app.post("/authors/broken")
    def add_author_then_fail() -> str:
        from flask import request

        db.session.add(Author(name=request.json["name"]))  # type: ignore[index]
        db.session.commit()
        db.session.add(Author(name="half-done"))
        db.session.flush()
        raise RuntimeError("the view failed after a commit")

    @app.get("/authors")
    def list_authors() -> list[str]:
        return [a.name for a in db.session.scalars(sa.select(Author))]

    @app.get("/g")
    def show_g() -> dict[str, t.Any]:
        from flask import g

        seen = getattr(g, "seen", None)
        g.seen = "request"
        # Kept alive, so that ids are not reused and identity can be compared.
        app.config.setdefault("SESSIONS", []).append(db.session())
        return {"seen": seen}

    return app


class WatchingResult(unittest.TestResult):
    """A result that looks at the database after every test, cleanups included."""

    def __init__(self, observer: Observer | None) -> None:
        super().__init__()
        self.observer = observer
        self.seen: list[tuple[str, dict[str, int | None]]] = []

    def stopTest(self, test: unittest.TestCase) -> None:
        super().stopTest(test)
        if self.observer is not None:
            self.seen.append((test.id(), self.observer.counts()))

    def problems(self) -> str:
        lines = [
            f"{test.id()}:\n{trace}" for test, trace in self.errors + self.failures
        ]
        return "\n".join(lines)


def only_error(case: type[unittest.TestCase]) -> str:
    """Run ``case``, which must fail with exactly one error; return its text."""
    result = run_case(case)
    problems = result.errors + result.failures
    assert len(problems) == 1, result.problems() or "no error"
    return problems[0][1]


def check_set_up_once(
    test: unittest.TestCase, base: type, factory: t.Callable[[], t.Any]
) -> None:
    """A class of ``base`` whose ``setUpClass`` calls the library's twice is
    set up once: one app built, and nothing left on the class after."""
    built: list[t.Any] = []

    class Twice(base):  # type: ignore[valid-type,misc]
        @classmethod
        def create_app(cls) -> t.Any:
            built.append(factory())
            return built[-1]

        @classmethod
        def setUpClass(cls) -> None:
            super().setUpClass()
            super().setUpClass()

        def test_a(self) -> None:
            self.assertIs(self.app, built[0])

    result = run_case(Twice)
    test.assertTrue(result.wasSuccessful(), result.problems())
    test.assertEqual(len(built), 1)
    test.assertNotIn("app", vars(Twice))


def run_case(
    case: type[unittest.TestCase], observer: Observer | None = None
) -> WatchingResult:
    """Run every test of ``case`` with unittest's own suite machinery."""
    result = WatchingResult(observer)
    # A loader of our own: "-k" given to the outer run must not filter these.
    unittest.TestLoader().loadTestsFromTestCase(case).run(result)
    return result


def script_result(
    test: unittest.TestCase, folder: str, script: str, environ: dict[str, str]
) -> tuple[t.Any, str]:
    """Run ``script`` in ``folder`` with Python, in a process of its own; return
    what it printed on its one ``RESULT`` line, as JSON, and all it printed."""
    process = subprocess.run(
        [sys.executable, script],
        cwd=folder,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = process.stdout + process.stderr
    lines = [x for x in process.stdout.splitlines() if x.startswith("RESULT ")]
    test.assertEqual(len(lines), 1, output)
    return json.loads(lines[0][len("RESULT ") :]), output
