"""The response assertions of ClientTestCase: each one's passing and failing path,
and the failure's message."""

from __future__ import annotations

import os
import types
import typing as t
import unittest

from flask import abort
from flask import flash
from flask import Flask
from flask import redirect
from flask import render_template
from flask import request
from flask import Response
from flask import url_for
from flask.testing import FlaskClient
from jinja2 import DictLoader

from flask_dbcase import ClientTestCase
from flask_dbcase.html import parse_html
from flask_dbcase.responses import normalized_url
from flask_dbcase.responses import ResponseAssertions

from .support import Author
from .support import Book
from .support import db
from .support import ENGINES
from .support import make_app

TEMPLATES = {
    "base.html": "<main>{% block body %}{% endblock %}</main>",
    "authors.html": (
        '{% extends "base.html" %}{% block body %}'
        '<ul class="authors list">{% for a in authors %}'
        '<li data-id="{{ a.id }}">{{ a.name }}</li>{% endfor %}</ul>'
        "{% for c, m in get_flashed_messages(with_categories=True) %}"
        "<p class={{ c }}>{{ m }}</p>{% endfor %}{% endblock %}"
    ),
    "other.html": "<p>other</p>",
}


def shop_app() -> Flask:
    app = make_app(ENGINES[0], SECRET_KEY="test")
    app.jinja_loader = DictLoader(TEMPLATES)  # type: ignore[assignment]

    @app.get("/list")
    def listing() -> str:
        authors = db.session.scalars(db.select(Author).order_by(Author.name)).all()
        return render_template("authors.html", authors=authors, title="Authors")

    @app.post("/add")
    def add() -> t.Any:
        db.session.add(Author(name="Added"))
        db.session.commit()
        flash("Author added.", "success")
        # Explicit: Werkzeug's default code changed from 302 to 303 in 3.2.
        return redirect(url_for("listing"), 303)

    @app.get("/elsewhere")
    def elsewhere() -> t.Any:
        return redirect("https://example.com/away", 301)

    @app.get("/spaced")
    def spaced() -> t.Any:
        return redirect("/a%20b/?b=2&q=x+y&a=1")

    @app.get("/moved")
    def moved() -> t.Any:
        return redirect("/missing", 307)

    @app.get("/status/<int:code>")
    def status(code: int) -> t.Any:
        if code >= 400:
            abort(code)
        return "", code

    @app.get("/phrase")
    def phrase() -> t.Any:
        return "", request.args["status"]

    @app.get("/api")
    def api() -> t.Any:
        return {"books": [{"id": 1, "title": "Dune", "year": 1965}], "total": 1}

    @app.get("/other")
    def other() -> t.Any:
        return render_template("other.html")

    @app.get("/to-other")
    def to_other() -> t.Any:
        render_template("authors.html", authors=[], title="Before")
        return redirect(url_for("other"))

    @app.get("/empty")
    def empty() -> t.Any:
        return render_template("authors.html", authors=[], title="None")

    @app.get("/long/<int:size>")
    def long(size: int) -> t.Any:
        return "x" * size, 404

    @app.get("/secure")
    def secure() -> t.Any:
        return redirect("https://localhost/list")

    @app.get("/no-location")
    def no_location() -> t.Any:
        return "", 302

    @app.get("/dir/old")
    def old() -> t.Any:
        return redirect("new")  # relative to /dir/

    @app.get("/dir/new")
    def new() -> str:
        return "new"

    @app.post("/add-two")
    def add_two() -> t.Any:
        flash("One.", "info")
        flash("Two.")
        return ""

    return app


