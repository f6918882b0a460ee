"""A factory_boy base class wired to the current app's Flask-SQLAlchemy session.

.. code-block:: python

    from flask_dbcase.factory import ModelFactory

    class AuthorFactory(ModelFactory):
        class Meta:
            model = Author

        name = factory.Sequence(lambda n: f"Author {n}")

Needs factory_boy (``pip install factory_boy``, or ``flask-dbcase[factory]``).
"""

from __future__ import annotations

import typing as t

try:
    import factory.alchemy
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "flask_dbcase.factory needs factory_boy: 'pip install factory_boy'."
    ) from error

from flask import current_app


def _current_session() -> t.Any:
    """The ``db.session`` of the app whose context is pushed."""
    try:
        db = current_app.extensions["sqlalchemy"]
    except RuntimeError:
        raise RuntimeError(
            "A ModelFactory was used without an application context. Use it in a"
            " test of a flask_dbcase test case (or in setUpTestData), or push one"
            " with 'app.app_context()'."
        ) from None
    except KeyError:
        raise RuntimeError(
            "A ModelFactory was used in an app without Flask-SQLAlchemy."
        ) from None
    return db.session


class ModelFactory(factory.alchemy.SQLAlchemyModelFactory):
    """A :class:`factory.alchemy.SQLAlchemyModelFactory` that adds its objects to
    the current app's ``db.session`` and flushes, so they have their ids.

    Inside a test case they are rolled back with the test. Set
    ``sqlalchemy_session_persistence`` in a subclass's ``Meta`` to change what
    happens after ``create()``: ``None`` only adds, ``"commit"`` commits.

    .. versionadded:: 0.1
    """

    class Meta:
        abstract = True
        sqlalchemy_session_factory = _current_session
        sqlalchemy_session_persistence = "flush"
