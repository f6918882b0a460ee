"""Each kind of server: which database a connection is on, create, mark, lock, drop."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import typing as t
import unittest
from unittest import mock

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from flask_dbcase.backends import backend_class
from flask_dbcase.backends import identify
from flask_dbcase.backends import Identity
from flask_dbcase.backends import TestDatabaseError
from flask_dbcase.database import reported_at_exit

from .support import engine_classes
from .support import ENGINES

if t.TYPE_CHECKING:
    _Mixin = unittest.TestCase
else:
    _Mixin = object


class BackendTests(_Mixin):
    engine: t.ClassVar[t.Any]

    def setUp(self) -> None:
        url = sa.make_url(self.engine.url)
        self.kind = backend_class(url, "'Tests'")
        self.server = self.kind(url, "'Tests'")
        self.addCleanup(self.server.close)
        derived = self.kind.derive(url.set(database=self.engine.own("dbcase_backend")))
        self.url = derived
        self.name = derived.database or ""
        self.server.drop(self.name)
        self.addCleanup(self.server.drop, self.name)

    def raw(self, url: sa.URL) -> t.Any:
        engine = sa.create_engine(url, poolclass=NullPool)
        self.addCleanup(engine.dispose)
        connection = engine.raw_connection()
        self.addCleanup(connection.close)
        return connection.dbapi_connection

    def test_created_databases_are_marked(self) -> None:
        self.assertFalse(self.server.exists(self.name))
        self.server.create(self.name)
        self.assertTrue(self.server.exists(self.name))
        self.assertEqual(self.server.is_marked(self.name), self.server.marks)
        self.server.drop(self.name)
        self.assertFalse(self.server.exists(self.name))

    def test_drops_go_on_after_the_server_ended_its_connection(self) -> None:
        # At exit, one database's drop failing that way left the next drops
        # raising PendingRollbackError, out of the printer's reach.
        if not (self.engine.postgresql or self.engine.mysql):
            self.skipTest("no connection to a server")
        self.server.create(self.name)
        connection = self.server.connection
        if self.engine.postgresql:
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            kill = f"SELECT pg_terminate_backend({pid})"
        else:
            pid = connection.exec_driver_sql("SELECT CONNECTION_ID()").scalar()
            kill = f"KILL {pid}"
        other = sa.create_engine(self.engine.url, poolclass=NullPool)
        self.addCleanup(other.dispose)
        with other.connect() as killer:
            killer.exec_driver_sql(kill)
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            for _ in range(2):
                with reported_at_exit("the test database", self.url):
                    self.server.drop(self.name)
        self.assertFalse(self.server.exists(self.name), stderr.getvalue())

    def test_the_server_says_where_a_connection_is(self) -> None:
        self.server.create(self.name)
        found = identify(self.raw(self.url))
        expected = self.name
        if self.kind.name == "sqlite":
            expected = os.path.realpath(self.name)
        self.assertEqual(found, Identity(self.kind.name, expected, self.server.marks))

    def test_asking_leaves_no_transaction_open(self) -> None:
        self.server.create(self.name)
        connection = self.raw(self.url)
        self.kind.identify(connection)
        if self.engine.postgresql:
            self.assertEqual(connection.info.transaction_status, 0)  # idle
            self.assertFalse(connection.autocommit)
        elif self.engine.mysql:
            cursor = connection.cursor()
            cursor.execute("SELECT @@in_transaction")
            self.assertEqual(cursor.fetchone()[0], 0)
        else:
            self.assertFalse(connection.in_transaction)

    def test_a_database_it_did_not_create_is_not_marked(self) -> None:
        if self.kind.name == "sqlite":
            engine = sa.create_engine(self.url, poolclass=NullPool)
            with engine.begin() as connection:
                connection.exec_driver_sql("CREATE TABLE t (id INTEGER)")
            engine.dispose()
        else:
            quoted = self.server.quote(self.name)
            self.server.connection.exec_driver_sql(f"CREATE DATABASE {quoted}")
        self.assertFalse(self.server.is_marked(self.name))
        self.assertFalse(identify(self.raw(self.url)).marked)  # type: ignore[union-attr]

    def test_locks_are_taken_once(self) -> None:
        other = self.kind(sa.make_url(self.engine.url), "'Other'")
        self.addCleanup(other.close)
        key = "flask_dbcase:" + "0" * 40
        self.assertTrue(self.server.try_lock(key))
        self.assertFalse(other.try_lock(key))
        self.server.unlock(key)
        self.assertTrue(other.try_lock(key))
        other.unlock(key)

    def test_binds_spelled_two_ways_name_one_server(self) -> None:
        url = sa.make_url(self.engine.url)
        if self.kind.name == "sqlite":
            self.skipTest("files have no server")
        other = self.kind(url.set(host="localhost"), "'Other'")
        self.addCleanup(other.close)
        self.assertEqual(other.id, self.server.id)


class SqliteFolderTests(unittest.TestCase):
    """The folder of the test files goes when the last process leaves it empty."""

    def setUp(self) -> None:
        temp = tempfile.mkdtemp(prefix="dbcase-folder-")
        self.addCleanup(shutil.rmtree, temp, ignore_errors=True)
        patcher = mock.patch.object(tempfile, "tempdir", temp)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.url = sa.make_url(f"sqlite:///{temp}/shop.db")

    def backend(self) -> t.Any:
        server = backend_class(self.url, "'Tests'")(self.url, "'Tests'")
        self.addCleanup(server.close)
        return server

    def test_an_empty_folder_is_removed(self) -> None:
        server = self.backend()
        self.assertTrue(server.try_lock("flask_dbcase:" + "1" * 40))
        self.assertTrue(os.path.isdir(server.folder))
        server.close()
        self.assertFalse(os.path.exists(server.folder))

    def test_another_process_lock_or_a_kept_file_keeps_it(self) -> None:
        one, two = self.backend(), self.backend()
        self.assertTrue(two.try_lock("flask_dbcase:" + "2" * 40))
        one.close()
        self.assertTrue(os.path.isdir(one.folder))
        kept = os.path.join(two.folder, "test_shop-0.db")
        two.create(kept)
        two.close()
        self.assertEqual(os.listdir(two.folder), ["test_shop-0.db"])

    def test_a_lock_makes_the_folder_again(self) -> None:
        # A process that started as another left: the folder went in between.
        server = self.backend()
        os.rmdir(server.folder)
        self.assertTrue(server.try_lock("flask_dbcase:" + "3" * 40))
        self.assertEqual(os.stat(server.folder).st_mode & 0o777, 0o700)


class UnsupportedTests(unittest.TestCase):
    def test_unknown_backend(self) -> None:
        with self.assertRaises(TestDatabaseError) as caught:
            backend_class(
                sa.make_url("oracle://u@h/db"), "'ShopTests' (the default database)"
            )
        self.assertEqual(
            str(caught.exception),
            "'ShopTests' (the default database) uses 'oracle', which flask_dbcase"
            " does not support. It runs tests on mysql, postgresql, sqlite.",
        )

    def test_unknown_driver_is_not_identified(self) -> None:
        self.assertIsNone(identify(object()))


globals().update(engine_classes([BackendTests], [e for e in ENGINES if not e.memory]))
del BackendTests


class LockTimeoutSettingTests(unittest.TestCase):
    def test_a_positive_number_of_seconds(self) -> None:
        from flask_dbcase.backends.base import lock_timeout

        for value, expected in [("", 5.0), ("2.5", 2.5)]:
            with mock.patch.dict(os.environ, {"FLASK_DBCASE_LOCK_TIMEOUT": value}):
                self.assertEqual(lock_timeout(), expected)
        # PostgreSQL's 0 would wait for ever, MySQL's least is 1: refused.
        for value in ("0", "-1", "soon", "nan"):
            with self.subTest(value=value):
                env = {"FLASK_DBCASE_LOCK_TIMEOUT": value}
                with (
                    mock.patch.dict(os.environ, env),
                    self.assertRaises(TestDatabaseError) as raised,
                ):
                    lock_timeout()
                self.assertEqual(
                    str(raised.exception),
                    f"FLASK_DBCASE_LOCK_TIMEOUT is {value!r}, not a positive number"
                    " of seconds.",
                )
