"""The test case classes: how a test gets its app, its database and its isolation."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import inspect
import io
import os
import sys
import threading
import traceback
import typing as t
import unittest

import sqlalchemy as sa
from flask import appcontext_popped
from flask import Flask
from flask import has_app_context
from flask import url_for
from flask.globals import app_ctx
from flask.testing import EnvironBuilder
from flask.testing import FlaskClient

from . import database
from . import fixtures
from . import skips
from .apps import dispose
from .apps import shared_apps
from .assertions import CapturedQueries
from .assertions import DatabaseAssertions
from .backends import TestDatabaseError
from .client import isolated_client_class
from .config import class_overrides
from .config import override_config
from .guard import BindFence
from .guard import DatabaseNotAllowedError
from .guard import LateThreads
from .guard import NoDatabase
from .guard import process_guard
from .leaks import LeakCheck
from .liveserver import LiveServer
from .login import log_in
from .login import log_out
from .mail import has_mail
from .mail import hold_mail
from .mail import MailAssertions
from .mail import watch_outbox
from .preparation import ClassDatabases
from .recording import Recorder
from .responses import ResponseAssertions
from .schema import has_triggers
from .schema import reset_all
from .schema import schemas
from .testdata import forget_copies
from .testdata import unwrap_test_data
from .testdata import wrap_test_data
from .threads import join_started
from .threads import started
from .threads import thread_errors
from .transaction import ConnectionLostError
from .transaction import ImplicitCommitError
from .transaction import lock_waits
from .transaction import TestTransaction
from .urls import describe_bind
from .urls import describe_url
from .visibility import VisibilityWatch

# The frames of this module are left out of tracebacks, as unittest leaves out
# its own (pytest too): an error in class setup, whose message says what to do,
# or a failure this module reports, then shows the user's frames only.
__unittest = True

if t.TYPE_CHECKING:
    from flask.ctx import AppContext
    from flask_sqlalchemy import SQLAlchemy


_UNSET = object()


class _Undo:
    """Steps to undo, last first, each even if one before it failed: the last
    failure is raised, the others chained to it, as ``contextlib.ExitStack``.
    Here, in a module tracebacks leave out, a failure raised while undoing
    shows where it was raised, not the frames that undid it."""

    def __init__(self) -> None:
        self._steps: list[t.Callable[[], object]] = []

    def callback(
        self, function: t.Callable[..., object], /, *args: t.Any, **kwargs: t.Any
    ) -> None:
        """Undo a step with ``function(*args, **kwargs)``."""
        self._steps.append(functools.partial(function, *args, **kwargs))

    def close(self) -> None:
        """Undo every step, last first."""
        failure: BaseException | None = None
        while self._steps:
            step = self._steps.pop()
            try:
                step()
            except BaseException as error:
                if failure is not None and error.__context__ is None:
                    error.__context__ = failure
                failure = error
        if failure is not None:
            raise failure


class _ClassState:
    """What one test class set up, and what must be undone when it ends."""

    def __init__(self) -> None:
        self.own_db = False
        self.engines: dict[str | None, sa.Engine] = {}
        self.transaction: TestTransaction | None = None
        self.test_data: dict[str, t.Any] = {}
        self.fixtures: fixtures.Loader | None = None
        self.fixture_rows: list[t.Any] = []
        #: What ``override_config`` set on the class and its bases.
        self.overrides: dict[str, t.Any] = {}
        #: The templates and flashed messages of ClientTestCase's tests.
        self.recorder: Recorder | None = None
        #: What _begin_class_isolation did, for _end_class_isolation to undo.
        self.isolation = _Undo()
        #: The class's test databases, and how each came to be, by bind.
        self.databases: ClassDatabases
        self.hows: dict[str | None, str] = {}
        #: The binds whose databases have triggers (DatabaseTestCase).
        self.triggers: set[str | None] = set()
        #: Why the class's tests cannot run: its starting state could not be
        #: restored after a test ended its transaction.
        self.broken: str | None = None
        #: The app and its Flask-SQLAlchemy extension, as the library reads
        #: them: the class's ``app`` and ``db`` are the user's to rebind.
        self.app: Flask
        self.db: SQLAlchemy
        #: The class's own ``app`` attribute, put back when the class ends.
        self.class_app: t.Any = _UNSET
        #: The running test's app context, and the thread it runs in.
        self.context: AppContext | None = None
        self.thread = 0
        #: The class's ``setUpTestDatabase``, whose rows, with the migrations',
        #: every test starts with; ``None`` for none.
        self.hook: t.Hashable = None
        #: The app sends mail with Flask-Mail or Flask-Mailman: each test
        #: gets an outbox to watch.
        self.mail = False
        #: Record what each test sends, to show it if the test fails.
        self.debug_sql = False
        #: Refuses the binds the class did not declare, while a test runs.
        self.fence: BindFence | None = None
        #: The WSGI environment of the tests' request contexts, and the
        #: configuration it was built for.
        self.environ: dict[str, t.Any] = {}
        self.environ_for: tuple[t.Any, ...] | None = None


class _Steps(unittest.TestCase):
    """unittest's steps of a test, with the library's setup before the class's
    own ``setUp``, and a note when one of them raises."""

    #: The test failed already: a refused connection needs no failure of its own.
    _dbcase_failed = False

    #: The running test's outbox, and what it rendered and flashed (a
    #: ClientTestCase's, an AppTestCase's), which the assertions ask for.
    _dbcase_sent_mail: list[t.Any] | None = None
    _dbcase_rendered: Recorder | None = None

    #: What _dbcase_set_up_class did, for _dbcase_tear_down_class to undo.
    _dbcase_class_steps: t.ClassVar[_Undo]
    #: What _dbcase_set_up did, for _dbcase_tear_down to undo.
    _dbcase_steps: _Undo

    @classmethod
    def _dbcase_set_up_class(cls) -> None:
        raise NotImplementedError

    @classmethod
    def _dbcase_tear_down_class(cls) -> None:
        """Undo _dbcase_set_up_class, last step first."""
        steps = cls.__dict__.get("_dbcase_class_steps")
        if steps is not None:
            del cls._dbcase_class_steps
            steps.close()

    def _dbcase_set_up(self) -> None:
        raise NotImplementedError

    def _dbcase_tear_down(self) -> None:
        """Undo _dbcase_set_up, last step first."""
        self._dbcase_steps.close()

    def _dbcase_raised(self, error: BaseException) -> None:
        """A step of the test raised ``error``, which goes on up."""
        self._dbcase_failed = True

    def _callSetUp(self) -> None:
        # Before the class's own setUp, as Django and Flask-Testing do: a setUp
        # that does not call super().setUp() still runs with the app and the
        # isolation in place, and so does everything it does.
        self._dbcase_set_up()
        try:
            super()._callSetUp()  # type: ignore[misc]
        except BaseException as error:
            self._dbcase_raised(error)
            raise

    def _callTestMethod(self, method: t.Callable[[], object]) -> None:
        try:
            super()._callTestMethod(method)  # type: ignore[misc]
        except BaseException as error:
            self._dbcase_raised(error)
            raise

    def _callTearDown(self) -> None:
        try:
            super()._callTearDown()  # type: ignore[misc]
        except BaseException as error:
            self._dbcase_raised(error)
            raise

    def _callCleanup(
        self, function: t.Callable[..., object], /, *args: t.Any, **kwargs: t.Any
    ) -> None:
        try:
            super()._callCleanup(function, *args, **kwargs)  # type: ignore[misc]
        except BaseException as error:
            self._dbcase_raised(error)
            raise


class DatabaseTestCase(DatabaseAssertions, MailAssertions, _Steps):
    """Empty every table after each test; the code under test commits for real.

    Use it for code that must really commit: threads, several connections, a
    server in another thread. For everything else :class:`TransactionalTestCase` is
    much faster.

    Once per class, the app is built with ``create_app``, its Flask-SQLAlchemy
    extension found, and the tables of every bind created. Each test runs with a
    fresh test request context pushed. After each test, every row of every table of
    every bind is deleted, children first. When the class ends, the tables are
    dropped and the engines disposed.

    .. versionadded:: 0.1
    """

    #: The application, built by ``create_app`` once per class.
    app: t.ClassVar[Flask]

    #: The Flask-SQLAlchemy extension. Found on the app unless set on the class.
    db: t.ClassVar[SQLAlchemy]

    #: The application context pushed for the current test.
    app_context: AppContext

    #: What the test sent so far, recorded for :attr:`debug_sql`.
    _dbcase_sent: CapturedQueries | None = None

    #: Build the app once per process instead of once per class, and share it, with
    #: its engines and their pooled connections, among the classes that have the
    #: same ``create_app`` and set this too. Saves building the app for every class;
    #: changes a test makes to the app itself (its configuration, registered
    #: functions) are then seen by the classes that follow.
    reuse_app: t.ClassVar[bool] = False

    #: Options for the sessions of ``db.session`` while the class runs, the
    #: test's and the app's, as Flask-SQLAlchemy's ``session_options`` would set
    #: them: ``{"expire_on_commit": False}``, say. Put back when the class ends.
    #:
    #: .. versionadded:: 0.1
    session_options: t.ClassVar[t.Mapping[str, t.Any]] = {}

    #: Show, under a failing or erroring test's traceback, the SQL the test had
    #: sent, with its parameters, as Django's ``--debug-sql`` does. Setting the
    #: environment variable ``FLASK_DBCASE_DEBUG_SQL=1`` does the same for every
    #: class. flask_dbcase's own savepoints are not shown.
    #:
    #: .. versionadded:: 0.1
    debug_sql: t.ClassVar[bool] = False

    #: The binds the class's tests may use, by bind key (``None`` for the
    #: default database), as Django's ``databases``: a test that uses another
    #: fails with :class:`~flask_dbcase.DatabaseNotAllowedError`, naming it.
    #: ``None``, the default, allows every bind. ``setUpTestData``, fixtures
    #: and the library's own work after each test are not limited.
    #:
    #: .. versionadded:: 0.1
    binds: t.ClassVar[t.Collection[str | None] | None] = None

    @classmethod
    def setUpTestDatabase(cls) -> None:
        """Write rows every class needs, once per test database and process,
        as Laravel's hook of this name: roles, settings, lookup tables.

        Runs with an application context pushed, after the schema is built
        (and after the migrations, whose rows it may add to); the session is
        committed after it. Every test of the class starts with these rows: a
        :class:`TransactionalTestCase`'s rollback keeps them, a
        :class:`DatabaseTestCase` puts them back after emptying the tables.
        Another class with the same method, or a subclass, finds them again
        without running it; a class without it does not see them.

        .. versionadded:: 0.1
        """

    #: Keep the test databases this class uses, with their tables, after the
    #: run, and reuse them in the next run when the models have not changed.
    #: Setting the environment variable ``FLASK_DBCASE_KEEPDB=1`` does the
    #: same for every class.
    keepdb: t.ClassVar[bool] = False

    #: Build the schema with the app's Alembic migrations instead of the models:
    #: ``True`` for Flask-Migrate's directory, or the path of a migrations folder
    #: in Flask-Migrate's layout. Defaults to the app's ``DBCASE_MIGRATIONS``
    #: setting, else ``None``: the models' ``create_all()``.
    migrations: t.ClassVar[str | bool | None] = None

    #: With :attr:`migrations`, fail the class when the migrated schema differs
    #: from the models, listing the differences as Alembic's autogenerate sees
    #: them.
    check_migrations: t.ClassVar[bool] = False

    #: Fixture files (JSON or YAML) whose rows every test starts with. A
    #: :class:`TransactionalTestCase` loads them once per class, inside its
    #: transaction; a :class:`DatabaseTestCase` loads them before each test,
    #: since it empties the tables after each. See :doc:`/testdata`.
    fixtures: t.ClassVar[t.Sequence[str]] = ()

    #: More folders to search for :attr:`fixtures`, relative to the test module,
    #: searched before the app's ``DBCASE_FIXTURE_DIRS`` and the ``fixtures``
    #: folders beside the test module and in the app's root path.
    fixture_dirs: t.ClassVar[t.Sequence[str]] = ()

    _dbcase: t.ClassVar[_ClassState]
    _dbcase_ready = False

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        __tracebackhide__ = True  # for pytest; unittest leaves this module out
        _set_up_class(cls)

    @classmethod
    def _dbcase_set_up_class(cls) -> None:
        """Take the app, prepare its test databases, begin the isolation."""
        if cls.__dict__.get("_dbcase") is not None:
            return
        steps = cls._dbcase_class_steps = _Undo()
        cls.addClassCleanup(cls._dbcase_tear_down_class)
        # Run first, before the engines point back, however the class ends:
        # the threads started since the last class ended that still run (in
        # create_app, setUpClass, before or after super(), setUpTestData or a
        # test) are the class's.
        cls.addClassCleanup(_guard_outliving)
        allowed = database.allowed_databases()
        state, shared = _take_app(cls, steps, allowed)
        with state.app.app_context():
            state.engines = dict(state.db.engines)
            skipped = skips.reason(cls, state.engines)
            if skipped:  # before any database work
                raise unittest.SkipTest(skipped)
            undecided = skips.undecided(cls, state.engines)
            _fence_binds(cls, state, steps)
            if not cls.reuse_app:
                steps.callback(dispose, list(state.engines.values()))
            elif shared is None:
                if not shared_apps:
                    database.at_exit(shared_apps.dispose)
                shared_apps.add(_factory(cls), state.app, state.engines.values())
            state.hook = _hook_of(cls)
            until_end = database.at_exit if cls.reuse_app else steps.callback
            prepared = state.databases = ClassDatabases(
                cls, _name(cls), state.hook, state.app, state.db, state.engines
            )
            checked = functools.partial(_skip_for_servers, cls, state, undecided)
            state.hows = prepared.prepare(allowed, until_end, checked)
            if cls.reuse_app and shared is None:
                shared_apps.ready()
            if cls.fixtures:
                _read_fixtures(cls, state.app, state.db, state)
            state.overrides = class_overrides(cls)
            steps.callback(cls._end_class_isolation)
            cls._begin_class_isolation()

    @classmethod
    def _begin_class_isolation(cls) -> None:
        """Prepare the isolation of the class's tests, in an app context."""
        state = cls._dbcase
        # One query per bind: a database with triggers is emptied until empty.
        state.triggers = {k for k, e in state.engines.items() if has_triggers(e)}
        if hasattr(cls, "setUpTestData"):
            raise _saying(TypeError)(
                f"{_name(cls)!r} defines 'setUpTestData', which a"
                " DatabaseTestCase cannot keep: its tables are emptied after every"
                " test. Create the data in 'setUp', or derive from"
                " TransactionalTestCase."
            )

    @classmethod
    def _end_class_isolation(cls) -> None:
        """Undo _begin_class_isolation, last step first."""
        cls._dbcase.isolation.close()

    def _dbcase_database(
        self,
    ) -> tuple[SQLAlchemy | None, dict[str | None, sa.Engine] | None, bool]:
        state = type(self).__dict__.get("_dbcase") or getattr(self, "_dbcase", None)
        if state is None:
            return None, None, False
        engines = state.engines if self._dbcase_ready else None
        return state.db, engines, state.transaction is not None

    def _dbcase_outbox(self) -> list[t.Any] | None:
        return self._dbcase_sent_mail

    def _dbcase_raised(self, error: BaseException) -> None:
        super()._dbcase_raised(error)
        if isinstance(error, Exception):
            self._show_sql(error)

    @contextlib.contextmanager
    def subTest(self, *args: t.Any, **params: t.Any) -> t.Iterator[None]:
        """unittest's :meth:`~unittest.TestCase.subTest`; with :attr:`debug_sql`,
        a failure inside shows the SQL sent until then.

        .. versionadded:: 0.1
        """
        with super().subTest(*args, **params):
            try:
                yield
            except Exception as error:
                self._show_sql(error)
                raise

    def _show_sql(self, error: Exception) -> None:
        """With :attr:`debug_sql`, add the SQL sent so far to the exception that
        ends the test, as a note its traceback shows."""
        sent = self._dbcase_sent
        if sent is None or isinstance(error, unittest.SkipTest):
            return
        notes = getattr(error, "__notes__", None)
        if notes:  # one exception raised by several tests: this test's SQL only
            notes[:] = [note for note in notes if not note.startswith(_SQL_NOTE)]
        error.add_note(_sql_note(sent))

    def _record_sql(self) -> None:
        """Record what the test sends, for :attr:`debug_sql`."""
        recording = self.captureQueries()
        self._dbcase_sent = recording.__enter__()
        self._dbcase_steps.callback(recording.__exit__, None, None, None)

    def _dbcase_set_up(self) -> None:
        """Push the test's context, watch the test, begin its isolation."""
        if type(self).__dict__.get("_dbcase") is None:
            raise RuntimeError(_no_class_setup(type(self)))
        state = self._dbcase
        method = getattr(self, self._testMethodName, None)
        if skips.undecided(method, state.engines):
            skips.learn_servers(state.engines)
        skipped = skips.reason(method, state.engines)
        if skipped:
            raise unittest.SkipTest(skipped)
        steps = self._dbcase_steps = _Undo()
        self.addCleanup(self._dbcase_tear_down)
        request_context, context = _push_test_request(state)
        self.app_context = context
        self._dbcase_ready = True
        state.context, state.thread = context, threading.get_ident()
        # The threads that run already: those the test starts are watched.
        self._dbcase_threads = frozenset(threading.enumerate())
        thread_errors.watch()
        steps.callback(self._end_test, request_context)
        if state.fence is not None:
            state.fence.test = self.id()
            steps.callback(self._close_fence, state.fence)
        outbox: list[t.Any] = []
        self._dbcase_sent_mail = outbox
        if state.mail:
            steps.callback(watch_outbox(state.app, outbox))
        if state.debug_sql:
            self._record_sql()
        if state.overrides:
            override = override_config(state.overrides)
            override.__enter__()
            steps.callback(override.__exit__, None, None, None)
        self._begin_test()

    def _close_fence(self, fence: BindFence) -> None:
        """Let the library's work through; fail for an undeclared bind the test
        used, even if a view caught the refusal and answered 500."""
        fence.test = None
        attempts, fence.attempts = fence.attempts, []
        if attempts and not self._dbcase_failed:
            raise DatabaseNotAllowedError(attempts[0])

    def _begin_test(self) -> None:
        """Give the test its starting data: the fixtures, for each test."""
        state = self._dbcase
        if state.fixtures is not None:
            state.fixtures.insert(state.fixture_rows)
            self._dbcase.db.session.commit()

    def _end_test(self, context: _Context) -> None:
        """Pop the test's context; empty the tables the test wrote to."""
        self._dbcase_ready = False
        self._dbcase.context = None
        try:
            context.pop()
        finally:
            state = self._dbcase
            reset_all(state.db, state.engines, state.triggers, state.hook)
            # They commit for real; after the class, not in the real database.
            running = started(self._dbcase_threads)
            if running:
                process_guard.outlive(running)
        _fail_for_thread_errors(self)


