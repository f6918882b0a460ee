"""Which database the tests use: derive it, create it, point the engines there, and
point them back.

Whatever URL the app is configured with, the tests run on a test database that
flask_dbcase derives and creates on the same server: ``shop`` becomes
``test_shop``, ``test_shop`` becomes ``test_test_shop``, a SQLite file becomes a file
of flask_dbcase's own in the temporary directory, and SQLite in memory stays in
memory. No name or folder makes a configured database a test database; only
naming it in :data:`ALLOW_ENV` lets the tests use it as it is.

The engine is pointed at the test database with SQLAlchemy's ``do_connect`` event,
its pool is emptied, and every new connection is asked by the server where it is
(:mod:`.guard`). When the class ends, the engine points where it pointed before.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import multiprocessing
import multiprocessing.util
import os
import sys
import typing as t
import weakref

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import NullPool

from . import backends
from .backends import Backend
from .backends import Identity
from .backends import TestDatabaseError
from .guard import allows
from .guard import checking_engine
from .guard import describe
from .guard import EngineGuard
from .guard import process_guard
from .urls import describe_url
from .urls import is_memory_sqlite
from .urls import reason

if t.TYPE_CHECKING:
    from flask import Flask

#: Environment variable: set to ``1`` to keep the test databases (and their
#: tables) after the run, and reuse them next time.
KEEPDB_ENV = "FLASK_DBCASE_KEEPDB"

#: What happened to a test database when a class took it (:attr:`Switch.how`):
#: made empty; cloned from a template, with the tables in it; found (made
#: earlier in the process, or left by an earlier run); the configured database
#: itself, named in :data:`ALLOW_ENV`; or SQLite in memory, which lives with
#: its engine.
CREATED, CLONED, REUSED, ALLOWED, MEMORY = HOW = (
    "created",
    "cloned",
    "reused",
    "allowed",
    "in memory",
)

#: Environment variable: comma-separated names of databases that the tests may use
#: as they are, although flask_dbcase did not create them. Everything in their
#: tables is deleted.
ALLOW_ENV = "FLASK_DBCASE_WIPE_DATABASES"


def on_exit(callback: t.Callable[[], None]) -> None:
    """Run ``callback`` when the process ends normally, pool workers included.

    A worker of a process pool ends without running :mod:`atexit` handlers, but
    runs :mod:`multiprocessing`'s finalizers when the pool closes normally. A worker
    ended with ``SIGTERM`` (``Pool.terminate()``, as ``unittest-parallel`` does)
    runs neither; what it leaves is dropped by the next run (see
    :meth:`_Claim.drop_stale_copies`). No ``SIGTERM`` handler is installed: a pool
    worker waits for work on a semaphore that the signal does not interrupt, so a
    handler would keep it from ending at all.
    """
    atexit.register(callback)
    if multiprocessing.parent_process() is not None:
        multiprocessing.util.Finalize(None, callback, exitpriority=100)


def after_fork(callback: t.Callable[[], None]) -> None:
    """Run ``callback`` in each process forked from this one, as it starts."""
    if hasattr(os, "register_at_fork"):  # Windows cannot fork
        os.register_at_fork(after_in_child=callback)


def allowed_databases(extra: t.Iterable[str] = ()) -> frozenset[str]:
    """The databases the user allowed to be used as they are."""
    names = os.environ.get(ALLOW_ENV, "").split(",")
    return frozenset(n.strip() for n in [*names, *extra] if n.strip())


class Target:
    """A test database, and what the server must say of a connection on it.

    :param name: The name the server must answer; ``None`` for an engine with a
        ``creator``, which may land on any database named in ``allowed``.
    :param marked: The server must also say that flask_dbcase created it.
    :param key: Equal for the targets of engines that reach the same database.
    """

    def __init__(
        self,
        backend: str,
        url: sa.URL,
        name: str | None,
        marked: bool,
        key: t.Hashable,
        allowed: t.Collection[str] = (),
        creator: t.Any = None,
    ) -> None:
        self.backend = backend
        self.url = url
        self.name = name
        self.marked = marked
        self.key = key
        self.allowed = allowed
        #: The ``creator`` that opens the connections, if not the URL.
        self.creator = creator

    def accepts(self, found: Identity) -> bool:
        """Tell whether a connection the server describes as ``found`` is on it."""
        if found.backend != self.backend:
            return False
        if self.name is None:
            return allows(self.allowed, self.backend, found.database)
        return found.database == self.name and (found.marked or not self.marked)

    def describe(self) -> str:
        if self.name is None:
            return f"a database named in {ALLOW_ENV}"
        return describe(Identity(self.backend, self.name, self.marked))

    def engine(self, **options: t.Any) -> sa.Engine:
        """Make an engine of flask_dbcase's own on this database, guarded."""
        if self.creator is not None:
            options.setdefault("creator", self.creator)
        engine = sa.create_engine(self.url, **options)
        EngineGuard(engine, self, "flask_dbcase").install()
        return engine


