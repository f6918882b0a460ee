"""The tables of the test databases: built once per process, emptied, dropped."""

from __future__ import annotations

import collections
import contextlib
import hashlib
import typing as t
import weakref

import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateIndex
from sqlalchemy.schema import CreateTable

from .backends import TestDatabaseError
from .database import after_fork
from .database import at_exit
from .database import CLONED
from .database import drops
from .database import forget_pool
from .database import keeps
from .database import reported_at_exit
from .database import same_database_key
from .database import Target
from .database import target_of
from .urls import is_memory_sqlite

if t.TYPE_CHECKING:
    from flask import Flask
    from flask_sqlalchemy import SQLAlchemy

#: Where a kept database records which schema its tables were built from.
FINGERPRINTS = sa.Table(
    "flask_dbcase_schema",
    sa.MetaData(),
    sa.Column("tables", sa.String(64), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
)


def fingerprint(metadata: sa.MetaData, dialect: sa.Dialect) -> str:
    """Hash the DDL that would build ``metadata`` on ``dialect``."""
    digest = hashlib.sha256()
    for table in metadata.sorted_tables:
        digest.update(str(CreateTable(table).compile(dialect=dialect)).encode())
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            digest.update(str(CreateIndex(index).compile(dialect=dialect)).encode())
    return digest.hexdigest()


def _tables_key(metadata: sa.MetaData) -> str:
    names = ",".join(sorted(metadata.tables))
    return hashlib.sha256(names.encode()).hexdigest()


class _Built(t.NamedTuple):
    #: The test database, not the app's engine: that points elsewhere at exit.
    target: Target
    #: The tables to drop at exit; ``None`` for all the database's tables.
    metadata: sa.MetaData | None


class Schemas:
    """The tables this process built, so that each is built once and dropped once."""

    def __init__(self) -> None:
        self.built: dict[tuple[t.Hashable, t.Hashable], _Built] = {}
        #: Each database's :func:`shape` as the tests start from it, by database.
        self.shapes: dict[t.Hashable, str] = {}
        #: The rows every test starts with, put back after emptying, by
        #: database and the hook that wrote them, then by table: what the
        #: migrations inserted (roles, lookup tables; hook ``None``), and what
        #: a class's ``setUpTestDatabase`` added to them.
        self.seeds: dict[
            tuple[t.Hashable, t.Hashable], dict[str, list[dict[str, t.Any]]]
        ] = {}
        #: The places whose fingerprint is stored, for ``keepdb``.
        self.recorded: set[tuple[t.Hashable, t.Hashable]] = set()
        self._exit_registered = False

    def forget_parent(self) -> None:
        """In a forked process, forget the tables the parent built: they are in
        its test databases, which this process neither empties nor drops."""
        self.__init__()  # type: ignore[misc]
        for engine in _probers.values():
            forget_pool(engine)
        _probers.clear()

    def note_shapes(self, engines: t.Iterable[sa.Engine]) -> None:
        """Remember the shape of each engine's database, once per build.

        In-memory databases are left out: after a test changed one, a new one is
        built anyway.
        """
        for engine in engines:
            if is_memory_sqlite(engine.url):
                continue
            key = same_database_key(engine)
            if key not in self.shapes:
                self.shapes[key] = shape(engine)

    def drop_changed(self, engines: t.Iterable[sa.Engine]) -> list[sa.Engine]:
        """Drop every table of the databases whose shape changed since
        :meth:`note_shapes`; the next :meth:`prepare` builds them again.

        :return: The engines whose databases were cleared.
        """
        cleared: list[sa.Engine] = []
        for engine in engines:
            key = same_database_key(engine)
            if is_memory_sqlite(engine.url) or key not in self.shapes:
                continue
            if shape(engine) != self.shapes[key]:
                self._forget_clashes(key, None)
                _drop_other_objects(engine)
                _drop_everything(engine)
            if key not in self.shapes:
                cleared.append(engine)
        return cleared

    # radon C, essential: per database, create, clone or reuse, and whether
    # the migrations ran there already.
    def prepare_migrated(
        self,
        app: Flask,
        db: SQLAlchemy,
        engines: dict[str | None, sa.Engine],
        keep: bool,
        path: str,
    ) -> None:
        """Make sure every bind has the tables the migrations in ``path`` build.

        The first class to meet a database in the process drops all its tables and
        runs the migrations up to the head; later classes only empty the models'
        tables. With ``keep``, the migrations are run on what a previous run left,
        so only new ones apply.
        """
        from . import migrations

        places = {
            (same_database_key(engine), f"migrations:{path}"): engine
            for engine in engines.values()
            if not is_memory_sqlite(engine.url)
        }
        memory = len(places) < len(engines)
        if memory or not all(place in self.built for place in places):
            self._register_exit()
            for place, engine in places.items():
                self._forget_clashes(place[0], None)
                if not keep:
                    _drop_everything(engine)
            migrations.upgrade(app, path)
            for place, engine in places.items():
                self.built[place] = _Built(_target(engine), None)
            for engine in engines.values():  # what earlier builds left is stale
                database = seed_key(engine)
                for known in [k for k in self.seeds if k[0] == database]:
                    del self.seeds[known]
            self.note_seeds(db, engines, None)
        reset_all(db, engines)

    def note_seeds(
        self, db: SQLAlchemy, engines: dict[str | None, sa.Engine], hook: t.Hashable
    ) -> None:
        """Remember the rows now in the models' tables as the seeds ``hook``
        (``None`` for the migrations) leaves."""
        for engine in engines.values():
            self.seeds.pop((seed_key(engine), hook), None)
        for key, engine in engines.items():
            metadata = db.metadatas.get(key)
            if metadata is None:
                continue
            found = self.seeds.setdefault((seed_key(engine), hook), {})
            expected = _test_database(engine)
            with _prober(engine).connect() as connection:
                connection = _named(connection, expected)
                for table in _filled(connection, metadata, expected):
                    rows = connection.execute(sa.select(table)).mappings()
                    found[table.name] = [dict(row) for row in rows]

    # radon C, essential: per database, create, clone or reuse its schema.
    def prepare(
        self,
        db: SQLAlchemy,
        engines: dict[str | None, sa.Engine],
        keep: bool,
        hows: t.Mapping[str | None, str],
    ) -> None:
        """Make sure every bind has its tables, and that they are empty.

        Tables are built the first time a database is met in this process; later
        classes find them and only empty them. An in-memory database is built for
        every engine, since it lives and dies with it. Tables a template gave a
        cloned database (``hows``, by bind: :data:`~.database.HOW`) are reused
        when their schema has not changed, and so are, with ``keep``, those a
        previous run left.
        """
        for key, engine in engines.items():
            metadata = db.metadatas.get(key)
            if metadata is None:
                continue
            if is_memory_sqlite(engine.url):
                metadata.create_all(engine)
                continue
            place = (same_database_key(engine), id(metadata))
            if place in self.built and _empty_if_there(metadata, engine):
                if keep and place not in self.recorded:
                    # Built by a class that does not keep: the next run would
                    # build them again, or trust what an older run stored.
                    _record(metadata, engine)
                    self.recorded.add(place)
                continue
            self._register_exit()
            self._forget_clashes(place[0], metadata)
            reuse = keep or hows.get(key) == CLONED
            if reuse and self._reuse(metadata, engine):
                self.built[place] = _Built(_target(engine), metadata)
                self.recorded.add(place)
                continue
            cleared = _rebuild(metadata, engine)
            if keep:
                _record(metadata, engine)
                self.recorded.add(place)
            else:  # what a kept run stored no longer says what the tables are
                _forget(metadata, engine)
            if cleared:
                # The tables of the other binds in this database went too.
                self._forget_clashes(place[0], None)
                self.built[place] = _Built(_target(engine), metadata)
                self.prepare(db, engines, keep, hows)
                return
            self.built[place] = _Built(_target(engine), metadata)

    def _register_exit(self) -> None:
        if not self._exit_registered:
            at_exit(self.drop_built)
            self._exit_registered = True

    def _forget_clashes(
        self, database: t.Hashable, metadata: sa.MetaData | None
    ) -> None:
        # Tables of the same names built from elsewhere: building ours drops
        # theirs, which must then be built again when next needed. ``None`` stands
        # for every table of the database.
        self.shapes.pop(database, None)
        for place, built in list(self.built.items()):
            if place[0] != database:
                continue
            if (
                metadata is None
                or built.metadata is None
                or (set(built.metadata.tables) & set(metadata.tables))
            ):
                del self.built[place]
                self.recorded.discard(place)

    def _reuse(self, metadata: sa.MetaData, engine: sa.Engine) -> bool:
        """Empty the tables if the database holds the models' schema; tell if
        it did."""
        if not _holds(metadata, engine):
            return False
        empty_tables(metadata, engine)
        return True

    def drop_built(self) -> None:
        """Drop the tables this process built, unless they are kept or their
        database is dropped anyway."""
        for built in reversed(list(self.built.values())):
            if keeps(built.target) or drops(built.target):
                continue
            engine = built.target.engine(poolclass=NullPool)
            try:
                connection = engine.connect()
            except (sa.exc.DBAPIError, RuntimeError):
                # Gone, or out of reach: the tables are gone with it, or stay in
                # a database the user allowed, which is wiped before its next use.
                engine.dispose()
                continue
            where = f"the test tables in {built.target.describe()}"
            with reported_at_exit(where, engine.url), connection:
                if built.metadata is None:
                    _drop_everything(connection)
                else:
                    built.metadata.drop_all(connection)
                    _forget(built.metadata, connection)
                connection.commit()
            engine.dispose()
        self.built.clear()


def _target(engine: sa.Engine) -> Target:
    target = target_of(engine)
    assert target is not None, "built before its engine was pointed"
    return target


def _record(metadata: sa.MetaData, engine: sa.Engine) -> None:
    """Store the fingerprint of ``metadata`` in the database of ``engine``."""
    key = _tables_key(metadata)
    FINGERPRINTS.create(engine, checkfirst=True)
    with engine.begin() as connection:
        connection.execute(FINGERPRINTS.delete().where(FINGERPRINTS.c.tables == key))
        connection.execute(
            FINGERPRINTS.insert().values(
                tables=key, fingerprint=fingerprint(metadata, engine.dialect)
            )
        )


def _forget(metadata: sa.MetaData, bind: sa.Engine | sa.Connection) -> None:
    """Remove the fingerprint of ``metadata`` a kept run stored, and the table
    that holds them once it is empty: a database used as it is keeps nothing
    of flask_dbcase's."""
    with _connection(bind) as connection:
        if not sa.inspect(connection).has_table(FINGERPRINTS.name):
            return
        key = _tables_key(metadata)
        connection.execute(FINGERPRINTS.delete().where(FINGERPRINTS.c.tables == key))
        if not connection.scalar(sa.select(sa.func.count()).select_from(FINGERPRINTS)):
            FINGERPRINTS.drop(connection)


def _stored_fingerprint(metadata: sa.MetaData, connection: sa.Connection) -> t.Any:
    if not sa.inspect(connection).has_table(FINGERPRINTS.name):
        return None
    return connection.scalar(
        sa.select(FINGERPRINTS.c.fingerprint).where(
            FINGERPRINTS.c.tables == _tables_key(metadata)
        )
    )


class ModelsTemplate:
    """Fills a PostgreSQL template database with the tables of ``metadata``.

    The copies of parallel test processes are cloned from it; the fingerprint it
    stores travels with each copy, so :meth:`Schemas.prepare` knows the copy's
    tables are the models' without building them again.
    """

    def __init__(self, metadata: sa.MetaData) -> None:
        self.metadata = metadata

    def matches(self, engine: sa.Engine) -> bool:
        return _holds(self.metadata, engine)

    def build(self, engine: sa.Engine) -> None:
        _drop_everything(engine)
        self.metadata.create_all(engine)
        _record(self.metadata, engine)


def _holds(metadata: sa.MetaData, engine: sa.Engine) -> bool:
    """Whether the database holds the tables of ``metadata`` as they are now,
    by the fingerprint stored when they were built."""
    expected = fingerprint(metadata, engine.dialect)
    with engine.connect() as connection:
        if _stored_fingerprint(metadata, connection) != expected:
            return False
        # And the tables are there: something else may have dropped them.
        inspector = sa.inspect(connection)
        by_schema: dict[str | None, set[str]] = collections.defaultdict(set)
        for table in metadata.tables.values():
            by_schema[table.schema].add(table.name)
        return all(
            names <= set(inspector.get_table_names(schema=schema))
            for schema, names in by_schema.items()
        )


def _rebuild(metadata: sa.MetaData, engine: sa.Engine) -> bool:
    """Drop the tables of ``metadata`` if they exist, and create them.

    ``True`` if every table of the database had to be dropped first.
    """
    cleared = False
    try:
        metadata.drop_all(engine)
    except sa.exc.DBAPIError:
        # Tables that are not the models' depend on them: another suite's, left
        # by a run that was killed. This is a test database: all of it goes.
        _drop_everything(engine)
        cleared = True
    metadata.create_all(engine)
    return cleared


def _drop_everything(bind: sa.Engine | sa.Connection) -> None:
    """Drop every table of a test database, whatever built it."""
    if bind.dialect.name == "postgresql":
        # In one statement, with what depends on them (inheriting tables,
        # partitions, foreign keys from other schemas), then the types left.
        with _connection(bind) as connection:
            names = sa.inspect(connection).get_table_names()
            if names:
                quote = connection.dialect.identifier_preparer.quote
                listed = ", ".join(quote(name) for name in names)
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {listed} CASCADE")
            for statement in connection.exec_driver_sql(_PG_TYPES).scalars().all():
                connection.exec_driver_sql(statement)
        return
    metadata = sa.MetaData()
    metadata.reflect(bind)
    metadata.drop_all(bind)


#: The types of the default schema that no table's row is, and no extension's.
_PG_TYPES = """
    SELECT 'DROP ' || CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END
        || ' IF EXISTS ' || t.oid::regtype::text || ' CASCADE'
    FROM pg_type t
    WHERE t.typnamespace = (SELECT oid FROM pg_namespace
                            WHERE nspname = current_schema())
        AND (t.typtype IN ('e', 'd', 'r', 'm') OR (t.typtype = 'c' AND EXISTS (
            SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c')))
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid
                        AND d.deptype = 'e')"""


@contextlib.contextmanager
def _connection(bind: sa.Engine | sa.Connection) -> t.Iterator[sa.Connection]:
    """A connection of ``bind`` whose work is committed at the end."""
    if isinstance(bind, sa.Connection):
        yield bind
        return
    with bind.begin() as connection:
        yield connection


#: Per dialect, a query listing the statements that drop what a test database
#: holds besides tables: views, sequences not owned by a column, functions and
#: procedures (not an extension's).
_OTHER_OBJECTS = {
    "postgresql": """
        SELECT 'DROP ' || CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm'
            THEN 'MATERIALIZED VIEW' ELSE 'SEQUENCE' END || ' IF EXISTS '
            || c.oid::regclass::text || ' CASCADE'
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('v', 'm', 'S')
            AND n.nspname NOT IN ('pg_catalog', 'information_schema')
            AND n.nspname !~ '^pg_(toast|temp)'
            AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid
                AND d.deptype IN ('e', 'a', 'i'))
        UNION ALL
        SELECT 'DROP ROUTINE IF EXISTS ' || p.oid::regprocedure::text || ' CASCADE'
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
            AND p.prokind IN ('f', 'p')
            AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid
                AND d.deptype = 'e')""",
    "mysql": """
        SELECT CONCAT('DROP VIEW IF EXISTS `', table_name, '`')
        FROM information_schema.views WHERE table_schema = DATABASE()
        UNION ALL
        SELECT CONCAT('DROP SEQUENCE IF EXISTS `', table_name, '`')
        FROM information_schema.tables
        WHERE table_schema = DATABASE() AND table_type = 'SEQUENCE'
        UNION ALL
        SELECT CONCAT('DROP ', routine_type, ' IF EXISTS `', routine_name, '`')
        FROM information_schema.routines WHERE routine_schema = DATABASE()
        UNION ALL
        SELECT CONCAT('DROP EVENT IF EXISTS `', event_name, '`')
        FROM information_schema.events WHERE event_schema = DATABASE()""",
    "sqlite": "SELECT 'DROP VIEW IF EXISTS \"' || name || '\"' FROM sqlite_master"
    " WHERE type = 'view'",
}


def _drop_other_objects(engine: sa.Engine) -> None:
    """Drop what a test database holds besides tables (a test's DDL made it)."""
    sql = _OTHER_OBJECTS.get(_family(engine))
    if sql is None:
        return
    with engine.begin() as connection:
        for statement in connection.exec_driver_sql(sql).scalars().all():
            connection.exec_driver_sql(statement)


def _empty_if_there(metadata: sa.MetaData, engine: sa.Engine) -> bool:
    """Empty tables built earlier; ``False``, doing nothing, if something else
    dropped them."""
    try:
        empty_tables(metadata, engine)
    except sa.exc.DBAPIError:
        # Other code in the process (a hand-written drop_all(), say) dropped
        # them: they are built again.
        return False
    return True


def empty_tables(
    metadata: sa.MetaData, engine: sa.Engine, until_empty: bool = False
) -> None:
    """Delete every row of every table of ``metadata``, children first.

    One query first asks which tables have rows, so a test that wrote to two
    tables costs three statements, and one that wrote nothing costs one. With
    ``until_empty``, for a database with triggers (an audit trigger writes rows
    as others are deleted), the query is asked again after the deletes, and the
    tables it finds emptied again.
    """
    if not metadata.tables:
        return
    mysql = engine.url.get_backend_name() in ("mysql", "mariadb")
    expected = _test_database(engine)
    with _prober(engine).begin() as connection:
        connection = _named(connection, expected)
        for _ in range(_ROUNDS if until_empty else 1):
            filled = _filled(connection, metadata, expected)
            if not filled:
                return
            _delete(connection, filled, mysql)


#: How often emptying is tried again for triggers that write as rows are deleted.
_ROUNDS = 5


def _delete(connection: sa.Connection, tables: list[sa.Table], mysql: bool) -> None:
    if mysql:
        # InnoDB checks foreign keys row by row, which fails on self-referencing
        # rows whatever the order of the statements.
        connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
    try:
        for table in tables:
            connection.execute(table.delete())
    finally:
        if mysql:
            connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")


def rows_left(metadata: sa.MetaData, engine: sa.Engine) -> dict[str, int]:
    """Count the rows of the tables of ``metadata`` that have any, by table name."""
    if not metadata.tables:
        return {}
    expected = _test_database(engine)
    with _prober(engine).connect() as connection:
        connection = _named(connection, expected)
        return {
            table.name: int(
                connection.scalar(sa.select(sa.func.count()).select_from(table)) or 0
            )
            for table in _filled(connection, metadata, expected)
        }


def _named(connection: sa.Connection, expected: str | None) -> sa.Connection:
    """On MySQL, name the test database in every statement, wherever a USE
    moved the connection."""
    if expected is None:
        return connection
    return connection.execution_options(schema_translate_map={None: expected})


def _filled(
    connection: sa.Connection, metadata: sa.MetaData, expected: str | None
) -> list[sa.Table]:
    """The tables of ``metadata`` that have rows, children first, asked in one
    query; on MySQL, the same query checks where the connection is."""
    tables, probe = _probe(metadata)
    if expected is not None:
        probe = _on_database(metadata, probe)
    found: t.Sequence[t.Any] = connection.execute(probe).one()
    if expected is not None:
        found = _check_database(connection, found, expected)
    return [table for table, rows in zip(tables, found, strict=True) if rows]


_probes: weakref.WeakKeyDictionary[sa.MetaData, tuple[list[sa.Table], t.Any]] = (
    weakref.WeakKeyDictionary()
)

#: Engines of flask_dbcase's own that probe and empty PostgreSQL test databases,
#: by test database, one connection each, kept for the process.
_probers: dict[t.Hashable, sa.Engine] = {}


def _prober(engine: sa.Engine) -> sa.Engine:
    """The engine that probes and empties the test database of ``engine``.

    On PostgreSQL, one of flask_dbcase's own, in autocommit mode: psycopg
    prepares a statement it sends often, which makes the probe of a few
    hundred tables about ten times cheaper, but forgets what it prepared at
    every rollback, which the app's pooled connections go through at the end
    of each class. Elsewhere, and for a database flask_dbcase did not create
    or an engine with a ``creator``, the engine itself.
    """
    target = target_of(engine)
    if engine.dialect.name != "postgresql" or target is None:
        return engine
    # Not for a database named in FLASK_DBCASE_WIPE_DATABASES: its owner may
    # drop it while the process runs, which an open connection would prevent.
    if target.creator is not None or target.key is None or not target.marked:
        return engine
    found = _probers.get(target.key)
    if found is None:
        options = {"isolation_level": "AUTOCOMMIT", "pool_size": 1}
        found = _probers[target.key] = target.engine(**options)
        at_exit(_dispose_probers, first=True)
    return found


def _dispose_probers() -> None:
    """Close the probes' connections, before the test databases are dropped."""
    for engine in _probers.values():
        engine.dispose()
    _probers.clear()


def _probe(metadata: sa.MetaData) -> tuple[list[sa.Table], t.Any]:
    """The tables children first, and a query telling which of them have rows."""
    found = _probes.get(metadata)
    if found is None or len(found[0]) != len(metadata.tables):
        tables = list(reversed(metadata.sorted_tables))
        probe = sa.select(
            *(
                sa.exists(sa.select(sa.literal(1)).select_from(table)).label(f"t{i}")
                for i, table in enumerate(tables)
            )
        )
        found = _probes[metadata] = (tables, probe)
    return found


def _test_database(engine: sa.Engine) -> str | None:
    """On MySQL, the test database ``engine`` must be on; else ``None``.

    A ``USE`` in application code moves a pooled connection to another
    database, where the probe's deletes would follow it.
    """
    if engine.url.get_backend_name() not in ("mysql", "mariadb"):
        return None
    target = target_of(engine)
    # None for an engine with a creator: the server says where it lands.
    return target.name if target is not None else None


_on_databases: weakref.WeakKeyDictionary[sa.MetaData, t.Any] = (
    weakref.WeakKeyDictionary()
)


def _on_database(metadata: sa.MetaData, probe: t.Any) -> t.Any:
    """``probe`` that also says which database the connection is on."""
    found = _on_databases.get(metadata)
    if found is None or found[0] is not probe:
        found = _on_databases[metadata] = (probe, probe.add_columns(sa.func.database()))
    return found[1]


def _check_database(
    connection: sa.Connection, found: t.Any, expected: str
) -> tuple[t.Any, ...]:
    *rows, database = found
    if database != expected:
        connection.invalidate()
        raise TestDatabaseError(
            f"flask_dbcase refused to empty or count the tables of {database!r}:"
            f" a connection of the test database {expected!r} was moved there"
            " (a USE in the code under test). Nothing was deleted. Give code that"
            " needs another database a bind of its own (SQLALCHEMY_BINDS)."
        )
    return tuple(rows)


def seed_key(engine: sa.Engine) -> t.Hashable:
    """Which database's seeds an engine's are: an in-memory one is its own."""
    if is_memory_sqlite(engine.url):
        return ("memory", id(engine))
    return same_database_key(engine)


def seeds_of(engine: sa.Engine, hook: t.Hashable = None) -> dict[str, list[t.Any]]:
    """The seeds of the engine's database that ``hook`` leaves: the
    migrations' alone when it has not run there."""
    database = seed_key(engine)
    found = schemas.seeds.get((database, hook))
    if found is None:
        found = schemas.seeds.get((database, None), {})
    return found


def seed_counts(engine: sa.Engine, hook: t.Hashable = None) -> dict[str, int]:
    """How many rows of each table every test starts with in the database."""
    return {name: len(rows) for name, rows in seeds_of(engine, hook).items()}


def reset_all(
    db: SQLAlchemy,
    engines: dict[str | None, sa.Engine],
    until_empty: t.Collection[str | None] = (),
    hook: t.Hashable = None,
) -> None:
    """Empty every table of every bind, then put back the seeds ``hook``
    leaves (:attr:`Schemas.seeds`), each table once, however many binds of
    the app reach its database."""
    empty_all(db, engines, until_empty)
    restored: set[tuple[t.Hashable, str]] = set()
    for key, engine in engines.items():
        metadata = db.metadatas.get(key)
        seeds = seeds_of(engine, hook)
        if metadata is None or not seeds:
            continue
        database = seed_key(engine)
        tables = [
            table
            for table in metadata.sorted_tables  # parents first
            if seeds.get(table.name) and (database, table.name) not in restored
        ]
        restored.update((database, table.name) for table in tables)
        if tables:
            _insert_seeds(tables, engine, seeds)


def _insert_seeds(
    tables: list[sa.Table], engine: sa.Engine, seeds: dict[str, list[dict[str, t.Any]]]
) -> None:
    mysql = engine.url.get_backend_name() in ("mysql", "mariadb")
    expected = _test_database(engine)
    with _prober(engine).begin() as connection:
        connection = _named(connection, expected)
        if mysql:  # rows of a table that refer to each other, in any order
            connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
        try:
            for table in tables:
                connection.execute(table.insert(), seeds[table.name])
        finally:
            if mysql:
                connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")


def empty_all(
    db: SQLAlchemy,
    engines: dict[str | None, sa.Engine],
    until_empty: t.Collection[str | None] = (),
) -> None:
    """Empty every table of every bind; those in ``until_empty`` until no row is
    left (see :func:`empty_tables`)."""
    for key, engine in engines.items():
        metadata = db.metadatas.get(key)
        if metadata is not None:
            empty_tables(metadata, engine, key in until_empty)


#: Per dialect, a query listing what the database holds: its tables and views,
#: their columns, indexes, constraints and triggers, one line each.
_SHAPES = {
    "postgresql": """
        SELECT c.relkind::text || c.relpersistence::text
            || c.relrowsecurity::text || ' ' || c.oid::regclass::text || ' '
            || coalesce(string_agg(a.attname::text || ' '
                || format_type(a.atttypid, a.atttypmod)
                || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
                || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), ''),
                ', ' ORDER BY a.attnum), '')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attribute a
            ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
            AND n.nspname !~ '^pg_(toast|temp)'
        GROUP BY c.oid, c.relkind, c.relpersistence, c.relrowsecurity
        UNION ALL
        SELECT 'rule ' || schemaname || '.' || tablename || ' ' || definition
        FROM pg_rules
        WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
        UNION ALL
        SELECT 'type ' || t.oid::regtype::text || ' ' || t.typtype::text
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
            AND n.nspname !~ '^pg_(toast|temp)' AND t.typtype IN ('e', 'd', 'r', 'm')
        UNION ALL
        SELECT 'extension ' || extname FROM pg_extension
        UNION ALL
        SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname::text || ' '
            || pg_get_constraintdef(oid)
        FROM pg_constraint WHERE conrelid <> 0
        UNION ALL
        SELECT 'trigger ' || pg_get_triggerdef(oid)
        FROM pg_trigger WHERE NOT tgisinternal
        UNION ALL
        SELECT 'routine ' || p.oid::regprocedure::text
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')""",
    "mysql": """
        SELECT CONCAT_WS(' ', 'table', table_name, table_type, engine,
            table_collation)
        FROM information_schema.tables WHERE table_schema = DATABASE()
        UNION ALL
        SELECT CONCAT_WS(' ', 'column', table_name, column_name, column_type,
            is_nullable, column_default, extra, collation_name)
        FROM information_schema.columns WHERE table_schema = DATABASE()
        UNION ALL
        SELECT CONCAT_WS(' ', 'event', event_name)
        FROM information_schema.events WHERE event_schema = DATABASE()
        UNION ALL
        SELECT CONCAT_WS(' ', 'index', table_name, index_name, non_unique,
            seq_in_index, column_name)
        FROM information_schema.statistics WHERE table_schema = DATABASE()
        UNION ALL
        SELECT CONCAT_WS(' ', 'foreign key', table_name, constraint_name,
            referenced_table_name)
        FROM information_schema.referential_constraints
        WHERE constraint_schema = DATABASE()
        UNION ALL
        SELECT CONCAT_WS(' ', 'trigger', trigger_name, event_object_table,
            action_timing, event_manipulation)
        FROM information_schema.triggers WHERE trigger_schema = DATABASE()
        UNION ALL
        SELECT CONCAT_WS(' ', routine_type, routine_name)
        FROM information_schema.routines WHERE routine_schema = DATABASE()""",
    "sqlite": "SELECT type || ' ' || name || ' ' || coalesce(sql, '')"
    " FROM sqlite_master",
}


def shape(engine: sa.Engine) -> str:
    """Hash what the database of ``engine`` holds (not its rows): its tables,
    columns, indexes, constraints and triggers, asked of the catalog in one
    query."""
    sql = _SHAPES.get(_family(engine))
    if sql is None:
        return ""
    with engine.connect() as connection:
        lines = sorted(str(line) for line in connection.exec_driver_sql(sql).scalars())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def has_triggers(engine: sa.Engine) -> bool:
    """Tell whether the database of ``engine`` has triggers."""
    sql = {
        "postgresql": "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE NOT tgisinternal)",
        "mysql": "SELECT EXISTS (SELECT 1 FROM information_schema.triggers"
        " WHERE trigger_schema = DATABASE())",
        "sqlite": "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'trigger')",
    }.get(_family(engine))
    if sql is None:
        return False
    with engine.connect() as connection:
        return bool(connection.exec_driver_sql(sql).scalar())


def _family(engine: sa.Engine) -> str:
    """The dialect's name, MariaDB's spelled as MySQL's."""
    name = engine.dialect.name
    return "mysql" if name == "mariadb" else name


schemas = Schemas()
after_fork(schemas.forget_parent)