class TransactionalTestCase(DatabaseTestCase):
    """Roll back everything each test did, commits included.

    Every bind's connection is kept in a transaction for the whole class; each test
    runs inside a savepoint of it that is rolled back when the test ends. Application
    code may call ``db.session.commit()``, ``rollback()`` and ``begin_nested()``, or
    use ``db.engine.begin()`` and ``db.engine.connect()``: none of it outlives the
    test. Binds that point at the same database share one connection.

    All connections of a test share that one connection per database, so a thread
    or a second connection cannot wait for another to commit; use
    :class:`DatabaseTestCase` for such code.

    .. versionadded:: 0.1
    """

    @classmethod
    def setUpTestData(cls) -> None:
        """Create data shared by every test of the class.

        Runs once per class, inside the class's transaction and with an application
        context pushed; the session is committed after it returns. Each test gets
        its own copy of the attributes this method sets on the class: mapped
        instances are merged into the test's session, so what a test changes, in
        the database or on the objects, is gone for the next test.

        .. versionadded:: 0.1
        """

    #: Also look for rows committed outside the test transaction after each test,
    #: not only after the class, so that the test that leaked fails. Costs a query
    #: per database per test, on a connection kept open for the class. The
    #: environment variable ``FLASK_DBCASE_STRICT=1`` turns it on for every class.
    strict_isolation: t.ClassVar[bool] = False

    #: Counts the rows committed outside the transaction, after the class and,
    #: if ``_dbcase_strict``, after each test.
    _dbcase_leaks: t.ClassVar[LeakCheck]
    _dbcase_strict: t.ClassVar[bool] = False

    @classmethod
    def _begin_class_isolation(cls) -> None:
        state = cls._dbcase
        cls._dbcase_strict = cls.strict_isolation or os.environ.get(STRICT_ENV) == "1"
        leaks = cls._dbcase_leaks = LeakCheck(
            _name(cls), state.db, state.engines, state.hook
        )
        steps = state.isolation
        # First, so that they run after the transaction is rolled back.
        steps.callback(leaks.close)
        steps.callback(leaks.after_class)
        lock_waits.start()
        steps.callback(lock_waits.stop)
        # What the tables were like, for _restore_class to compare with.
        schemas.note_shapes(state.engines.values())
        steps.callback(cls._end_class_transaction)
        cls._begin_class_transaction()

    @classmethod
    def _begin_class_transaction(cls) -> None:
        """Begin the class's transaction and create the class's data in it."""
        state = cls._dbcase
        state.transaction = transaction = TestTransaction(state.engines.values())
        before = dict(vars(cls))
        with cls._dbcase.app.app_context():
            if state.fixtures is not None:
                state.fixtures.insert(state.fixture_rows)
            cls.setUpTestData()
            session = cls._dbcase.db.session()
            session.expire_on_commit = False  # the copies then need no query
            session.commit()
        state.test_data = wrap_test_data(cls, before, cls._dbcase.db.session)
        transaction.begin_tests()

    @classmethod
    def _end_class_transaction(cls, discard: bool = False) -> None:
        """Roll back the class's transaction and take back the class's data."""
        state = cls._dbcase
        unwrap_test_data(cls, state.test_data)
        state.test_data = {}
        transaction, state.transaction = state.transaction, None
        if transaction is not None:
            transaction.close(discard)

    @classmethod
    def _restore_class(cls) -> str:
        """Bring back the state the class's tests start from, after a test ended
        the class's transaction; say what was done.

        The transaction and its connections are dropped (MySQL's table locks
        with them), the tables of a database whose shape changed (DDL) built
        again, rows the ending committed deleted, and the fixtures and
        ``setUpTestData`` loaded into a new transaction.
        """
        state = cls._dbcase
        try:
            cls._end_class_transaction(discard=True)
            engines = state.engines
            with cls._dbcase.app.app_context():
                rebuilt = schemas.drop_changed(engines.values())
                state.databases.build()
                reset_all(cls._dbcase.db, engines, state.triggers, state.hook)
                schemas.note_shapes(engines.values())
            cls._dbcase_leaks.forget()
            cls._begin_class_transaction()
        except BaseException as error:
            state.broken = f"{type(error).__name__}: {error}"
            raise
        done = "its tables were emptied"
        if rebuilt:
            where = ", ".join(describe_url(engine.url) for engine in rebuilt)
            done = f"the tables of {where} were built again (their DDL changed)"
        return (
            f"For the next tests of {_name(cls)!r}, {done} and the class's data"
            " loaded again."
        )

    #: How long, in seconds, the end of a test waits for the threads the test
    #: started (a view's fire-and-forget work) before it rolls back. One still
    #: running then fails the test: what it writes would land in the next one.
    thread_timeout: t.ClassVar[float] = 5.0

    def _begin_test(self) -> None:
        """Check that the class's transaction can still isolate the test."""
        state = self._dbcase
        if state.broken:
            raise RuntimeError(
                f"The starting state of {_name(type(self))!r} could not be brought"
                " back after an earlier test ended the class's transaction"
                f" ({state.broken}): this test cannot run isolated."
            )
        transaction = state.transaction
        if transaction is not None and transaction.lost:
            raise ConnectionLostError(
                f"The connection to {transaction.lost} was lost during an earlier"
                f" test of {_name(type(self))!r}, with the class's transaction and"
                " its data: this test cannot run isolated."
            )

    def _end_test(self, context: _Context) -> None:
        """Pop the test's context; roll back to the test's savepoint."""
        self._dbcase_ready = False
        self._dbcase.context = None
        transaction = self._dbcase.transaction
        if transaction is None:  # the class could not be restored: said in setUp
            context.pop()
            return
        running = join_started(self._dbcase_threads, self.thread_timeout)
        if running:
            # What they write later must reach neither the next test nor, once
            # the class has ended and the engines point back at it, the real
            # database.
            transaction.ban(running)
            # After the class too: a shared app's engines still point at the
            # test database, which the next class uses.
            process_guard.refuse_threads(running, LateThreads(repr(self.id())))
            process_guard.outlive(running)
        transaction.start_closing()
        try:
            context.pop()
        finally:
            forget_copies(self, self._dbcase.test_data)
            try:
                transaction.end_test()
            except ImplicitCommitError as error:
                done = type(self)._restore_class()
                error.args = (f"{error} {done}",)
                raise
        _fail_for_thread_errors(self)
        if running:
            names = ", ".join(repr(thread.name) for thread in running)
            raise AssertionError(
                f"{len(running)} thread(s) the test started still run after"
                f" {self.thread_timeout:g} s ({names}): flask_dbcase refuses their"
                " statements from now on, so that nothing they write reaches the"
                " next test or, once the class has ended, the configured"
                " database. Wait for them in the test (thread.join()), increase"
                f" '{_name(type(self))}.thread_timeout', or test such code in a"
                " DatabaseTestCase."
            )
        if self._dbcase_strict:
            self._dbcase_leaks.after_test(self._testMethodName)