class Responses(ClientTestCase):
    create_app = staticmethod(shop_app)

    @classmethod
    def setUpTestData(cls) -> None:
        db.session.add_all([Author(name="Ann"), Author(name="Bob")])

    def message(
        self, function: t.Callable[..., t.Any], *args: t.Any, **kw: t.Any
    ) -> str:
        with self.assertRaises(self.failureException) as raised:
            function(*args, **kw)
        return str(raised.exception)

    def test_status_helpers(self) -> None:
        self.assert200(self.client.get("/list"))
        for code in (201, 204):
            getattr(self, f"assert{code}")(self.client.get(f"/status/{code}"))
        for code in (400, 401, 403, 404, 409, 422, 500):
            getattr(self, f"assert{code}")(self.client.get(f"/status/{code}"))
        self.assert405(self.client.post("/list"))
        self.assertStatus(self.client.get("/status/202"), 202)

    def test_status_failure_names_the_request_and_shows_the_body(self) -> None:
        message = self.message(self.assert200, self.client.get("/status/404?x=1"))
        self.assertTrue(
            message.startswith(
                "Expected status 200, got 404 Not Found for GET /status/404?x=1."
                "\nBody: <!doctype html>"
            ),
            message,
        )
        message = self.message(self.assert404, self.client.get("/list"), "listing")
        self.assertTrue(message.endswith(" : listing"), message)

    def test_every_assertion_adds_msg_to_its_failure(self) -> None:
        listing = self.client.get("/list")
        added = self.client.post("/add")
        followed = self.client.get("/to-other", follow_redirects=True)
        failing: list[t.Callable[[str], object]] = [
            lambda msg: self.assertStatus(listing, 201, msg),
            lambda msg: self.assertRedirects(listing, "/list", msg),
            lambda msg: self.assertRedirects(added, "/list", msg, status_code=302),
            lambda msg: self.assertRedirects(added, "/other", msg),
            lambda msg: self.assertRedirects(
                self.client.get("/moved"), "/missing", msg, target_status_code=200
            ),
            lambda msg: self.assertRedirects(followed, "/list", msg),
            lambda msg: self.assertRedirects(
                followed, "/other", msg, target_status_code=201
            ),
            lambda msg: self.assertContains(listing, "Ann", status_code=201, msg=msg),
            lambda msg: self.assertContains(listing, "Cy", msg=msg),
            lambda msg: self.assertContains(listing, "Ann", 2, msg=msg),
            lambda msg: self.assertNotContains(listing, "Cy", 201, msg),
            lambda msg: self.assertNotContains(listing, "Ann", msg=msg),
            lambda msg: self.assertJSONEqual("[1]", [2], msg),
            lambda msg: self.assertJSONSubset("[1]", [2], msg),
            lambda msg: self.assertTemplateUsed("never.html", msg),
            lambda msg: self.assertTemplateUsed("never.html", msg=msg),
            lambda msg: self.assertTemplateUsed(listing, "other.html", msg=msg),
            lambda msg: self.assertTemplateNotUsed("authors.html", msg),
            lambda msg: self.assertTemplateNotUsed("authors.html", msg=msg),
            lambda msg: self.assertTemplateNotUsed(listing, "authors.html", msg=msg),
            lambda msg: self.assertContext("title", "Other", msg),
            lambda msg: self.assertContext("missing", 1, msg),
            lambda msg: self.assertMessageFlashed("Author added.", msg=msg),
        ]
        for code in (200, 201, 204, 400, 401, 403, 404, 405, 409, 422, 500):
            response = self.client.get("/status/202")
            failing.append(
                lambda msg, code=code, response=response: getattr(
                    self, f"assert{code}"
                )(response, msg)
            )
        for index, call in enumerate(failing):
            with self.subTest(index=index):
                message = self.message(call, "mine")
                self.assertTrue(message.endswith(" : mine"), message)

    def test_status_failure_shows_the_start_of_the_body(self) -> None:
        cases = {
            300: "\nBody: " + "x" * 300,
            301: "\nBody: " + "x" * 300 + " ...",
            0: "",
        }
        for size, shown in cases.items():
            with self.subTest(size=size):
                message = self.message(self.assert200, self.client.get(f"/long/{size}"))
                self.assertEqual(
                    message,
                    f"Expected status 200, got 404 Not Found for GET /long/{size}."
                    + shown,
                )
        # A streamed body is not read: the app may still be sending it.
        message = self.message(self.assert200, Response(iter(["<p>"]), 404))
        self.assertEqual(
            message, "Expected status 200, got 404 Not Found for the request."
        )

    def test_status_phrase_reads_the_same_on_every_werkzeug(self) -> None:
        # Werkzeug 3.2 sends a standard phrase in title case, not upper case; a
        # failure shows it in title case on both. The app's own is shown as sent.
        cases = {
            "404": "404 Not Found",
            "404 NOT FOUND": "404 Not Found",
            "404 not found": "404 Not Found",
            "404 Not here": "404 Not here",
            "299 Mostly OK": "299 Mostly OK",
        }
        for status, shown in cases.items():
            with self.subTest(status=status):
                response = self.client.get("/phrase", query_string={"status": status})
                self.assertEqual(
                    self.message(self.assert200, response),
                    f"Expected status 200, got {shown} for GET {response.request.path}"
                    f"?{response.request.query_string.decode()}.",
                )

    def test_redirects_relative_and_absolute(self) -> None:
        response = self.client.post("/add")
        self.assertEqual(response.headers["Location"], "/list")  # relative
        self.assertRedirects(response, "/list")
        self.assertRedirects(response, "http://localhost/list")
        self.assertRedirects(response, url_for("listing"))
        self.assertRedirects(response, "/list", status_code=303, target_status_code=200)
        self.assertRedirects(self.client.get("/elsewhere"), "https://example.com/away")

    def test_redirects_compare_urls_normalised(self) -> None:
        response = self.client.get("/spaced")
        self.assertRedirects(response, "/a b/?a=1&b=2&q=x%20y")
        self.assertRedirects(response, "http://localhost:80/a%20b/?q=x+y&a=1&b=2")
        message = self.message(self.assertRedirects, response, "/a b/?a=1&b=3&q=x y")
        self.assertEqual(
            message,
            "GET /spaced redirects to '/a%20b/?b=2&q=x+y&a=1', not to"
            " '/a b/?a=1&b=3&q=x y'.",
        )

    def test_url_equal(self) -> None:
        same = [
            ("/a b/", "/a%20b/"),
            ("/search?q=a+b", "/search?q=a%20b"),
            ("/s?a=1&b=2", "/s?b=2&a=1"),
            ("http://localhost:80/x", "/x"),
            ("https://Example.COM:443", "https://example.com/"),
            ("/%7e", "/~"),
            ("/x#top%20part", "/x#top part"),
            (url_for("listing"), "/list"),
            ("http://bücher.example/", "http://xn--bcher-kva.example/"),
            ("http://localhost/a/../x", "/x"),
            ("/a/./b/", "/a/b/"),
            ("/search?q=é", "/search?q=%C3%A9"),
        ]
        for first, second in same:
            with self.subTest(first=first, second=second):
                self.assertURLEqual(first, second)
        different = [
            ("/a%2Fb", "/a/b"),  # an encoded slash is part of the segment
            ("/s?a=1&a=2", "/s?a=2&a=1"),  # a list's order is kept
            ("/s?q=%2B", "/s?q=+"),  # a plus sign, not a space
            ("http://localhost/x", "https://localhost/x"),
            ("http://localhost:8080/x", "/x"),
            ("/x", "/x/"),
            ("/x#a", "/x#b"),
            ("/list?q=", "/list"),
            ("/%FF", "/%FE"),  # bytes that are not UTF-8 stay apart
            ("/s?a=%FF", "/s?a=%FE"),
        ]
        for first, second in different:
            with self.subTest(first=first, second=second):
                with self.assertRaises(self.failureException):
                    self.assertURLEqual(first, second)

    def test_url_equal_with_a_port_that_is_not_one(self) -> None:
        self.assertURLEqual("http://localhost:99999/x", "http://LOCALHOST:99999/x")
        with self.assertRaises(self.failureException):
            self.assertURLEqual("http://localhost:99999/x", "http://localhost/x")

    def test_url_equal_failure(self) -> None:
        message = self.message(self.assertURLEqual, "/s?b=2&a=1", "/s?a=1&b=3")
        self.assertEqual(
            message,
            "'/s?b=2&a=1' != '/s?a=1&b=3' (normalised: http://localhost/s?a=1&b=2"
            " != http://localhost/s?a=1&b=3).",
        )
        message = self.message(self.assertURLEqual, "/x", "/y", "links")
        self.assertTrue(message.endswith(" : links"), message)

    def test_normalized_form(self) -> None:
        # What a failure shows, and what normalized_url() returns.
        cases = {
            "/x": "http://localhost/x",
            "file:///tmp/x": "file:///tmp/x",
            "http://Ann:Secret@Example.COM/": "http://Ann:Secret@example.com/",
            "http://ann@example.com/": "http://ann@example.com/",
            "http://LOCALHOST:99999/x": "http://localhost:99999/x",
            "http://localhost:8080/x": "http://localhost:8080/x",
            "http://[::1]:8080/x": "http://[::1]:8080/x",
            "/s?a=%FF&b=%c3%a9": "http://localhost/s?a=%FF&b=%C3%A9",
            "/s?q=a+b&next=/a/b?c": "http://localhost/s?next=/a/b?c&q=a%20b",
            "/x#a=b/c?d": "http://localhost/x#a=b/c?d",
            # urljoin() leaves the dots of an absolute URL.
            "http://localhost/a/.": "http://localhost/a/",
            "http://localhost/a/./b": "http://localhost/a/b",
            "http://localhost/a/b/..": "http://localhost/a/",
        }
        for url, normalized in cases.items():
            with self.subTest(url=url):
                self.assertEqual(normalized_url(url), normalized)

    def test_url_equal_resolves_against_server_name(self) -> None:
        self.app.config["SERVER_NAME"] = "shop.test"
        self.addCleanup(self.app.config.__setitem__, "SERVER_NAME", None)
        self.assertURLEqual("/x", "http://shop.test/x")
        with self.assertRaises(self.failureException):
            self.assertURLEqual("/x", "http://localhost/x")

    def test_url_equal_resolves_against_the_preferred_scheme(self) -> None:
        config = self.app.config
        self.addCleanup(config.update, config.copy())
        config.update(SERVER_NAME="shop.test", PREFERRED_URL_SCHEME="https")
        self.assertURLEqual("/x", "https://shop.test/x")
        self.assertURLEqual("https://shop.test/x", "/x")
        with self.assertRaises(self.failureException):
            self.assertURLEqual("http://shop.test/x", "/x")
        config["PREFERRED_URL_SCHEME"] = None
        self.assertURLEqual("http://shop.test/x", "/x")

    def test_a_followed_redirect(self) -> None:
        # Django's follow=True: the first hop, the end of the chain, its status.
        response = self.client.post("/add", follow_redirects=True)
        self.assertRedirects(response, "/list")
        self.assertRedirects(response, "/list", status_code=303, target_status_code=200)
        message = self.message(self.assertRedirects, response, "/other")
        self.assertEqual(
            message,
            "POST /add led to 'http://localhost/list' after 1 redirect(s),"
            " not to '/other'.",
        )
        message = self.message(self.assertRedirects, response, "/list", status_code=301)
        self.assertEqual(
            message, "Expected a 301 redirect, got 303 See Other for POST /add."
        )
        # A relative location is resolved against the URL the chain ended at.
        secure = self.client.get("/secure", follow_redirects=True)
        self.assertEqual(secure.request.url, "https://localhost/list")
        self.assertRedirects(secure, "/list")
        moved = self.client.get("/moved", follow_redirects=True)  # to a 404
        message = self.message(
            self.assertRedirects, moved, "/missing", target_status_code=200
        )
        self.assertTrue(message.startswith("Expected status 200, got 404"), message)

    def test_redirect_failures(self) -> None:
        message = self.message(self.assertRedirects, self.client.get("/list"), "/x")
        self.assertTrue(
            message.startswith("Expected a redirect to '/x', got 200 OK for GET /list.")
        )
        message = self.message(self.assertRedirects, self.client.post("/add"), "/other")
        self.assertEqual(message, "POST /add redirects to '/list', not to '/other'.")
        message = self.message(
            self.assertRedirects, self.client.get("/moved"), "/missing", status_code=302
        )
        self.assertEqual(
            message,
            "Expected a 302 redirect, got 307 Temporary Redirect for GET /moved.",
        )
        message = self.message(
            self.assertRedirects,
            self.client.get("/moved"),
            "/missing",
            target_status_code=200,
        )
        self.assertTrue(
            message.startswith(
                "Expected status 200, got 404 Not Found for GET /missing."
            )
        )

    def test_a_redirect_without_a_location_fails(self) -> None:
        message = self.message(
            self.assertRedirects, self.client.get("/no-location"), "/list"
        )
        self.assertEqual(message, "GET /no-location redirects to '', not to '/list'.")

    def test_a_relative_location_is_relative_to_the_request(self) -> None:
        response = self.client.get("/dir/old")
        self.assertEqual(response.headers["Location"], "new")
        self.assertRedirects(response, "/dir/new", target_status_code=200)
        self.assertRedirects(response, "new")
        with self.assertRaises(self.failureException):
            self.assertRedirects(response, "/new")

    def test_a_response_not_from_the_client(self) -> None:
        # A response made by hand, or returned by a view called directly, has
        # no request: the URLs are resolved where the client's requests go,
        # http://localhost/ unless SERVER_NAME says otherwise.
        self.assertRedirects(redirect("/list"), "/list")
        self.assertRedirects(redirect("list"), "http://localhost/list")
        message = self.message(self.assertRedirects, redirect("/list"), "/other")
        self.assertEqual(message, "the request redirects to '/list', not to '/other'.")
        self.app.config["SERVER_NAME"] = "shop.test"
        self.addCleanup(self.app.config.__setitem__, "SERVER_NAME", None)
        self.assertRedirects(redirect("list"), "http://shop.test/list")
        message = self.message(self.assert200, Response("", 404))
        self.assertEqual(
            message, "Expected status 200, got 404 Not Found for the request."
        )

    def test_contains(self) -> None:
        response = self.client.get("/list")
        self.assertContains(response, "Ann")
        self.assertContains(response, b"<li", count=2)
        self.assertNotContains(response, "Cy")
        message = self.message(self.assertContains, response, "Cy")
        self.assertTrue(
            message.startswith(
                "'Cy' not found in the response to GET /list.\nBody: <main>"
            )
        )
        message = self.message(self.assertContains, response, "<li", count=3)
        self.assertEqual(
            message, "'<li' found 2 time(s) in the response to GET /list, expected 3."
        )
        message = self.message(self.assertNotContains, response, "Bob")
        self.assertEqual(message, "'Bob' found 1 time(s) in the response to GET /list.")
        message = self.message(self.assertContains, self.client.get("/missing"), "x")
        self.assertTrue(message.startswith("Expected status 200, got 404"))

    def test_contains_html(self) -> None:
        response = self.client.get("/list")
        ann = self.author_id("Ann")
        # Whitespace, attribute order and class order do not matter.
        needle = f'<li  data-id="{ann}">\n  Ann </li>'
        self.assertContains(response, needle, html=True)
        self.assertNotContains(response, needle)  # as text, it is not there
        self.assertContains(response, '<ul class="list authors">', count=0, html=True)
        self.assertContains(response, "<li>Ann</li>", count=0, html=True)
        self.assertContains(response, "Bob", count=1, html=True)

    def test_contains_html_as_bytes(self) -> None:
        response = self.client.get("/list")
        needle = f'<li  data-id="{self.author_id("Ann")}">\n Ann </li>'
        self.assertContains(response, needle.encode(), html=True)
        self.assertContains(response, b"<li>Ann</li>", count=0, html=True)
        message = self.message(self.assertNotContains, response, needle, html=True)
        self.assertEqual(
            message, f"{needle!r} found 1 time(s) in the response to GET /list."
        )

    def test_parse_html(self) -> None:
        self.assertEqual(
            parse_html('<p class="b a" id=x>Hi <br> there</p>'),
            parse_html("<p id='x' class='a b'>Hi<br/>there</p>"),
        )
        self.assertNotEqual(parse_html("<p>Hi</p>"), parse_html("<p>Ho</p>"))

    def test_json(self) -> None:
        response = self.client.get("/api")
        expected = {"books": [{"id": 1, "title": "Dune", "year": 1965}], "total": 1}
        self.assertJSONEqual(response, expected)
        self.assertJSONEqual('{"a": [1, 2]}', {"a": [1, 2]})
        self.assertJSONSubset(response, {"books": [{"title": "Dune"}]})
        message = self.message(self.assertJSONEqual, response, {"total": 2})
        self.assertIn("'total': 1", message)
        cases = {
            "$.books[0].title: 'Dune' != 'Emma'.": {"books": [{"title": "Emma"}]},
            "$.books: 1 item(s), expected 0.": {"books": []},
            "$: no key 'count' (keys: 'books', 'total').": {"count": 1},
            "$.total: 1 != True.": {"total": True},
            "$.total: expected an object, got 1.": {"total": {}},
        }
        for expected_message, subset in cases.items():
            with self.subTest(subset=subset):
                self.assertEqual(
                    self.message(self.assertJSONSubset, response, subset),
                    expected_message,
                )
        message = self.message(self.assertJSONEqual, self.client.get("/list"), {})
        self.assertTrue(message.startswith("The body is not JSON ("), message)

    def test_a_body_that_is_not_json_fails(self) -> None:
        # As bytes too, in any encoding: the failure shows the start of it.
        cases = {
            "<p>Hi</p>": "'<p>Hi</p>'",
            b"<p>Hi</p>": "'<p>Hi</p>'",
            b"\xff<p>": "'\ufffd<p>'",
            "x" * 250: repr("x" * 200),
            b"x" * 250: repr("x" * 200),
        }
        for body, shown in cases.items():
            for assertion in (self.assertJSONEqual, self.assertJSONSubset):
                with self.subTest(body=body, assertion=assertion.__name__):
                    message = self.message(assertion, body, {})
                    self.assertTrue(message.startswith("The body is not JSON ("))
                    self.assertTrue(message.endswith(f"): {shown}"), message)

    def test_json_subset_of_an_empty_object(self) -> None:
        message = self.message(self.assertJSONSubset, "{}", {"total": 1})
        self.assertEqual(message, "$: no key 'total' (keys: none).")

    def test_templates_and_context(self) -> None:
        self.client.get("/list")
        self.assertTemplateUsed("authors.html")
        self.assertTemplateNotUsed("other.html")
        self.assertContext("title", "Authors")
        self.assertEqual(
            [a.name for a in self.rendered_templates[0].context["authors"]],
            ["Ann", "Bob"],
        )
        message = self.message(self.assertTemplateUsed, "other.html")
        self.assertEqual(
            message,
            "Template 'other.html' was not rendered; rendered: 'authors.html'. To"
            " check a block, use 'with self.assertRendersTemplate('other.html'):'.",
        )
        message = self.message(self.assertTemplateNotUsed, "authors.html")
        self.assertEqual(message, "Template 'authors.html' was rendered.")
        message = self.message(self.assertContext, "title", "Other")
        self.assertIn("'Authors' != 'Other'", message)
        message = self.message(self.assertContext, "missing", 1)
        self.assertEqual(
            message,
            "No rendered template had the variable 'missing';"
            " rendered: 'authors.html'.",
        )

    def test_template_count(self) -> None:
        self.client.get("/list")
        self.client.get("/list")
        self.assertTemplateUsed("authors.html", count=2)
        self.assertTemplateUsed("other.html", count=0)
        message = self.message(self.assertTemplateUsed, "authors.html", count=1)
        self.assertEqual(
            message,
            "Template 'authors.html' was rendered 2 time(s), expected 1; rendered:"
            " 'authors.html', 'authors.html'.",
        )

    def test_templates_of_one_response(self) -> None:
        listing = self.client.get("/list")
        other = self.client.get("/other")
        self.assertTemplateUsed(listing, "authors.html")
        self.assertTemplateUsed(other, "other.html", count=1)
        self.assertTemplateNotUsed(listing, "other.html")
        self.assertTemplateNotUsed(other, "authors.html")
        # The whole test saw both.
        self.assertTemplateUsed("other.html")
        self.assertTemplateUsed("authors.html")
        message = self.message(self.assertTemplateUsed, other, "authors.html")
        self.assertEqual(
            message,
            "Template 'authors.html' was not rendered for GET /other; rendered:"
            " 'other.html'.",
        )
        message = self.message(self.assertTemplateNotUsed, listing, "authors.html")
        self.assertEqual(message, "Template 'authors.html' was rendered for GET /list.")
        message = self.message(
            self.assertTemplateUsed, listing, "authors.html", "mine", count=2
        )
        self.assertEqual(
            message,
            "Template 'authors.html' was rendered 1 time(s) for GET /list, expected"
            " 2; rendered: 'authors.html'. : mine",
        )

    def test_templates_of_a_followed_redirect(self) -> None:
        response = self.client.get("/to-other", follow_redirects=True)
        self.assertTemplateUsed(response, "authors.html")
        self.assertTemplateUsed(response, "other.html")
        # A template rendered in the test itself belongs to no response.
        render_template("other.html")
        self.assertTemplateUsed(response, "other.html", count=1)
        self.assertTemplateUsed("other.html", count=2)

    def test_template_arguments(self) -> None:
        response = self.client.get("/list")
        for call in (
            lambda: self.assertTemplateUsed(1),  # type: ignore[call-overload]
            lambda: self.assertTemplateUsed(response),  # type: ignore[call-overload]
            lambda: self.assertTemplateUsed("a", "b", "c"),  # type: ignore[call-overload]
            lambda: self.assertTemplateNotUsed(response, "a", "b", "c"),  # type: ignore[call-overload]
            lambda: self.assertRendersTemplate(response),  # type: ignore[arg-type]
            # Not from self.client: its requests cannot be told apart.
            lambda: self.assertTemplateUsed(
                FlaskClient(self.app).get("/list"), "authors.html"
            ),
        ):
            with self.subTest(call=call), self.assertRaises(TypeError):
                call()

    def test_template_argument_errors_say_what_is_taken(self) -> None:
        response = self.client.get("/list")
        case: t.Any = self  # the calls are wrong on purpose
        usage = "takes (name, msg=None) or (response, name, msg=None)"
        not_ours = (
            f"{usage}, the response from the test's client, self.client, whose"
            " requests are told apart; not "
        )
        cases: list[tuple[str, t.Callable[[], object]]] = [
            (
                f"assertTemplateUsed() {usage}: ",
                lambda: case.assertTemplateUsed("a", "b", "c"),
            ),
            (
                f"assertTemplateNotUsed() {usage}: ",
                lambda: case.assertTemplateNotUsed(response, "a", "b", "c"),
            ),
            (
                f"assertTemplateUsed() {not_ours}<object",
                lambda: case.assertTemplateUsed(object(), "authors.html"),
            ),
            (
                f"assertTemplateNotUsed() {not_ours}<object",
                lambda: case.assertTemplateNotUsed(object(), "authors.html"),
            ),
            (
                f"assertTemplateNotUsed() {not_ours}namespace(",
                lambda: case.assertTemplateNotUsed(
                    types.SimpleNamespace(history=()), "authors.html"
                ),
            ),
            (
                "assertRendersTemplate() takes a template's name, not <",
                lambda: case.assertRendersTemplate(response),
            ),
        ]
        for start, call in cases:
            with self.subTest(start=start):
                with self.assertRaises(TypeError) as raised:
                    call()
                message = str(raised.exception)
                self.assertTrue(message.startswith(start), message)

    def test_renders_template_in_a_block(self) -> None:
        self.client.get("/list")
        with self.assertRendersTemplate("other.html"):
            self.client.get("/other")
        with self.assertRendersTemplate("authors.html", count=2):
            self.client.get("/list")
            self.client.get("/empty")
        with self.assertRaises(self.failureException) as raised:
            with self.assertRendersTemplate("authors.html"):
                self.client.get("/other")
        self.assertEqual(
            str(raised.exception),
            "Template 'authors.html' was not rendered in the block; rendered:"
            " 'other.html'.",
        )
        with self.assertRaises(self.failureException) as raised:
            with self.assertRendersTemplate("other.html", "mine", count=0):
                self.client.get("/other")
        self.assertEqual(
            str(raised.exception),
            "Template 'other.html' was rendered 1 time(s) in the block, expected 0;"
            " rendered: 'other.html'. : mine",
        )
        # An error in the block is the test's error, not a template failure.
        with self.assertRaises(KeyError):
            with self.assertRendersTemplate("never.html"):
                raise KeyError("x")

    def test_django_block_form_fails_naming_ours(self) -> None:
        with self.assertRaises(self.failureException) as raised:
            with self.assertTemplateUsed("authors.html"):
                self.client.get("/list")
        self.assertIn(
            "To check a block, use 'with self.assertRendersTemplate('authors.html'):'.",
            str(raised.exception),
        )

    def test_template_used_is_not_a_block(self) -> None:
        self.client.get("/list")
        with self.assertRaises(TypeError) as raised:
            with self.assertTemplateUsed("authors.html"):
                self.client.get("/other")
        self.assertEqual(
            str(raised.exception),
            "assertTemplateUsed('authors.html') checks the whole test at once and"
            " is not a context manager. To check what a block renders, write"
            " 'with self.assertRendersTemplate('authors.html'):'.",
        )

    def test_templates_are_per_test(self) -> None:
        message = self.message(self.assertTemplateUsed, "authors.html")
        self.assertEqual(
            message,
            "Template 'authors.html' was not rendered; no template was rendered. To"
            " check a block, use 'with self.assertRendersTemplate('authors.html'):'.",
        )

    def test_flashed_messages(self) -> None:
        response = self.client.post("/add", follow_redirects=True)
        self.assertMessageFlashed("Author added.", "success")
        self.assertContains(response, '<p class="success">Author added.</p>', html=True)
        message = self.message(self.assertMessageFlashed, "Author added.")
        self.assertEqual(
            message,
            "'Author added.' was not flashed with category 'message'."
            " Flashed:\n  'success': 'Author added.'",
        )
        self.assertEqual(self.flashed_messages, [("Author added.", "success")])

    def test_flashed_messages_in_the_failure(self) -> None:
        message = self.message(self.assertMessageFlashed, "One.")
        self.assertEqual(
            message, "'One.' was not flashed with category 'message'. Flashed: none."
        )
        self.client.post("/add-two")
        message = self.message(self.assertMessageFlashed, "One.")
        self.assertEqual(
            message,
            "'One.' was not flashed with category 'message'."
            " Flashed:\n  'info': 'One.'\n  'message': 'Two.'",
        )

    def author_id(self, name: str) -> int:
        return db.session.scalar(db.select(Author.id).where(Author.name == name))  # type: ignore[return-value]