class Switch:
    """One engine pointed at its test database, and how to point it back.

    Its pool is emptied, so that no connection opened before is used, and every
    connection it opens afterwards is checked at the server.
    """

    def __init__(
        self,
        engine: sa.Engine,
        target: Target,
        label: str,
        reason: str = "",
        how: str = "",
    ) -> None:
        self.engine = engine
        self.target = target
        #: How the test database came to be there (:data:`HOW`).
        self.how = how
        self.original = engine.url
        self.guard = EngineGuard(engine, target, label, reason)
        self._redirect: _Redirect | None = None
        #: The dialect's default schema before the switch, if it had one: it
        #: first connected elsewhere (a module-level app that queried at import).
        self._schema = engine.dialect.default_schema_name
        #: Applied in the process this one was forked from, to its database.
        self.inherited = False

    def apply(self) -> None:
        engine = self.engine
        memory = is_memory_sqlite(self.original)
        if not memory:  # disposing it would destroy an in-memory database
            engine.dispose()
        if self.target.url != self.original:
            self._redirect = _Redirect(engine, self.original, self.target.url)
            event.listen(engine, "do_connect", self._redirect)
            engine.url = self.target.url
            process_guard.redirected.add(engine.dialect)
        self.guard.install()
        databases.switches[engine] = self

    def undo(self) -> None:
        """Point the engine where it pointed before, with an empty pool."""
        engine = self.engine
        databases.switches.pop(engine, None)
        with contextlib.suppress(sa.exc.InvalidRequestError):
            self.guard.remove()
        if self._redirect is not None:
            with contextlib.suppress(sa.exc.InvalidRequestError):
                event.remove(engine, "do_connect", self._redirect)
            self._redirect.restore()
            process_guard.redirected.discard(engine.dialect)
        engine.url = self.original
        engine.dialect.default_schema_name = self._schema
        if not is_memory_sqlite(self.original):
            engine.dispose()

    def refresh(self, connection: sa.Connection) -> None:
        """Make the dialect name the test database's default schema.

        A dialect learns it on its first connection; one that first connected
        to the configured database would make reflection look there (on MySQL,
        the default schema is the database).
        """
        dialect = self.engine.dialect
        # Or unknown: an earlier class put back the None of a dialect that had
        # not connected before it, and a dialect learns it on its first
        # connection only (MySQL's has_table then fails).
        moved = self._schema is not None and self._redirect is not None
        if moved or dialect.default_schema_name is None:
            dialect.default_schema_name = dialect._get_default_schema_name(connection)


