"""Databases in messages: URLs with their secrets hidden, binds by name."""

from __future__ import annotations

import re
import typing as t

import sqlalchemy as sa

#: Query parameters that drivers take as secrets (``password``, ``passwd``,
#: ``sslpassword``, ``PWD``, access tokens and keys).
_SECRET = re.compile(r"pass|pwd|secret|token|key|credential", re.IGNORECASE)


def secrets(url: sa.URL) -> list[str]:
    """The secret values in ``url``: its password, and secret query parameters."""
    found = [str(url.password)] if url.password else []
    for name, value in url.query.items():
        if _SECRET.search(name):
            values = value if isinstance(value, tuple) else (value,)
            found.extend(v for v in values if v)
    return found


_HIDDEN = "flask-dbcase-hidden"


def describe_url(url: sa.URL) -> str:
    """Render a URL for a message, with the password and other secrets hidden."""
    query = {
        name: (_HIDDEN if _SECRET.search(name) else value)
        for name, value in url.query.items()
    }
    text = url.set(query=query).render_as_string(hide_password=True)
    return repr(text.replace(_HIDDEN, "***"))


def describe_bind(key: str | None) -> str:
    """Name a Flask-SQLAlchemy bind for a message: ``the default database`` for
    the bind without a key, ``bind 'key'`` for the others."""
    return "the default database" if key is None else f"bind {key!r}"


def redact(text: str, *urls: sa.URL) -> str:
    """Replace the secrets of ``urls`` in ``text`` (a driver's message) by ``***``."""
    found = {secret for url in urls for secret in secrets(url)}
    for secret in sorted(found, key=len, reverse=True):  # "pw" after "pw2"
        text = text.replace(secret, "***")
    return text


def is_memory_sqlite(url: sa.URL) -> bool:
    """Tell whether the URL names an in-memory SQLite database."""
    if url.get_backend_name() != "sqlite":
        return False
    name = url.database or ""
    return (
        name in ("", ":memory:")
        or name.startswith("file::memory:")
        or url.query.get("mode") == "memory"
    )


def reason(error: BaseException, *urls: sa.URL) -> str:
    """The driver's words for ``error``, without the secrets of ``urls``: one
    line, ending as a sentence does."""
    original: t.Any = getattr(error, "orig", None) or error
    lines = [" ".join(line.split()) for line in str(original).splitlines()]
    sentences = [_sentence(line) for line in lines if line]
    return redact(" ".join(sentences) or type(original).__name__, *urls)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else text + "."
