"""Assertions on test client responses, rendered templates and flashed messages."""

from __future__ import annotations

import json
import typing as t
import unittest
from http import HTTPStatus
from urllib.parse import parse_qsl
from urllib.parse import quote
from urllib.parse import unquote_to_bytes
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from .html import count as _count_html
from .html import parse_html as _parse_html
from .recording import RenderedTemplate

# A failure points at the test's line: unittest, and pytest, leave the frames of
# modules that set this out of its traceback.
__unittest = True

if t.TYPE_CHECKING:
    from flask import Flask
    from werkzeug.test import TestResponse

    from .recording import Recorder

    _TestCase = unittest.TestCase
else:
    _TestCase = object

#: The status codes a redirect may have.
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})

#: The port each scheme has unless a URL names another.
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

#: What a path segment, the query and the fragment may hold unencoded (RFC 3986).
_SEGMENT_SAFE = "!$&'()*+,;=:@"
_QUERY_SAFE = "!$'()*,;:@/?"
_FRAGMENT_SAFE = _SEGMENT_SAFE + "/?"


# radon C, essential: one step per part of a URL that RFC 3986 normalises.
def normalized_url(url: str, base: str = "http://localhost/") -> str:
    """``url`` resolved against ``base`` and written one way, so that two URLs
    a browser treats alike compare equal.

    The scheme and host are lowercased, an international host written in IDNA
    and a default port dropped; dot segments are resolved; each part is decoded
    and encoded again byte for byte (``%7E`` and ``~``, a space and ``%20``, are
    one; ``%FF`` and ``%FE`` stay two), an encoded ``/`` in a path staying
    encoded; in the query, ``+`` is a space and the parameters are sorted by
    name, those of one name keeping their order, which a form's list depends on.

    .. versionadded:: 0.1
    """
    parts = urlsplit(urljoin(base, _ascii(url)))
    scheme = parts.scheme.lower()
    netloc = _host(parts.hostname or "")
    if parts.username is not None:
        user = parts.username
        if parts.password is not None:
            user = f"{user}:{parts.password}"
        netloc = f"{user}@{netloc}"
    try:
        port = parts.port
    except ValueError:  # not a port: compared as written
        netloc = parts.netloc.lower()
    else:
        if port is not None and port != _DEFAULT_PORTS.get(scheme):
            netloc = f"{netloc}:{port}"
    segments = _without_dots(parts.path).split("/")
    path = "/".join(quote(unquote_to_bytes(part), _SEGMENT_SAFE) for part in segments)
    if netloc and not path:
        path = "/"
    # Latin-1 maps each byte to one character: no two byte strings collapse.
    pairs = parse_qsl(parts.query, keep_blank_values=True, encoding="latin-1")
    pairs.sort(key=lambda pair: pair[0])
    query = urlencode(pairs, quote_via=quote, safe=_QUERY_SAFE, encoding="latin-1")
    fragment = quote(unquote_to_bytes(parts.fragment), _FRAGMENT_SAFE)
    return urlunsplit((scheme, netloc, path, query, fragment))


#: Every printable ASCII character: the rest is written as UTF-8 escapes, as a
#: browser sends it.
_PRINTABLE = "".join(chr(code) for code in range(0x21, 0x7F))


def _ascii(url: str) -> str:
    """``url`` with its non-ASCII characters and spaces written as UTF-8
    escapes, its host aside, which IDNA writes."""
    parts = urlsplit(url)
    if parts.hostname and not parts.hostname.isascii():
        url = urlunsplit(
            parts._replace(
                netloc=parts.netloc.replace(parts.hostname, _host(parts.hostname))
            )
        )
    return quote(url, safe=_PRINTABLE)


def _host(host: str) -> str:
    host = host.lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:  # not a name IDNA can write: compared as written
            pass
    return f"[{host}]" if ":" in host else host  # an IPv6 address


