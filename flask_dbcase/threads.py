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

    Those of threads no test started go on to the hook that was there before
    (which prints them), when the last class ends. pytest puts a hook of its
    own around each test: :meth:`watch` at each test's start goes in front of
    it.
    """

    def __init__(self) -> None:
        self._users = 0
        self._lock = threading.Lock()
        self._previous = threading.excepthook
        self._seen: list[threading.ExceptHookArgs] = []

    def start(self) -> None:
        with self._lock:
            self._users += 1
        self.watch()

    def watch(self) -> None:
        """Be the hook that threads' exceptions reach first."""
        if threading.excepthook != self._hook:
            self._previous = threading.excepthook
            threading.excepthook = self._hook

    def stop(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users:
                return
            left, self._seen = self._seen, []
            if threading.excepthook == self._hook:
                threading.excepthook = self._previous
        for args in left:
            self._previous(args)

    def _hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        with self._lock:
            self._seen.append(args)

    def take(self, before: frozenset[threading.Thread]) -> list[str]:
        """The exceptions of threads not in ``before``, as ``name: traceback``;
        forgotten once taken."""
        with self._lock:
            mine = [args for args in self._seen if args.thread not in before]
            self._seen = [args for args in self._seen if args.thread in before]
        return [
            f"{args.thread.name if args.thread else '?'!r}:\n"
            + "".join(
                traceback.format_exception(
                    args.exc_type, args.exc_value, args.exc_traceback
                )
            )
            for args in mine
        ]


thread_errors = ThreadErrors()