class _Redirect:
    """A ``do_connect`` listener that connects to ``target`` instead of
    ``original``."""

    def __init__(self, engine: sa.Engine, original: sa.URL, target: sa.URL) -> None:
        dialect = engine.dialect
        old_args, self.old_params = dialect.create_connect_args(original)
        new_args, new_params = dialect.create_connect_args(target)
        pairs = enumerate(zip(old_args, new_args, strict=True))
        self.args = {i: (old, new) for i, (old, new) in pairs if old != new}
        self.params = {
            k: v for k, v in new_params.items() if self.old_params.get(k) != v
        }
        self._changed: tuple[t.Any, t.Any] | None = None

    def __call__(
        self, dialect: t.Any, record: t.Any, cargs: t.Any, cparams: t.Any
    ) -> None:
        for index, (_, new) in self.args.items():
            cargs[index] = new
        cparams.update(self.params)
        self._changed = (cargs, cparams)

    def restore(self) -> None:
        """Undo the change, where SQLAlchemy kept it.

        Before 2.0.53 or so, the arguments a ``do_connect`` listener changes are
        the engine's own, and stay changed after it is removed.
        """
        if self._changed is None:
            return
        cargs, cparams = self._changed
        for index, (old, _) in self.args.items():
            cargs[index] = old
        for key in self.params:
            if key in self.old_params:
                cparams[key] = self.old_params[key]
            else:
                cparams.pop(key, None)


def forget_pool(engine: sa.Engine) -> None:
    """In a forked process, let ``engine`` open connections of its own, and
    leave those in its pool, the parent's, unused and open."""
    if not is_memory_sqlite(engine.url):  # a copy of the parent's, the only one
        # Kept: collected, its connections would warn that they were not closed.
        _parents_pools.append(engine.pool)
        engine.dispose(close=False)


_parents_pools: list[sa.Pool] = []


def _custom_connect(engine: sa.Engine) -> bool:
    """Tell whether something else than the URL opens the engine's connections."""
    creator = getattr(engine.pool, "_creator", None)
    return getattr(creator, "__module__", None) != "sqlalchemy.engine.create"


class TemplateBuilder(t.Protocol):
    """What fills a template database with the schema, and tells if it holds it."""

    def matches(self, engine: sa.Engine) -> bool:
        """Tell whether the database of ``engine`` holds the schema, empty."""

    def build(self, engine: sa.Engine) -> None:
        """Build the schema in the (empty or outdated) database of ``engine``."""