class WithoutRendering(ClientTestCase):
    create_app = staticmethod(shop_app)
    render_templates = False

    def test_templates_seen_but_not_rendered(self) -> None:
        response = self.client.get("/list")
        self.assertEqual(response.get_data(as_text=True), "")
        self.assertTemplateUsed("authors.html")
        self.assertContext("title", "Authors")


def shelf_app() -> Flask:
    app = shop_app()
    app.jinja_loader = DictLoader(  # type: ignore[assignment]
        {
            "shelf.html": "{% for a in authors %}{{ a.name }}:\n"
            "{% for b in a.books %}{{ b.title }},{% endfor %}\n{% endfor %}",
        }
    )

    @app.get("/shelf")
    def shelf() -> str:
        query = db.select(Author).order_by(Author.name)
        if request.args.get("eager"):
            query = query.options(db.selectinload(Author.books))
        return render_template("shelf.html", authors=db.session.scalars(query).all())

    @app.post("/shelve")
    def shelve() -> t.Any:
        return redirect(url_for("shelf"))

    return app


class RepeatedQueriesInRequests(ClientTestCase):
    create_app = staticmethod(shelf_app)
    max_queries_per_request = 1

    @classmethod
    def setUpTestData(cls) -> None:
        for name in ("Ann", "Bob"):
            author = Author(name=name)
            db.session.add_all([author, Book(title=f"{name}'s", author=author)])

    def test_lazy_loads_in_a_template_fail_the_request(self) -> None:
        with self.assertRaises(self.failureException) as raised:
            self.client.get("/shelf")
        message = str(raised.exception)
        self.assertIn("ran more than 1 time(s) in the request GET /shelf", message)
        self.assertIn("FROM book WHERE", message)
        self.assertIn("from template 'shelf.html', line 2 (2 time(s))", message)

    def test_eager_loading_passes(self) -> None:
        response = self.client.get("/shelf?eager=1")
        self.assertContains(response, "Ann:\nAnn&#39;s,")

    def test_a_redirect_followed_is_part_of_the_request(self) -> None:
        with self.assertRaises(self.failureException) as raised:
            self.client.post("/shelve", follow_redirects=True)
        self.assertIn("in the request POST /shelve", str(raised.exception))
        self.assertRedirects(self.client.post("/shelve"), "/shelf")

    def test_the_redirect_target_is_a_request_too(self) -> None:
        # The client's own check fails the target's request: a failure, not an
        # error in the app.
        with self.assertRaises(self.failureException) as raised:
            self.assertRedirects(
                self.client.post("/shelve"), "/shelf", target_status_code=200
            )
        self.assertIn("in the request GET /shelf", str(raised.exception))

    def test_bad_limit(self) -> None:
        from .support import run_case

        class Wrong(RepeatedQueriesInRequests):
            max_queries_per_request = 0

        result = run_case(Wrong)
        self.assertIn(
            "'Wrong.max_queries_per_request' must be a whole number of 1 or more,"
            " or None, not 0.",
            result.problems(),
        )


