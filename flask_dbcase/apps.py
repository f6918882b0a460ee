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
        self._pending: tuple[t.Any, Flask] | None = None

    def __bool__(self) -> bool:
        return bool(self._engines)

    def get(self, factory: t.Any) -> Flask | None:
        """The app ``factory`` built, once its test databases are ready."""
        return self._apps.get(factory)

    def add(self, factory: t.Any, app: Flask, engines: t.Iterable[sa.Engine]) -> None:
        """Dispose of ``app``'s engines at exit; share it from :meth:`ready` on."""
        self._engines.extend(engines)
        self._pending = (factory, app)

    def ready(self) -> None:
        """Share the app last added: its first class prepared its databases.

        Until then, a class whose setup failed half-way leaves nothing for the
        next to take: that one builds its app again, and fails for itself.
        """
        assert self._pending is not None, "ready() without add()"
        factory, app = self._pending
        self._apps[factory] = app
        self._pending = None

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
