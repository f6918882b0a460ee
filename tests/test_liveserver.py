"""LiveServerTestCase, with a real HTTP client, on every engine."""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import typing as t
import unittest
import urllib.error
import urllib.request

import sqlalchemy as sa

from flask_dbcase import LiveServerTestCase

from .support import Author
from .support import db
from .support import engine_classes
from .support import ENGINES
from .support import make_app
from .support import only_error
from .support import run_case

if t.TYPE_CHECKING:
    _Mixin = LiveServerTestCase
else:
    _Mixin = object


def fetch(url: str, data: t.Any = None) -> tuple[int, t.Any]:
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


def server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "live server" in t.name]


class LiveServer(_Mixin):
    engine: t.ClassVar[t.Any]

    def create_app(self) -> t.Any:
        return make_app(self.engine)

    def test_1_server_sees_what_the_test_committed(self) -> None:
        db.session.add(Author(name="from the test"))
        db.session.commit()
        self.assertEqual(fetch(self.live_url("list_authors")), (200, ["from the test"]))

    def test_2_test_sees_what_the_server_committed(self) -> None:
        status, body = fetch(f"{self.live_server_url}/authors", {"name": "over HTTP"})
        self.assertEqual(status, 201)
        self.assertDatabaseHas(Author, name="over HTTP")

    def test_3_tables_were_emptied(self) -> None:
        self.assertEqual(fetch(self.live_url("list_authors")), (200, []))
        self.assertDatabaseCount(Author, 0)

    def test_repeatable_read_hint(self) -> None:
        db.session.scalar(sa.select(Author).limit(1))  # the test's transaction
        fetch(f"{self.live_server_url}/authors", {"name": "later"})
        if not self.engine.mysql:  # each statement sees the latest commits
            self.assertDatabaseHas(Author, name="later")
            return
        with self.assertRaises(self.failureException) as raised:
            self.assertDatabaseHas(Author, name="later")
        self.assertIn(
            "which REPEATABLE READ hides from it; call db.session.rollback()",
            str(raised.exception),
        )
        db.session.rollback()
        self.assertDatabaseHas(Author, name="later")

    def test_url(self) -> None:
        self.assertRegex(self.live_server_url, r"^http://127\.0\.0\.1:\d+$")
        self.assertEqual(
            self.live_url("list_authors"), self.live_server_url + "/authors"
        )
        self.assertEqual(
            self.live_url("rename_author", id=3),
            self.live_server_url + "/authors/3/rename",
        )


class ServerLifecycle(unittest.TestCase):
    def test_view_errors_fail_the_test_and_the_server_stops(self) -> None:
        seen: dict[str, t.Any] = {}

        class Failing(LiveServerTestCase):
            create_app = staticmethod(lambda: make_app(ENGINES[0]))

            def test_a_view_raises(self) -> None:
                seen["url"] = self.live_server_url
                seen["threads"] = len(server_threads())
                status, _ = fetch(
                    f"{self.live_server_url}/authors/broken", {"name": "x"}
                )
                seen["status"] = status

            def test_b_next_test_is_clean(self) -> None:
                self.assertEqual(fetch(self.live_url("list_authors")), (200, []))

        result = run_case(Failing)
        self.assertEqual(seen["status"], 500)
        self.assertEqual(seen["threads"], 1)
        (failure,) = result.failures
        self.assertIn("test_a_view_raises", failure[0].id())
        self.assertIn("The live server failed 1 time(s) during the test:\n", failure[1])
        self.assertIn("POST /authors/broken:\nTraceback", failure[1])
        self.assertIn("RuntimeError: the view failed after a commit", failure[1])
        self.assertEqual(result.errors, [])
        self.assertEqual(result.testsRun, 2)
        # Stopped and joined when the class ended.
        self.assertEqual(server_threads(), [])
        with self.assertRaises(urllib.error.URLError):
            fetch(seen["url"] + "/authors")


class PortInUse(unittest.TestCase):
    def test_a_taken_port_fails_the_class_not_the_run(self) -> None:
        import socket

        taken = socket.socket()
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        class Busy(LiveServerTestCase):
            create_app = staticmethod(lambda: make_app(ENGINES[0]))
            live_server_port = port

            def test_a(self) -> None:
                pass

        class Next(Busy):
            live_server_port = 0

        with contextlib.redirect_stderr(io.StringIO()):  # Werkzeug's own words
            message = only_error(Busy)
        self.assertIn(
            f"'Busy' cannot start its live server on 127.0.0.1:{port}", message
        )
        self.assertIn("Set 'Busy.live_server_port' to 0", message)
        self.assertEqual(run_case(Next).problems(), "")


class StartMethods(unittest.TestCase):
    def test_every_multiprocessing_start_method(self) -> None:
        # The server is a thread of the test process: how the process makes
        # children (fork, forkserver, or spawn, macOS's default and Linux's from
        # Python 3.14) does not matter. Shown in a process of its own for each.
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        for method in multiprocessing.get_all_start_methods():
            with self.subTest(method=method):
                code = (
                    "import multiprocessing, sys, unittest\n"
                    f"multiprocessing.set_start_method({method!r})\n"
                    "from tests import test_liveserver as module\n"
                    "case = module.LiveServer_sqlite_memory\n"
                    "suite = unittest.defaultTestLoader.loadTestsFromTestCase(case)\n"
                    "result = unittest.TextTestRunner().run(suite)\n"
                    "sys.exit(not result.wasSuccessful() or result.testsRun < 4)\n"
                )
                done = subprocess.run(
                    [sys.executable, "-c", code],
                    cwd=root,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                self.assertEqual(done.returncode, 0, done.stderr[-3000:])


globals().update(
    engine_classes([type("LiveServer", (LiveServer, LiveServerTestCase), {})], ENGINES)
)
del LiveServer
