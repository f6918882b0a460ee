"""A real HTTP server in a thread, serving the test class's app."""

from __future__ import annotations

import threading
import traceback
import typing as t

from flask import got_request_exception
from flask import request
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import make_server
from werkzeug.serving import WSGIRequestHandler

if t.TYPE_CHECKING:
    from flask import Flask


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without the line it logs for every request."""

    def log_request(self, *args: t.Any, **kwargs: t.Any) -> None:
        pass


class LiveServer:
    """Serve ``app`` with Werkzeug's threaded server, in a daemon thread.

    The socket is bound before :meth:`start` returns, so the server accepts
    connections at once. Exceptions raised by views are recorded, for the test
    case to report.
    """

    def __init__(self, app: Flask, host: str, port: int, label: str) -> None:
        self.app = app
        self.errors: list[str] = []
        self._lock = threading.Lock()
        try:
            self._server: BaseWSGIServer = make_server(
                host, port, app, threaded=True, request_handler=_QuietHandler
            )
        except SystemExit:
            # Werkzeug ends the process when the address is taken, after saying
            # so: here only the class fails, and the run goes on.
            raise OSError(
                f"{label} cannot start its live server on {host}:{port}: the"
                f" address is in use. Set '{label[1:-1]}.live_server_port' to 0"
                " (a free port, the default), or to a port nothing listens on."
            ) from None
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"flask_dbcase live server {self.url}",
            daemon=True,
        )

    def start(self) -> None:
        got_request_exception.connect(self._record, self.app, weak=False)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        """Stop serving and wait for the thread; requests in flight get ``timeout``."""
        got_request_exception.disconnect(self._record, self.app)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError(
                f"The live server at {self.url} did not stop within {timeout} s."
            )

    def take_errors(self) -> list[str]:
        with self._lock:
            errors, self.errors = self.errors, []
        return errors

    def _record(self, app: Flask, exception: BaseException, **kw: t.Any) -> None:
        trace = "".join(traceback.format_exception(exception))
        with self._lock:
            self.errors.append(
                f"{request.method} {request.full_path.rstrip('?')}:\n{trace}"
            )
