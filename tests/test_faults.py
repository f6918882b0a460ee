"""Fault injection: an exception at every step of a class's life, a connection
killed mid-test, a server that cannot be reached. Each gives one clear error where
it happened, nothing hangs, and the next class runs clean and isolated."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
import time
import typing as t
import unittest

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.pool import NullPool

from flask_dbcase import TransactionalTestCase

from .support import Author
from .support import db
from .support import engine_classes
from .support import ENGINES
from .support import make_app
from .support import run_case

if t.TYPE_CHECKING:
    _Mixin = unittest.TestCase
else:
    _Mixin = object

#: Where a fault is injected, in the order of a class's life.
STEPS = [
    "create_app",
    "setUpClass",
    "setUpTestData",
    "setUp",
    "test",
    "tearDown",
    "tearDownClass",
]


class Injected(Exception):
    pass


def faulty_class(engine: t.Any, step: str) -> type[TransactionalTestCase]:
    def fail_at(here: str) -> None:
        if here == step:
            raise Injected(f"injected in {step}")

    class Faulty(TransactionalTestCase):
        @classmethod
        def create_app(cls) -> Flask:
            fail_at("create_app")
            return make_app(engine)

        @classmethod
        def setUpClass(cls) -> None:
            super().setUpClass()
            fail_at("setUpClass")

        @classmethod
        def setUpTestData(cls) -> None:
            db.session.add(Author(name="class data"))
            db.session.flush()
            fail_at("setUpTestData")

        def setUp(self) -> None:
            db.session.add(Author(name="from setUp"))
            db.session.commit()
            fail_at("setUp")

        def test_write(self) -> None:
            db.session.add(Author(name="from the test"))
            db.session.commit()
            fail_at("test")

        def tearDown(self) -> None:
            fail_at("tearDown")

        @classmethod
        def tearDownClass(cls) -> None:
            super().tearDownClass()
            fail_at("tearDownClass")

    return Faulty


class Faults(_Mixin):
    engine: t.ClassVar[t.Any]

    def clean_class(self) -> type[TransactionalTestCase]:
        engine = self.engine

        class Next(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            def test_1_starts_empty(self) -> None:
                self.assertDatabaseCount(Author, 0)
                db.session.add(Author(name="next"))
                db.session.commit()

            def test_2_isolated(self) -> None:
                self.assertDatabaseCount(Author, 0)

        return Next

    def test_an_exception_at_each_step(self) -> None:
        for step in STEPS:
            with self.subTest(step=step):
                start = time.monotonic()
                result = run_case(faulty_class(self.engine, step))
                problems = result.errors + result.failures
                self.assertEqual(len(problems), 1, result.problems())
                self.assertIn(f"Injected: injected in {step}", problems[0][1])
                after = run_case(self.clean_class())
                self.assertEqual(after.problems(), "")
                self.assertEqual(after.testsRun, 2)
                self.assertLess(time.monotonic() - start, 30)

    def test_connection_killed_mid_test(self) -> None:
        if not (self.engine.postgresql or self.engine.mysql):
            self.skipTest("needs a server to kill the connection")
        engine = self.engine

        class Killed(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                return make_app(engine)

            @classmethod
            def setUpTestData(cls) -> None:
                db.session.add(Author(name="class data"))

            def test_1_killed(self) -> None:
                sql = (
                    "SELECT pg_backend_pid()"
                    if engine.postgresql
                    else "SELECT CONNECTION_ID()"
                )
                kill(engine, db.session.scalar(sa.text(sql)))

            def test_2_after(self) -> None:
                pass

        result = run_case(Killed)
        errors = {test.id().rpartition(".")[2]: trace for test, trace in result.errors}
        self.assertEqual(sorted(errors), ["test_1_killed", "test_2_after"])
        self.assertIn(
            "ConnectionLostError: The connection to ", errors["test_1_killed"]
        )
        self.assertIn("was lost during the test", errors["test_1_killed"])
        self.assertIn(
            "was lost during an earlier test of 'Killed'", errors["test_2_after"]
        )
        self.assertEqual(result.failures, [])
        self.assertEqual(run_case(self.clean_class()).problems(), "")


def kill(engine: t.Any, backend: int) -> None:
    # On the test database: the configured one is refused while a class runs.
    admin = sa.create_engine(
        engine.test_url, poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        if engine.postgresql:
            connection.exec_driver_sql(f"SELECT pg_terminate_backend({backend})")
        else:
            connection.exec_driver_sql(f"KILL {backend}")
    admin.dispose()
    time.sleep(0.2)  # the server ends the backend asynchronously


@unittest.skipUnless(importlib.util.find_spec("psycopg"), "needs psycopg")
class UnreachableServer(unittest.TestCase):
    def test_class_fails_quickly_with_a_clear_error(self) -> None:
        class Nowhere(TransactionalTestCase):
            @classmethod
            def create_app(cls) -> Flask:
                app = Flask(__name__)
                # Nothing listens on port 9 of this machine.
                app.config["SQLALCHEMY_DATABASE_URI"] = (
                    "postgresql+psycopg://user:secret@127.0.0.1:9/test_shop"
                )
                db.init_app(app)
                return app

            def test_a(self) -> None:
                pass

        start = time.monotonic()
        result = run_case(Nowhere)
        self.assertLess(time.monotonic() - start, 30)
        ((holder, trace),) = result.errors
        self.assertIn("setUpClass", str(holder))
        self.assertIn("cannot connect to", trace)
        self.assertIn("127.0.0.1:9", trace)
        self.assertNotIn("secret", trace)


#: A run stopped in the middle of a class, its cleanups skipped (Ctrl-C, a
#: runner that dies): the process must still end, and drop what it created.
STOPPED = textwrap.dedent(
    """
    import sys
    import sqlalchemy as sa
    from flask_dbcase import TransactionalTestCase
    from tests.support import Author, db, Engine, make_app

    url = sa.make_url(sys.argv[1]).set(database=sys.argv[3])
    engine = Engine("stopped", url.render_as_string(False), sys.argv[2])

    class Stopped(TransactionalTestCase):
        @classmethod
        def create_app(cls):
            return make_app(engine)

        @classmethod
        def setUpTestData(cls):
            db.session.add(Author(name="held"))

    Stopped.setUpClass()  # its transaction open, and never closed
    print("STARTED", flush=True)
    raise KeyboardInterrupt
    """
)


class StoppedRun(_Mixin):
    engine: t.ClassVar[t.Any]

    def test_a_run_stopped_mid_class_ends_and_cleans_up(self) -> None:
        if self.engine.url is None or self.engine.url.startswith("sqlite"):
            self.skipTest("a server's database")
        name = self.engine.own("dbcase_stopped")
        # Named as the suite's own other database is: the configured name and
        # '_other'.
        other = sa.make_url(self.engine.other_url).set(database=f"{name}_other")
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        url = other.render_as_string(hide_password=False)
        process = subprocess.run(
            [sys.executable, "-c", STOPPED, self.engine.url, url, name],
            cwd=root,
            env=dict(os.environ, PYTHONPATH=root),
            capture_output=True,
            text=True,
            timeout=60,  # it used to wait for itself forever on MariaDB
        )
        self.assertIn("STARTED", process.stdout, process.stderr)
        self.assertIn("KeyboardInterrupt", process.stderr)
        self.assertNotIn("could not drop", process.stderr)
        server = sa.create_engine(self.engine.url, poolclass=NullPool)
        self.addCleanup(server.dispose)
        with server.connect() as connection:
            if self.engine.postgresql:
                sql = "SELECT datname FROM pg_database WHERE datname LIKE %(p)s"
            else:
                sql = "SELECT schema_name FROM information_schema.schemata"
                sql += " WHERE schema_name LIKE %(p)s"
            found = connection.exec_driver_sql(sql, {"p": f"test_{name}%"})
            # Not another run's, configured with a longer name ('test2').
            mine = re.compile(rf"test_{re.escape(name)}(_|$)")
            left = [n for n in found.scalars() if mine.match(n)]
            self.assertEqual(left, [])


globals().update(engine_classes([Faults, StoppedRun], ENGINES))
del Faults
