"""Where, in the application's or the test's code, something was called from."""

from __future__ import annotations

import os
import sys
import types

#: Where the frames that are not the application's code come from: statements,
#: commits and flushes are attributed to the first frame outside them.
LIBRARIES = tuple(
    os.path.dirname(__import__(name).__file__ or "") + os.sep
    for name in ("sqlalchemy", "flask_sqlalchemy", "flask", "werkzeug", "jinja2")
)


def caller() -> str:
    """Where the code that called the event listener calling this is:
    ``file:line in function``, or a template's name and line."""
    frame: types.FrameType | None = sys._getframe(2)
    while frame is not None:
        template = frame.f_globals.get("__jinja_template__")
        if template is not None:  # the code Jinja compiled a template to
            line = template.get_corresponding_lineno(frame.f_lineno)
            return f"template {template.name!r}, line {line}"
        name = frame.f_code.co_filename
        # Not generated code ("<sqlalchemy generated ...>", "<string>").
        if not name.startswith(LIBRARIES) and not name.startswith("<"):
            return f"{name}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return "unknown"
