"""The apps classes with ``reuse_app`` share: one per ``create_app``, built once
per process, with their engines, disposed of when the process ends."""

from __future__ import annotations

import typing as t

import sqlalchemy as sa

if t.TYPE_CHECKING:
    from flask import Flask


class SharedApps:
    """Apps by the function that built them."""

    def __init__(self) -> None:
        self._apps: dict[t.Any, Flask] = {}
        self._engines: list[sa.Engine] = []

    def __bool__(self) -> bool:
        return bool(self._apps)

    def get(self, factory: t.Any) -> Flask | None:
        return self._apps.get(factory)

    def add(self, factory: t.Any, app: Flask, engines: t.Iterable[sa.Engine]) -> None:
        self._apps[factory] = app
        self._engines.extend(engines)

    def dispose(self) -> None:
        """Close their engines' connections and forget them."""
        dispose(self._engines)
        self._engines.clear()
        self._apps.clear()


def dispose(engines: t.Iterable[sa.Engine]) -> None:
    """Close the engines' pooled connections."""
    for engine in engines:
        engine.dispose()
        # The engine lingers in reference cycles until a full garbage collection;
        # its compiled statements need not linger with it.
        engine.clear_compiled_cache()


#: The process's shared apps.
shared_apps = SharedApps()
