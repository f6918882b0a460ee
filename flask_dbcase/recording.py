"""What the app rendered and flashed during a test, as the response assertions
read it: recorded from Flask's signals, each template with the request of the
test client that rendered it."""

from __future__ import annotations

import typing as t

import jinja2
from flask import has_request_context
from flask import message_flashed
from flask import request
from flask import template_rendered

from .client import REQUEST_KEY

if t.TYPE_CHECKING:
    from flask import Flask
    from werkzeug.test import TestResponse


class RenderedTemplate(t.NamedTuple):
    """A template the app rendered during the test, and its context.

    .. versionadded:: 0.1
    """

    #: The template's name (``None`` for one rendered from a string).
    name: str | None
    #: The variables it was rendered with, as Flask passed them.
    context: dict[str, t.Any]


class _SilentTemplate(jinja2.Template):
    """A template that renders nothing, for tests that skip rendering."""

    def render(self, *args: t.Any, **kwargs: t.Any) -> str:
        return ""

    def generate(self, *args: t.Any, **kwargs: t.Any) -> t.Iterator[str]:
        return iter(())


class Recorder:
    """Record, for one app, the templates rendered and the messages flashed,
    and by which request of the test client.

    .. versionadded:: 0.1
    """

    def __init__(self, app: Flask, render: bool) -> None:
        self.app = app
        self.templates: list[RenderedTemplate] = []
        #: For each template, the number of the client's request it was rendered
        #: in (:data:`~flask_dbcase.client.REQUEST_KEY`), or ``None``.
        self.requests: list[int | None] = []
        #: ``(message, category)``, in Flask-Testing's order.
        self.flashed: list[tuple[str, str]] = []
        self._render = render
        self._saved_class: type[jinja2.Template] | None = None

    def clear(self) -> None:
        """Forget what was recorded: a new test begins.

        .. versionadded:: 0.1
        """
        self.templates = []
        self.requests = []
        self.flashed = []

    def start(self) -> None:
        """Record from now on; with rendering off, render nothing.

        .. versionadded:: 0.1
        """
        template_rendered.connect(self._rendered, self.app, weak=False)
        message_flashed.connect(self._flashed, self.app, weak=False)
        if not self._render:
            env = self.app.jinja_env
            self._saved_class = env.template_class
            env.template_class = _SilentTemplate
            if env.cache is not None:
                env.cache.clear()

    def stop(self) -> None:
        """Stop recording, and render again.

        .. versionadded:: 0.1
        """
        template_rendered.disconnect(self._rendered, self.app)
        message_flashed.disconnect(self._flashed, self.app)
        if self._saved_class is not None:
            env = self.app.jinja_env
            env.template_class = self._saved_class
            if env.cache is not None:
                env.cache.clear()

    def _rendered(
        self,
        app: Flask,
        template: jinja2.Template,
        context: dict[str, t.Any],
        **kw: t.Any,
    ) -> None:
        self.templates.append(RenderedTemplate(template.name, dict(context)))
        number = request.environ.get(REQUEST_KEY) if has_request_context() else None
        self.requests.append(number)

    def rendered_by(self, response: TestResponse) -> list[str | None] | None:
        """The names of the templates rendered for ``response``, the requests
        of the redirects it followed included; ``None`` if the response did not
        come from the test's client.

        .. versionadded:: 0.1
        """
        number = response.request.environ.get(REQUEST_KEY)
        if number is None:
            return None
        return [
            template.name
            for template, rendered_in in zip(self.templates, self.requests, strict=True)
            if rendered_in == number
        ]

    def _flashed(self, app: Flask, message: str, category: str, **kw: t.Any) -> None:
        self.flashed.append((message, category))
