"""Change the app's configuration for a block, a test or a whole test class."""

from __future__ import annotations

import functools
import typing as t

from flask import current_app
from flask import Flask

_F = t.TypeVar("_F", bound=t.Callable[..., t.Any])
_MISSING = object()


class override_config:  # noqa: N801 used as a decorator, named like one
    """Set configuration values of the current app, and restore them afterwards.

    As a context manager, around a block. As a decorator on a test method, for
    that test. As a decorator on a flask_dbcase test class, for every test of the
    class (and of its subclasses): the values are set after the app is built and
    its context pushed, and restored after each test, so ``create_app`` does not
    see them. Keys that were not set before are removed again.

    .. code-block:: python

        @override_config(MAIL_SUPPRESS_SEND=True)
        class SignupTests(ClientTestCase):
            @override_config(SIGNUPS_OPEN=False)
            def test_closed(self):
                ...

            def test_limit(self):
                with override_config(MAX_SIGNUPS=1):
                    ...

    Keys that are not valid Python names can be given as a mapping:
    ``override_config({"SOME.KEY": 1})``.

    .. versionadded:: 0.1
    """

    def __init__(
        self, values: t.Mapping[str, t.Any] | None = None, /, **more: t.Any
    ) -> None:
        self.values = {**(values or {}), **more}
        self._saved: list[tuple[Flask, dict[str, t.Any]]] = []

    def __enter__(self) -> Flask:
        try:
            app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        except RuntimeError:
            raise RuntimeError(
                "override_config needs an application context: use it inside a"
                " test of a flask_dbcase test case, or push one with"
                " 'app.app_context()'."
            ) from None
        saved = {key: app.config.get(key, _MISSING) for key in self.values}
        self._saved.append((app, saved))
        app.config.update(self.values)
        return app

    def __exit__(self, *exc_info: object) -> None:
        app, saved = self._saved.pop()
        for key, value in saved.items():
            if value is _MISSING:
                app.config.pop(key, None)
            else:
                app.config[key] = value

    @t.overload
    def __call__(self, target: type) -> type: ...

    @t.overload
    def __call__(self, target: _F) -> _F: ...

    def __call__(self, target: t.Any) -> t.Any:
        if isinstance(target, type):
            from .testcase import AppTestCase
            from .testcase import DatabaseTestCase

            if not issubclass(target, (AppTestCase, DatabaseTestCase)):
                raise TypeError(
                    f"override_config can decorate a flask_dbcase test class, not"
                    f" {target.__qualname__!r}. Use it on the test methods, or as"
                    " a context manager."
                )
            merged = {**target.__dict__.get("_dbcase_config", {}), **self.values}
            target._dbcase_config = merged  # type: ignore[union-attr]
            return target

        @functools.wraps(target)
        def run(*args: t.Any, **kwargs: t.Any) -> t.Any:
            with override_config(self.values):
                return target(*args, **kwargs)

        return run


def class_overrides(cls: type) -> dict[str, t.Any]:
    """The values ``override_config`` set on ``cls`` and its bases, nearest last."""
    merged: dict[str, t.Any] = {}
    for klass in reversed(cls.__mro__):
        merged.update(klass.__dict__.get("_dbcase_config", {}))
    return merged
