"""Log a Flask-Login user in for a test client's requests, without posting a
login form: what ``login_user`` writes to the session, copied into the
client's session."""

from __future__ import annotations

import contextvars
import typing as t

if t.TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient


def log_in(client: FlaskClient, user: t.Any, label: str, **options: t.Any) -> list[str]:
    """Log ``user`` in with Flask-Login for the client's following requests.

    ``flask_login.login_user`` runs in a request context of its own, built like
    the client's requests, and what it wrote to the session is copied into the
    client's session. Returns the session keys it wrote.
    """
    try:
        import flask_login
    except ImportError:
        raise RuntimeError(
            f"'{label}.login()' needs Flask-Login: 'pip install Flask-Login'."
        ) from None
    app: Flask = client.application
    if getattr(app, "login_manager", None) is None:
        raise RuntimeError(
            f"'{label}.login()': the app has no Flask-Login LoginManager. Call"
            " 'login_manager.init_app(app)' in the app factory."
        )

    def log_in() -> dict[str, t.Any]:
        from flask import session

        environ = getattr(client, "environ_base", None)
        with app.test_request_context(environ_base=environ):
            if not flask_login.login_user(user, **options):
                raise RuntimeError(
                    f"'{label}.login()': Flask-Login refused to log {user!r} in:"
                    " its 'is_active' is false. Pass force=True to log it in"
                    " anyway."
                )
            return dict(session)

    written = contextvars.Context().run(log_in)
    with client.session_transaction() as session:
        session.update(written)
    return list(written)


def log_out(client: FlaskClient, keys: t.Iterable[str]) -> None:
    """Remove what :func:`log_in` wrote from the client's session."""
    with client.session_transaction() as session:
        for key in keys:
            session.pop(key, None)
