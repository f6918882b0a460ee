"""Processes forked from a test process: each has test databases of its own.

A runner may fork its workers after it ran tests (mutmut does), and a test may
fork a process that works through the app. Each case runs a script of its own,
whose process forks; what the script saw comes back as one JSON line.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
import typing as t
import unittest

from tests.support import engine_classes
from tests.support import ENGINES
from tests.support import script_result

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent(
    """
    import json
    import multiprocessing
    import os
    import sys
    import unittest

    from flask import Flask
    from flask_sqlalchemy import SQLAlchemy

    from flask_dbcase import DatabaseTestCase
    from flask_dbcase.backends import backend_class

    import sqlalchemy as sa

    URL = os.environ["FORK_URL"]
    HOW = os.environ["FORK_HOW"]  # "app", "shared", "same" or "worker"
    db = SQLAlchemy()


    class Row(db.Model):
        __tablename__ = "forked_row"
        id = db.Column(db.Integer, primary_key=True)


    def build():
        app = Flask(__name__)
        app.config["SQLALCHEMY_DATABASE_URI"] = URL
        db.init_app(app)
        return app


    same = build() if HOW == "same" else None
    seen = {}
    barrier = None


    class Probe(DatabaseTestCase):
        reuse_app = HOW != "app"

        @classmethod
        def create_app(cls):
            return same or build()

        def test_alone(self):
            seen["database"] = db.engine.url.database
            db.session.add(Row())
            db.session.commit()
            if barrier is not None:  # both children are in their test now
                barrier.wait(timeout=60)
            seen["rows"] = db.session.query(Row).count()
            if barrier is not None:
                barrier.wait(timeout=60)


    class Worker(DatabaseTestCase):
        @classmethod
        def create_app(cls):
            return build()

        def test_a_forked_process_writes_in_the_test_database(self):
            db.session.query(Row).count()
            db.session.commit()  # its connection back in the pool
            written, go = os.pipe(), os.pipe()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    with self.app.app_context():
                        db.session.add(Row())
                        db.session.flush()
                        os.write(written[1], b"x")
                        os.read(go[0], 1)
                        db.session.commit()
                        code = 0
                finally:
                    os._exit(code)
            os.read(written[0], 1)
            # Not in the child's transaction: it has a connection of its own.
            before = db.session.query(Row).count()
            db.session.commit()
            os.write(go[1], b"x")
            _, status = os.waitpid(pid, 0)
            self.assertEqual(status, 0)
            self.assertEqual(before, 0)
            self.assertEqual(db.session.query(Row).count(), 1)


    def run(case):
        seen.clear()
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(case)
        result = unittest.TextTestRunner(stream=sys.stderr, verbosity=0).run(suite)
        return dict(seen, ok=result.wasSuccessful())


    def fork(count):
        readers = []
        for _ in range(count):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # ends as a test process does, its exit hooks run
                os.close(read)
                with os.fdopen(write, "w") as out:
                    out.write(json.dumps(run(Probe)))
                sys.exit(0)
            os.close(write)
            readers.append((pid, read))
        outcomes = []
        for pid, read in readers:
            with os.fdopen(read) as out:
                outcomes.append(json.loads(out.read() or "null"))
            os.waitpid(pid, 0)
        return outcomes


    def exists(name):
        url = sa.make_url(URL)
        server = backend_class(url, "check")(url, "check")
        try:
            return server.exists(name)
        finally:
            server.close()


    if HOW == "worker":
        print("RESULT " + json.dumps({"worker": run(Worker)}))
        sys.exit(0)
    def sessions(name):  # how many connections are open to it
        url = sa.make_url(URL)
        if url.get_backend_name() == "sqlite":
            return None
        if url.get_backend_name() == "postgresql":
            url = url.set(database="postgres")
            sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = :name"
        else:
            url = url.set(database="mysql")
            sql = "SELECT count(*) FROM information_schema.processlist WHERE db = :name"
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                return connection.execute(sa.text(sql), {"name": name}).scalar()
        finally:
            engine.dispose()


    first = run(Probe)
    open_before = sessions(first["database"])
    barrier = multiprocessing.get_context("fork").Barrier(2)
    children = fork(2)
    barrier = None
    open_after = sessions(first["database"])
    # The parent goes on in its own database; a child forked now cannot
    # claim it, although the others ended.
    again = run(Probe)
    (late,) = fork(1)
    names = [first, *children, again, late]
    print("RESULT " + json.dumps({
        "first": first,
        "children": children,
        "again": again,
        "late": late,
        "sessions": [open_before, open_after],
        "left": {
            o["database"]: exists(o["database"]) for o in names if o
        },
    }))
    """
)


class _Forks:
    engine: t.Any

    def setUp(self) -> None:
        if self.engine.memory:
            raise unittest.SkipTest("an in-memory database is the process's own")
        if not hasattr(os, "fork"):
            raise unittest.SkipTest("the platform cannot fork")
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.folder = folder.name
        with open(os.path.join(self.folder, "forks.py"), "w") as f:
            f.write(SCRIPT)

    def run_script(self, how: str) -> dict[str, t.Any]:
        if self.engine.postgresql or self.engine.mysql:
            url = self.engine.url.rsplit("/", 1)[0] + "/" + self.engine.own("forked")
        else:
            url = f"sqlite:///{self.folder}/forked.db"
        os.mkdir(os.path.join(self.folder, f"tmp-{how}"))
        environ = dict(
            os.environ,
            PYTHONPATH=ROOT,
            TMPDIR=os.path.join(self.folder, f"tmp-{how}"),
            FORK_URL=url,
            FORK_HOW=how,
        )
        environ.pop("FLASK_DBCASE_KEEPDB", None)
        result, output = script_result(self, self.folder, "forks.py", environ)
        result["output"] = output
        return result

    def check(self, how: str) -> None:
        result = self.run_script(how)
        output = result["output"]
        first, children, again = result["first"], result["children"], result["again"]
        for outcome in (first, *children, again, result["late"]):
            self.assertTrue(outcome and outcome["ok"], output)
            # Its own row only: no other process was in its database.
            self.assertEqual(outcome["rows"], 1, output)
        databases = [first["database"], *(c["database"] for c in children)]
        self.assertEqual(len(set(databases)), 3, output)
        # The children's exits took neither the parent's database nor its claim.
        self.assertEqual(again["database"], first["database"])
        self.assertNotEqual(result["late"]["database"], first["database"])
        # Nor did they close the parent's connections (which ends them).
        before, after = result["sessions"]
        self.assertEqual(before, after, output)
        left = result["left"]
        self.assertTrue(left[first["database"]], output)
        for child in (*children, result["late"]):
            self.assertFalse(left[child["database"]], output)  # each dropped its own

    def test_forked_runners_claim_databases_of_their_own(self) -> None:
        self.check("app")

    def test_the_same_with_a_shared_app(self) -> None:
        self.check("shared")

    def test_the_same_with_one_app_object(self) -> None:
        self.check("same")

    def test_a_process_a_test_forks_writes_in_the_test_database(self) -> None:
        result = self.run_script("worker")
        self.assertTrue(result["worker"]["ok"], result["output"])


globals().update(engine_classes([_Forks], ENGINES))