class ClientTestCase(ResponseAssertions, TransactionalTestCase):
    """Roll back each test like :class:`TransactionalTestCase`, with a test client.

    :attr:`client` sends each request in a fresh application context, as a server
    would: the request has its own ``g`` and ``db.session``, and
    ``teardown_appcontext`` runs after it. So a view that forgets to commit loses
    its changes, as it would in production. Data the test created is visible to the
    request, and the test's session is expired after each request, so it sees what
    the request changed.

    .. versionadded:: 0.1
    """

    #: The client class to extend. Defaults to the app's ``test_client_class``,
    #: else :class:`flask.testing.FlaskClient`. (Not named ``test_client_class``
    #: here: unittest would take an attribute starting with ``test`` for a test.)
    client_class: t.ClassVar[type[FlaskClient] | None] = None

    #: The test client for the current test.
    client: FlaskClient

    #: Catch N+1 queries in every request of :attr:`client`: a request (with
    #: the redirects it follows) in which one statement, its parameters aside,
    #: runs more than this many times fails the test, as
    #: :meth:`~flask_dbcase.assertions.DatabaseAssertions.assertNoRepeatedQueries`
    #: would. ``None``, the default, checks nothing and costs nothing.
    #:
    #: .. versionadded:: 0.1
    max_queries_per_request: t.ClassVar[int | None] = None

    #: Fail a request of :attr:`client` that loads, through the ORM, a row the
    #: test flushed but did not commit: on a server, the request would not see
    #: it. Catches "forgot to commit in the test" where the shared transaction
    #: would hide it. ``False``, the default, checks nothing and costs nothing.
    #:
    #: .. versionadded:: 0.1
    strict_commit_visibility: t.ClassVar[bool] = False

    _dbcase_visibility: t.ClassVar[VisibilityWatch | None] = None

    #: Set to ``False`` to skip rendering templates: views then return empty
    #: bodies, and :meth:`~.ResponseAssertions.assertTemplateUsed` and
    #: :meth:`~.ResponseAssertions.assertContext` still see
    #: every template a view asked for, with its context.
    render_templates: t.ClassVar[bool] = True

    @classmethod
    def _begin_class_isolation(cls) -> None:
        super()._begin_class_isolation()
        # Once per class; each test starts with empty lists.
        recorder = cls._dbcase.recorder = Recorder(
            cls._dbcase.app, cls.render_templates
        )
        steps = cls._dbcase.isolation
        recorder.start()
        steps.callback(recorder.stop)
        strict = cls.strict_commit_visibility
        if not isinstance(strict, bool):
            raise TypeError(
                f"'{_name(cls)}.strict_commit_visibility' must be True or False,"
                f" not {strict!r}."
            )
        if strict:
            visibility = cls._dbcase_visibility = VisibilityWatch()
            visibility.start()
            steps.callback(visibility.stop)
            steps.callback(setattr, cls, "_dbcase_visibility", None)

    def _dbcase_set_up(self) -> None:
        super()._dbcase_set_up()
        self.client = _test_client(self.client_class, self._dbcase.app)
        watchers = []
        limit = self.max_queries_per_request
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise TypeError(
                    f"'{_name(type(self))}.max_queries_per_request' must be a whole"
                    f" number of 1 or more, or None, not {limit!r}."
                )
            watchers.append(self._watch_requests(limit))
        visibility = type(self)._dbcase_visibility
        if visibility is not None:
            visibility.begin_test()
            self._dbcase_steps.callback(visibility.end_test)
            watchers.append(visibility.watch)
        if watchers:
            self.client.dbcase_watch = _chained(watchers)  # type: ignore[attr-defined]
        recorder = self._dbcase.recorder
        assert recorder is not None
        recorder.clear()
        self._dbcase_rendered = recorder
        self._dbcase_login_keys: list[str] = []

    def _dbcase_responses(self) -> tuple[Flask | None, Recorder | None]:
        state = getattr(self, "_dbcase", None)
        return getattr(state, "app", None), self._dbcase_rendered

    def login(self, user: t.Any, **options: t.Any) -> None:
        """Log ``user`` in with Flask-Login for the client's next requests.

        No login form is posted: ``flask_login.login_user(user, **options)`` runs
        in a request context like the client's, and the session it writes is
        given to :attr:`client`. ``options`` are ``login_user``'s (``remember``,
        ``fresh``, ``force``). Needs Flask-Login and its ``LoginManager`` on the
        app.

        .. versionadded:: 0.1
        """
        label = _name(type(self))
        self._dbcase_login_keys = log_in(self.client, user, label, **options)

    def logout(self) -> None:
        """Undo :meth:`login`: the client's next requests are anonymous.

        .. versionadded:: 0.1
        """
        log_out(self.client, self._dbcase_login_keys or ["_user_id", "_fresh", "_id"])
        self._dbcase_login_keys = []


