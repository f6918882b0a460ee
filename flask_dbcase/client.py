"""A test client whose requests run in contexts of their own, as on a server."""

from __future__ import annotations

import typing as t

from flask.testing import FlaskClient

from .transaction import run_as_request as _run_as_request

if t.TYPE_CHECKING:
    from flask import Flask


#: The WSGI environ key that numbers the client's requests: the redirects a
#: request follows carry its number, and the templates rendered are told apart by it.
REQUEST_KEY = "flask_dbcase.request"


class _IsolatedRequests:
    #: Runs each request, given as a function, and checks what it sent to the
    #: database (:attr:`~flask_dbcase.ClientTestCase.max_queries_per_request`).
    dbcase_watch: t.Callable[[t.Callable[[], t.Any]], t.Any] | None = None
    _dbcase_opening = False
    _dbcase_requests = 0

    def open(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        if self._dbcase_opening:
            # Redirects followed are part of the request that led to them.
            return super().open(*args, **kwargs)  # type: ignore[misc]
        self._dbcase_requests += 1
        self.environ_base[REQUEST_KEY] = self._dbcase_requests  # type: ignore[attr-defined]
        watch = self.dbcase_watch
        self._dbcase_opening = True
        try:
            if watch is None:
                return super().open(*args, **kwargs)  # type: ignore[misc]
            return watch(lambda: super(_IsolatedRequests, self).open(*args, **kwargs))  # type: ignore[misc]
        finally:
            self._dbcase_opening = False

    def run_wsgi_app(self, environ: t.Any, buffered: bool = False) -> t.Any:
        # Flask before 3.2 reuses an application context that is already pushed,
        # and a test keeps one pushed. A new, empty contextvars.Context has none, so
        # the request gets its own: its own 'g', its own 'db.session', its own
        # teardown. Flask 3.2 pushes one for every request by itself, but the empty
        # Context still keeps the test's other context variables out of the
        # request, and the request's out of the test, and it marks the request's
        # transaction as its own, so that its rollback leaves what the test has not
        # committed. The body is read in there too, as a server would. Werkzeug
        # marks this method private, and neither it nor Flask offers a public hook
        # around running the app: .ci/next_flask runs the suite on their next
        # releases to notice when it changes.
        run = super().run_wsgi_app  # type: ignore[misc]
        result = _run_as_request(run, environ, True)
        app: Flask = self.application  # type: ignore[attr-defined]
        db = app.extensions.get("sqlalchemy")
        if db is not None and db.session.registry.has():
            # The test's session would otherwise keep showing what it loaded before
            # the request changed it.
            db.session.expire_all()
        return result


_classes: dict[type[FlaskClient], type[FlaskClient]] = {}


def isolated_client_class(base: type[FlaskClient]) -> type[FlaskClient]:
    """Return a subclass of ``base`` that runs each request in a fresh context.

    Every request then pushes its own application context, as it would on a
    server, instead of sharing the one the test keeps pushed: its own ``g``, its own
    ``db.session``, and ``teardown_appcontext`` after it. After each request, the
    test's own session is expired, so that it reloads what the request changed.

    :param base: The client class to extend, usually ``app.test_client_class``.

    .. versionadded:: 0.1
    """
    cls = _classes.get(base)
    if cls is None:
        name = f"Isolated{base.__name__}"
        namespace = {"__module__": __name__}
        cls = _classes[base] = type(name, (_IsolatedRequests, base), namespace)
    return cls


def isolated_client(app: Flask, use_cookies: bool = True) -> FlaskClient:
    """Create the app's test client with each request in a fresh context.

    :param app: The application to send requests to.
    :param use_cookies: Keep cookies between requests. Defaults to ``True``.

    .. versionadded:: 0.1
    """
    cls = isolated_client_class(app.test_client_class or FlaskClient)
    return cls(app, app.response_class, use_cookies=use_cookies)
