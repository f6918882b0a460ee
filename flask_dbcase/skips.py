"""Skip tests by the database they run on: its kind, or what its dialect can do.

The decision is the class's own, made from its app's engines once it is built:
the same test runs on PostgreSQL in one CI job and is skipped on SQLite in the
next, as Django's ``skipUnlessDBFeature`` does.
"""

from __future__ import annotations

import typing as t

import sqlalchemy as sa

from .urls import describe_bind

_T = t.TypeVar("_T")

#: The names ``skipUnlessDialect`` and ``skipIfDialect`` take: ``mysql`` means
#: MySQL or MariaDB, ``mariadb`` MariaDB alone.
DIALECTS = ("sqlite", "postgresql", "mysql", "mariadb")

_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MySQL"}

#: What ``skipUnlessFeature`` can ask of a dialect.
FEATURES: dict[str, t.Callable[[sa.Dialect], bool]] = {
    # INSERT ... RETURNING.
    "returning": lambda dialect: bool(dialect.insert_returning),
    # CREATE SEQUENCE and nextval().
    "sequences": lambda dialect: bool(dialect.supports_sequences),
    # An ENUM type of the database's own.
    "native_enum": lambda dialect: bool(dialect.supports_native_enum),
    # DDL inside a transaction, rolled back with it: not MySQL's, whose DDL
    # commits (a TransactionalTestCase then fails with ImplicitCommitError).
    "transactional_ddl": lambda dialect: dialect.name not in ("mysql", "mariadb"),
}

#: A condition: given the class's engines, why the test is skipped, or ``None``.
Condition = t.Callable[[dict[str | None, sa.Engine]], str | None]


def skipUnlessDialect(*names: str, bind: str | None = None) -> t.Callable[[_T], _T]:  # noqa: N802
    """Skip the test, or every test of the class, unless the database of
    ``bind`` (the default database) is one of ``names``.

    .. code-block:: python

        @skipUnlessDialect("postgresql")
        def test_search_uses_ilike(self):
            ...

    :param names: ``sqlite``, ``postgresql``, ``mysql`` (MySQL or MariaDB) or
        ``mariadb``.
    :param bind: The bind key whose database decides. Defaults to the default
        database.

    .. versionadded:: 0.1
    """
    wanted = _checked(names)

    def condition(engines: dict[str | None, sa.Engine]) -> str | None:
        found = _dialect(engines, bind, "mariadb" in wanted)
        if _matches(found, wanted):
            return None
        listed = " or ".join(_title(name) for name in wanted)
        return f"needs {listed}; {describe_bind(bind)} is on {_title(_kind(found))}"

    return _skipping(condition)


def skipIfDialect(*names: str, bind: str | None = None) -> t.Callable[[_T], _T]:  # noqa: N802
    """Skip the test, or every test of the class, if the database of ``bind``
    (the default database) is one of ``names``.

    :param names: As for :func:`skipUnlessDialect`.
    :param bind: The bind key whose database decides. Defaults to the default
        database.

    .. versionadded:: 0.1
    """
    unwanted = _checked(names)

    def condition(engines: dict[str | None, sa.Engine]) -> str | None:
        found = _dialect(engines, bind, "mariadb" in unwanted)
        if not _matches(found, unwanted):
            return None
        return f"not on {_title(_kind(found))} ({describe_bind(bind)})"

    return _skipping(condition)


def skipUnlessFeature(*features: str, bind: str | None = None) -> t.Callable[[_T], _T]:  # noqa: N802
    """Skip the test, or every test of the class, unless the dialect of
    ``bind`` (the default database) has every one of ``features``.

    :param features: ``returning``, ``sequences``, ``native_enum``,
        ``transactional_ddl``.
    :param bind: The bind key whose database decides. Defaults to the default
        database.

    .. versionadded:: 0.1
    """
    unknown = [name for name in features if name not in FEATURES]
    if unknown or not features:
        known = ", ".join(FEATURES)
        raise ValueError(f"Unknown feature {unknown or features!r}; known: {known}.")

    # What the others can do depends on MySQL's flavour and version.
    server = any(name != "transactional_ddl" for name in features)

    def condition(engines: dict[str | None, sa.Engine]) -> str | None:
        found = _dialect(engines, bind, server)
        missing = [name for name in features if not FEATURES[name](found)]
        if not missing:
            return None
        return (
            f"needs {', '.join(missing)}, which {_title(_kind(found))} lacks"
            f" ({describe_bind(bind)})"
        )

    return _skipping(condition)


def reason(target: t.Any, engines: dict[str | None, sa.Engine]) -> str | None:
    """Why ``target`` (a test class or method) is skipped on ``engines``.

    A condition that needs to know whether a MySQL server is MariaDB, which
    SQLAlchemy learns on the first connection, does not skip yet: see
    :func:`undecided`.
    """
    conditions: list[Condition] = getattr(target, "_dbcase_skips", [])
    for condition in conditions:
        try:
            found = condition(engines)
        except _Undecided:
            continue
        if found:
            return found
    return None


def undecided(target: t.Any, engines: dict[str | None, sa.Engine]) -> bool:
    """Whether some condition of ``target`` waits for a MySQL server's first
    connection; once the engines point at the test databases,
    :func:`learn_servers` connects, and :func:`reason` can decide."""
    for condition in getattr(target, "_dbcase_skips", []):
        try:
            condition(engines)
        except _Undecided:
            return True
    return False


def learn_servers(engines: dict[str | None, sa.Engine]) -> None:
    """Connect once to each MySQL database whose server SQLAlchemy does not
    know yet, so that its dialect says whether it is MariaDB, and what it
    can do."""
    for engine in engines.values():
        if not _known(engine.dialect):
            with engine.connect():
                pass


class _Undecided(Exception):
    """The dialect cannot tell yet: MySQL's, before its first connection."""


def _skipping(condition: Condition) -> t.Callable[[_T], _T]:
    def decorate(target: _T) -> _T:
        # A class's own list: a subclass adds to it, its base keeps its own.
        inherited = list(getattr(target, "_dbcase_skips", ()))
        setattr(target, "_dbcase_skips", [*inherited, condition])  # noqa: B010
        return target

    return decorate


def _checked(names: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [name for name in names if name not in DIALECTS]
    if unknown or not names:
        known = ", ".join(DIALECTS)
        raise ValueError(f"Unknown database {unknown or names!r}; known: {known}.")
    return names


def _dialect(
    engines: dict[str | None, sa.Engine], bind: str | None, server: bool
) -> sa.Dialect:
    """The dialect of ``bind``; with ``server``, one that knows its server."""
    if bind not in engines:
        known = ", ".join(repr(key) for key in engines)
        raise ValueError(f"The app has no bind {bind!r}; its binds: {known}.")
    dialect = engines[bind].dialect
    if server and not _known(dialect):
        raise _Undecided
    return dialect


def _known(dialect: sa.Dialect) -> bool:
    """Whether the dialect knows its server: a ``mysql://`` URL may lead to
    MariaDB, whose features differ, and only a connection tells."""
    if dialect.name not in ("mysql", "mariadb"):
        return True
    return getattr(dialect, "server_version_info", None) is not None


def _kind(dialect: sa.Dialect) -> str:
    if getattr(dialect, "is_mariadb", False):
        return "mariadb"
    return str(dialect.name)


def _matches(dialect: sa.Dialect, names: tuple[str, ...]) -> bool:
    kind = _kind(dialect)
    return kind in names or (kind == "mariadb" and "mysql" in names)


def _title(name: str) -> str:
    return _NAMES.get(name, "MariaDB" if name == "mariadb" else name)
