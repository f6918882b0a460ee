"""override_config: on a class, a method and a block, and restored after."""

from __future__ import annotations

import typing as t
import unittest

from flask import current_app

from flask_dbcase import override_config
from flask_dbcase import TransactionalTestCase

from .support import ENGINES
from .support import make_app
from .support import run_case


@override_config(GREETING="class", OTHER="class")
class ConfigOverrides(TransactionalTestCase):
    def create_app(self) -> t.Any:
        return make_app(ENGINES[0], GREETING="app")

    @override_config(GREETING="method")
    def test_method_over_class(self) -> None:
        self.assertEqual(current_app.config["GREETING"], "method")
        self.assertEqual(current_app.config["OTHER"], "class")

    def test_block_then_restored(self) -> None:
        with override_config(GREETING="block", NEW=1) as app:
            self.assertIs(app, self.app)
            self.assertEqual(self.app.config["GREETING"], "block")
            with override_config({"GREETING": "inner"}):
                self.assertEqual(self.app.config["GREETING"], "inner")
            self.assertEqual(self.app.config["GREETING"], "block")
        self.assertEqual(self.app.config["GREETING"], "class")
        self.assertNotIn("NEW", self.app.config)


class ConfigOverrideRestored(unittest.TestCase):
    def test_after_each_test_and_for_subclasses(self) -> None:
        seen: list[t.Any] = []

        @override_config(GREETING="class", OTHER="class")
        class Base(TransactionalTestCase):
            def create_app(self) -> t.Any:
                return make_app(ENGINES[0], GREETING="app")

        class Sub(Base):
            def test_app(self) -> None:
                seen.extend([dict(self.app.config), self.app])

        result = run_case(override_config(OTHER="sub")(Sub))
        self.assertEqual(result.problems(), "")
        self.assertEqual((seen[0]["GREETING"], seen[0]["OTHER"]), ("class", "sub"))
        self.assertEqual(seen[1].config["GREETING"], "app")
        self.assertNotIn("OTHER", seen[1].config)

    def test_clear_errors(self) -> None:
        with self.assertRaises(TypeError) as raised:
            override_config(X=1)(unittest.TestCase)
        self.assertIn(
            "can decorate a flask_dbcase test class, not 'TestCase'",
            str(raised.exception),
        )
        with self.assertRaises(RuntimeError) as raised, override_config(X=1):
            pass
        self.assertIn(
            "override_config needs an application context", str(raised.exception)
        )
