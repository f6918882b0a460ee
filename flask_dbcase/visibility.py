"""Strict commit visibility: a request that loads a row the test flushed but
never committed fails the test, since on a server it would not see that row.

The test and its requests share one connection, so the database cannot hide
such rows from the request. Instead the test's flushes are noted, by identity,
until the test's session commits or rolls back, and every object a request
loads through the ORM is looked up among them.
"""

from __future__ import annotations

import contextvars
import typing as t

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapper
from sqlalchemy.orm import Session

from .callers import caller

# A failure points at the test's line: unittest, and pytest, leave the frames of
# modules that set this out of its traceback.
__unittest = True

#: Set in the test's own context, never in a request's: a request runs in a
#: new, empty context (see client.py).
_in_test: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "flask_dbcase_in_test", default=False
)


class VisibilityWatch:
    """For a class's tests: the rows the running test flushed and has not
    committed, and what its requests loaded of them."""

    def __init__(self) -> None:
        #: Identity key -> (the object as shown, where it was flushed from).
        self.uncommitted: dict[t.Any, tuple[str, str]] = {}
        #: What the current request loaded of them.
        self.seen: list[tuple[str, str]] = []
        self._token: contextvars.Token[bool] | None = None

    def start(self) -> None:
        """Listen to every session and mapper, for the class."""
        for target, name, listener in self._listeners():
            event.listen(target, name, listener)

    def stop(self) -> None:
        for target, name, listener in self._listeners():
            event.remove(target, name, listener)

    def begin_test(self) -> None:
        """Mark the test's own context: what runs in it is the test's."""
        self.uncommitted.clear()
        self._token = _in_test.set(True)

    def end_test(self) -> None:
        if self._token is not None:
            _in_test.reset(self._token)
            self._token = None
        self.uncommitted.clear()

    def _listeners(self) -> list[tuple[t.Any, str, t.Callable[..., None]]]:
        return [
            (Session, "after_flush", self._flushed),
            (Session, "after_commit", self._committed),
            (Session, "after_soft_rollback", self._rolled_back),
            (Mapper, "load", self._loaded),
            (Mapper, "refresh", self._refreshed),
        ]

    def _flushed(self, session: Session, context: t.Any) -> None:
        if not _in_test.get():
            return
        where = caller()
        for obj in session.new:
            # Its identity is not on it yet: the flush is still being finished.
            state = sa.inspect(obj)
            key = state.mapper.identity_key_from_instance(obj)
            self.uncommitted[key] = (_shown(state.mapper, key), where)
        for obj in session.dirty:
            state = sa.inspect(obj)
            if state.key is not None and session.is_modified(obj):
                self.uncommitted[state.key] = (_shown(state.mapper, state.key), where)
        for obj in session.deleted:
            self.uncommitted.pop(sa.inspect(obj).key, None)

    def _committed(self, session: Session) -> None:
        # Also called when a savepoint (begin_nested) is released: not a commit.
        if _in_test.get() and not session.in_nested_transaction():
            self.uncommitted.clear()

    def _rolled_back(self, session: Session, previous: t.Any) -> None:
        # What a savepoint held is gone; what is left cannot be told apart
        # from it, so nothing is held against the requests any more.
        if _in_test.get():
            self.uncommitted.clear()

    def _loaded(self, target: t.Any, context: t.Any) -> None:
        if self.uncommitted and not _in_test.get():
            found = self.uncommitted.get(sa.inspect(target).key)
            if found is not None and found not in self.seen:
                self.seen.append(found)

    def _refreshed(self, target: t.Any, context: t.Any, attrs: t.Any) -> None:
        self._loaded(target, context)

    def watch(self, send: t.Callable[[], t.Any]) -> t.Any:
        """Send a request; fail if it loaded a row the test had not committed."""
        self.seen = []
        response = send()
        if self.seen:
            rows = "".join(
                f"\n  {shown}, flushed at {where}" for shown, where in self.seen
            )
            request = response.request
            path = request.full_path.rstrip("?")
            raise AssertionError(
                f"{request.method} {path} read row(s) the test flushed but did not"
                f" commit:{rows}\nOn a server the request would not see them."
                " Commit them in the test (db.session.commit()) before the request."
            )
        return response


def _shown(mapper: Mapper[t.Any], key: t.Any) -> str:
    identity = ", ".join(
        f"{column.key}={value!r}"
        for column, value in zip(mapper.primary_key, key[1], strict=True)
    )
    return f"{mapper.class_.__name__}({identity})"
