"""The code shown in README.rst runs and passes."""

from __future__ import annotations

import os
import re
import sys
import types
import unittest

from .support import run_case

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_blocks(path: str) -> list[str]:
    with open(path) as f:
        text = f.read()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)
    return [re.sub(r"^    ", "", block, flags=re.M) for block in blocks]


class ReadmeTests(unittest.TestCase):
    def test_example_passes(self) -> None:
        (code,) = python_blocks(os.path.join(ROOT, "README.rst"))
        sys.path.insert(0, os.path.join(ROOT, "examples"))
        self.addCleanup(sys.path.remove, os.path.join(ROOT, "examples"))
        module = types.ModuleType("readme_example")
        exec(compile(code, "README.rst", "exec"), module.__dict__)
        result = run_case(module.BookTests)
        self.assertTrue(result.wasSuccessful(), result.problems())
        self.assertEqual(result.testsRun, 2)
