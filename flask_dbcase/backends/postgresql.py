"""PostgreSQL: databases marked with a comment, advisory locks, template clones."""

from __future__ import annotations

import contextlib
import typing as t

from .base import Backend
from .base import first_row
from .base import Identity
from .base import lock_timeout
from .base import MARK


class PostgreSQLBackend(Backend):
    name = "postgresql"
    maintenance = "postgres"
    clones = True

    @classmethod
    def identify(cls, dbapi_connection: t.Any) -> Identity:
        # In the same statement, bound the connection's lock waits: PostgreSQL
        # waits for a row lock forever, and a connection waiting for rows the
        # test's transaction holds would hang the run.
        milliseconds = int(lock_timeout() * 1000)
        row = first_row(
            dbapi_connection,
            "SELECT current_database(), shobj_description(oid, 'pg_database'),"
            f" set_config('lock_timeout', '{milliseconds}', false)"
            " FROM pg_database WHERE datname = current_database()",
            autocommit=True,
        )
        return Identity(cls.name, row[0], row[1] == MARK)

    def server_id(self) -> t.Hashable:
        # Readable by every user, unlike the data directory or the system id.
        row = self.connection.exec_driver_sql(
            "SELECT pg_postmaster_start_time()::text, current_setting('port')"
        ).one()
        return (self.name, *row)

    def exists(self, name: str) -> bool:
        sql = "SELECT 1 FROM pg_database WHERE datname = %(name)s"
        return bool(self.scalars(sql, name=name))

    def marked(self) -> list[str]:
        return self.scalars(
            "SELECT datname FROM pg_database"
            " WHERE shobj_description(oid, 'pg_database') = %(mark)s",
            mark=MARK,
        )

    def create(self, name: str, template: str | None = None) -> None:
        clone = f" TEMPLATE {self.quote(template)}" if template else ""
        run = self.connection.exec_driver_sql
        run(f"CREATE DATABASE {self.quote(name)}{clone}")
        run(f"COMMENT ON DATABASE {self.quote(name)} IS '{MARK}'")

    def drop(self, name: str) -> None:
        sql = f"DROP DATABASE IF EXISTS {self.quote(name)}"
        if (self.connection.dialect.server_version_info or (0,)) >= (13,):
            # A connection of an ending process may linger (one that SIGTERM cut
            # short while it was being opened): it must not keep the database.
            sql += " WITH (FORCE)"
        self.connection.exec_driver_sql(sql)

    def try_lock(self, key: str) -> bool:
        sql = "SELECT pg_try_advisory_lock(hashtext(%(key)s))"
        return bool(self.scalars(sql, key=key)[0])

    def unlock(self, key: str) -> None:
        self.scalars("SELECT pg_advisory_unlock(hashtext(%(key)s))", key=key)

    @contextlib.contextmanager
    def locked(self, key: str) -> t.Iterator[None]:
        self.scalars("SELECT pg_advisory_lock(hashtext(%(key)s))", key=key)
        try:
            yield
        finally:
            self.unlock(key)

    def grant(self, user: str) -> str:
        return f"'ALTER ROLE {user} CREATEDB;'"