def _chained(
    watchers: list[t.Callable[[t.Callable[[], t.Any]], t.Any]],
) -> t.Callable[[t.Callable[[], t.Any]], t.Any]:
    """One watch of the client's requests made of several, the first outermost."""

    def watch(send: t.Callable[[], t.Any]) -> t.Any:
        for inner in reversed(watchers):
            send = functools.partial(inner, send)
        return send()

    return watch


class AppTestCase(ResponseAssertions, MailAssertions, _Steps):
    """Test an app's views, templates and configuration with no database:
    Django's ``SimpleTestCase``.

    The app is built with ``create_app`` once per class; each test runs in a
    fresh test request context, with :attr:`client` and the response
    assertions, as a :class:`ClientTestCase`. Any use of a database through
    SQLAlchemy, from the test, a request or a thread, during ``create_app`` or
    a test, fails the test with :class:`~flask_dbcase.DatabaseNotAllowedError`,
    even when the app catches the error and answers 500. No test database is made,
    so a class costs nothing on the database's side.

    .. versionadded:: 0.1
    """

    #: The application, built by ``create_app`` once per class.
    app: t.ClassVar[Flask]

    #: The application context of the current test's request context.
    app_context: AppContext

    #: The client class to extend, as :attr:`ClientTestCase.client_class`.
    client_class: t.ClassVar[type[FlaskClient] | None] = None

    #: The test client for the current test.
    client: FlaskClient

    #: Render templates, as :attr:`ClientTestCase.render_templates`.
    render_templates: t.ClassVar[bool] = True

    #: How long, in seconds, to wait at the end of a test for the threads it
    #: started. One still running fails the test, and its connections stay
    #: refused until it ends: after the class, the app's engines point at the
    #: databases it is configured with.
    thread_timeout: t.ClassVar[float] = 5.0

    _dbcase: t.ClassVar[_ClassState]

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        __tracebackhide__ = True  # for pytest; unittest leaves this module out
        _set_up_class(cls)

    @classmethod
    def _dbcase_set_up_class(cls) -> None:
        """Build the app, refusing every database while it runs and after."""
        if cls.__dict__.get("_dbcase") is not None:
            return
        steps = cls._dbcase_class_steps = _Undo()
        cls.addClassCleanup(cls._dbcase_tear_down_class)
        state = _ClassState()
        process_guard.start()
        steps.callback(process_guard.stop)
        process_guard.watch_statements()
        steps.callback(process_guard.unwatch_statements)
        with process_guard.refusing_all(f"'{_name(cls)}.create_app'") as refused:
            app = _build_app(cls)
        if refused.attempts:  # caught by the app factory, and not raised
            raise DatabaseNotAllowedError(refused.attempts[0])
        state.class_app = cls.__dict__.get("app", _UNSET)
        cls.app = state.app = app
        cls._dbcase = state
        steps.callback(_forget_class, cls)
        state.overrides = class_overrides(cls)
        steps.callback(hold_mail(app))
        state.mail = has_mail(app)
        recorder = state.recorder = Recorder(app, cls.render_templates)
        recorder.start()
        steps.callback(recorder.stop)

    def _dbcase_set_up(self) -> None:
        """Push the test's context and refuse every database while it runs."""
        if type(self).__dict__.get("_dbcase") is None:
            raise RuntimeError(_no_class_setup(type(self)))
        state = self._dbcase
        steps = self._dbcase_steps = _Undo()
        self.addCleanup(self._dbcase_tear_down)
        refusing = process_guard.refusing_all(f"'{self.id()}'")
        refused = refusing.__enter__()
        threads = frozenset(threading.enumerate())
        # First, so that it runs last, after every other step is undone.
        steps.callback(_check_no_database, self, refusing, refused, threads)
        request_context, self.app_context = _push_test_request(state)
        steps.callback(request_context.pop)
        outbox: list[t.Any] = []
        self._dbcase_sent_mail = outbox
        if state.mail:
            steps.callback(watch_outbox(state.app, outbox))
        if state.overrides:
            override = override_config(state.overrides)
            override.__enter__()
            steps.callback(override.__exit__, None, None, None)
        self.client = _test_client(self.client_class, state.app)
        recorder = state.recorder
        assert recorder is not None
        recorder.clear()
        self._dbcase_rendered = recorder

    def _dbcase_responses(self) -> tuple[Flask | None, Recorder | None]:
        state = getattr(self, "_dbcase", None)
        return getattr(state, "app", None), self._dbcase_rendered

    def _dbcase_outbox(self) -> list[t.Any] | None:
        return self._dbcase_sent_mail