class TestDatabases:
    """The test databases of this process: which were created, which to keep."""

    __test__ = False  # not a test, whatever pytest's name matching thinks

    def __init__(self) -> None:
        #: The databases this process created or took over, to drop at exit.
        self.created: dict[t.Hashable, tuple[Backend, str]] = {}
        #: The databases a class with ``keepdb`` used: they outlive the run.
        self.kept: set[t.Hashable] = set()
        #: Template databases this process used, dropped with its databases.
        self.templates: dict[t.Hashable, tuple[Backend, str]] = {}
        #: The template each database this process cloned was cloned from.
        self.sources: dict[t.Hashable, t.Hashable] = {}
        #: The engines pointed at a test database, and how to point them back.
        self.switches: weakref.WeakKeyDictionary[sa.Engine, Switch] = (
            weakref.WeakKeyDictionary()
        )
        self._servers: dict[str, Backend] = {}
        self._claims: dict[t.Hashable, _Claim] = {}
        self._exit_hooks: list[t.Callable[[], None]] = []
        self._first_exit_hooks: list[t.Callable[[], None]] = []
        self._exit_registered = False
        #: What a forked process inherited: the parent's, never closed here.
        self._inherited: list[t.Any] = []

    def forget_parent(self) -> None:
        """In a forked process, leave the parent's test databases to the parent.

        The process claims test databases of its own when a class begins, as
        any test process does. It drops none of the parent's at exit, and
        releases none of its claims. Their connections stay referenced here,
        never used or closed: they are the parent's. Engines a class pointed
        stay pointed, with an empty pool, so that a process a test forks works
        in the test's database through connections of its own.
        """
        self._inherited.append((self._servers, self._claims))
        self.created, self.kept, self.templates, self.sources = {}, set(), {}, {}
        self._servers, self._claims = {}, {}
        self._exit_hooks, self._first_exit_hooks = [], []
        self._exit_registered = False
        for engine, switch in self.switches.items():
            switch.inherited = True
            forget_pool(engine)

    def use(
        self,
        engine: sa.Engine,
        label: str,
        allowed: t.Collection[str],
        template: TemplateBuilder | None = None,
        keep: bool = False,
    ) -> Switch:
        """Point ``engine`` at its test database, creating the database if missing.

        The engine's ``url`` is changed to the test database's, its pool emptied,
        and its connections redirected there with the ``do_connect`` event. Each
        new connection is then checked at the server, and this method makes one
        to check that the database can be reached. Test processes that run at
        the same time each claim a database of their own. On PostgreSQL, the
        copies of the second and later processes are cloned from a template
        database that ``template`` builds once. The switch's ``how`` says
        which of these happened (see :data:`HOW`).

        :param keep: The test database outlives the run, and copies other runs
            left are not dropped.
        :raises TestDatabaseError: The test database cannot be made or reached, or a
            connection is not where the engine's URL says.
        """
        # The caller leaves an engine another class pointed to that class.
        assert engine not in self.switches, "pointed already"
        self._register_exit()
        original = engine.url
        kind = backends.backend_class(original, label)
        reason = ""
        if _custom_connect(engine):
            # Where the creator connects is known once it has: to a database the
            # user allowed, used as it is, or the class fails.
            creator = getattr(engine.pool, "_creator", None)
            target = Target(kind.name, original, None, False, None, allowed, creator)
            how, reason = ALLOWED, _CREATOR
        elif is_memory_sqlite(original):
            target, how = Target(kind.name, original, "", False, engine), MEMORY
        else:
            target, how = self._prepare(kind, original, label, allowed, template, keep)
        switch = Switch(engine, target, label, reason, how)
        switch.apply()
        _check_connection(switch, label)
        if keep:
            self.keep(target)
        return switch

    def keep(self, target: Target) -> None:
        """Let the database of ``target`` outlive the run."""
        if target.key is not None:
            self.kept.add(target.key)

    # radon C, essential: one branch per way a URL leads to its test database:
    # none named, used as it is (missing, or in use), derived and numbered,
    # cloned.
    def _prepare(
        self,
        kind: type[Backend],
        original: sa.URL,
        label: str,
        allowed: t.Collection[str],
        template: TemplateBuilder | None,
        keep: bool,
    ) -> tuple[Target, str]:
        if not original.database:
            raise TestDatabaseError(
                f"{label} uses {describe_url(original)}, which names no database:"
                " the driver picks one (from a service file, PGDATABASE or the"
                " user's name), and flask_dbcase cannot tell which to derive a test"
                " database from. Name the database in the URL."
            )
        server = self._backend(kind, original, label)
        real = kind.path(original)
        if allows(allowed, kind.name, real):
            if not server.exists(real):  # SQLite would make an empty file
                raise TestDatabaseError(
                    f"{label} uses {describe_url(original)} as it is (it is named"
                    f" in {ALLOW_ENV}), but it does not exist, and flask_dbcase"
                    " never creates a database named there. Create it, or take its"
                    f" name out of {ALLOW_ENV} to let flask_dbcase derive a test"
                    " database."
                )
            claim = self._claim(server, real, label, keep)
            if claim.number > 1:
                raise TestDatabaseError(
                    f"{label} uses {describe_url(original)} as it is (it is named in"
                    f" {ALLOW_ENV}), and another test process is using it. Run the"
                    " tests in one process, or let flask_dbcase derive a test"
                    " database."
                )
            return Target(kind.name, original, real, False, (server.id, real)), ALLOWED
        process_guard.add_real(Identity(kind.name, real, False), label)
        derived = kind.derive(original)
        number = self._claim(server, kind.path(derived), label, keep).number
        url = kind.numbered(derived, number)
        name = kind.path(url)
        if (kind.name, name) in process_guard.real:
            raise TestDatabaseError(
                f"{label} would run on the test database {name!r}, but an app of"
                " this run is configured with a database of that name, which the"
                " tests never touch. Rename one of them."
            )
        source = None
        if number > 1 and template is not None and server.clones:
            source = (kind.template(derived).database or "", template)
        reading = (kind.path(derived), number)
        how = self._create(server, url, label, allowed, reading, source)
        marked = server.marks and how != ALLOWED
        target = Target(kind.name, url, name, marked, (server.id, name))
        return target, how

    def _backend(self, kind: type[Backend], url: sa.URL, label: str) -> Backend:
        key = kind.name + " " + url.set(database="").render_as_string(False)
        server = self._servers.get(key)
        if server is None:
            server = self._servers[key] = kind(url, label)
        server.label = label  # its messages name the class that uses it now
        return server

    # radon C, essential: one branch per state the name is found in: ours
    # already, left marked, allowed, someone else's, missing (cloned or
    # created), each checked against the name's other readings.
    def _create(
        self,
        server: Backend,
        url: sa.URL,
        label: str,
        allowed: t.Collection[str],
        reading: tuple[str, int],
        source: tuple[str, TemplateBuilder] | None = None,
    ) -> str:
        """Make sure the test database of ``url`` exists and is flask_dbcase's;
        say how (:data:`HOW`).

        :param reading: The test database and number the name is claimed as.
        """
        name = server.path(url)
        key = (server.id, name)
        if key in self.created:
            return REUSED
        if server.exists(name):
            marked = server.marks and server.is_marked(name)
            if marked or allows(allowed, server.name, name):
                other = self._used_otherwise(server, name, reading)
                if other is not None:
                    raise TestDatabaseError(_clash(label, name, reading, other))
            if marked:  # a run that ended left it
                self.created[key] = (server, name)
                return REUSED
            if allows(allowed, server.name, name):
                return ALLOWED
            raise TestDatabaseError(
                f"{label} would run on the test database {name!r} on"
                f" {describe_url(url.set(database=''))}, which exists but was not"
                " created by flask_dbcase, so flask_dbcase will not empty or drop it."
                " Drop it, and flask_dbcase creates its own; or, if everything in it"
                f" may be deleted, name it in {ALLOW_ENV}."
            )
        how = CREATED
        try:
            if source is not None and self._clone(server, url, *source):
                how = CLONED
            else:
                server.create(name)
        except sa.exc.DBAPIError as error:
            raise TestDatabaseError(_cannot_create(url, label, server, error)) from None
        self.created[key] = (server, name)
        return how

    def _clone(
        self, server: Backend, url: sa.URL, source: str, template: TemplateBuilder
    ) -> bool:
        """Create ``url`` as a copy of ``source``, building ``source`` if need be.

        Processes take turns under a lock: a database cannot be cloned while
        another connection is open to it. ``False`` if ``source`` exists but is
        not one of flask_dbcase's, or another's test database (configured
        ``shop_template`` beside ``shop``), which is then left alone.
        """
        with server.locked(_template_lock(source)):
            if server.exists(source):
                if not server.is_marked(source):
                    return False
                if self._used_otherwise(server, source, _template_of(source)):
                    return False
                fresh = False
            else:
                server.create(source)
                fresh = True
            self.templates[(server.id, source)] = (server, source)
            own = Target(server.name, url.set(database=source), source, True, None)
            engine = own.engine(poolclass=NullPool)
            try:
                if fresh or not template.matches(engine):
                    template.build(engine)
            finally:
                engine.dispose()
            server.create(url.database or "", template=source)
        self.sources[(server.id, url.database)] = (server.id, source)
        return True

    def _claim(self, server: Backend, name: str, label: str, keep: bool) -> _Claim:
        key = (server.id, name)
        claim = self._claims.get(key)
        if claim is None:
            claim = self._claims[key] = _Claim(server, name, label)
            if not keep:
                claim.drop_stale_copies(self._used_otherwise)
        return claim

    def _used_otherwise(
        self, server: Backend, name: str, reading: tuple[str, int]
    ) -> tuple[str, int] | None:
        """The other way a test process, this one included, uses the database
        ``name`` than as ``reading``, if one does: configured ``shop_2`` and
        ``shop`` make ``test_shop_2`` the first of one and the second of the
        other."""
        for base, number in _readings(name, server.clones):
            if (base, number) == reading:
                continue
            if number == 0:
                # A template: used here if this process cloned from it, and
                # elsewhere while a process holds a copy, which clones from it.
                if (server.id, name) in self.templates:
                    return base, number
                numbers: t.Iterable[int] = range(2, _Claim.LIMIT + 1)
            else:
                claim = self._claims.get((server.id, base))
                if claim is not None and claim.number == number:
                    return base, number
                numbers = (number,)
            for each in numbers:
                key = claim_key(base, each)
                if not server.try_lock(key):
                    return base, number
                server.unlock(key)
        return None

    def keeps(self, target: Target) -> bool:
        """Tell whether the database of ``target`` outlives the run."""
        return target.key in self.kept

    def drops(self, target: Target) -> bool:
        """Tell whether the database of ``target`` is dropped at exit."""
        return target.key in self.created and target.key not in self.kept

    def at_exit(self, callback: t.Callable[[], None], first: bool = False) -> None:
        """Run ``callback`` at exit, before the test databases are dropped.

        :param first: Run it before every other callback, once however often
            it is given.
        """
        self._register_exit()
        if not first:
            self._exit_hooks.append(callback)
        elif callback not in self._first_exit_hooks:
            self._first_exit_hooks.append(callback)

    def _register_exit(self) -> None:
        if not self._exit_registered:
            on_exit(self.close)
            self._exit_registered = True

    def close(self) -> None:
        """Put back what the process changed; drop its test databases unless kept.

        Runs once at exit.
        """
        while self._first_exit_hooks:
            self._first_exit_hooks.pop()()
        while self._exit_hooks:
            self._exit_hooks.pop()()
        for switch in list(self.switches.values()):
            switch.undo()
        self.drop_created()
        for claim in self._claims.values():
            claim.release()
        self._claims.clear()
        for server in self._servers.values():
            server.close()
        self._servers.clear()

    def drop_created(self) -> None:
        """Drop the databases this process created, but those it keeps, and
        the templates no kept database was cloned from."""
        for key, (server, name) in self.created.items():
            if key in self.kept:
                continue
            place = f"{name!r} on {describe_url(server.url)}"
            with reported_at_exit(f"the test database {place}", server.url):
                server.drop(name)
        self.created.clear()
        needed = {self.sources.get(key) for key in self.kept}
        for key, (server, name) in self.templates.items():
            if key in needed or self._used_otherwise(server, name, _template_of(name)):
                continue
            place = f"{name!r} on {describe_url(server.url)}"
            with reported_at_exit(f"the template database {place}", server.url):
                with server.locked(_template_lock(name)):
                    if server.is_marked(name):
                        server.drop(name)
        self.templates.clear()


