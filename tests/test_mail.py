"""The outbox: what the app sends with Flask-Mail or Flask-Mailman, kept per
test and never sent."""

from __future__ import annotations

import threading
import typing as t
import unittest

from flask import current_app
from flask import Flask

from flask_dbcase import AppTestCase
from flask_dbcase import ClientTestCase

from .support import ENGINES
from .support import make_app
from .support import run_case

try:
    import flask_mail
    import flask_mailman
except ImportError:  # pragma: no cover - the test extra installs both
    flask_mail = flask_mailman = None  # type: ignore[assignment]

# Nothing listens there: a message really sent fails with ConnectionRefused.
CLOSED = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": 9, "MAIL_SUPPRESS_SEND": False}


def mail_app(kind: str) -> Flask:
    app = make_app(ENGINES[0], **CLOSED, MAIL_DEFAULT_SENDER="shop@example.com")
    app.testing = False  # Flask-Mail and Flask-Mailman would hold mail themselves
    if kind == "flask_mail":
        mail = flask_mail.Mail(app)

        def send(to: str, subject: str) -> None:
            mail.send(flask_mail.Message(subject, recipients=[to], body="Hello"))

    else:
        app.config["MAIL_BACKEND"] = "smtp"
        flask_mailman.Mail(app)

        def send(to: str, subject: str) -> None:
            flask_mailman.EmailMessage(subject, "Hello", to=[to]).send()

    app.config["send"] = send

    @app.post("/welcome/<to>")
    def welcome(to: str) -> str:
        send(to, "Welcome")
        return "sent"

    return app


@unittest.skipIf(
    flask_mailman is None, "Flask-Mail and Flask-Mailman are not installed"
)
class Outbox(unittest.TestCase):
    def check(self, kind: str, base: type = ClientTestCase) -> None:
        seen: list[list[t.Any]] = []

        class Case(base):  # type: ignore[valid-type,misc]
            create_app = staticmethod(lambda: mail_app(kind))

            def test_1_request_sends(self) -> None:
                self.assertEqual(
                    self.client.post("/welcome/ann@example.com").text, "sent"
                )
                self.assertEqual(len(self.outbox), 1)
                found = self.assertEmailSent(to="ann@example.com", subject="Welcome")
                self.assertIs(found[0], self.outbox[0])
                self.assertEmailSent(subject="Welcome", count=1)
                self.assertEmailSent(to="bob@example.com", count=0)
                # As a mail client writes an address.
                self.assertEmailSent(to="Ann <Ann@Example.com>", count=1)
                self.app.config["send"]("Bob <bob@example.com>", "Hi")
                self.assertEmailSent(to="bob@example.com", subject="Hi")
                self.outbox.pop()
                seen.append(self.outbox)

            def test_2_starts_empty_and_threads_count(self) -> None:
                self.assertEqual(self.outbox, [])
                app = self.app

                def work() -> None:
                    with app.app_context():
                        current_app.config["send"]("cy@example.com", "Report")

                thread = threading.Thread(target=work)
                thread.start()
                thread.join()
                self.assertEmailSent(to="cy@example.com", subject="Report")

            def test_3_failure_lists_what_was_sent(self) -> None:
                self.app.config["send"]("ann@example.com", "Welcome")
                with self.assertRaises(self.failureException) as raised:
                    self.assertEmailSent(to="bob@example.com")
                self.assertEqual(
                    str(raised.exception),
                    "Expected a message to 'bob@example.com'; found 0. The test"
                    " sent 1:\n  1. 'Welcome' to ann@example.com",
                )
                with self.assertRaises(self.failureException) as raised:
                    self.assertEmailSent(subject="Welcome", count=2)
                self.assertIn(
                    "Expected 2 message(s) subject 'Welcome'; found 1.",
                    str(raised.exception),
                )

        result = run_case(Case)
        self.assertEqual(result.problems(), "")
        self.assertEqual(result.testsRun, 3)
        self.assertEqual(len(seen[0]), 1)
        # After the class the app sends for real again: here, to a closed port.
        app = mail_app(kind)
        with app.app_context(), self.assertRaises(OSError):
            app.config["send"]("ann@example.com", "Real")

    def test_flask_mail(self) -> None:
        self.check("flask_mail")

    def test_flask_mailman(self) -> None:
        self.check("flask_mailman")

    def test_app_test_case(self) -> None:
        # No database: the outbox works the same.
        class Case(AppTestCase):
            create_app = staticmethod(lambda: mail_app("flask_mail"))

            def test_sends(self) -> None:
                self.app.config["send"]("ann@example.com", "Hi")
                self.assertEmailSent(to="ann@example.com", subject="Hi")

        result = run_case(Case)
        self.assertEqual(result.problems(), "")

    def test_settings_put_back_on_a_shared_app(self) -> None:
        app = mail_app("flask_mailman")

        class Case(AppTestCase):
            create_app = staticmethod(lambda: app)

            def test_sends(self) -> None:
                self.app.config["send"]("ann@example.com", "Hi")
                self.assertEqual(len(self.outbox), 1)

        self.assertEqual(run_case(Case).problems(), "")
        self.assertEqual(app.extensions["mailman"].backend, "smtp")