def _set_up_class(cls: type[t.Any]) -> None:
    """Run the library's setup of ``cls``."""
    try:
        cls._dbcase_set_up_class()
    except Exception as error:
        if not isinstance(error, TestDatabaseError) and not _said(error):
            raise
        # The message says it all; the frames it passed through are the
        # library's and hold URLs, which a runner may print with their
        # arguments (pytest does). The cause stays on __context__.
        __tracebackhide__ = True  # this frame too, for pytest
        raise error.with_traceback(None) from None


def _guard_outliving() -> None:
    """Hand the threads started since the last class ended that still run to
    the process guard, for as long as they run."""
    global _threads_seen
    running = started(_threads_seen)
    if running:
        process_guard.outlive(running)
    _threads_seen = frozenset(threading.enumerate())


#: The threads that ran when the last class ended (when the library was
#: imported, before the first): those started since are the next class's.
_threads_seen = frozenset(threading.enumerate())


def _check_no_database(
    case: AppTestCase,
    refusing: t.ContextManager[NoDatabase],
    refused: NoDatabase,
    threads: frozenset[threading.Thread],
) -> None:
    """End the test's refusal; fail the test if it connected and the error was
    caught on the way (a view that answered 500), or left threads running,
    whose connections stay refused."""
    running = join_started(threads, case.thread_timeout)
    if running:
        process_guard.refuse_threads(running, refused)
        process_guard.outlive(running)
    refusing.__exit__(None, None, None)
    if running:
        names = ", ".join(repr(thread.name) for thread in running)
        raise AssertionError(
            f"{len(running)} thread(s) the test started still run after"
            f" {case.thread_timeout:g} s ({names}): their database connections"
            " are refused until they end. Wait for them in the test, or raise"
            f" '{_name(type(case))}.thread_timeout'."
        )
    if refused.attempts and not case._dbcase_failed:
        raise DatabaseNotAllowedError(refused.attempts[0])