def claim_key(name: str, number: int) -> str:
    """The lock a process holds while it uses the ``number``-th copy of the
    test database ``name``."""
    digest = hashlib.sha256(f"{name}:{number}".encode()).hexdigest()[:40]
    return "flask_dbcase:" + digest


def _readings(name: str, templates: bool) -> list[tuple[str, int]]:
    """The test databases and numbers whose copy a server's database ``name``
    may be: the first of its own name, a numbered copy of another, or, on a
    server that clones (``templates``), the template of another's copies
    (number 0)."""
    found = [(name, 1)]
    stem, _, tail = name.rpartition("_")
    if not stem:
        return found
    if tail == "template":
        if templates:
            found.append((stem, 0))
    # As numbered() writes them: ASCII digits, no leading zero.
    elif tail.isascii() and tail.isdigit() and tail[0] != "0":
        if 2 <= int(tail) <= _Claim.LIMIT:
            found.append((stem, int(tail)))
    return found


def _template_of(name: str) -> tuple[str, int]:
    """The reading of the template ``name``: of its test database's copies."""
    return name.rpartition("_")[0], 0


def _clash(
    label: str, name: str, reading: tuple[str, int], other: tuple[str, int]
) -> str:
    def what(base: str, number: int) -> str:
        if number == 0:
            return f"the template of the copies of the test database {base!r}"
        if number == 1:
            return f"the test database {base!r}"
        return f"copy {number} of the test database {base!r}"

    return (
        f"{label} would run on {name!r} as {what(*reading)}, but a test process"
        f" uses it as {what(*other)}: configured databases whose names differ by"
        " an ending '_<number>' or '_template' give their test databases the"
        " same names. Rename one of them."
    )


