"""The messages a test's code sends with Flask-Mail or Flask-Mailman, kept in an
outbox instead of sent, as Django's ``mail.outbox``."""

from __future__ import annotations

import email.utils
import typing as t
import unittest

# A failure points at the test's line: unittest, and pytest, leave the frames of
# modules that set this out of its traceback.
__unittest = True

if t.TYPE_CHECKING:
    from flask import Flask

    _TestCase = unittest.TestCase
else:
    _TestCase = object


def has_mail(app: Flask) -> bool:
    """Whether the app has Flask-Mail or Flask-Mailman, whose mail is kept."""
    return "mail" in app.extensions or "mailman" in app.extensions


def hold_mail(app: Flask) -> t.Callable[[], None]:
    """Make the app's mail extensions keep their messages from now on: Flask-Mail
    suppresses sending, Flask-Mailman uses its in-memory backend. Return the
    function that puts their settings back."""
    undo: list[t.Callable[[], None]] = []
    flask_mail = app.extensions.get("mail")
    if flask_mail is not None and hasattr(flask_mail, "suppress"):
        suppress = flask_mail.suppress
        flask_mail.suppress = True
        undo.append(lambda: setattr(flask_mail, "suppress", suppress))
    mailman = app.extensions.get("mailman")
    if mailman is not None and hasattr(mailman, "backend"):
        backend = mailman.backend
        mailman.backend = "locmem"
        undo.append(lambda: setattr(mailman, "backend", backend))

    def restore() -> None:
        for step in reversed(undo):
            step()

    return restore


def watch_outbox(app: Flask, outbox: list[t.Any]) -> t.Callable[[], None]:
    """Collect in ``outbox`` what the app sends, in any thread, until the
    returned function is called."""
    undo: list[t.Callable[[], None]] = []
    if app.extensions.get("mail") is not None:
        from flask_mail import email_dispatched

        def record(sender: t.Any, message: t.Any, **extra: t.Any) -> None:
            outbox.append(message)

        email_dispatched.connect(record, app)
        undo.append(lambda: email_dispatched.disconnect(record, app))
    mailman = app.extensions.get("mailman")
    if mailman is not None:
        # Flask-Mailman's in-memory backend appends to the state's outbox.
        mailman.outbox = outbox
        undo.append(lambda: setattr(mailman, "outbox", []))

    def stop() -> None:
        for step in undo:
            step()

    return stop


class MailAssertions(_TestCase):
    """The outbox of the test, and an assertion on it.

    .. versionadded:: 0.1
    """

    def _dbcase_outbox(self) -> list[t.Any] | None:
        """The running test's outbox, which the test case keeps; ``None``
        outside a test."""
        return None

    @property
    def outbox(self) -> list[t.Any]:
        """The messages the app sent during the current test, in order:
        Flask-Mail's ``Message`` or Flask-Mailman's ``EmailMessage``. None of
        them was sent for real.

        .. versionadded:: 0.1
        """
        outbox = self._dbcase_outbox()
        if outbox is None:
            raise RuntimeError(
                "The outbox exists while a test of a flask_dbcase test case runs."
            )
        return outbox

    # radon C, essential: the filters and the message follow which of to,
    # subject and count were given.
    def assertEmailSent(
        self,
        *,
        to: str | None = None,
        subject: str | None = None,
        count: int | None = None,
        msg: str | None = None,
    ) -> list[t.Any]:
        """Fail unless the test sent a message to ``to`` (among its recipients,
        copies included) with this ``subject``: ``count`` of them, or at least
        one. Returns the messages that match.

        Addresses are compared without their display names and case:
        ``"ann@example.com"`` matches ``"Ann <Ann@Example.com>"``.

        .. versionadded:: 0.1
        """
        sent = self.outbox
        found = [message for message in sent if _matches(message, to, subject)]
        if (count is None and found) or len(found) == count:
            return found
        wanted = ", ".join(
            f"{name} {value!r}"
            for name, value in (("to", to), ("subject", subject))
            if value is not None
        )
        listing = "".join(
            f"\n  {i}. {message.subject!r} to {', '.join(_recipients(message))}"
            for i, message in enumerate(sent, 1)
        )
        self.fail(
            self._formatMessage(
                msg,
                f"Expected {_how_many(count)}{' ' + wanted if wanted else ''}; found"
                f" {len(found)}. The test sent {len(sent)}:{listing or ' none.'}",
            )
        )


def _matches(message: t.Any, to: str | None, subject: str | None) -> bool:
    if subject is not None and message.subject != subject:
        return False
    return to is None or _address(to) in map(_address, _recipients(message))


def _how_many(count: int | None) -> str:
    if count is None:
        return "a message"
    return "no message" if count == 0 else f"{count} message(s)"


def _address(written: str) -> str:
    """The address in ``Ann <ann@example.com>``, as compared."""
    return email.utils.parseaddr(written)[1].casefold() or written.casefold()


def _recipients(message: t.Any) -> list[str]:
    """Every address a message goes to, copies included, as written."""
    recipients = getattr(message, "recipients", None)
    if callable(recipients):  # Flask-Mailman's: to, cc and bcc
        return [str(address) for address in recipients()]
    found = [*(recipients or ()), *(message.cc or ()), *(message.bcc or ())]
    return [address if isinstance(address, str) else address[1] for address in found]
