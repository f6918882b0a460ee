"""The threads a test starts: waited for, and their exceptions reported."""

from __future__ import annotations

import threading
import time
import traceback


def started(before: frozenset[threading.Thread]) -> list[threading.Thread]:
    """The threads running now that were not in ``before``."""
    return [thread for thread in threading.enumerate() if thread not in before]


def join_started(
    before: frozenset[threading.Thread], timeout: float
) -> list[threading.Thread]:
    """Wait, ``timeout`` seconds in all, for threads not in ``before``; return
    those still running."""
    found = started(before)
    if not found:
        return []
    deadline = time.monotonic() + timeout
    for thread in found:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [thread for thread in found if thread.is_alive()]


class ThreadErrors:
    """While test classes run, keep the exceptions that end threads, so that
    the test that started a thread fails with them.

    The previous :func:`threading.excepthook` still runs (it prints them).
    """

    def __init__(self) -> None:
        self._users = 0
        self._lock = threading.Lock()
        self._previous = threading.excepthook
        self._seen: list[tuple[threading.Thread | None, str]] = []

    def start(self) -> None:
        with self._lock:
            if self._users == 0:
                self._previous = threading.excepthook
                threading.excepthook = self._hook
            self._users += 1

    def stop(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                if threading.excepthook == self._hook:
                    threading.excepthook = self._previous
                self._seen.clear()

    def _hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not SystemExit:
            text = "".join(
                traceback.format_exception(
                    args.exc_type, args.exc_value, args.exc_traceback
                )
            )
            with self._lock:
                self._seen.append((args.thread, text))
        self._previous(args)

    def take(self, before: frozenset[threading.Thread]) -> list[str]:
        """The exceptions of threads not in ``before``, as ``name: traceback``;
        forgotten once taken."""
        with self._lock:
            mine = [(t, text) for t, text in self._seen if t not in before]
            self._seen = [(t, text) for t, text in self._seen if t in before]
        return [f"{t.name if t else '?'!r}:\n{text}" for t, text in mine]


thread_errors = ThreadErrors()
