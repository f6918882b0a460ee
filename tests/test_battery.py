"""The randomised battery holds on every engine, and is able to fail: with the
rollback or the savepoints broken on purpose, it finds the leaks."""

from __future__ import annotations

import contextlib
import io
import unittest
from unittest import mock

from flask_dbcase import transaction

from . import battery
from .support import ENGINES

SEED = 1127


class BatteryTests(unittest.TestCase):
    def test_every_engine_is_isolated(self) -> None:
        for engine in ENGINES:
            if engine.url is None:
                continue
            with self.subTest(engine=engine.name):
                report = battery.run(engine, SEED, 150)
                self.assertEqual(report.sequences, 150)
                self.assertEqual(report.problems, "")
                self.assertEqual(report.leaks, [])

    def test_same_seed_same_tests(self) -> None:
        self.assertEqual(battery.plans(7, 50), battery.plans(7, 50))
        self.assertNotEqual(battery.plans(7, 50), battery.plans(8, 50))
        used = {name for plan in battery.plans(SEED, 150) for name in plan}
        self.assertEqual(used, set(battery.OPERATIONS))


class BrokenIsolationIsCaught(unittest.TestCase):
    """Negative controls, on a SQLite file: seen from another connection."""

    engine = next(e for e in ENGINES if e.name == "sqlite_file")

    def check_caught(self) -> None:
        # The broken runs make SQLAlchemy log their failed rollbacks: not ours.
        with contextlib.redirect_stderr(io.StringIO()):
            report = battery.run(self.engine, SEED, 60)
        self.assertGreater(len(report.leaks), 10, report.problems[:2000])

    def test_no_rollback_after_a_test(self) -> None:
        with mock.patch.object(transaction._Savepoints, "end_test", lambda self: None):
            self.check_caught()

    def test_commits_that_really_commit(self) -> None:
        def commit(self: transaction.SharedConnection) -> None:
            self._dbapi.commit()

        with mock.patch.object(transaction.SharedConnection, "commit", commit):
            self.check_caught()