def _template_lock(name: str) -> str:
    return f"flask_dbcase:template:{name}"


def _check_connection(switch: Switch, label: str) -> None:
    """Connect once; say where and why if that fails, and learn where a creator
    lands."""
    engine = switch.engine
    try:
        with checking_engine(), engine.connect() as connection:
            switch.refresh(connection)
    except sa.exc.DBAPIError as error:
        raise TestDatabaseError(
            f"{label} cannot connect to {describe_url(engine.url)}:"
            f" {reason(error, engine.url, switch.original)} Check that the server"
            " is running and that the URL's host, port and user are right."
        ) from None
    target = switch.target
    if target.key is None:  # a creator's: now it is known where it lands
        found = switch.guard.found
        assert found is not None
        target.key = (found.backend, "creator", found.database)


_CREATOR = (
    "Its connections come from the 'creator' in its engine options"
    " (SQLALCHEMY_ENGINE_OPTIONS['creator'], or a bind's 'creator' in"
    " SQLALCHEMY_BINDS), which flask_dbcase cannot point at a test database. In the"
    " tests, leave 'creator' out and give a URL that flask_dbcase can derive a test"
    " database from; or, if everything in the database the creator connects to may"
    f" be deleted, name it in {ALLOW_ENV}."
)


class _Claim:
    """Hold the lowest free number for a test database while this process lives.

    Test processes running at the same time (``unittest-parallel``, ``stestr``,
    ``pytest -n``, two terminals) each get a number, and so a database of their
    own. The claim is a lock the database server (or, for SQLite, the file system)
    releases when the process ends, however it ends.
    """

    #: More processes than this at once is taken for a leak, not parallelism.
    LIMIT = 64

    def __init__(self, server: Backend, name: str, label: str) -> None:
        self.server = server
        self.name = name
        self.number = next(
            (n for n in range(1, self.LIMIT + 1) if server.try_lock(self._key(n))), 0
        )
        if not self.number:
            raise TestDatabaseError(
                f"{self.LIMIT} test processes already use {name!r}."
            )

    def _key(self, number: int) -> str:
        return claim_key(self.name, number)

    def drop_stale_copies(
        self, used: t.Callable[[Backend, str, tuple[str, int]], t.Any]
    ) -> None:
        """Drop numbered copies that no process holds, left by a killed run.

        The first process also drops a template a killed run left: at worst, a
        process that starts at the same moment builds it again. A copy or
        template whose name is also another test database's (``used`` says),
        which a process holds, stays.
        """
        server = self.server
        marked = server.marked()
        if self.number == 1 and server.clones:
            template = f"{self.name}_template"
            if template in marked and not used(server, template, (self.name, 0)):
                with server.locked(_template_lock(template)):
                    server.drop(template)
        for number, name in self._copies(marked):
            if number == self.number or not server.try_lock(self._key(number)):
                continue
            try:
                if not used(server, name, (self.name, number)):
                    server.drop(name)
            finally:
                server.unlock(self._key(number))

    def _copies(self, marked: list[str]) -> list[tuple[int, str]]:
        url = sa.URL.create(self.server.name, database=self.name)
        names = {
            type(self.server).numbered(url, n).database: n
            for n in range(2, self.LIMIT + 1)
        }
        return [(names[name], name) for name in marked if name in names]

    def release(self) -> None:
        self.server.unlock(self._key(self.number))


