"""Time the example suite written with flask_dbcase against the same tests in the
hand-written style, on every engine.

    python benchmarks/example_suite.py

The hand-written style is what the Flask Mega-Tutorial, Flasky and Flask-Testing's
documentation show: per test, an app, an app context, ``db.create_all()``, and
``db.drop_all()`` afterwards. It is obtained by replacing flask_dbcase's classes
with one that does just that, so both runs execute the same test bodies. The
module that tests migrations is left out (it needs them). Each run is a fresh
process; the figure is the suite's own wall time, without interpreter start-up.
PostgreSQL and MariaDB are used when DBCASE_POSTGRESQL_URL and DBCASE_MYSQL_URL
are set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import typing as t
import unittest

from flask_dbcase import skips

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(os.path.dirname(HERE), "examples")
MODULES = ("test_models", "test_api", "test_jobs")


class HandWrittenTestCase(unittest.TestCase):
    """An app, its tables, and a client, built and torn down around each test."""

    # Before the class's own setUp, which need not call super(), as with
    # flask_dbcase.
    def _callSetUp(self) -> None:
        from bookshop import db

        self.app: t.Any = self.create_app()  # type: ignore[attr-defined]
        self.app_context = self.app.app_context()
        self.app_context.push()
        # The suite's skips by database apply here too.
        method = getattr(self, self._testMethodName)
        skipped = skips.reason(method, dict(db.engines))
        if skipped:
            self.app_context.pop()
            raise unittest.SkipTest(skipped)
        db.create_all()
        set_up_test_data = getattr(type(self), "setUpTestData", None)
        if set_up_test_data is not None:
            set_up_test_data()
            db.session.commit()
        self.client = self.app.test_client()
        self.addCleanup(self._tear_down)
        super()._callSetUp()  # type: ignore[misc]

    def _tear_down(self) -> None:
        from bookshop import db

        db.session.remove()
        db.drop_all()
        for engine in db.engines.values():
            engine.dispose()
        self.app_context.pop()


#: Tests, and classes, that use flask_dbcase's own assertions, left out of both
#: runs.
OURS_ONLY = {
    "test_list_takes_two_queries_however_many_books",
    "BookApiQueryTests",
    "test_order_rows",
    "test_refused_order_changes_nothing",
}


def _tests(suite: unittest.TestSuite) -> t.Iterator[unittest.TestCase]:
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _tests(item)
        else:
            yield item


def run_suite(style: str) -> None:
    """In a child process: run the suite in one style, print its wall time."""
    sys.path[:0] = [EXAMPLES, os.path.dirname(HERE)]
    if style == "hand-written":
        import flask_dbcase

        for name in ("DatabaseTestCase", "TransactionalTestCase", "ClientTestCase"):
            setattr(flask_dbcase, name, HandWrittenTestCase)
    loader = unittest.TestLoader()
    suite = unittest.TestSuite(loader.loadTestsFromName(f"tests.{m}") for m in MODULES)
    # The same tests both ways.
    suite = unittest.TestSuite(
        test
        for test in _tests(suite)
        if not {test._testMethodName, type(test).__name__} & OURS_ONLY
    )
    start = time.perf_counter()
    with open(os.devnull, "w") as quiet:
        result = unittest.TextTestRunner(stream=quiet).run(suite)
    elapsed = time.perf_counter() - start
    if not result.wasSuccessful():
        raise SystemExit(f"{style} failed: {result.errors + result.failures}")
    print(f"{result.testsRun} {elapsed}")


def timed(style: str, url: str) -> tuple[int, float]:
    env = dict(os.environ, BOOKSHOP_DATABASE_URL=url)
    done = subprocess.run(
        [sys.executable, __file__, "--style", style],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(done.stdout + done.stderr)
    count, seconds = done.stdout.split()[-2:]
    return int(count), float(seconds)


def main() -> None:
    urls = {"SQLite memory": "sqlite://"}
    for name, variable in (
        ("PostgreSQL", "DBCASE_POSTGRESQL_URL"),
        ("MariaDB", "DBCASE_MYSQL_URL"),
    ):
        if os.environ.get(variable):
            urls[name] = os.environ[variable]
    for name, url in urls.items():
        count, ours = timed("flask_dbcase", url)
        _, theirs = timed("hand-written", url)
        print(
            f"{name}: the example suite's {count} tests: flask_dbcase {ours:.2f} s,"
            f" hand-written create_all/drop_all {theirs:.2f} s"
            f" ({theirs / ours:.1f}x)"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--style"]:
        run_suite(sys.argv[2])
    else:
        main()