class LiveServerTestCase(DatabaseTestCase):
    """Serve the app over real HTTP, for browser tests and HTTP clients.

    Once per class, after the app and the schema are ready, a Werkzeug server
    starts in a thread on a free port of ``127.0.0.1``, serving the class's app
    object itself; :attr:`live_server_url` is its address. The server is stopped,
    and its thread joined, when the class ends. It is a thread, not a process, so
    it works the same under every :mod:`multiprocessing` start method and every
    test runner.

    The server's requests commit for real, in the test database: as in
    :class:`DatabaseTestCase`, what the test commits is visible to the server and
    the other way round, and every table is emptied after each test. An exception
    a view raises while a test runs fails that test, with the request and the
    traceback.

    .. versionadded:: 0.1
    """

    #: The address the server listens on.
    live_server_host: t.ClassVar[str] = "127.0.0.1"

    #: The port; ``0`` lets the system pick a free one.
    live_server_port: t.ClassVar[int] = 0

    #: The server's URL, such as ``http://127.0.0.1:41234``, without a slash at
    #: the end.
    live_server_url: t.ClassVar[str]

    _dbcase_server: t.ClassVar[LiveServer]

    @classmethod
    def _begin_class_isolation(cls) -> None:
        super()._begin_class_isolation()
        server = LiveServer(
            cls._dbcase.app,
            cls.live_server_host,
            cls.live_server_port,
            repr(_name(cls)),
        )
        server.start()
        cls._dbcase.isolation.callback(server.stop)
        cls._dbcase_server = server
        cls.live_server_url = server.url

    def _dbcase_set_up(self) -> None:
        super()._dbcase_set_up()
        self._dbcase_server.take_errors()
        self._dbcase_steps.callback(self._dbcase_check_server)

    def _dbcase_check_server(self) -> None:
        errors = self._dbcase_server.take_errors()
        if errors:
            raise AssertionError(
                f"The live server failed {len(errors)} time(s) during the test:\n"
                + "\n".join(errors)
            )

    def live_url(self, endpoint: str, **values: t.Any) -> str:
        """The live server's URL for ``endpoint``, built with ``url_for``.

        .. versionadded:: 0.1
        """
        return self.live_server_url + url_for(endpoint, _external=False, **values)


def _fail_for_thread_errors(test: DatabaseTestCase) -> None:
    """Fail ``test`` if a thread it started ended with an exception."""
    errors = thread_errors.take(test._dbcase_threads)
    if errors:
        raise AssertionError(
            f"{len(errors)} thread(s) the test started ended with an exception"
            " (a test that starts a thread is responsible for what it does):\n"
            + "\n".join(errors)
        )


def _name(cls: type) -> str:
    """Name a class as its author wrote it, without a function's ``<locals>``."""
    return cls.__qualname__.rpartition("<locals>.")[2]


# radon C, essential: one branch per mistake in create_app that it explains.
def _build_app(cls: type[t.Any]) -> Flask:
    name = _name(cls)
    factory = inspect.getattr_static(cls, "create_app", None)
    if factory is None:
        raise _saying(TypeError)(
            f"{name!r} has no 'create_app'. Define 'create_app(self)' (or a"
            " classmethod) that returns the Flask application to test."
        )
    try:
        if isinstance(factory, (classmethod, staticmethod)):
            app = cls.create_app()
        else:
            app = cls().create_app()
    except ImportError as error:
        if not _raised_by_sqlalchemy(error):
            raise
        raise _saying(RuntimeError)(
            f"'{name}.create_app' failed because the database driver"
            f" {error.name!r} is not installed. Install it in the environment that"
            f" runs the tests ({_install_hint(error.name or '')}), or change the"
            " database URL."
        ) from None
    except sa.exc.NoSuchModuleError as error:
        raise _saying(RuntimeError)(_unknown_dialect(name, error)) from None
    except sa.exc.ArgumentError as error:
        if "Could not parse SQLAlchemy URL" not in str(error):
            raise
        raise _saying(RuntimeError)(
            f"'{name}.create_app' failed: a database URL of the app is not one"
            f" SQLAlchemy can read ({error}). Write it as"
            " 'dialect+driver://user@host/database', for example"
            " 'postgresql+psycopg://me@localhost/shop' or 'sqlite:///shop.db'."
        ) from None
    if app is None:
        raise _saying(TypeError)(
            f"'{name}.create_app' returned None. Return the Flask application"
            " (did you forget 'return app'?)."
        )
    factory = _uncalled(app)
    if factory is not None:
        call = "its result" if factory == "<lambda>" else f"'{factory}()'"
        raise _saying(TypeError)(
            f"'{name}.create_app' returned the function {factory!r}, not a Flask"
            f" application: did you forget to call it? Return {call}."
        )
    if isinstance(app, type):
        raise _saying(TypeError)(
            f"'{name}.create_app' returned the class {app.__name__!r}, not a Flask"
            " application. Return the app your factory builds."
        )
    if not isinstance(app, Flask):
        raise _saying(TypeError)(
            f"'{name}.create_app' returned {type(app).__name__!r}, not a Flask"
            " application. Return the app itself, not a client or an extension."
        )
    return app