@contextlib.contextmanager
def reported_at_exit(what: str, url: sa.URL) -> t.Iterator[None]:
    """Print a failure to drop ``what`` instead of raising it: at exit, nobody is
    left to raise to."""
    try:
        yield
    except (sa.exc.DBAPIError, TestDatabaseError, OSError) as error:
        print(
            f"flask_dbcase: could not drop {what}: {reason(error, url)}",
            file=sys.stderr,
        )


def _cannot_create(
    url: sa.URL, label: str, server: Backend, error: sa.exc.DBAPIError
) -> str:
    user = url.username or "the user"
    return (
        f"{label} needs the test database {url.database!r} on"
        f" {describe_url(url.set(database=''))}, and cannot create it:"
        f" {reason(error, url)} Let {user!r} create databases"
        f" ({server.grant(user)}), or create {url.database!r} yourself, give"
        f" {user!r} all rights on it, and name it in {ALLOW_ENV}."
    )


def check_schemas(engine: sa.Engine, metadata: sa.MetaData, label: str) -> None:
    """Refuse models whose tables name another database as their schema.

    On MySQL and MariaDB a schema is a database, and an attached database on
    SQLite: a test database cannot be derived for those, so their tables would
    be created, emptied and dropped where they are.

    :raises TestDatabaseError: A table names another database.
    """
    kind = backends.BACKENDS.get(engine.dialect.name)
    if kind is None:
        return
    foreign = sorted(
        table.fullname
        for table in metadata.tables.values()
        if table.schema and kind.foreign_schema(table.schema)
    )
    if foreign:
        listed = ", ".join(f"{name!r}" for name in foreign)
        raise TestDatabaseError(
            f"{label}: the models put tables in other databases ({listed}), which"
            " flask_dbcase cannot point at test databases, so the tests would"
            " create, empty and drop them there. Give each database a bind of its"
            " own in SQLALCHEMY_BINDS, and leave 'schema' out of those models."
        )