class OnAPlainTestCase(ResponseAssertions, unittest.TestCase):
    """The mixin on a test case of one's own, with no app and no client."""

    def test_urls_resolve_against_localhost(self) -> None:
        self.assertURLEqual("/x", "http://localhost/x")
        self.assertRedirects(redirect("/x"), "http://localhost/x")

    def test_a_redirect_target_needs_the_client(self) -> None:
        with self.assertRaises(TypeError) as raised:
            self.assertRedirects(redirect("/x"), "/x", target_status_code=200)
        self.assertEqual(
            str(raised.exception), "target_status_code needs the test's 'client'."
        )


class RenderingIsBackAfterTheClass(unittest.TestCase):
    def test_rendering_restored(self) -> None:
        from .support import run_case

        class Silent(WithoutRendering):
            reuse_app = True

        class Loud(Responses):
            reuse_app = True

            def test_rendered(self) -> None:
                self.assertContains(self.client.get("/list"), "<main>")

        for case in (Silent, Loud):
            result = run_case(case)
            self.assertEqual(result.problems(), "")


class OutsideATest(unittest.TestCase):
    """What a test records exists while it runs: outside, a clear error."""

    def test_records_need_a_running_test(self) -> None:
        case = Responses("test_status_helpers")
        for read in (
            lambda: case.rendered_templates,
            lambda: case.flashed_messages,
            lambda: case.outbox,
        ):
            with self.assertRaisesRegex(RuntimeError, "while a test of"):
                read()
        with self.assertRaises(RuntimeError) as raised:
            case.rendered_templates  # noqa: B018
        self.assertEqual(
            str(raised.exception),
            "'Responses' records templates and flashed messages while a test of"
            " the class runs.",
        )


