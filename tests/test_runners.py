"""The same test module gives the same results under unittest and pytest."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

import sqlalchemy as sa

from flask_dbcase.backends.sqlite import folder as sqlite_folder

from .support import derived_url

MODULE = textwrap.dedent(
    """
    from flask import Flask
    from flask_sqlalchemy import SQLAlchemy

    from flask_dbcase import TransactionalTestCase

    db = SQLAlchemy()


    class Item(db.Model):
        id = db.Column(db.Integer, primary_key=True)
        name = db.Column(db.String(20))


    class ItemTests(TransactionalTestCase):
        @classmethod
        def create_app(cls):
            app = Flask(__name__)
            app.config["SQLALCHEMY_DATABASE_URI"] = {url!r}
            db.init_app(app)
            return app

        def test_1_commits_then_fails(self):
            with self.assertCommits(0):
                db.session.add(Item(name="x"))
                db.session.commit()

        def test_2_sees_nothing(self):
            self.assertEqual(db.session.query(Item).count(), 0)

        def test_3_sees_nothing_either(self):
            self.assertEqual(db.session.query(Item).count(), 0)
    """
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class RunnerTests(unittest.TestCase):
    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="dbcase-runner-")
        self.addCleanup(shutil.rmtree, self.folder, ignore_errors=True)
        self.url = f"sqlite:///{self.folder}/test.db"
        with open(os.path.join(self.folder, "test_items.py"), "w") as f:
            f.write(MODULE.format(url=self.url))

    def run_tests(
        self, *args: str, stdin: str = "", env: dict[str, str] | None = None
    ) -> str:
        env = dict(os.environ, PYTHONPATH=ROOT, **(env or {}))
        before = set(os.listdir(sqlite_folder()))
        done = subprocess.run(
            [sys.executable, "-m", *args],
            cwd=self.folder,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        output = done.stdout + done.stderr
        # Whatever the runner, the configured file was never opened, and the
        # test database was removed at exit.
        self.assertFalse(os.path.exists(f"{self.folder}/test.db"), output)
        derived = sa.make_url(derived_url(self.url)).database
        self.assertFalse(os.path.exists(str(derived)), output)
        # Nor any other file of the run: its lock files go with it.
        self.assertLessEqual(set(os.listdir(sqlite_folder())), before, output)
        self.assertIn("Ran 3 tests" if "unittest" in args else "passed", output)
        return output

    def assert_failure_at_the_test(self, output: str) -> None:
        """The failure points at the test's line: no frame of the library, nor
        of contextlib, whose "with" block the assertion is."""
        self.assertIn("The code committed 1 time(s), expected 0", output)
        self.assertRegex(output, r"test_items.py\W+(line )?\d+")
        self.assertNotIn(f"flask_dbcase{os.sep}", output)
        self.assertNotIn("contextlib", output)

    def test_unittest(self) -> None:
        output = self.run_tests("unittest", "-v", "test_items")
        self.assertIn("FAILED (failures=1)", output)
        self.assertIn("test_2_sees_nothing (test_items.ItemTests", output)
        self.assertEqual(output.count(" ... ok"), 2, output)
        self.assert_failure_at_the_test(output)

    def test_pytest(self) -> None:
        output = self.run_tests("pytest", "-p", "no:cacheprovider", "test_items.py")
        self.assertRegex(output, r"1 failed, 2 passed", output)
        self.assert_failure_at_the_test(output)

    def test_debug_sql_under_both_runners(self) -> None:
        # pytest prefixes each line with "E   ".
        listing = (
            r"SQL the test sent \(1\):\n(E +)?1\. INSERT INTO item \(name\) VALUES"
        )
        for runner in (("unittest", "test_items"), ("pytest", "test_items.py")):
            with self.subTest(runner=runner[0]):
                output = self.run_tests(*runner, env={"FLASK_DBCASE_DEBUG_SQL": "1"})
                self.assertRegex(output, listing + r" \(\?\) -- \('x',\)")
                # Once per report of the failure (pytest's summary repeats it
                # where CI is set), and never for the passing tests.
                self.assertEqual(
                    output.count("SQL the test sent (1):"),
                    output.count("SQL the test sent"),
                    output,
                )
                self.assert_failure_at_the_test(output)
        output = self.run_tests("unittest", "test_items")
        self.assertNotIn("SQL the test sent", output)

    def test_setup_errors_show_no_library_frame(self) -> None:
        module = MODULE.format(url=self.url).replace("return app", "return Flask")
        with open(os.path.join(self.folder, "test_broken.py"), "w") as f:
            f.write(module)
        env = dict(os.environ, PYTHONPATH=ROOT)
        for runner in (["unittest"], ["pytest", "-p", "no:cacheprovider"]):
            with self.subTest(runner=runner[0]):
                done = subprocess.run(
                    [sys.executable, "-m", *runner, "test_broken.py"],
                    cwd=self.folder,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                output = done.stdout + done.stderr
                self.assertIn("returned the class 'Flask', not a Flask app", output)
                self.assertNotIn(f"flask_dbcase{os.sep}", output)
                self.assertNotIn("raise error.with_traceback", output)

    def test_pytest_k(self) -> None:
        args = ("pytest", "-p", "no:cacheprovider", "-k", "sees_nothing")
        output = self.run_tests(*args, "test_items.py")
        self.assertRegex(output, r"2 passed, 1 deselected", output)

    def test_pytest_pdb(self) -> None:
        args = ("pytest", "-p", "no:cacheprovider", "--pdb", "test_items.py")
        # pdb stops at the failure; 'c' lets the run go on.
        output = self.run_tests(*args, stdin="c\nc\nc\n")
        self.assertIn("(Pdb)", output)
        self.assertTrue(re.search(r"1 failed, 2 passed", output), output)