def point_config(app: Flask, urls: dict[str | None, sa.URL]) -> t.Callable[[], None]:
    """Make the app's configuration name the test databases; return the undo.

    ``urls`` maps bind keys to the test databases' URLs. Code that builds engines
    from ``SQLALCHEMY_DATABASE_URI`` or ``SQLALCHEMY_BINDS`` then reaches them.
    """
    config = app.config
    saved = {
        key: config[key]
        for key in ("SQLALCHEMY_DATABASE_URI", "SQLALCHEMY_BINDS")
        if key in config
    }
    for key, url in urls.items():
        if key is None:
            if "SQLALCHEMY_DATABASE_URI" in config:
                old = config["SQLALCHEMY_DATABASE_URI"]
                config["SQLALCHEMY_DATABASE_URI"] = _like(old, url)
            continue
        binds = dict(config.get("SQLALCHEMY_BINDS") or {})
        if key not in binds:
            continue
        old = binds[key]
        if isinstance(old, dict):
            binds[key] = {**old, "url": _like(old.get("url"), url)}
        else:
            binds[key] = _like(old, url)
        config["SQLALCHEMY_BINDS"] = binds

    def undo() -> None:
        for key in ("SQLALCHEMY_DATABASE_URI", "SQLALCHEMY_BINDS"):
            if key in saved:
                config[key] = saved[key]
            else:
                config.pop(key, None)

    return undo


def _like(old: t.Any, url: sa.URL) -> t.Any:
    """``url`` in the form the configuration gave: a string or a URL object."""
    return url if isinstance(old, sa.URL) else url.render_as_string(False)


def same_database_key(engine: sa.Engine) -> t.Hashable:
    """Return a key equal for engines that reach the same database.

    For an engine pointed at a test database, the server decided it; otherwise
    the URL does. Each in-memory SQLite engine owns its database, so its key is
    the engine itself.
    """
    switch = databases.switches.get(engine)
    if switch is not None and switch.target.key is not None:
        return switch.target.key
    url = engine.url
    if is_memory_sqlite(url):
        return engine
    if url.get_backend_name() == "sqlite":
        return ("sqlite", os.path.realpath(url.database or ""))
    return url.render_as_string(hide_password=False)


def target_of(engine: sa.Engine) -> Target | None:
    """The test database ``engine`` points at, if it points at one."""
    switch = databases.switches.get(engine)
    return switch.target if switch is not None else None


def at_exit(callback: t.Callable[[], None], first: bool = False) -> None:
    """Run ``callback`` when the process ends, before the test databases are
    dropped (see :meth:`TestDatabases.at_exit`)."""
    databases.at_exit(callback, first)


def keeps(target: Target) -> bool:
    """Tell whether the test database of ``target`` outlives the run."""
    return databases.keeps(target)


def drops(target: Target) -> bool:
    """Tell whether the test database of ``target`` is dropped when the
    process ends, its tables with it."""
    return databases.drops(target)


databases = TestDatabases()
after_fork(databases.forget_parent)