def _unknown_dialect(name: str, error: sa.exc.NoSuchModuleError) -> str:
    scheme = str(error).rpartition(":")[2].replace(".", "+")
    database, _, driver = scheme.partition("+")
    if database == "postgres":
        fix = (
            "Write 'postgresql://' (or 'postgresql+psycopg://'): SQLAlchemy does"
            " not accept the 'postgres://' that some hosts hand out."
        )
    else:
        fix = (
            "Check the URL's scheme, for example 'postgresql+psycopg://',"
            " 'mysql+pymysql://' or 'sqlite:///'."
        )
    known = f"database {scheme!r}"
    if driver and database in sa.dialects.__all__:
        known = f"driver {driver!r} for {database!r}"
    return (
        f"'{name}.create_app' failed: SQLAlchemy knows no {known}, which a"
        f" database URL of the app names. {fix}"
    )


_E = t.TypeVar("_E", bound=Exception)


def _configure_sessions(
    cls: type[DatabaseTestCase],
    db: SQLAlchemy,
    options: t.Mapping[str, t.Any],
    steps: _Undo,
) -> None:
    factory = db.session.session_factory
    known = {
        name
        for kind in factory.class_.__mro__
        if issubclass(kind, sa.orm.Session)
        for name, parameter in inspect.signature(kind.__init__).parameters.items()
        if parameter.kind is parameter.KEYWORD_ONLY
        or parameter.kind is parameter.POSITIONAL_OR_KEYWORD
    } - {"self", "db"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise _saying(TypeError)(
            f"'{_name(cls)}.session_options' names {', '.join(map(repr, unknown))},"
            " which a session does not take. Its options:"
            f" {', '.join(sorted(known))}."
        )
    saved = factory.kw
    factory.kw = {**saved, **options}
    steps.callback(setattr, factory, "kw", saved)


#: What a test pushes: Flask 3.1's request context, later Flask's app context.
_Context = t.Any


def _push_test_request(state: _ClassState) -> tuple[_Context, AppContext]:
    """Push a test's request context; return it and its app context."""
    app = state.app
    request_context = app.request_context(_test_environ(state, app))
    request_context.push()
    # Flask 3.1 pushes an app context with the request; later ones, one
    # context holding both.
    context = t.cast(t.Any, app_ctx)._get_current_object()
    return request_context, context


def _test_client(base: type[FlaskClient] | None, app: Flask) -> FlaskClient:
    """The test client of a test: the class's, the app's or Flask's, each
    request in a context of its own."""
    cls = isolated_client_class(base or app.test_client_class or FlaskClient)
    return cls(app, app.response_class, use_cookies=True)


# radon C, essential: one branch per malformed value of binds it explains.
def _fence_binds(cls: type[DatabaseTestCase], state: _ClassState, steps: _Undo) -> None:
    """Check the class's :attr:`~DatabaseTestCase.binds`; fence off the others."""
    declared = cls.binds
    if declared is None:
        return
    if isinstance(declared, str) or not isinstance(declared, t.Collection):
        raise _saying(TypeError)(
            f"'{_name(cls)}.binds' must be a collection of bind keys, such as"
            f" {{None, 'audit'}}, not {declared!r}."
        )
    unknown = [key for key in declared if key not in state.engines]
    if unknown:
        keys = sorted(state.engines, key=lambda key: (key is not None, key or ""))
        known = ", ".join(describe_bind(key) for key in keys)
        raise _saying(ValueError)(
            f"'{_name(cls)}.binds' names {', '.join(map(repr, unknown))}, which"
            f" the app does not have. Its binds: {known}."
        )
    fence = state.fence = BindFence(_name(cls))
    fence.install({k: e for k, e in state.engines.items() if k not in declared})
    steps.callback(fence.remove)


#: How the note of :attr:`DatabaseTestCase.debug_sql` begins.
_SQL_NOTE = "SQL the test sent"


def _sql_note(sent: CapturedQueries) -> str:
    """What :attr:`DatabaseTestCase.debug_sql` shows under a traceback."""
    return f"{_SQL_NOTE} ({len(sent)}):\n{sent.listing()}"


#: The settings that decide the URL of the test client's requests.
_WHERE_REQUESTS_GO = ("SERVER_NAME", "APPLICATION_ROOT", "PREFERRED_URL_SCHEME")


def _test_environ(state: _ClassState, app: Flask) -> dict[str, t.Any]:
    """The WSGI environment of a test's request context: ``GET /`` where the
    test client sends its requests, the class's ``override_config`` counted.
    Built once per class, again if the test's configuration moves the app."""
    config, overrides = app.config, state.overrides
    key = tuple(
        overrides[name] if name in overrides else config.get(name)
        for name in _WHERE_REQUESTS_GO
    )
    if state.environ_for != key:
        server, root, scheme = key
        base_url = f"{scheme or 'http'}://{server or 'localhost'}/"
        builder = EnvironBuilder(app, base_url=base_url + (root or "").lstrip("/"))
        try:
            state.environ = builder.get_environ()
        finally:
            builder.close()
        state.environ_for = key
    environ = dict(state.environ)
    environ["wsgi.input"] = io.BytesIO()
    return environ


def _refresher(state: _ClassState) -> t.Callable[..., None]:
    """Expire the test's session when code in the test ends an app context of
    its own (a CLI command, a job): what that context's session committed is
    read again, as after a request. Only in the test's thread: another's may
    not touch its session."""

    def refresh(app: Flask, **kwargs: t.Any) -> None:
        context = state.context
        if context is None or threading.get_ident() != state.thread:
            return
        if not has_app_context():
            return
        # The test's context, or one the test pushed itself.
        current = t.cast(t.Any, app_ctx)._get_current_object()
        if current.app is context.app and state.db.session.registry.has():
            state.db.session.expire_all()

    return refresh


def _saying(kind: type[_E]) -> t.Callable[[str], _E]:
    """Make errors of ``kind`` whose message says all there is: class setup
    reports them without the library's frames."""

    def make(message: str) -> _E:
        error = kind(message)
        error.dbcase_said = True  # type: ignore[attr-defined]
        return error

    return make


def _said(error: BaseException) -> bool:
    return getattr(error, "dbcase_said", False) is True


def _uncalled(found: t.Any) -> str | None:
    """The name of the function ``found`` is, if it is one: an app factory
    returned instead of called."""
    if isinstance(found, functools.partial):
        found = found.func
    if inspect.isfunction(found) or inspect.ismethod(found):
        return str(found.__name__)
    return None


#: Drivers whose package is not named as their module, and the extras that
#: install the ones flask_dbcase is tested with.
_DRIVER_PACKAGES = {
    "MySQLdb": "pip install mysqlclient",
    "pymysql": "pip install PyMySQL, which flask-dbcase's 'mysql' extra installs",
    "psycopg": "pip install 'psycopg[binary]', which flask-dbcase's 'postgresql'"
    " extra installs",
    "psycopg2": "pip install psycopg2-binary",
}


#: The driver a URL without one names, the one flask_dbcase's extra installs,
#: and how a URL names that one.
_OTHER_DRIVERS = {
    "MySQLdb": ("pymysql", "mysql+pymysql://"),
    "psycopg2": ("psycopg", "postgresql+psycopg://"),
}


def _install_hint(module: str) -> str:
    hint = "for example: " + _DRIVER_PACKAGES.get(module, f"pip install {module}")
    other = _OTHER_DRIVERS.get(module)
    if other is not None and importlib.util.find_spec(other[0]) is not None:
        hint += f"; or start the URL with '{other[1]}' to use {other[0]}, installed"
    return hint


def _raised_by_sqlalchemy(error: ImportError) -> bool:
    frames = traceback.extract_tb(error.__traceback__)
    return any("sqlalchemy" in frame.filename.replace("\\", "/") for frame in frames)


def _find_db(cls: type[DatabaseTestCase], app: Flask) -> SQLAlchemy:
    name = _name(cls)
    found: SQLAlchemy | None = app.extensions.get("sqlalchemy")
    declared: SQLAlchemy | None = getattr(cls, "db", None)
    if declared is not None:
        if declared is not found:
            raise _saying(RuntimeError)(
                f"'{name}.db' is not registered on the app that"
                f" '{name}.create_app' returned. Call 'db.init_app(app)' in the app"
                " factory."
            )
        return declared
    if found is None:
        raise _saying(RuntimeError)(
            f"'{name}.create_app' returned an app without Flask-SQLAlchemy. Call"
            " 'db.init_app(app)' in your app factory, or set"
            f" '{name}.db'."
        )
    return found


def _read_fixtures(
    cls: type[DatabaseTestCase], app: Flask, db: SQLAlchemy, state: _ClassState
) -> None:
    module = sys.modules.get(cls.__module__)
    folders = fixtures.search_path(
        app, getattr(module, "__file__", None), cls.fixture_dirs
    )
    state.fixtures = loader = fixtures.Loader(db, repr(_name(cls)))
    state.fixture_rows = loader.rows(cls.fixtures, folders)


def _take_app(
    cls: type[DatabaseTestCase], steps: _Undo, allowed: frozenset[str]
) -> tuple[_ClassState, Flask | None]:
    """Build the class's app, or take the one classes with ``reuse_app``
    share (returned too), and find its ``db``; watch the process while the
    class runs."""
    state = _ClassState()
    process_guard.start()
    steps.callback(process_guard.stop)
    thread_errors.start()
    steps.callback(thread_errors.stop)
    shared = shared_apps.get(_factory(cls)) if cls.reuse_app else None
    if shared is None:
        with process_guard.building(f"'{_name(cls)}.create_app'", allowed):
            app = _build_app(cls)
    else:
        app = shared
    db = _find_db(cls, app)
    if "db" not in vars(cls):
        cls.db = db
        state.own_db = True
    state.class_app = cls.__dict__.get("app", _UNSET)
    cls.app = state.app = app
    state.db = db
    cls._dbcase = state
    # At once: a class left with its state would skip its setup when run again.
    steps.callback(_forget_class, cls)
    if cls.session_options:
        _configure_sessions(cls, db, cls.session_options, steps)
    steps.callback(hold_mail(app))
    state.mail = has_mail(app)
    state.debug_sql = cls.debug_sql or os.environ.get(DEBUG_SQL_ENV) == "1"
    refresh = _refresher(state)
    appcontext_popped.connect(refresh, app)
    steps.callback(appcontext_popped.disconnect, refresh, app)
    return state, shared


def _skip_for_servers(
    cls: type[DatabaseTestCase], state: _ClassState, undecided: bool
) -> None:
    """Decide the class's skips that need to know the server (MariaDB or
    MySQL, and which version), once its engines reach the test databases."""
    if undecided:
        skips.learn_servers(state.engines)
        skipped = skips.reason(cls, state.engines)
        if skipped:
            raise unittest.SkipTest(skipped)


def _hook_of(cls: type[DatabaseTestCase]) -> t.Hashable:
    """The ``setUpTestDatabase`` the class has, as the seeds know it: the
    class that defines it; ``None`` for the library's, which does nothing."""
    for klass in cls.__mro__:
        if "setUpTestDatabase" in vars(klass):
            return None if klass is DatabaseTestCase else klass
    return None


def _factory(cls: type[DatabaseTestCase]) -> t.Any:
    """The function behind ``create_app``, whatever its form."""
    factory = inspect.getattr_static(cls, "create_app", None)
    return getattr(factory, "__func__", factory)


#: Environment variable: ``1`` looks for leaked rows after every test.
STRICT_ENV = "FLASK_DBCASE_STRICT"
DEBUG_SQL_ENV = "FLASK_DBCASE_DEBUG_SQL"


def _no_class_setup(cls: type[t.Any]) -> str:
    """Say why the class's setup did not run: whose ``setUpClass`` stopped it."""
    name = _name(cls)
    culprit = next(k for k in cls.__mro__ if "setUpClass" in vars(k))
    what = "app" if issubclass(cls, AppTestCase) else "database"
    said = f"{name!r} has no {what} set up"
    if culprit.__module__ == __name__:
        return (
            f"{said}: its 'setUpClass' did not run. Run the test through a"
            " suite (unittest's loader, 'python -m unittest', pytest), which runs"
            " 'setUpClass' first."
        )
    if culprit is cls:
        return (
            f"{said}: its 'setUpClass' did not call 'super().setUpClass()'. Add"
            f" that call to '{name}.setUpClass'."
        )
    other = _name(culprit)
    return (
        f"{said}: '{other}.setUpClass', which it inherits, did not call"
        f" 'super().setUpClass()'. Add that call to '{other}.setUpClass', or list"
        f" '{other}' after the flask_dbcase class among the bases of {name!r}."
    )


def _forget_class(cls: type[t.Any]) -> None:
    state = cls._dbcase
    del cls._dbcase
    if state.class_app is _UNSET:
        del cls.app
    else:  # the class's own attribute, put back
        cls.app = state.class_app
    if state.own_db:
        del cls.db