def _without_dots(path: str) -> str:
    """``path`` with its ``.`` and ``..`` segments resolved (RFC 3986, 5.2.4)."""
    if "." not in path:
        return path
    kept: list[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == ".":
            if last:
                kept.append("")
        elif segment == "..":
            if len(kept) > 1:
                kept.pop()
            if last:
                kept.append("")
        else:
            kept.append(segment)
    return "/".join(kept)


class ResponseAssertions(_TestCase):
    """Assertions on the responses of :attr:`~flask_dbcase.ClientTestCase.client`.

    The names a Flask-Testing user knows keep their meaning.

    .. versionadded:: 0.1
    """

    def _dbcase_responses(self) -> tuple[Flask | None, Recorder | None]:
        """What the response assertions read of the test case: its app, and
        what the running test rendered and flashed (``None`` outside a test).
        The test case answers."""
        return None, None

    def _app_url(self) -> str:
        """Where the test client's requests go (see :func:`_base_url`)."""
        app, _ = self._dbcase_responses()
        return _base_url(app)

    def _recorder(self) -> Recorder:
        _, recorder = self._dbcase_responses()
        if recorder is None:
            raise RuntimeError(
                f"{type(self).__qualname__!r} records templates and flashed"
                " messages while a test of the class runs."
            )
        return recorder

    @property
    def rendered_templates(self) -> list[RenderedTemplate]:
        """The templates rendered during the current test, in order.

        .. versionadded:: 0.1
        """
        return self._recorder().templates

    @property
    def flashed_messages(self) -> list[tuple[str, str]]:
        """The messages flashed during the current test, as ``(message,
        category)``: Flask-Testing's order, not ``get_flashed_messages``'.

        .. versionadded:: 0.1
        """
        return self._recorder().flashed

    # -- status ----------------------------------------------------------------

    def assertStatus(
        self, response: TestResponse, status_code: int, msg: str | None = None
    ) -> None:
        """Fail unless the response has this status code.

        The failure names the request and shows the start of the body.

        .. versionadded:: 0.1
        """
        if response.status_code != status_code:
            self.fail(
                self._formatMessage(
                    msg,
                    f"Expected status {status_code}, got {_status_line(response)}"
                    f" for {_request_line(response)}.{_body_excerpt(response)}",
                )
            )

    def assert200(self, response: TestResponse, msg: str | None = None) -> None:
        """Fail unless the status is 200 OK.

        .. versionadded:: 0.1
        """
        self.assertStatus(response, 200, msg)

    def assert201(self, response: TestResponse, msg: str | None = None) -> None:
        """Fail unless the status is 201 Created.

        .. versionadded:: 0.1
        """
        self.assertStatus(response, 201, msg)

    def assert204(self, response: TestResponse, msg: str | None = None) -> None:
        """Fail unless the status is 204 No Content.

        .. versionadded:: 0.1
        """
        self.assertStatus(response, 204, msg)

    def assert400(self, response: TestResponse, msg: str | None = None) -> None:
        """Fail unless the status is 400 Bad Request.

        .. versionadded:: 0.1
        """
        self.assertStatus(response, 400, msg)

    def assert401(self, response: TestResponse, msg: str | None = None) -> None:
        """Fail unless the status is 401 Unauthorized.

        .. versionadded:: 0.1
        """
        self.assertStatus(response, 401, msg)

    def assert403(self, response: TestResponse, msg: str | None = None) -> None:
        """Fail unless the status is 403 Forbidden.

        .. versionadded:: 0.1
        """
        self.assertStatus(response, 403, msg)

    def assert404(self, response: TestResponse, msg: str | None = None) -> None:
        """Fail unless the status is 404 Not Found.

        .. versionadded:: 0.1
        """
        self.assertStatus(response, 404, msg)

    def assert405(self, response: TestResponse, msg: str | None = None) -> None:
        """Fail unless the status is 405 Method Not Allowed.

        .. versionadded:: 0.1
        """
        self.assertStatus(response, 405, msg)

    def assert409(self, response: TestResponse, msg: str | None = None) -> None:
        """Fail unless the status is 409 Conflict.

        .. versionadded:: 0.1
        """
        self.assertStatus(response, 409, msg)

    def assert422(self, response: TestResponse, msg: str | None = None) -> None:
        """Fail unless the status is 422 Unprocessable Content.

        .. versionadded:: 0.1
        """
        self.assertStatus(response, 422, msg)

    def assert500(self, response: TestResponse, msg: str | None = None) -> None:
        """Fail unless the status is 500 Internal Server Error.

        .. versionadded:: 0.1
        """
        self.assertStatus(response, 500, msg)

    def assertRedirects(
        self,
        response: TestResponse,
        location: str,
        msg: str | None = None,
        *,
        status_code: int | None = None,
        target_status_code: int | None = None,
    ) -> None:
        """Fail unless the response redirects to ``location``.

        Any redirect status passes (301, 302, 303, 307, 308) unless
        ``status_code`` names one. ``location`` and the ``Location`` header may
        each be relative or absolute: both are resolved against the request's
        URL before they are compared. With ``target_status_code``, the target is
        requested too, and must answer with that status.

        A response whose redirects the client followed (``follow_redirects=True``)
        is checked as Django checks one: its first hop must be a redirect
        (``status_code`` if given), the chain must end at ``location``, and the
        final response must have ``target_status_code``, if given.

        .. versionadded:: 0.1
        """
        history = getattr(response, "history", ())
        self._check_redirect(
            history[0] if history else response, location, msg, status_code
        )
        if history:
            # Followed already: the chain must end at the location.
            final = response.request.url
            if normalized_url(final, final) != normalized_url(location, final):
                self.fail(
                    self._formatMessage(
                        msg,
                        f"{_request_line(history[0])} led to {final!r} after"
                        f" {len(history)} redirect(s), not to {location!r}.",
                    )
                )
            if target_status_code is not None:
                self.assertStatus(response, target_status_code, msg)
            return
        header = response.headers.get("Location", "")
        request = getattr(response, "request", None)  # none: made by hand
        base = request.url if request is not None else self._app_url()
        if normalized_url(header, base) != normalized_url(location, base):
            self.fail(
                self._formatMessage(
                    msg,
                    f"{_request_line(response)} redirects to {header!r}, not to"
                    f" {location!r}.",
                )
            )
        if target_status_code is not None:
            target = self._request_target(urljoin(base, header))
            self.assertStatus(target, target_status_code, msg)

    def _check_redirect(
        self,
        response: TestResponse,
        location: str,
        msg: str | None,
        status_code: int | None,
    ) -> None:
        """Fail unless ``response`` is a redirect, with ``status_code`` if given."""
        request = _request_line(response)
        if response.status_code not in REDIRECT_CODES:
            self.fail(
                self._formatMessage(
                    msg,
                    f"Expected a redirect to {location!r}, got {_status_line(response)}"
                    f" for {request}.{_body_excerpt(response)}",
                )
            )
        if status_code is not None and response.status_code != status_code:
            self.fail(
                self._formatMessage(
                    msg,
                    f"Expected a {status_code} redirect, got {_status_line(response)}"
                    f" for {request}.",
                )
            )

    def _request_target(self, url: str) -> TestResponse:
        """Request a redirect's target with the test's client."""
        client = getattr(self, "client", None)
        if client is None:
            raise TypeError("target_status_code needs the test's 'client'.")
        try:
            return t.cast("TestResponse", client.get(url))
        except AssertionError as error:
            if _raised_here(error):
                # A check of the client's own (strict_commit_visibility,
                # max_queries_per_request) failed the request: a failure.
                raise
            # Not this assertion's failure: unittest would cut the app's
            # frames off it, as it cuts those of this module.
            raise RuntimeError(
                f"Requesting the redirect's target {url!r} raised an"
                " AssertionError in the app (its traceback is above)."
            ) from error

    def assertURLEqual(self, first: str, second: str, msg: str | None = None) -> None:
        """Fail unless the URLs ``first`` and ``second`` are the same once
        normalised (see :func:`normalized_url`): query order, percent-encoding,
        ``+`` for a space in the query and default ports do not matter. A
        relative URL is resolved against the app's: ``http://localhost/``
        unless ``SERVER_NAME`` says otherwise, as for the test client.

        .. versionadded:: 0.1
        """
        base = self._app_url()
        one, other = normalized_url(first, base), normalized_url(second, base)
        if one != other:
            self.fail(
                self._formatMessage(
                    msg, f"{first!r} != {second!r} (normalised: {one} != {other})."
                )
            )

    # -- body --------------------------------------------------------------

    def assertContains(
        self,
        response: TestResponse,
        text: str | bytes,
        count: int | None = None,
        status_code: int = 200,
        msg: str | None = None,
        *,
        html: bool = False,
    ) -> None:
        """Fail unless the response has ``status_code`` and its body ``text``.

        With ``count``, ``text`` must occur exactly that many times. With
        ``html``, the body and ``text`` are compared as HTML: attribute order and
        whitespace do not matter, and ``text`` must be whole elements.

        .. versionadded:: 0.1
        """
        self.assertStatus(response, status_code, msg)
        found, needle = _occurrences(response, text, html)
        if count is None and not found:
            self.fail(
                self._formatMessage(
                    msg,
                    f"{needle!r} not found in the response to"
                    f" {_request_line(response)}.{_body_excerpt(response)}",
                )
            )
        if count is not None and found != count:
            self.fail(
                self._formatMessage(
                    msg,
                    f"{needle!r} found {found} time(s) in the response to"
                    f" {_request_line(response)}, expected {count}.",
                )
            )

    def assertNotContains(
        self,
        response: TestResponse,
        text: str | bytes,
        status_code: int = 200,
        msg: str | None = None,
        *,
        html: bool = False,
    ) -> None:
        """Fail unless the response has ``status_code`` and not ``text``.

        .. versionadded:: 0.1
        """
        self.assertStatus(response, status_code, msg)
        found, needle = _occurrences(response, text, html)
        if found:
            self.fail(
                self._formatMessage(
                    msg,
                    f"{needle!r} found {found} time(s) in the response to"
                    f" {_request_line(response)}.",
                )
            )

    def assertJSONEqual(
        self,
        response: TestResponse | str | bytes,
        expected: t.Any,
        msg: str | None = None,
    ) -> None:
        """Fail unless the JSON body (or JSON text) equals ``expected``.

        .. versionadded:: 0.1
        """
        self.assertEqual(_json(self, response), expected, msg)

    def assertJSONSubset(
        self,
        response: TestResponse | str | bytes,
        expected: t.Any,
        msg: str | None = None,
    ) -> None:
        """Fail unless the JSON body has everything ``expected`` has.

        Objects may have more keys than ``expected``; arrays must have the same
        length, and their items are compared in turn the same way. The failure
        names the first place that differs, such as ``$.books[1].title``.

        .. versionadded:: 0.1
        """
        actual = _json(self, response)
        problem = _subset_problem(actual, expected, "$")
        if problem:
            self.fail(self._formatMessage(msg, problem))

    # -- templates and flashed messages --------------------------------------

    @t.overload
    def assertTemplateUsed(
        self, name: str, /, msg: str | None = None, *, count: int | None = None
    ) -> _WholeTest: ...

    @t.overload
    def assertTemplateUsed(
        self,
        response: TestResponse,
        name: str,
        /,
        msg: str | None = None,
        *,
        count: int | None = None,
    ) -> _WholeTest: ...

    def assertTemplateUsed(
        self,
        name_or_response: str | TestResponse,
        /,
        *args: t.Any,
        count: int | None = None,
        **kwargs: t.Any,
    ) -> _WholeTest:
        """Fail unless the template ``name`` was rendered: ``count`` times, or
        at least once.

        ``assertTemplateUsed(name)`` looks at the whole test so far, as
        Flask-Testing does; ``assertTemplateUsed(response, name)`` only at what
        that response rendered, the redirects it followed included, as Django
        does. To check what a block renders, Django's ``with
        assertTemplateUsed(name):``, use :meth:`assertRendersTemplate`.

        Works also with :attr:`~flask_dbcase.ClientTestCase.render_templates`
        set to ``False``. A template included or extended counts as rendered
        only if Flask's ``render_template`` rendered it by name.

        .. versionadded:: 0.1
        """
        name, msg, names, scope = self._template_args(
            "assertTemplateUsed", name_or_response, args, kwargs
        )
        # Django's block form reads the same, and fails here when the block's
        # template was not rendered before it: the message says what to write.
        hint = "" if scope else f" To check a block, use {_block_form(name)}."
        _check_rendered(self, name, names, count, msg, scope, hint)
        return _WholeTest(name)

    @t.overload
    def assertTemplateNotUsed(self, name: str, /, msg: str | None = None) -> None: ...

    @t.overload
    def assertTemplateNotUsed(
        self, response: TestResponse, name: str, /, msg: str | None = None
    ) -> None: ...

    def assertTemplateNotUsed(
        self, name_or_response: str | TestResponse, /, *args: t.Any, **kwargs: t.Any
    ) -> None:
        """Fail if the template ``name`` was rendered during the test, or, given
        a response first, for that response.

        .. versionadded:: 0.1
        """
        name, msg, names, scope = self._template_args(
            "assertTemplateNotUsed", name_or_response, args, kwargs
        )
        if name in names:
            self.fail(
                self._formatMessage(msg, f"Template {name!r} was rendered{scope}.")
            )

    def assertRendersTemplate(
        self, name: str, msg: str | None = None, *, count: int | None = None
    ) -> t.ContextManager[None]:
        """In a ``with`` block: fail unless the block rendered the template
        ``name``, ``count`` times or at least once, as Django's ``with
        assertTemplateUsed(name):``.

        .. versionadded:: 0.1
        """
        if not isinstance(name, str):
            raise TypeError(
                f"assertRendersTemplate() takes a template's name, not {name!r}."
            )
        return _RendersTemplate(self, name, msg, count)

    def _template_args(
        self,
        method: str,
        first: str | TestResponse,
        args: tuple[t.Any, ...],
        kwargs: dict[str, t.Any],
    ) -> tuple[str, str | None, list[str | None], str]:
        """Read ``(name[, msg])`` or ``(response, name[, msg])``: return the
        name, the message, the names rendered in scope and how to say the scope."""
        usage = f"{method}() takes (name, msg=None) or (response, name, msg=None)"
        try:  # Python binds the arguments, as it would for either signature
            if isinstance(first, str):
                name, msg = _by_name(first, *args, **kwargs)
            else:
                name, msg = _by_response(first, *args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{usage}: {error}") from None
        if isinstance(first, str):
            return (
                name,
                msg,
                [template.name for template in self.rendered_templates],
                "",
            )
        rendered = None
        if hasattr(first, "history") and hasattr(first, "request"):
            rendered = self._recorder().rendered_by(first)
        if rendered is None:
            raise TypeError(
                f"{usage}, the response from the test's client, self.client, whose"
                f" requests are told apart; not {first!r}."
            )
        return name, msg, rendered, f" for {_request_line(first)}"

    def assertContext(self, name: str, value: t.Any, msg: str | None = None) -> None:
        """Fail unless the context variable ``name`` had ``value``.

        The variable is looked up in the templates rendered during the test, the
        first rendered first.

        .. versionadded:: 0.1
        """
        for template in self.rendered_templates:
            if name in template.context:
                self.assertEqual(template.context[name], value, msg)
                return
        names = [template.name for template in self.rendered_templates]
        self.fail(
            self._formatMessage(
                msg, f"No rendered template had the variable {name!r}; {_names(names)}."
            )
        )

    def assertMessageFlashed(
        self, message: str, category: str = "message", msg: str | None = None
    ) -> None:
        """Fail unless ``message`` was flashed with ``category`` during the test.

        .. versionadded:: 0.1
        """
        if (message, category) not in self.flashed_messages:
            flashed = (
                "".join(f"\n  {c!r}: {m!r}" for m, c in self.flashed_messages)
                or " none."
            )
            self.fail(
                self._formatMessage(
                    msg,
                    f"{message!r} was not flashed with category {category!r}."
                    f" Flashed:{flashed}",
                )
            )


def _base_url(app: Flask | None) -> str:
    """Where the test client's requests go: ``http://localhost/``, or the app's
    ``SERVER_NAME``."""
    config = getattr(app, "config", None) or {}
    server = config.get("SERVER_NAME")
    if not server:
        return "http://localhost/"
    return f"{config.get('PREFERRED_URL_SCHEME') or 'http'}://{server}/"


def _request_line(response: TestResponse) -> str:
    request = getattr(response, "request", None)
    if request is None:
        return "the request"
    query = f"?{request.query_string.decode()}" if request.query_string else ""
    return f"{request.method} {request.path}{query}"


def _status_line(response: TestResponse) -> str:
    """The response's status, its reason phrase spelt as :class:`http.HTTPStatus`
    spells it when it is the standard one: Werkzeug before 3.2 sends it upper
    case (``404 NOT FOUND``), from 3.2 on in title case (``404 Not Found``), and a
    failure reads the same on both. Another phrase is shown as the app sent it.
    """
    status: str = response.status
    phrase = status.partition(" ")[2]
    try:
        standard = HTTPStatus(response.status_code).phrase
    except ValueError:
        return status
    if phrase.casefold() != standard.casefold():
        return status
    return f"{response.status_code} {standard}"


def _body_excerpt(response: TestResponse, limit: int = 300) -> str:
    if response.is_streamed:
        return ""
    body = response.get_data(as_text=True).strip()
    if not body:
        return ""
    cut = body[:limit] + (" ..." if len(body) > limit else "")
    return f"\nBody: {cut}"


def _check_rendered(
    case: unittest.TestCase,
    name: str,
    names: list[str | None],
    count: int | None,
    msg: str | None,
    scope: str,
    hint: str = "",
) -> None:
    done = names.count(name)
    if count is None and not done:
        problem = f"Template {name!r} was not rendered{scope}; {_names(names)}.{hint}"
    elif count is not None and done != count:
        problem = (
            f"Template {name!r} was rendered {done} time(s){scope}, expected"
            f" {count}; {_names(names)}."
        )
    else:
        return
    case.fail(case._formatMessage(msg, problem))


def _by_name(name: str, msg: str | None = None) -> tuple[str, str | None]:
    return name, msg


def _by_response(
    response: TestResponse, name: str, msg: str | None = None
) -> tuple[str, str | None]:
    return name, msg


def _raised_here(error: BaseException) -> bool:
    """Whether flask_dbcase raised ``error``, not the code it ran."""
    last = ""  # the module of the innermost frame, unittest's fail() aside
    tb = error.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if not module.startswith("unittest."):
            last = module
        tb = tb.tb_next
    return last.startswith("flask_dbcase.")


def _block_form(name: str) -> str:
    return f"'with self.assertRendersTemplate({name!r}):'"


class _WholeTest:
    """What ``assertTemplateUsed(name)`` returns: it has already checked, so a
    ``with`` statement on it is a mistake to point out, not a block to check."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> t.NoReturn:
        raise TypeError(
            f"assertTemplateUsed({self.name!r}) checks the whole test at once and"
            " is not a context manager. To check what a block renders, write"
            f" {_block_form(self.name)}."
        )

    def __exit__(self, *exc: object) -> None:  # pragma: no cover - never entered
        pass


class _RendersTemplate:
    def __init__(
        self, case: ResponseAssertions, name: str, msg: str | None, count: int | None
    ) -> None:
        self.case = case
        self.name = name
        self.msg = msg
        self.count = count
        self.start: int | None = None

    def __enter__(self) -> None:
        self.start = len(self.case.rendered_templates)

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None:
            return
        rendered = self.case.rendered_templates[self.start :]
        names = [template.name for template in rendered]
        _check_rendered(
            self.case, self.name, names, self.count, self.msg, " in the block"
        )


def _names(names: list[str | None]) -> str:
    if not names:
        return "no template was rendered"
    return "rendered: " + ", ".join(repr(n) for n in names)


def _json(case: unittest.TestCase, response: t.Any) -> t.Any:
    if isinstance(response, (str, bytes)):
        text = response
    else:
        text = response.get_data(as_text=True)
    try:
        return json.loads(text)
    except ValueError as error:
        shown = (
            text[:200] if isinstance(text, str) else text[:200].decode(errors="replace")
        )
        case.fail(f"The body is not JSON ({error}): {shown!r}")


# radon C, essential: one branch per kind of JSON value, walked recursively.
def _subset_problem(actual: t.Any, expected: t.Any, path: str) -> str | None:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected an object, got {actual!r}."
        for key, value in expected.items():
            if key not in actual:
                known = ", ".join(repr(k) for k in actual) or "none"
                return f"{path}: no key {key!r} (keys: {known})."
            problem = _subset_problem(actual[key], value, f"{path}.{key}")
            if problem:
                return problem
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{path}: expected an array, got {actual!r}."
        if len(actual) != len(expected):
            return f"{path}: {len(actual)} item(s), expected {len(expected)}."
        for index, (item, wanted) in enumerate(zip(actual, expected, strict=True)):
            problem = _subset_problem(item, wanted, f"{path}[{index}]")
            if problem:
                return problem
        return None
    if actual != expected or isinstance(actual, bool) != isinstance(expected, bool):
        return f"{path}: {actual!r} != {expected!r}."
    return None


# -- HTML-aware comparison ------------------------------------------------------


def _occurrences(
    response: TestResponse, text: str | bytes, html: bool
) -> tuple[int, str | bytes]:
    if isinstance(text, bytes):
        if not html:
            return response.get_data().count(text), text
        text = text.decode()
    body = response.get_data(as_text=True)
    if not html:
        return body.count(text), text
    return _count_html(_parse_html(body), _parse_html(text)), text