class FailureTraceback(unittest.TestCase):
    def test_ends_at_the_tests_line(self) -> None:
        from .support import run_case

        class Failing(ClientTestCase):
            create_app = staticmethod(shop_app)

            def test_status(self) -> None:
                self.assert404(self.client.get("/list"))

            def test_target_asserts(self) -> None:
                response = self.client.get("/target-asserts")
                self.assertRedirects(response, "/asserts", target_status_code=200)

        app = Failing.create_app()
        app.config["TESTING"] = True  # the view's exception reaches the test

        @app.get("/target-asserts")
        def target_asserts() -> t.Any:
            return redirect("/asserts")

        @app.get("/asserts")
        def asserts() -> str:
            assert False, "stock must be positive"  # noqa: B011

        Failing.create_app = staticmethod(lambda: app)  # type: ignore[assignment]
        result = run_case(Failing)
        problems = dict(
            (test.id().rpartition(".")[2], text)
            for test, text in result.errors + result.failures
        )
        # An assertion in the app is an error, with the app's frames kept.
        self.assertIn(
            "raised an AssertionError in the app", problems["test_target_asserts"]
        )
        self.assertIn("in asserts\n", problems["test_target_asserts"])
        self.assertIn("stock must be positive", problems["test_target_asserts"])
        text = problems["test_status"]
        self.assertIn("Expected status 404, got 200 OK for GET /list.", text)
        if "MUTANT_UNDER_TEST" in os.environ:
            return  # mutmut's trampoline adds its own frames to the traceback
        last_frame = text.split("AssertionError")[0].strip().splitlines()[-2:]
        self.assertIn(__file__, last_frame[0])
        self.assertIn("self.assert404(", last_frame[1])
